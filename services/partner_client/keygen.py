"""`kmt partner keys`: a partner makes its own key pairs and hands KMT only the public halves.

Authentication: Ed25519 (signs the `private_key_jwt` client assertion). Encryption: P-256
(KMT encrypts disclosures to it with ECDH-ES+A256KW); only recipients need one. The private
files are written 0600 and never leave the partner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from joserfc.jwk import ECKey, OKPKey

from services.common.keys import write_private_json
from services.common.partners import KeyRole


def new_partner_key(role: KeyRole) -> ECKey | OKPKey:
    """A partner's key pair: P-256 for encryption (ECDH-ES), Ed25519 for authentication."""
    key: ECKey | OKPKey = (
        ECKey.generate_key("P-256") if role == "encryption" else OKPKey.generate_key("Ed25519")
    )
    key.ensure_kid()
    return key


def key_file(directory: Path, partner_id: str, role: KeyRole, half: str) -> Path:
    return directory / f"{partner_id}.{role}.{half}.jwk.json"


def write_key_pair(directory: Path, partner_id: str, role: KeyRole) -> ECKey | OKPKey:
    """Make a key pair; the private half goes to `directory` (0600), the public half beside it."""
    key = new_partner_key(role)
    write_private_json(key_file(directory, partner_id, role, "private"), key.as_dict(private=True))
    key_file(directory, partner_id, role, "public").write_text(
        json.dumps(key.as_dict(private=False), indent=2)
    )
    return key


def keys_command(
    partner_id: Annotated[str, typer.Option(help="Je partner-id, bijv. riec-oost")],
    directory: Annotated[Path, typer.Option("--dir", help="Map voor de sleutelbestanden")],
    recipient: Annotated[
        bool,
        typer.Option(help="Ook een versleutelpaar (voor RIEC, gemeente en Veilig Thuis)"),
    ] = True,
) -> None:
    """Maak je sleutelparen; stuur KMT alleen de *.public.jwk.json-bestanden."""
    roles: tuple[KeyRole, ...] = ("auth", "encryption") if recipient else ("auth",)
    for role in roles:
        if key_file(directory, partner_id, role, "private").exists():
            typer.echo(f"{key_file(directory, partner_id, role, 'private')} bestaat al", err=True)
            raise typer.Exit(1)
    for role in roles:
        write_key_pair(directory, partner_id, role)
        typer.echo(str(key_file(directory, partner_id, role, "public")))
