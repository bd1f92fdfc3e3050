"""The partner registry: who may send meldingen and who receives disclosures, with their keys.

A JSON file (`settings.partners_file`) of `{"partners": [...]}`. It holds public keys only:
a partner's encryption key (EC P-256, what disclosures are encrypted to) and its
authentication key (Ed25519 or EC P-256, what its client assertions are signed with).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, OKPKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.common.events import describe
from services.common.keys import write_private_json
from services.common.models import Recipient, ReporterType
from services.common.municipalities import Municipality

PartnerKind = Literal[
    "riec", "gemeente", "veilig_thuis", "zorg_wijkteam", "politie", "comensha", "anders"
]
KeyRole = Literal["encryption", "auth"]
RECIPIENT_OF_KIND: dict[str, Recipient] = {
    "riec": "riec",
    "gemeente": "gemeente_veiligheid",
    "veilig_thuis": "veilig_thuis",
}
REPORTER_TYPES_OF_KIND: dict[PartnerKind, frozenset[ReporterType]] = {
    "politie": frozenset({"politie"}),
    "gemeente": frozenset({"gemeente"}),
    "zorg_wijkteam": frozenset({"zorg_wijkteam", "gemeente"}),
    "riec": frozenset({"riec"}),
    "veilig_thuis": frozenset({"veilig_thuis"}),
    "comensha": frozenset({"comensha"}),
    "anders": frozenset({"anders", "slachtoffer_betrokkene"}),
}
"""The `reporter.type`s a partner of each registered kind may send a melding as: its own kind
(a wijkteam works for its gemeente and may report as one; a partner of kind `anders`, such as
a meldpunt, may pass on what a victim or bystander reports). Only the police reports as
`politie`, and the police only as `politie`: the policies treat such a melding as police data."""
TWENTE_OUTSIDE = ("buiten_twente", "onbekend")
_ENCRYPTION_CURVES = {("EC", "P-256")}
_AUTH_CURVES = {("OKP", "Ed25519"), ("EC", "P-256")}


class PartnerRegistryError(ValueError):
    """The registry file or a change to it is invalid; says what, never echoes key material."""


class Partner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    kind: PartnerKind
    municipality: Municipality | None = None
    encryption_key: dict[str, Any] | None = Field(
        default=None, description="Public JWK (EC P-256) that disclosures are encrypted to."
    )
    auth_key: dict[str, Any] = Field(
        description="Public JWK (Ed25519 or EC P-256) that verifies the partner's assertions."
    )
    webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        max_length=500,
        description="Where sharing POSTs, signed, the ids of each disclosure released to the "
        "partner, so it fetches at once instead of at its next poll.",
    )

    @field_validator("encryption_key")
    @classmethod
    def _encryption_key_is_public_p256(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else public_jwk(value, _ENCRYPTION_CURVES, "enc")

    @field_validator("auth_key")
    @classmethod
    def _auth_key_is_public(cls, value: dict[str, Any]) -> dict[str, Any]:
        return public_jwk(value, _AUTH_CURVES, "sig")

    @model_validator(mode="after")
    def _kind_fits(self) -> Partner:
        if self.kind == "gemeente" and (self.municipality in (None, *TWENTE_OUTSIDE)):
            raise ValueError("een gemeente heeft een van de 14 Twentse gemeenten als municipality")
        if self.kind != "gemeente" and self.municipality is not None:
            raise ValueError("alleen een gemeente heeft een municipality")
        if self.recipient is not None and self.encryption_key is None:
            raise ValueError(f"een ontvanger ({self.kind}) heeft een encryption_key nodig")
        return self

    @property
    def recipient(self) -> Recipient | None:
        """The recipient role this partner receives disclosures as, if any."""
        return RECIPIENT_OF_KIND.get(self.kind)

    def reporter_type_problem(self, reporter_type: str) -> str | None:
        """Why this partner may not send a melding as `reporter_type`, or None if it may."""
        allowed = REPORTER_TYPES_OF_KIND[self.kind]
        if reporter_type in allowed:
            return None
        return (
            f"reporter.type {reporter_type!r} past niet bij partner {self.id}, geregistreerd "
            f"als {self.kind!r}; toegestaan: {', '.join(sorted(allowed))}"
        )

    def encryption_public_key(self) -> ECKey:
        if self.encryption_key is None:
            raise PartnerRegistryError(f"partner {self.id} heeft geen encryption_key")
        return ECKey.import_key(self.encryption_key)

    def auth_public_key(self) -> Key:
        return JWKRegistry.import_key(self.auth_key)


class PartnerRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partners: list[Partner] = Field(default_factory=list)

    @field_validator("partners")
    @classmethod
    def _unique_ids(cls, partners: list[Partner]) -> list[Partner]:
        ids = [p.id for p in partners]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"dubbele partner-id's: {', '.join(duplicates)}")
        return partners

    @classmethod
    def load(cls, path: Path) -> PartnerRegistry:
        """The registry in `path`; an absent file is an empty registry (nobody is a partner)."""
        if not path.exists():
            return cls()
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise PartnerRegistryError(f"{path}: geen geldige JSON (regel {exc.lineno})") from None
        except ValidationError as exc:
            raise PartnerRegistryError(f"{path}: {_summary(exc)}") from None

    def save(self, path: Path) -> None:
        write_private_json(path, self.model_dump(mode="json", exclude_none=True))

    def get(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)

    def recipient_partners(
        self, recipient: Recipient, municipality: Municipality | None
    ) -> list[Partner]:
        """Who receives `recipient`'s disclosures: for `gemeente_veiligheid` only the partner
        of that municipality (none without one), never the other 13."""
        return [
            p
            for p in self.partners
            if p.recipient == recipient and (p.kind != "gemeente" or p.municipality == municipality)
        ]

    def with_partner(self, partner: Partner) -> PartnerRegistry:
        if self.get(partner.id) is not None:
            raise PartnerRegistryError(f"partner {partner.id} bestaat al")
        return PartnerRegistry(partners=[*self.partners, partner])

    def with_key(self, partner_id: str, role: KeyRole, jwk: dict[str, Any]) -> PartnerRegistry:
        """The registry with a partner's encryption or authentication key replaced."""
        current = self.get(partner_id)
        if current is None:
            raise PartnerRegistryError(f"onbekende partner {partner_id}")
        updated = _validated(current.model_dump() | {f"{role}_key": jwk})
        return PartnerRegistry(
            partners=[updated if p.id == partner_id else p for p in self.partners]
        )

    def with_webhook(self, partner_id: str, url: str | None) -> PartnerRegistry:
        """The registry with a partner's webhook set (None: removed)."""
        current = self.get(partner_id)
        if current is None:
            raise PartnerRegistryError(f"onbekende partner {partner_id}")
        updated = _validated(current.model_dump() | {"webhook_url": url})
        return PartnerRegistry(
            partners=[updated if p.id == partner_id else p for p in self.partners]
        )


class RegistryFile:
    """The registry in `path`, read again only when the file changed: a new mtime, size or
    inode (saves replace the file, so every save gives a new inode). Changes made while a
    service runs (`kmt partners add`, a key rotation) count from the next call on. Safe to
    share between threads: the registry and what it was read from are replaced together."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded: tuple[tuple[int, int, int] | None, PartnerRegistry] | None = None

    def current(self) -> PartnerRegistry:
        try:
            status = self.path.stat()
            stamp: tuple[int, int, int] | None = (
                status.st_mtime_ns,
                status.st_size,
                status.st_ino,
            )
        except FileNotFoundError:
            stamp = None
        loaded = self._loaded
        if loaded is None or loaded[0] != stamp:
            loaded = (stamp, PartnerRegistry.load(self.path))
            self._loaded = loaded
        return loaded[1]


def add_partner(path: Path, partner: Partner) -> None:
    PartnerRegistry.load(path).with_partner(partner).save(path)


def rotate_partner_key(path: Path, partner_id: str, role: KeyRole, jwk: dict[str, Any]) -> None:
    PartnerRegistry.load(path).with_key(partner_id, role, jwk).save(path)


def set_partner_webhook(path: Path, partner_id: str, url: str | None) -> None:
    PartnerRegistry.load(path).with_webhook(partner_id, url).save(path)


def new_partner(**fields: Any) -> Partner:
    """A validated `Partner`, or a `PartnerRegistryError` that says which field is wrong."""
    return _validated(fields)


def public_jwk(value: dict[str, Any], curves: set[tuple[str, str]], use: str) -> dict[str, Any]:
    """A JWK checked to be public and of an accepted curve, with `kid` (thumbprint) and `use`."""
    if "d" in value:
        raise ValueError("sleutel bevat een privé-deel; registreer alleen de publieke sleutel")
    if (value.get("kty"), value.get("crv")) not in curves:
        accepted = ", ".join(f"{kty} {crv}" for kty, crv in sorted(curves))
        raise ValueError(f"sleuteltype niet toegestaan; toegestaan: {accepted}")
    try:
        key = JWKRegistry.import_key({k: v for k, v in value.items() if k not in ("use", "alg")})
    except (JoseError, ValueError, TypeError):
        raise ValueError("geen geldige publieke JWK") from None
    assert isinstance(key, ECKey | OKPKey)
    key.ensure_kid()
    return dict(key.as_dict(private=False)) | {"use": use}


def _validated(fields: dict[str, Any]) -> Partner:
    try:
        return Partner.model_validate(fields)
    except ValidationError as exc:
        raise PartnerRegistryError(_summary(exc)) from None


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{d['path']}: {d['message']}" for d in describe(exc))
