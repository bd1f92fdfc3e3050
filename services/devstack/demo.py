"""A local demo deployment's identities: KMT's keys, one partner per recipient (the RIEC,
Veilig Thuis, the 14 municipalities) plus a reporting wijkteam, a privacy officer, a KMT worker
and two operators (staff tokens to log in to the console with).

The partners' private keys are written under `.cache/demo/` because on a laptop the demo
plays every partner; in production each partner keeps its own and registers the public half.
"""

from __future__ import annotations

import json
from pathlib import Path

from joserfc.jwk import ECKey, OKPKey

from services.common import keys
from services.common.municipalities import TWENTE
from services.common.partners import PartnerRegistry, new_partner
from services.common.settings import Settings
from services.common.staff import Role, add_member, authenticate
from services.keyring import generate_all
from services.partner_client.client import PartnerClient

REPORTER = "wijkteam-almelo"


def demo_partners() -> list[tuple[str, str, str, str | None]]:
    """(id, name, kind, municipality) of every demo partner."""
    partners: list[tuple[str, str, str, str | None]] = [
        ("riec-oost", "RIEC Oost-Nederland", "riec", None),
        ("veilig-thuis-twente", "Veilig Thuis Twente", "veilig_thuis", None),
        (REPORTER, "Wijkteam Almelo", "zorg_wijkteam", None),
    ]
    partners += [
        (f"gemeente-{m.replace('_', '-')}", f"Gemeente {m.replace('_', ' ').title()}",
         "gemeente", m)
        for m in TWENTE
    ]  # fmt: skip
    return partners


def demo_dir(settings: Settings) -> Path:
    return settings.data_dir / "demo"


def prepare(settings: Settings) -> list[str]:
    """Create what is missing; never replaces existing keys or registrations."""
    directory = demo_dir(settings)
    done = [f"sleutel {name}" for name in generate_all(settings.keys_dir)]
    registry = PartnerRegistry.load(settings.partners_file)
    for partner_id, name, kind, municipality in demo_partners():
        if registry.get(partner_id) is not None:
            continue
        auth = OKPKey.generate_key("Ed25519")
        encryption = ECKey.generate_key("P-256") if kind != "zorg_wijkteam" else None
        _write(directory / partner_id / "auth.jwk.json", auth.as_dict(private=True))
        if encryption is not None:
            _write(directory / partner_id / "encryption.jwk.json", encryption.as_dict(private=True))
        registry = registry.with_partner(
            new_partner(
                id=partner_id,
                name=name,
                kind=kind,
                municipality=municipality,
                auth_key=auth.as_dict(private=False),
                encryption_key=encryption.as_dict(private=False) if encryption else None,
            )
        )
        done.append(f"partner {partner_id}")
    registry.save(settings.partners_file)
    _write(directory / "kmt-public.jwks.json", keys.public_keyset(settings.keys_dir).as_dict())
    staff: tuple[tuple[Path, str, Role], ...] = (
        (directory / "privacy-officer.token", "demo-privacy-officer", "privacy_officer"),
        (directory / "kmt-worker.token", "demo-kmt-medewerker", "kmt_worker"),
        # two operators: a policy version needs one to propose and another to approve
        (directory / "operator-a.token", "demo-operator-a", "operator"),
        (directory / "operator-b.token", "demo-operator-b", "operator"),
    )
    for token_file, staff_id, role in staff:
        current = token_file.read_text().strip() if token_file.exists() else ""
        if authenticate(current, settings.staff_file) is None:  # none yet, expired or revoked
            token_file.write_text(add_member(staff_id, role, settings.staff_file))
            token_file.chmod(0o600)
            done.append(f"token voor medewerker {staff_id}")
    return done


def _write(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))
    path.chmod(0o600)


def demo_client(partner_id: str, settings: Settings) -> PartnerClient:
    """The reference client for a demo partner (its sharing URL from the settings)."""
    directory = demo_dir(settings)
    home = directory / partner_id
    encryption = home / "encryption.jwk.json"
    return PartnerClient(
        base_url=f"http://127.0.0.1:{settings.sharing_port}",
        partner_id=partner_id,
        auth_private_jwk=json.loads((home / "auth.jwk.json").read_text()),
        # A reporter receives nothing, but the client wants a key: a throwaway one then.
        encryption_private_jwk=json.loads(encryption.read_text())
        if encryption.exists()
        else ECKey.generate_key("P-256").as_dict(private=True),
        kmt_public_jwks=json.loads((directory / "kmt-public.jwks.json").read_text()),
    )
