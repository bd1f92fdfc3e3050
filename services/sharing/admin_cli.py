"""`kmt keys ...` and `kmt partners ...`: KMT's key material and the partner registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from services.common import keys
from services.common.partners import (
    KeyRole,
    PartnerRegistry,
    PartnerRegistryError,
    add_partner,
    new_partner,
    rotate_partner_key,
    set_partner_webhook,
)
from services.common.settings import get_settings
from services.common.webhooks import load_webhook_signer
from services.keyring import generate_all
from services.partner_client.cli import read_json_object
from services.partner_client.keygen import write_key_pair

keys_cli = typer.Typer(
    no_args_is_help=True, help="KMT's sleutels (ondertekening, tokens, pseudoniemen)"
)
partners_cli = typer.Typer(no_args_is_help=True, help="Het partnerregister")

GenerateInto = Annotated[
    Path | None,
    typer.Option(help="Maak een nieuw sleutelpaar; de privé-sleutel komt in deze map (test/demo)"),
]


@keys_cli.command("generate")
def generate() -> None:
    """Maak de ontbrekende sleutels aan; bestaande blijven ongemoeid."""
    directory = get_settings().keys_dir
    created = generate_all(directory)
    typer.echo(
        f"aangemaakt in {directory}: {', '.join(created)}" if created else "alles bestond al"
    )


@keys_cli.command("rotate")
def rotate(
    token_key: Annotated[
        bool,
        typer.Option(
            "--token-key", help="Vervang de tokensleutel in plaats van de ondertekensleutel"
        ),
    ] = False,
) -> None:
    """Nieuwe ondertekensleutel; oude publieke sleutels blijven gepubliceerd (kid)."""
    directory = get_settings().keys_dir
    if not token_key:
        typer.echo(f"nieuwe ondertekensleutel: kid {keys.generate_signing_key(directory).kid}")
        return
    for service in keys.TOKEN_ISSUERS:
        key = keys.generate_token_key(directory, service)
        typer.echo(f"nieuwe tokensleutel van {service}: kid {key.kid}")


@keys_cli.command("public")
def public() -> None:
    """Print de publieke ondertekensleutels (JWKS) die partners nodig hebben om te verifiëren."""
    typer.echo(json.dumps(keys.public_keyset(get_settings().keys_dir).as_dict(), indent=2))


@partners_cli.command("list")
def list_partners() -> None:
    """Toon de geregistreerde partners en de kid van hun sleutels."""
    for p in PartnerRegistry.load(get_settings().partners_file).partners:
        encryption = p.encryption_key["kid"] if p.encryption_key else "-"
        place = f" ({p.municipality})" if p.municipality else ""
        typer.echo(f"{p.id}\t{p.kind}{place}\t{p.name}\tenc={encryption}\tauth={p.auth_key['kid']}")


@partners_cli.command("add")
def add(
    partner_id: Annotated[str, typer.Argument(help="Korte id, bijv. gemeente-almelo")],
    name: Annotated[str, typer.Option(help="Naam van de organisatie")],
    kind: Annotated[str, typer.Option(help="riec, gemeente, veilig_thuis, zorg_wijkteam, ...")],
    municipality: Annotated[str | None, typer.Option(help="Alleen voor een gemeente")] = None,
    encryption_key: Annotated[Path | None, typer.Option(help="Publieke JWK (EC P-256)")] = None,
    auth_key: Annotated[Path | None, typer.Option(help="Publieke JWK (Ed25519/P-256)")] = None,
    generate_into: GenerateInto = None,
) -> None:
    """Registreer een partner met zijn publieke sleutels (of laat er een paar maken)."""
    is_recipient = kind in ("riec", "gemeente", "veilig_thuis")
    if generate_into is not None:
        auth_key_jwk = _generated(generate_into, partner_id, "auth")
        encryption_jwk = (
            _generated(generate_into, partner_id, "encryption") if is_recipient else None
        )
    else:
        auth_key_jwk = _read_jwk(auth_key, "--auth-key")
        encryption_jwk = _read_jwk(encryption_key, "--encryption-key") if is_recipient else None
    with _clear_errors():
        partner = new_partner(
            id=partner_id,
            name=name,
            kind=kind,
            municipality=municipality,
            encryption_key=encryption_jwk,
            auth_key=auth_key_jwk,
        )
        add_partner(get_settings().partners_file, partner)
    typer.echo(f"partner {partner_id} toegevoegd")


@partners_cli.command("rotate-key")
def rotate_key(
    partner_id: str,
    which: Annotated[str, typer.Option(help="encryption of auth")],
    key: Annotated[Path | None, typer.Option(help="Nieuwe publieke JWK")] = None,
    generate_into: GenerateInto = None,
) -> None:
    """Vervang de versleutel- of authenticatiesleutel van een partner."""
    if which not in ("encryption", "auth"):
        raise typer.BadParameter("kies encryption of auth", param_hint="--which")
    role: KeyRole = "encryption" if which == "encryption" else "auth"
    jwk = _generated(generate_into, partner_id, role) if generate_into else _read_jwk(key, "--key")
    with _clear_errors():
        rotate_partner_key(get_settings().partners_file, partner_id, role, jwk)
    typer.echo(f"{which}-sleutel van {partner_id} vervangen")


@partners_cli.command("webhook")
def webhook(
    partner_id: str,
    url: Annotated[str | None, typer.Argument(help="https://…; weglaten met --uit")] = None,
    off: Annotated[bool, typer.Option("--uit", help="de webhook verwijderen")] = False,
) -> None:
    """Laat sharing de partner bij elke vrijgave meteen seinen (ondertekend, alleen id's)."""
    if (url is None) == (not off):
        raise typer.BadParameter("geef een URL, of --uit")
    with _clear_errors():
        set_partner_webhook(get_settings().partners_file, partner_id, None if off else url)
    if off:
        typer.echo(f"webhook van {partner_id} verwijderd")
        return
    key = load_webhook_signer(get_settings().keys_dir, "sharing").public_key_text
    typer.echo(f"webhook van {partner_id}: {url}\nverifieer met sleutel {key}")


@partners_cli.command("attempts")
def attempts(
    limit: Annotated[int, typer.Option(help="hoeveel pogingen, nieuwste eerst")] = 200,
) -> None:
    """Toon elke bezorgpoging aan de webhooks van partners met haar uitkomst."""
    from services.sharing.partner_webhooks import open_notices

    for line in open_notices(get_settings()).attempt_lines(limit):
        typer.echo(line)


def _generated(directory: Path, partner_id: str, role: KeyRole) -> dict[str, Any]:
    """Make a key pair, keep it in `directory` (private half 0600), return the public half."""
    return dict(write_key_pair(directory, partner_id, role).as_dict(private=False))


def _read_jwk(path: Path | None, option: str) -> dict[str, Any]:
    if path is None:
        raise typer.BadParameter("nodig (of gebruik --generate-into)", param_hint=option)
    return read_json_object(path)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Registry errors become a one-line message and exit code 1, not a traceback."""
    try:
        yield
    except PartnerRegistryError as error:
        typer.echo(f"fout: {error}", err=True)
        raise typer.Exit(1) from None
