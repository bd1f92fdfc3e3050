"""`kmt partner fetch`: one run of what a partner's system does with KMT's outbox.

Authenticate, fetch every released disclosure after the saved cursor, verify KMT's signature,
decrypt, print the plaintext as one JSON line each, acknowledge, and save the cursor. With
the audit service's address and pinned key, also check that each disclosure is in the signed
audit trail (`trail.py`); `kmt partner prove` checks one later.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from services.common.transparency import BadCheckpoint
from services.partner_client.client import PartnerClient, PartnerClientError
from services.partner_client.trail import Inclusion, TrailChecker
from services.sharing.sealing import SealingError

AUDIT_URL_HELP = "Adres van KMT's audit-service (met --audit-key: controleer het grootboek)"
AUDIT_KEY_HELP = (
    "Bestand met de verifier key van de audit-service, één keer buiten deze verbinding om "
    "opgehaald en vastgelegd"
)
UNCHECKED = 3
"""Exit status of `prove` when the entry cannot be checked yet (no checkpoint over it)."""


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
    audit_url: Annotated[
        str | None, typer.Option(envvar="KMT_PARTNER_AUDIT_URL", help=AUDIT_URL_HELP)
    ] = None,
    audit_key: Annotated[
        Path | None, typer.Option(envvar="KMT_PARTNER_AUDIT_KEY", help=AUDIT_KEY_HELP)
    ] = None,
) -> None:
    """Haal je disclosures op, verifieer en ontsleutel ze, bevestig ontvangst; print JSON-regels.

    Met --audit-url en --audit-key ook: staat elke disclosure in het ondertekende grootboek?
    Exit 1 als een disclosure niet te openen is of daar aantoonbaar niet in staat.
    """
    checker = trail_checker(audit_url, audit_key)
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
                if checker is not None and audit_key is not None:
                    found = checker.check(item)
                    later = prove_line(item, checker.audit_url, audit_key)
                    report(f"disclosure {item['disclosure_id']}", found, later)
                    failures += found.outcome == "failed"
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


def prove_command(
    seq: Annotated[int, typer.Option(min=0, help="audit_seq van de disclosure")],
    entry_hash: Annotated[str, typer.Option(help="audit_entry_hash van de disclosure")],
    audit_url: Annotated[str, typer.Option(envvar="KMT_PARTNER_AUDIT_URL", help=AUDIT_URL_HELP)],
    audit_key: Annotated[Path, typer.Option(envvar="KMT_PARTNER_AUDIT_KEY", help=AUDIT_KEY_HELP)],
    tree_size: Annotated[
        int | None, typer.Option(min=1, help="Tegen de checkpoint van deze grootte")
    ] = None,
) -> None:
    """Controleer dat een disclosure in het ondertekende grootboek staat.

    Exit 0: bewezen; 1: niet bewezen; 3: nog niet te controleren (probeer het later).
    """
    checker = trail_checker(audit_url, audit_key)
    assert checker is not None
    found = checker.prove(seq, entry_hash, tree_size)
    report(
        f"seq {seq}",
        found,
        prove_line({"audit_seq": seq, "audit_entry_hash": entry_hash}, audit_url, audit_key),
    )
    if found.outcome != "verified":
        raise typer.Exit(1 if found.outcome == "failed" else UNCHECKED)


def trail_checker(audit_url: str | None, audit_key: Path | None) -> TrailChecker | None:
    """A checker with the pinned key in `audit_key`; None when neither option is given."""
    if audit_url is None and audit_key is None:
        return None
    if audit_url is None or audit_key is None:
        raise typer.BadParameter("--audit-url en --audit-key horen bij elkaar")
    if not audit_url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{audit_url} is geen http(s)-adres")
    try:
        return TrailChecker(audit_url, audit_key.read_text().strip())
    except OSError:
        raise typer.BadParameter(f"{audit_key} is niet leesbaar") from None
    except BadCheckpoint as error:
        raise typer.BadParameter(f"{audit_key}: {error}") from None


def prove_line(item: dict[str, Any], audit_url: str, audit_key: Path) -> str:
    """The command that checks this disclosure's receipt later."""
    return shlex.join(
        [
            "kmt", "partner", "prove",
            "--seq", str(item.get("audit_seq")),
            "--entry-hash", str(item.get("audit_entry_hash")),
            "--audit-url", audit_url,
            "--audit-key", str(audit_key),
        ]
    )  # fmt: skip


def report(what: str, found: Inclusion, later: str) -> None:
    """One line on stderr per receipt: proven, not yet checkable (and how to check it
    later), or NOT proven."""
    if found.outcome == "verified":
        typer.echo(f"{what}: {found.message}", err=True)
    elif found.outcome == "unchecked":
        typer.echo(f"{what}: {found.message}; controleer later met: {later}", err=True)
    else:
        typer.echo(f"{what}: NIET geverifieerd in het grootboek: {found.message}", err=True)
