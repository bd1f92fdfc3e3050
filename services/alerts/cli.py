"""`kmt alerts`: run the alerts service, or see what it tried (`attempts`) and the key its
webhooks are signed with (`webhook-key`)."""

from __future__ import annotations

from typing import Annotated

import typer

from services.common.settings import get_settings
from services.common.webhooks import load_webhook_signer

cli = typer.Typer(help="Acuut-gevaarmeldingen aan de dienstdoende KMT-medewerker")


@cli.command("attempts")
def attempts(
    limit: Annotated[int, typer.Option(help="hoeveel pogingen, nieuwste eerst")] = 200,
) -> None:
    """Toon elke bezorgpoging aan het on-call-kanaal (webhook, e-mail) met haar uitkomst."""
    from services.alerts.service import open_deliveries

    for line in open_deliveries(get_settings()).attempt_lines(limit):
        typer.echo(line)


@cli.command("webhook-key")
def webhook_key() -> None:
    """Print de publieke sleutel (whpk_…) waarmee de ontvanger de webhook verifieert."""
    typer.echo(load_webhook_signer(get_settings().keys_dir, "alerts").public_key_text)
