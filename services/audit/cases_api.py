"""`GET /v1/audit/meldingen/{melding_id}/related`: is this case already known? For a KMT
worker only (a partner's token is no staff token; a privacy officer supervises through the
trail). Every look-up is recorded before it is answered: an `audit_access` entry
(`audit.case_links`) in the trail of the melding asked about and of each earlier melding
shown, all under one `trace_id`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from services.audit.cases import earlier_meldingen
from services.audit.ledger import Ledger
from services.common.models import Recipient, ReporterType
from services.common.openapi import answer, problems
from services.common.staff import require_role

Record = Callable[..., Awaitable[None]]
KmtWorker = Annotated[str, Depends(require_role("kmt_worker"))]
CASE_LINKS = "audit.case_links"


class KnownDecision(BaseModel):
    """Wat over een eerdere melding is besloten, zoals het grootboek het vastlegde."""

    type: Literal["decision", "review", "alert"] = Field(
        description="decision: het besluit per ontvanger; review: het oordeel van een "
        "KMT-medewerker; alert: een signalering van acuut gevaar."
    )
    recipient: Recipient | None
    allow: bool | None = Field(description="Gedeeld (true) of niet (false).")
    recorded_at: str


class KnownMelding(BaseModel):
    """Een eerdere melding over dezelfde persoon."""

    melding_id: str
    received_at: str
    reporter_type: ReporterType
    municipality: str
    same: list[Literal["victim", "suspect", "unknown"]] = Field(
        description="Wie beide meldingen delen: het slachtoffer, een verdachte (unknown: de "
        "gevraagde melding is van voor het grootboek vastlegde wie een pseudoniem is)."
    )
    decisions: list[KnownDecision]


class KnownCase(BaseModel):
    """Eerdere meldingen over hetzelfde slachtoffer of dezelfde verdachte(n), nieuwste eerst;
    gekoppeld op sleutel-pseudoniemen van KMT zelf (BSN, of naam en geboortedatum)."""

    melding_id: str
    earlier: list[KnownMelding]


def case_links_router(ledger: Ledger, record_access: Record) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/audit/meldingen/{melding_id}/related",
        summary="Is de casus al bekend? Eerdere meldingen over dezelfde personen",
        response_model=None,
        responses={200: answer(KnownCase), **problems(404)},
    )
    async def related(melding_id: UUID, worker: KmtWorker) -> dict[str, Any]:
        asked = str(melding_id)
        found = await asyncio.to_thread(earlier_meldingen, ledger.store, asked)
        trace = str(uuid.uuid4())
        shown = [asked, *(known.melding_id for known in found or ())]
        for melding in shown:  # recorded before anything is answered
            await record_access(worker, CASE_LINKS, melding_id=melding, trace_id=trace)
        if found is None:
            raise HTTPException(404, "Deze melding staat niet (meer) in de index van KMT")
        return {"melding_id": asked, "earlier": [vars(known) for known in found]}

    return router
