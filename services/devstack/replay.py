"""`kmt demo replay`: the worked scenarios through the running system, as a partner sends them.

Each scenario's melding goes to intake's real API as a demo partner that may report as its
`reporter.type`, without `received_at` (intake stamps it; partners never set it). The tool then
reads the three decisions from the audit trail as the demo privacy officer and compares them
with the scenario's `expect`. Run it against a test deployment started with
`KMT_REFERENCE_TIME` set to the scenarios' date, so ages are computed as on that day.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from services.common.partners import PartnerRegistry
from services.common.settings import Settings, get_settings
from services.devstack.demo import demo_client, demo_dir, demo_partners

INTAKE_FIELDS = ("melding_id", "received_at")


@dataclass(frozen=True)
class Outcome:
    scenario: str
    melding_id: str | None
    problems: tuple[str, ...]


def replay(files: Iterable[Path], settings: Settings, timeout: float = 60) -> list[Outcome]:
    officer = (demo_dir(settings) / "privacy-officer.token").read_text().strip()
    outcomes = []
    for file in files:
        scenario = json.loads(file.read_text())
        label = f"{file.stem} {scenario.get('name', '')}".strip()
        try:
            melding_id = _send(scenario["melding"], settings)
        except LookupError as error:
            outcomes.append(Outcome(label, None, (str(error),)))
            continue
        decisions = _decisions(melding_id, officer, settings, timeout)
        outcomes.append(Outcome(label, melding_id, tuple(_compare(scenario["expect"], decisions))))
    return outcomes


def _send(melding: dict[str, Any], settings: Settings) -> str:
    reporter_type = melding["reporter"]["type"]
    registry = PartnerRegistry.load(settings.partners_file)
    demo_ids = [partner_id for partner_id, *_ in demo_partners()]
    partner = next(
        (
            p
            for p in registry.partners
            if p.id in demo_ids and p.reporter_type_problem(reporter_type) is None
        ),
        None,
    )
    if partner is None:
        raise LookupError(f"geen demo-partner die mag melden als {reporter_type!r}")
    client = demo_client(partner.id, settings)
    intake = f"http://127.0.0.1:{settings.intake_port}"
    submission = {k: v for k, v in melding.items() if k not in INTAKE_FIELDS}
    submission["reporter"] = {k: v for k, v in melding["reporter"].items() if k != "partner_id"}
    response = httpx.post(
        f"{intake}/v1/meldingen",
        json=submission,
        headers={
            "Authorization": f"Bearer {client.token(intake)}",
            "Idempotency-Key": f"scenario-{uuid.uuid4()}",
        },
        timeout=30,
    )
    if response.status_code != 202:
        raise LookupError(f"intake antwoordde {response.status_code}: {response.text}")
    return str(response.json()["melding_id"])


def _decisions(
    melding_id: str, officer: str, settings: Settings, timeout: float
) -> dict[str, dict[str, Any]]:
    url = f"http://127.0.0.1:{settings.audit_port}/v1/audit/meldingen/{melding_id}"
    deadline = time.monotonic() + timeout
    found: dict[str, dict[str, Any]] = {}
    while len(found) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
        entries = httpx.get(url, headers={"Authorization": f"Bearer {officer}"}, timeout=30)
        entries.raise_for_status()
        found = {e["recipient"]: e for e in entries.json()["entries"] if e["type"] == "decision"}
    return found


def _compare(expect: dict[str, Any], decisions: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for recipient, wanted in expect.items():
        decision = decisions.get(recipient)
        if decision is None:
            problems.append(f"{recipient}: geen besluit in de audittrail")
            continue
        if decision["allow"] != wanted["allow"]:
            problems.append(
                f"{recipient}: allow is {decision['allow']}, verwacht {wanted['allow']}"
            )
        fields = set(decision["fields"])
        missing = sorted(set(wanted.get("must_include", ())) - fields)
        extra = sorted(set(wanted.get("must_exclude", ())) & fields)
        if missing:
            problems.append(f"{recipient}: ontbreekt {', '.join(missing)}")
        if extra:
            problems.append(f"{recipient}: te veel gedeeld: {', '.join(extra)}")
    return problems


def replay_command(
    files: Annotated[
        list[Path], typer.Argument(help="scenario-bestanden, bijv. tests/scenarios/*.json")
    ],
) -> None:
    """Stuur de uitgewerkte scenario's via intake en vergelijk de besluiten in de audittrail."""
    settings = get_settings()
    if settings.reference_time is None:
        typer.echo(
            "let op: KMT_REFERENCE_TIME is niet gezet; leeftijden gelden op de datum van vandaag",
            err=True,
        )
    failed = 0
    for outcome in replay(files, settings):
        mark = "goed" if not outcome.problems else "FOUT"
        typer.echo(f"{mark}  {outcome.scenario}  (melding {outcome.melding_id or '-'})")
        for problem in outcome.problems:
            typer.echo(f"      {problem}")
        failed += bool(outcome.problems)
    if failed:
        raise typer.Exit(1)
