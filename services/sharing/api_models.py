"""What sharing's HTTP API answers, as models: they document the answers in the OpenAPI
document (so partners can generate a client), and the contract test holds the answers to
them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.common.models import Recipient


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
