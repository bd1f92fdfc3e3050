"""Who an access request is about, as the privacy officer enters it.

A BSN, or a name with a birth date; only the keyed pseudonyms are computed from it, and what
was typed is neither stored nor logged. A suspect is found by name and birth date (a melding
records no BSN for a suspect).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.audit.pseudonym import ROLES, Role, pseudonyms
from services.common.models import elfproef

Pseudonyms = dict[Role, tuple[str, ...]]
"""The subject's keyed pseudonyms per role in which a melding may concern them."""


class SubjectQuery(BaseModel):
    """Who the request is about: a BSN, or a name with a birth date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bsn: str | None = Field(default=None, pattern=r"^\d{9}$")
    name: str | None = Field(default=None, min_length=1, max_length=500)
    birth_date: date | None = None
    kenmerk: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$",
        description="Het kenmerk van het verzoek in uw eigen administratie; komt in het "
        "overzicht, niet in de trail.",
    )

    @model_validator(mode="after")
    def _identifies(self) -> SubjectQuery:
        if self.bsn is not None and not elfproef(self.bsn):
            raise ValueError("BSN doorstaat de elfproef niet")
        if self.bsn is None and (self.name is None or self.birth_date is None):
            raise ValueError("geef een BSN, of een naam met een geboortedatum")
        return self

    def pseudonyms(self, key: bytes) -> Pseudonyms:
        return {
            role: pseudonyms(
                key, bsn=self.bsn, name=self.name, birth_date=self.birth_date, role=role
            )
            for role in ROLES
        }


def every_pseudonym(found: Pseudonyms) -> tuple[str, ...]:
    return tuple(p for role in ROLES for p in found[role])
