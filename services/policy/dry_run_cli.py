"""`kmt policy dry-run CANDIDATE`: what a candidate policy would decide differently on every
melding routing decided, per recipient, as text for a person (Dutch) or as JSON.

CANDIDATE is a policy directory (built into a bundle as OPA would serve it) or the id of a
stored policy version (`sha256:…`, its signed bundle). Exit 0 with the report; 2 when the
candidate is refused (not found, unusable policy data, an error or an answer that breaks the
decision contract); 3 when no `opa` program can be had.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from services.common.exits import fail
from services.common.settings import get_settings
from services.policy.dry_run import (
    ATTENTION,
    BATCH,
    DryRunFailed,
    RecipientTally,
    Report,
    over_history,
)
from services.policy.engine import PolicyDataInvalid, find_opa_binary, write_bundle
from services.policy.lifecycle import report_document, report_sha256

VERSION_ID = re.compile(r"^sha256:[0-9a-f]{16}$")
SHOWN_IDS = 20
WORDS = {
    "deny_to_allow": "weigeren → toestaan",
    "fields_added": "velden erbij",
    "allow_to_deny": "toestaan → weigeren",
    "fields_removed": "velden eraf",
    "obligations_changed": "verplichtingen anders",
}


def _version_bundle(version_id: str) -> Path:
    from services.policy.versions import VersionError, VersionStore

    try:
        return VersionStore.of(get_settings()).load(version_id).bundle
    except VersionError as exc:
        raise fail(2, str(exc)) from None


def dry_run_command(
    candidate: Annotated[
        str, typer.Argument(help="beleidsmap, of het id van een beleidsversie (sha256:…)")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="het rapport als JSON")] = False,
    parallel: Annotated[
        int, typer.Option(min=0, max=64, help="zoveel opa-processen tegelijk; 0: één per core")
    ] = 0,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="invoer per opa eval")] = BATCH,
    by: Annotated[
        str | None,
        typer.Option("--by", help="leg het rapport vast als proefrun van deze operator"),
    ] = None,
) -> None:
    """Proefrun: leg een kandidaat-beleid voor aan elke melding die routing besliste, en toon
    per ontvanger welke besluiten veranderen. Met --by (alleen voor een ingediende
    beleidsversie) komt de SHA-256 van het rapport in de audittrail: wat goedkeuren eist."""
    opa = find_opa_binary()
    if opa is None:
        raise fail(3, "opa niet gevonden: zet KMT_OPA_BIN of voer `make provision` uit")
    if by is not None:
        _check_on_record(candidate, by)
    with tempfile.TemporaryDirectory(prefix="kmt-dry-run-") as tmp:
        if VERSION_ID.match(candidate):
            bundle, revision = _version_bundle(candidate), candidate
        elif Path(candidate).is_dir():
            bundle = Path(tmp) / "bundle"
            try:
                revision = write_bundle(Path(candidate), bundle)
            except PolicyDataInvalid as exc:
                raise fail(2, f"kandidaat geweigerd: {exc}") from None
        else:
            raise fail(2, f"geen beleidsmap of beleidsversie: {candidate}")
        try:
            report = over_history(
                get_settings(), bundle, opa, Report(candidate, revision), parallel, batch
            )
        except DryRunFailed as exc:
            raise fail(1 if exc.history_damaged else 2, str(exc)) from None
    document = report_document(report)
    typer.echo(document if as_json else text(report))
    if by is not None:
        _record(candidate, by, report_sha256(document))


def _check_on_record(candidate: str, by: str) -> None:
    from services.policy.lifecycle import Refused
    from services.policy.lifecycle_cli import lifecycle, refused

    with lifecycle() as steps:
        try:
            steps.check_dry_run(candidate, by)
        except Refused as exc:
            raise refused(exc) from None


def _record(candidate: str, by: str, report_sha256: str) -> None:
    from services.policy.lifecycle import Refused
    from services.policy.lifecycle_cli import lifecycle, refused

    with lifecycle() as steps:
        try:
            outcome = steps.record_dry_run(candidate, report_sha256, by)
        except Refused as exc:
            raise refused(exc) from None
    typer.echo(
        f"proefrun vastgelegd: rapport sha256 {report_sha256} (audittrail seq {outcome.seq})",
        err=True,
    )


def text(report: Report) -> str:
    """The report for a person, in Dutch: per recipient the changes that share more first."""
    revisions = ", ".join(
        f"{r}: {n} meldingen" for r, n in sorted(report.recorded_revisions.items())
    )
    lines = [
        f"Proefrun van {report.candidate} (revisie {report.policy_revision}) op"
        f" {report.meldingen} opgeslagen meldingen in {report.seconds:.1f} s"
        + (f"; {report.erased} gewiste meldingen overgeslagen" if report.erased else "")
        + ".",
        "Vergeleken met de besluiten die routing vastlegde"
        + (f" (revisie {revisions})." if revisions else "."),
    ]
    attention = [_attention(r, t) for r, t in report.recipients.items() if _shares_more(t)]
    lines.append(
        f"LET OP, meer delen bij: {', '.join(attention)}."
        if attention
        else "Geen ontvanger krijgt meer meldingen of velden dan nu."
    )
    for recipient, tally in report.recipients.items():
        lines += ["", f"{recipient}: {tally.changed} van {tally.decisions} besluiten veranderen"]
        if not tally.changed:
            continue
        lines.append("  " + "; ".join(f"{WORDS[d]}: {tally.count(d)}" for d in WORDS))
        for group in tally.ordered():
            mark = "LET OP  " if group.direction in ATTENTION else ""
            detail = f": {', '.join(group.detail)}" if group.detail else ""
            ids = group.melding_ids
            more = f" … en {len(ids) - SHOWN_IDS} meer (--json)" if len(ids) > SHOWN_IDS else ""
            lines += [
                f"  {mark}{WORDS[group.direction]}{detail} — {len(ids)} melding(en)",
                f"    regel {group.rule}; grondslag {', '.join(group.legal_basis) or '-'}",
                f"    meldingen: {', '.join(ids[:SHOWN_IDS])}{more}",
            ]
    return "\n".join(lines)


def _shares_more(tally: RecipientTally) -> bool:
    return any(tally.count(direction) for direction in ATTENTION)


def _attention(recipient: str, tally: RecipientTally) -> str:
    counts = "; ".join(f"{WORDS[d]}: {tally.count(d)}" for d in WORDS if d in ATTENTION)
    return f"{recipient} ({counts})"
