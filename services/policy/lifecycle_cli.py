"""`kmt policy propose|approve|activate|rollback|history`: the four-eyes lifecycle of policy
versions, each step recorded in the audit ledger (`lifecycle.py`). Exit 2 with the Dutch
reason when a step is refused; the refusal is recorded too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from services.audit.backends import open_appender
from services.common.exits import fail
from services.common.settings import get_settings
from services.policy.lifecycle import Lifecycle, NotAnnounced, Outcome, Refused

By = Annotated[str, typer.Option("--by", help="wie dit doet (medewerker-id, rol operator)")]
Revision = Annotated[str, typer.Argument(help="id van de beleidsversie (sha256:…)")]
DEFAULT_API_PORT = 8183
WORDS = {
    "policy_proposed": "ingediend",
    "policy_dry_run": "proefrun",
    "policy_approved": "goedgekeurd",
    "policy_activated": "geactiveerd",
    "policy_rolled_back": "teruggedraaid naar",
    "policy_refused": "GEWEIGERD",
}


@contextmanager
def lifecycle() -> Iterator[Lifecycle]:
    settings = get_settings()
    ledger = open_appender(settings)
    try:
        yield Lifecycle.of(settings, ledger)
    finally:
        ledger.close()


def refused(exc: Refused) -> typer.Exit:
    typer.echo(f"geweigerd: {exc}", err=True)
    return typer.Exit(2)


def _run(step: Callable[[Lifecycle], Outcome], done: str) -> None:
    with lifecycle() as steps:
        try:
            outcome = step(steps)
        except Refused as exc:
            raise refused(exc) from None
        except NotAnnounced as exc:
            raise fail(1, f"niet af: {exc}") from None
    typer.echo(f"{done}: {outcome.version.id} (audittrail seq {outcome.seq})")


def propose(
    directory: Annotated[Path, typer.Argument(help="map met het kandidaat-beleid")],
    message: Annotated[str, typer.Option("--message", "-m", help="waarom deze versie")],
    by: By,
) -> None:
    """Dien het beleid in DIRECTORY in als beleidsversie: het wordt gecontroleerd,
    ondertekend en bewaard, en het indienen vastgelegd in de audittrail."""
    with lifecycle() as steps:
        try:
            outcome = steps.propose(directory, message, by)
        except Refused as exc:
            raise refused(exc) from None
    version = outcome.version
    state = "ingediend" if outcome.created else "was al ingediend"
    typer.echo(f"{state}: {version.id} (audittrail seq {outcome.seq})")
    typer.echo(f"  bundel sha256 {version.bundle_sha256}")
    typer.echo(
        f"  volgende stap: een andere operator draait `kmt policy dry-run {version.id} --by …`"
    )


def approve(revision: Revision, by: By) -> None:
    """Keur een ingediende beleidsversie goed (vier ogen): u diende haar niet zelf in en
    uw proefrun van precies deze versie staat in de audittrail."""
    _run(lambda steps: steps.approve(revision, by), "goedgekeurd")


def activate(revision: Revision, by: By) -> None:
    """Maak een goedgekeurde beleidsversie actief: vastgelegd in de audittrail, aangekondigd
    aan elke routing-instantie over de bus, dan door OPA geladen, zonder herstart; elk besluit
    daarna noemt deze revisie."""
    _run(lambda steps: steps.activate(revision, by), "actief")


def rollback(by: By) -> None:
    """Ga terug naar de versie die vóór de huidige actief was (zonder nieuwe goedkeuring,
    wel vastgelegd)."""
    _run(lambda steps: steps.rollback(by), "teruggedraaid, actief")


def history() -> None:
    """Elke stap in het beheer van het deelbeleid, uit de audittrail."""
    with lifecycle() as steps:
        entries, active = steps.steps(), steps.active()
        pointer = steps.store.active()
    for entry in entries:
        detail = f" — {'; '.join(entry.reasons)}" if entry.reasons else ""
        typer.echo(
            f"{entry.seq:>6} {entry.recorded_at} {WORDS[entry.type]:<20}"
            f" {entry.policy_revision or '-'} door {entry.actor}{detail}"
        )
    typer.echo(f"actief volgens de audittrail: {active or 'geen (eerste installatie)'}")
    if active is not None and pointer != active:
        typer.echo(f"LET OP: de bundelserver geeft {pointer}, niet {active}", err=True)
        raise typer.Exit(1)


def operator_api(
    port: Annotated[int, typer.Option(help="poort van de operator-API")] = DEFAULT_API_PORT,
) -> None:
    """De operator-API: dezelfde stappen over HTTP, met het token van een operator."""
    from services.bus.runtime import serve
    from services.policy.operator_api import create_app

    settings = get_settings()
    serve(create_app(settings, docs=settings.api_docs), settings, port)


def register(cli: typer.Typer) -> None:
    cli.command("propose")(propose)
    cli.command("approve")(approve)
    cli.command("activate")(activate)
    cli.command("rollback")(rollback)
    cli.command("history")(history)
    cli.command("operator-api")(operator_api)
