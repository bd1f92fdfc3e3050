"""`kmt partner fetch`: one run of what a partner's system does with KMT's outbox.

Authenticate, fetch every released disclosure after the saved cursor, verify KMT's signature,
decrypt, print the plaintext as one JSON line each, acknowledge, and save the cursor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from services.partner_client.client import PartnerClient, PartnerClientError
from services.sharing.sealing import SealingError


def fetch_command(
    partner_id: Annotated[str, typer.Option(envvar="KMT_PARTNER_ID", help="Je partner-id")],
    auth_key: Annotated[
        Path,
        typer.Option(envvar="KMT_PARTNER_AUTH_KEY", help="Je privé-authenticatiesleutel (JWK)"),
    ],
    encryption_key: Annotated[
        Path,
        typer.Option(envvar="KMT_PARTNER_ENCRYPTION_KEY", help="Je privé-ontsleutelsleutel (JWK)"),
    ],
    kmt_keys: Annotated[
        Path, typer.Option(envvar="KMT_PARTNER_KMT_KEYS", help="KMT's publieke sleutels (JWKS)")
    ],
    base_url: Annotated[
        str, typer.Option(envvar="KMT_PARTNER_BASE_URL", help="Adres van KMT's sharing-service")
    ] = "http://127.0.0.1:8002",
    cursor_file: Annotated[
        Path | None, typer.Option(help="Bewaar hier de cursor, zodat een volgende run verder gaat")
    ] = None,
    ack: Annotated[bool, typer.Option(help="Bevestig ontvangst van wat geopend is")] = True,
) -> None:
    """Haal je disclosures op, verifieer en ontsleutel ze, bevestig ontvangst; print JSON-regels."""
    client = PartnerClient(
        base_url=base_url,
        partner_id=partner_id,
        auth_private_jwk=read_json_object(auth_key),
        encryption_private_jwk=read_json_object(encryption_key),
        kmt_public_jwks=read_json_object(kmt_keys),
    )
    cursor = int(cursor_file.read_text()) if cursor_file and cursor_file.exists() else 0
    failures = 0
    try:
        while (page := client.fetch(cursor)).items:
            for item in page.items:
                try:
                    payload = client.open(item)
                except (SealingError, PartnerClientError) as error:
                    failures += 1
                    typer.echo(
                        f"disclosure {item['disclosure_id']} niet geopend: {error}", err=True
                    )
                    continue
                typer.echo(json.dumps(payload, ensure_ascii=False, sort_keys=True))
                if ack:
                    client.ack(item["disclosure_id"])
            cursor = page.next_cursor
            if cursor_file is not None:
                cursor_file.write_text(str(cursor))
    except PartnerClientError as error:
        typer.echo(f"fout: {error} {json.dumps(error.body, ensure_ascii=False)}", err=True)
        raise typer.Exit(2) from None
    if failures:
        raise typer.Exit(1)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file (a JWK, a JWKS), or a usage error that names the file."""
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        raise typer.BadParameter(f"{path} is geen leesbaar JSON-bestand") from None
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{path} bevat geen JSON-object")
    return value
