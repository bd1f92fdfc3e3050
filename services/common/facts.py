"""What the sharing policies may see of a melding: facts, never identities or free text.

Routing and `kmt decide` send OPA `policy_facts(melding)` in place of the melding (issue 8).
The facts are exactly what `policies/` reads: signals, municipality, the victim's age on
the Dutch date of reception, consent, suspects' roles and kinship, provenance, and which fields are
present (`present`), so a policy can reason about a field without seeing its value. Names,
birth dates, BSN, addresses, phone numbers, health information, the narrative, the risk
summary, descriptions, locations and the reporter's organisation never leave this module.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal, cast, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.dutch_dates import dutch_date
from services.common.models import (
    MELDING_PATHS,
    Case,
    ExploitationForm,
    Melding,
    Provenance,
    ReporterType,
    ShortText,
    Strict,
    UnderminingIndicator,
    value_at,
)
from services.common.municipalities import Municipality

Relation = Literal[
    # parents and carers (a superset of data.kmt.config.parent_relations)
    "ouder",
    "ouders",
    "vader",
    "moeder",
    "stiefvader",
    "stiefmoeder",
    "stiefouder",
    "pleegvader",
    "pleegmoeder",
    "pleegouder",
    "pleegouders",
    "voogd",
    "adoptievader",
    "adoptiemoeder",
    "adoptieouder",
    # partners
    "partner",
    "ex-partner",
    "echtgenoot",
    "echtgenote",
    "vriend",
    "vriendin",
    "ex-vriend",
    "ex-vriendin",
    # family
    "broer",
    "zus",
    "halfbroer",
    "halfzus",
    "stiefbroer",
    "stiefzus",
    "zoon",
    "dochter",
    "kind",
    "oom",
    "tante",
    "neef",
    "nicht",
    "opa",
    "oma",
    "grootvader",
    "grootmoeder",
    "grootouder",
    "schoonvader",
    "schoonmoeder",
    "schoonfamilie",
    "familie",
    "familielid",
    # others
    "werkgever",
    "collega",
    "huisbaas",
    "verhuurder",
    "buurman",
    "buurvrouw",
    "kennis",
    "bekende",
    "landgenoot",
    "tussenpersoon",
    "klant",
    "loverboy",
    "pooier",
    "onbekend",
    "overig",
]
RELATIONS: frozenset[str] = frozenset(get_args(Relation))
OTHER_RELATION: Relation = "overig"
"""A relation outside the vocabulary: free text never reaches the policies."""


class ReporterFacts(Strict):
    type: ReporterType
    partner_id: ShortText | None = Field(
        default=None, description="The authenticated partner organisation, not a person."
    )


class VictimFacts(Strict):
    age: int | None = Field(
        default=None,
        description=(
            "Whole years on the date of received_at in Europe/Amsterdam, from birth_date when "
            "given, else the given age; null when neither is known."
        ),
    )
    consent: bool | None = None


class SuspectFacts(Strict):
    role: Literal["dader", "facilitator", "onbekend"] = "onbekend"
    relation_to_victim: Relation | None = Field(
        default=None, description="Lower-cased kinship term; 'overig' for anything else."
    )


class SignalFacts(Strict):
    """The melding's signals without `narrative` and `risk_summary`."""

    acute_danger: bool = False
    safety_risk: bool = False
    domestic_violence: bool = False
    minors_in_household: bool = False
    undermining_indicators: list[UnderminingIndicator] = Field(default_factory=list)


class PolicyFacts(Strict):
    """The OPA input's `melding`: the non-identifying facts the sharing policies read."""

    melding_id: UUID
    received_at: datetime = Field(
        description="In UTC; its date in Europe/Amsterdam is the reference date of victim.age."
    )
    reporter: ReporterFacts
    municipality: Municipality
    exploitation_forms: list[ExploitationForm]
    case: Case
    victim: VictimFacts
    suspects: list[SuspectFacts]
    signals: SignalFacts
    provenance: list[Provenance]
    present: list[str] = Field(
        description="Sorted dotted paths (MELDING_PATHS) whose values the melding fills in."
    )

    @field_validator("received_at")
    @classmethod
    def _in_utc(cls, moment: datetime) -> datetime:
        return in_utc(moment)

    @field_validator("present")
    @classmethod
    def _known_sorted_paths(cls, paths: list[str]) -> list[str]:
        unknown = sorted(set(paths) - MELDING_PATHS)
        if unknown:
            raise ValueError(f"onbekende veldpaden: {', '.join(unknown)}")
        return sorted(set(paths))


def in_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive moment is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def age_on(birth_date: date, received_at: datetime) -> int:
    """Whole years on the Dutch date (Europe/Amsterdam) of `received_at`: whoever turns 18
    that day is 18; a 29 February birthday counts on 1 March in a year without one. The one
    age rule: the policies decide on it (`victim_age`) and sharing discloses it."""
    day = dutch_date(received_at)
    pending = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(pending)


def victim_age(melding: Melding) -> int | None:
    """The victim's age on the Dutch date of `received_at`: the birth date wins over a given
    age; None when neither is known."""
    victim = melding.victim
    if victim.birth_date is not None:
        return age_on(victim.birth_date, melding.received_at)
    return victim.age


def relation(text: str | None) -> Relation | None:
    """A suspect's relation to the victim as a vocabulary term, or 'overig'."""
    if text is None:
        return None
    term = " ".join(text.split()).lower()
    if not term:
        return None
    return cast(Relation, term) if term in RELATIONS else OTHER_RELATION


def _filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, dict):
        return any(_filled(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_filled(item) for item in value)
    return True


def present_paths(melding: Melding) -> list[str]:
    """The sorted MELDING_PATHS the melding fills in (not None, not blank, not empty)."""
    data = melding.model_dump()
    return sorted(path for path in MELDING_PATHS if _filled(value_at(data, path)))


def policy_facts(melding: Melding) -> PolicyFacts:
    """The facts of `melding` the sharing policies decide on, and nothing else."""
    signals = melding.signals.model_dump(include=set(SignalFacts.model_fields))
    return PolicyFacts(
        melding_id=melding.melding_id,
        received_at=melding.received_at,
        reporter=ReporterFacts(type=melding.reporter.type, partner_id=melding.reporter.partner_id),
        municipality=melding.municipality,
        exploitation_forms=list(melding.exploitation_forms),
        case=melding.case,
        victim=VictimFacts(age=victim_age(melding), consent=melding.victim.consent),
        suspects=[
            SuspectFacts(role=suspect.role, relation_to_victim=relation(suspect.relation_to_victim))
            for suspect in melding.suspects
        ],
        signals=SignalFacts.model_validate(signals),
        provenance=list(melding.provenance),
        present=present_paths(melding),
    )


class MeldingReceived(BaseModel):
    """Data of `melding.received`: the melding sealed under its own data key
    (`services.keyring.vault`), and the non-identifying facts routing decides on. No
    identifying or free-text value of a melding is on the bus in the clear."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    melding_id: UUID
    received_at: datetime
    facts: PolicyFacts
    sealed: str = Field(
        max_length=1_000_000,
        description="Compact JWE (dir, A256GCM) of the melding.v1 JSON; `kid` names its data key",
    )
    foreign_operation: str | None = Field(
        default=None,
        pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        description="The W3C traceparent the partner sent with the melding, as sent: the "
        "calling operation, which the processing log (LDV) keeps as foreign_operation",
    )
