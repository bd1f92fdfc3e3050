"""`kmt erase` and `kmt retention run`: crypto-shredding as an operator does it."""

from __future__ import annotations

from typing import Annotated

import typer

from services.audit.backends import open_ledger
from services.audit.erasure import GROUNDS, Ground, erase, erase_expired
from services.common.settings import get_settings
from services.keyring.datakeys import DataKeyStore

retention_cli = typer.Typer(no_args_is_help=True, help="Bewaartermijnen van meldingen")


def erase_command(
    melding_id: Annotated[str, typer.Argument(help="id van de melding")],
    reason: Annotated[str, typer.Option("--reason", help=f"grond: {' of '.join(GROUNDS)}")],
    by: Annotated[str, typer.Option("--by", help="wie wist (medewerker-id)")],
) -> None:
    """Wis een melding: vernietig haar sleutel, zodat geen kopie meer leesbaar is, en leg
    dat vast in de audittrail."""
    if reason not in GROUNDS:
        typer.echo(f"onbekende grond {reason!r}; kies uit: {', '.join(GROUNDS)}", err=True)
        raise typer.Exit(2)
    ground: Ground = reason
    settings = get_settings()
    ledger, store = open_ledger(settings), DataKeyStore.of(settings)
    try:
        done = erase(ledger, store, melding_id, ground, actor=f"staff:{by}")
    finally:
        ledger.close()
        store.close()
    typer.echo(
        f"melding {melding_id} gewist: {done.keys_destroyed} sleutel(s) vernietigd, "
        f"vastgelegd als seq {done.entry.seq}"
    )


@retention_cli.command("run")
def retention_run() -> None:
    """Wis elke melding waarvan de bewaartermijn verstreken is."""
    settings = get_settings()
    ledger, store = open_ledger(settings), DataKeyStore.of(settings)
    try:
        done = erase_expired(ledger, store, settings.melding_retention_days)
    finally:
        ledger.close()
        store.close()
    typer.echo(f"{len(done)} melding(en) gewist" + "".join(f"\n  {d.melding_id}" for d in done))
