"""The data contracts between the services: the `data` of each CloudEvent type.

`kmt schemas export` writes their JSON Schemas into `schemas/`; these classes are the source.
Unknown fields are refused everywhere (`extra="forbid"`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from services.common.dutch_dates import birth_date_problem, dutch_date, dutch_today
from services.common.municipalities import Municipality

Recipient = Literal["riec", "gemeente_veiligheid", "veilig_thuis"]
RECIPIENTS: tuple[Recipient, ...] = ("riec", "gemeente_veiligheid", "veilig_thuis")

ReporterType = Literal[
    "gemeente",
    "zorg_wijkteam",
    "politie",
    "slachtoffer_betrokkene",
    "comensha",
    "riec",
    "veilig_thuis",
    "anders",
]
ExploitationForm = Literal[
    "seksuele_uitbuiting",
    "criminele_uitbuiting",
    "arbeidsuitbuiting",
    "orgaanverwijdering",
    "overig",
]
UnderminingIndicator = Literal[
    "crimineel_netwerk",
    "witwassen",
    "vastgoed",
    "bedrijfsstructuur",
    "andere_riec_partners_nodig",
]
Text = Annotated[str, StringConstraints(max_length=10_000)]
ShortText = Annotated[str, StringConstraints(max_length=500)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def elfproef(bsn: str) -> bool:
    """The Dutch BSN check: weights 9..2 and -1, sum divisible by 11."""
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(int(d) * w for d, w in zip(bsn, weights, strict=True)) % 11 == 0


class Reporter(Strict):
    type: ReporterType
    organisation: ShortText
    partner_id: ShortText | None = Field(
        default=None, description="Set by intake from the authenticated partner; never sent in."
    )


class Address(Strict):
    street: ShortText
    house_number: Annotated[str, StringConstraints(max_length=20)]
    postal_code: Annotated[str, StringConstraints(max_length=20)]
    city: ShortText


class Victim(Strict):
    name: ShortText | None = None
    birth_date: date | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    gender: Literal["vrouw", "man", "overig", "onbekend"] = "onbekend"
    nationality: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    bsn: str | None = None
    address: Address | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    health_information: Text | None = None
    consent: bool | None = None

    @field_validator("bsn")
    @classmethod
    def _bsn_passes_elfproef(cls, value: str | None) -> str | None:
        if value is not None and not elfproef(value):
            raise ValueError("BSN moet uit 9 cijfers bestaan en de elfproef doorstaan")
        return value


class Suspect(Strict):
    name: ShortText | None = None
    birth_date: date | None = None
    role: Literal["dader", "facilitator", "onbekend"] = "onbekend"
    relation_to_victim: ShortText | None = None
    description: Text | None = None


class Location(Strict):
    description: Text | None = None
    address: Address | None = None
    business_name: ShortText | None = None
    kvk_number: Annotated[str, StringConstraints(pattern=r"^\d{8}$")] | None = None


class Signals(Strict):
    narrative: Text = ""
    acute_danger: bool = False
    safety_risk: bool = False
    domestic_violence: bool = False
    minors_in_household: bool = False
    risk_summary: Text = ""
    undermining_indicators: list[UnderminingIndicator] = Field(default_factory=list)


class Case(Strict):
    wgs_designated: bool = False


# Every dotted path a decision, a provenance entry or a scenario may name.
MELDING_PATHS: frozenset[str] = frozenset(
    {
        "melding_id",
        "received_at",
        "reporter",
        "reporter.type",
        "reporter.organisation",
        "reporter.partner_id",
        "municipality",
        "exploitation_forms",
        "case",
        "case.wgs_designated",
        "victim",
        "victim.pseudonym",
        "suspects",
        "location",
        "location.description",
        "location.address",
        "location.business_name",
        "location.kvk_number",
        "signals",
        "provenance",
        "police_involved",
    }
    | {f"victim.{name}" for name in Victim.model_fields}
    | {f"signals.{name}" for name in Signals.model_fields}
)


def value_at(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted melding path in dumped melding data; None where it is absent."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def paths_in(data: dict[str, Any], prefix: str = "") -> list[str]:
    """The melding paths that hold a value in (minimised) melding data, as deep as
    `MELDING_PATHS` names them: what a disclosure actually carries. Empty text, lists and
    objects carry nothing and are left out."""
    found: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if value is None or value in ("", [], {}):
            continue
        if isinstance(value, dict) and any(f"{path}.{k}" in MELDING_PATHS for k in value):
            found += paths_in(value, f"{path}.")
        else:
            found.append(path)
    return sorted(found)


class Provenance(Strict):
    source: Literal["politie", "riec", "gemeente", "zorg", "veilig_thuis", "burger", "kmt"]
    regime: Literal["AVG", "WPG", "WGS"]
    fields: list[str] = Field(min_length=1)
    onward_consent: bool = False

    @field_validator("fields")
    @classmethod
    def _known_paths(cls, paths: list[str]) -> list[str]:
        unknown = [p for p in paths if p not in MELDING_PATHS]
        if unknown:
            raise ValueError(f"onbekende veldpaden: {', '.join(sorted(unknown))}")
        return paths


class MeldingSubmission(Strict):
    """What a partner sends to `POST /v1/meldingen` (melding.v1 without the intake fields)."""

    reporter: Reporter
    municipality: Municipality
    exploitation_forms: list[ExploitationForm] = Field(min_length=1)
    case: Case = Field(default_factory=Case)
    victim: Victim
    suspects: list[Suspect] = Field(default_factory=list, max_length=50)
    location: Location | None = None
    signals: Signals = Field(default_factory=Signals)
    provenance: list[Provenance] = Field(default_factory=list, max_length=50)

    @field_validator("reporter")
    @classmethod
    def _no_partner_id(cls, reporter: Reporter) -> Reporter:
        if reporter.partner_id is not None:
            raise ValueError("reporter.partner_id wordt door intake gezet, niet door de melder")
        return reporter

    def reference_date(self, context: Any = None) -> date:
        """The date birth dates are checked against: the Dutch date of the moment intake
        will stamp as `received_at` (validation context `received_at`), else today."""
        moment = context.get("received_at") if isinstance(context, dict) else None
        return dutch_date(moment) if isinstance(moment, datetime) else dutch_today()

    @model_validator(mode="after")
    def _plausible_birth_dates(self, info: ValidationInfo) -> MeldingSubmission:
        """No birth date after the melding's Dutch date, nor more than 120 years before it;
        each refused under its own path, without echoing the date."""
        day = self.reference_date(info.context)
        dated = [(("victim", "birth_date"), self.victim.birth_date)] + [
            (("suspects", index, "birth_date"), suspect.birth_date)
            for index, suspect in enumerate(self.suspects)
        ]
        errors = [
            InitErrorDetails(type=problem, loc=loc, input=None)
            for loc, birth_date in dated
            if birth_date is not None and (problem := birth_date_problem(birth_date, day))
        ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


class Melding(MeldingSubmission):
    """Data of `melding.received`: melding.v1 with the fields intake assigns."""

    melding_id: UUID
    received_at: datetime

    @field_validator("reporter")
    @classmethod
    def _no_partner_id(cls, reporter: Reporter) -> Reporter:  # intake sets it: allowed here
        return reporter

    @field_validator("received_at")
    @classmethod
    def _has_a_dutch_date(cls, moment: datetime) -> datetime:
        try:
            dutch_date(moment)
        except OverflowError:
            raise ValueError("ontvangstmoment valt buiten het geldige bereik") from None
        return moment

    def reference_date(self, context: Any = None) -> date:
        """The Dutch date of `received_at`, on which ages count."""
        return dutch_date(self.received_at)


class Reason(Strict):
    rule: str
    text: str


class Decision(Strict):
    """The policy engine's answer for one melding and one recipient (DESIGN.md contract)."""

    recipient: Recipient
    allow: bool
    purpose: str | None = None
    legal_basis: list[str] = Field(default_factory=list)
    fields: list[str] = Field(default_factory=list)
    obligations: list[str] = Field(default_factory=list)
    reasons: list[Reason] = Field(min_length=1)
    policy_revision: str
    municipality: Municipality | None = None
    alerts: list[str] = Field(default_factory=list)


class SharingDecided(Decision):
    """Data of `sharing.decided`: a decision, tied to its melding."""

    melding_id: UUID
    decided_at: datetime


class DisclosureCreated(Strict):
    """Data of `disclosure.created`: only the JWE and non-personal metadata travel on Kafka."""

    disclosure_id: UUID
    decision_event_id: str
    melding_id: UUID
    recipient: Recipient
    recipient_partner: str | None = None
    municipality: Municipality | None = None
    purpose: str
    legal_basis: list[str]
    fields: list[str]
    """The data categories the JWE carries (`paths_in`), not all those the decision allowed."""
    obligations: list[str]
    policy_revision: str
    created_at: datetime
    expires_at: datetime | None = None
    ciphertext_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    jwe: str = Field(description="Compact JWE (ECDH-ES+A256KW, A256GCM) of the signed disclosure")


class DisclosureLifecycle(Strict):
    """Data of `disclosure.released`, `.reviewed` and `.acknowledged`: what happened to a
    disclosure after it was created, and who did it."""

    disclosure_id: UUID
    melding_id: UUID
    recipient: Recipient
    partner_id: str
    action: Literal["released", "approved", "rejected", "acknowledged"]
    actor: str
    at: datetime
    reason_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    """For a review: SHA-256 of the reviewer's reason as sharing keeps it, encrypted under a
    data key of the melding (never the reason itself)."""


StaffRead = Literal["sharing.reviews", "sharing.review"]
"""What a staff member can be shown outside audit's own API: sharing's review queue, and one
review item with the melding's content the reviewer must judge."""


class StaffAccessed(Strict):
    """Data of `staff.accessed`: a staff member was shown what a service holds about these
    meldingen. Committed before anything is shown; ids only, never what was shown."""

    actor: Annotated[str, StringConstraints(pattern=r"^staff:[a-z0-9][a-z0-9._-]{0,63}$")]
    read: StaffRead
    melding_ids: list[UUID]
    """Every melding something was shown of, once each, in the order shown (none: an empty
    answer, still a read)."""
    at: datetime


class AuditRecorded(Strict):
    """Data of `audit.recorded`: the receipt for one ledger entry."""

    event_id: str
    event_type: str
    melding_id: UUID | None = None
    disclosure_id: UUID | None = None
    seq: int
    entry_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    ciphertext_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    """For a disclosure: the hash of the JWE that was recorded, so sharing releases exactly
    what the ledger holds."""


class DeadLetter(Strict):
    """Data of a dead-letter event: where it came from, which consumer refused it and why;
    never the payload itself (it may be personal: its hash identifies it)."""

    consumer: str
    topic: str
    partition: int
    offset: int
    key: str | None = None
    reason: str
    payload_sha256: str
