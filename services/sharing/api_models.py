"""What sharing's HTTP API answers, as models: they document the answers in the OpenAPI
document (so partners can generate a client), and the contract test holds the answers to
them."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from services.common.models import Reason, Recipient, Signals


class PartnerDisclosure(BaseModel):
    """Een vrijgegeven disclosure, zoals de ontvangende partner haar ziet."""

    disclosure_id: str
    melding_ref: str = Field(
        description="Uw eigen referentie naar de melding; een andere ontvanger krijgt een "
        "andere, zodat ontvangers elkaars gegevens niet via KMT kunnen koppelen."
    )
    recipient: Recipient
    created_at: str = Field(description="Tijdstip (ISO 8601) waarop de disclosure ontstond.")
    expires_at: str | None = Field(description="Tot wanneer u de gegevens mag bewaren.")
    audit_seq: int | None = Field(description="Plaats van de vrijgave in het grootboek.")
    audit_entry_hash: str | None = Field(
        description="Hash van die entry: controleer er het inclusiebewijs mee."
    )
    jwe: str = Field(description="De gegevens, versleuteld voor u (JWE, compacte vorm).")


class DisclosurePage(BaseModel):
    """Een pagina disclosures; vraag de volgende met `cursor=next_cursor`."""

    items: list[PartnerDisclosure]
    next_cursor: int


class AwaitingReview(BaseModel):
    """Wat een KMT-medewerker ziet voordat hij beslist: metadata, nooit de inhoud."""

    disclosure_id: str
    melding_id: str
    recipient: Recipient
    partner_id: str
    fields: list[str] = Field(description="De velden die de disclosure zou bevatten.")
    obligations: list[str]
    audit_recorded: bool
    acute: bool = Field(
        default=False,
        description="Acuut gevaar (een signalering van het beleid): staat bovenaan; nu beoordelen.",
    )


class AgeEvidence(BaseModel):
    """Wat de melding over de leeftijd van het slachtoffer zegt."""

    age: int | None = Field(description="De opgegeven leeftijd, als de melder die gaf.")
    birth_date: date | None = Field(description="De opgegeven geboortedatum.")
    age_at_received: int | None = Field(
        description="Leeftijd in hele jaren op de (Nederlandse) datum van ontvangst, zoals het "
        "beleid die ziet; leeg als de melding haar niet laat vaststellen."
    )


class ReviewBrief(BaseModel):
    """Wat de beoordelaar moet wegen, uit de melding zelf: versleuteld bewaard onder een
    datasleutel van de melding, en gewist met de melding."""

    received_at: datetime
    exploitation_forms: list[str]
    age_evidence: AgeEvidence
    signals: Signals = Field(description="De signalen van de melding, met verhaal en risico's.")
    reasons: list[Reason] = Field(description="Waarom het beleid om beoordeling vraagt.")


class ReviewItem(AwaitingReview):
    """Eén disclosure die op beoordeling wacht, met wat de beoordelaar moet wegen. Elke
    opvraging staat als `audit_access` in het grootboek voordat zij wordt beantwoord."""

    brief: ReviewBrief
