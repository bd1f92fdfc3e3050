"""Sharing's HTTP side: the partner API (fetch own released disclosures, acknowledge) and
the review queue where KMT workers approve or reject `review:human` disclosures."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.bus.relay import relaying
from services.bus.runtime import running_consumer
from services.common import keys
from services.common.http import MAX_INTEGER, documentation, install_error_handlers
from services.common.openapi import answer, problems
from services.common.partner_auth import partner_authenticated, token_router
from services.common.partners import Partner
from services.common.settings import Settings
from services.common.staff import require_role
from services.common.topics import DISCLOSURES
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import Opener
from services.observability import health as probes
from services.observability import tracing
from services.policy.engine import PolicyEngine
from services.sharing.api_models import AwaitingReview, DisclosurePage, ReviewItem
from services.sharing.outbox import StoredDisclosure, open_outbox
from services.sharing.partner_webhooks import notifying
from services.sharing.references import melding_reference, reference_key
from services.sharing.reviews import ReviewRefused, open_brief
from services.sharing.staff_reads import read_recorded
from services.sharing.worker import ReviewConflict, Sharing, consumed_topics

PAGE_SIZE = 50
NOT_FOUND = "Onbekende disclosure"  # the same answer for unknown, not yours, not released
REVIEWED = {"approve": "approved", "reject": "rejected"}
NOT_WAITING = "Geen disclosure die op beoordeling wacht"
REASON_MAX = 4000


class ReviewVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["approve", "reject"]
    reason: str = Field(
        max_length=REASON_MAX,
        description="Waarom: verplicht, vrije tekst; versleuteld bewaard onder een "
        "datasleutel van de melding, in het grootboek alleen de hash daarvan.",
    )

    @field_validator("reason")
    @classmethod
    def _a_reason(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("geef een reden voor het oordeel")
        return reason


def create_app(settings: Settings) -> FastAPI:
    outbox = open_outbox(settings)
    opener = Opener.load(settings.keys_dir, "sharing", DataKeyStore.of(settings))
    references = reference_key(settings)
    sharing: list[Sharing] = []  # set in the lifespan, where the event loop runs

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        topics = consumed_topics(settings)
        policy = PolicyEngine(settings.opa_url)
        sharing.append(Sharing(settings, outbox, opener, policy))
        try:
            async with (
                running_consumer(
                    settings, "sharing", topics, lambda _: sharing[0].handling()
                ) as publisher,
                relaying(outbox, publisher, settings.retry_max_seconds),
                notifying(settings, sharing[0].notices),
            ):
                yield
        finally:
            await policy.close()
        outbox.close()
        opener.store.close()

    app = FastAPI(
        title="KMT sharing — partner-API",
        version="1",
        lifespan=lifespan,
        **documentation(settings.api_docs),
    )
    install_error_handlers(app)
    probes.observe(
        app,
        settings,
        "sharing",
        {
            "broker": probes.broker(settings),
            "opa": probes.opa(settings),
            "database": probes.database(settings.state_db_url),
        },
    )
    app.state.staff_file = settings.staff_file
    app.include_router(token_router("sharing", settings))
    as_partner = partner_authenticated("sharing", settings)
    as_kmt_worker = require_role("kmt_worker")

    @app.get("/health", summary="Gezondheid")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/jwks.json", summary="Publieke ondertekeningssleutels van KMT")
    async def kmt_public_keys() -> dict[str, Any]:
        """KMT's public signing keys, newest first: what verifies a disclosure's signature
        (older keys stay listed so disclosures signed before a rotation stay verifiable)."""
        return dict(keys.public_keyset(settings.keys_dir).as_dict())

    @app.get(
        "/v1/disclosures",
        summary="Eigen vrijgegeven disclosures ophalen",
        response_model=None,
        responses={200: answer(DisclosurePage)},
    )
    async def list_disclosures(
        partner: Annotated[Partner, Depends(as_partner)],
        cursor: Annotated[
            int, Query(ge=0, le=MAX_INTEGER, description="next_cursor van de vorige pagina")
        ] = 0,
    ) -> dict[str, Any]:
        items = outbox.released_for(partner.id, cursor, datetime.now(UTC), PAGE_SIZE)
        tracing.in_traces("sharing partner fetch", (d.event.get("traceparent") for d in items))
        return {
            "items": [partner_view(d, references) for d in items],
            "next_cursor": items[-1].release_seq if items else cursor,
        }

    @app.post(
        "/v1/disclosures/{disclosure_id}/ack",
        status_code=204,
        summary="Ontvangst van een disclosure bevestigen",
        responses=problems(404),
    )
    async def acknowledge(
        disclosure_id: str, partner: Annotated[Partner, Depends(as_partner)]
    ) -> None:
        stored = outbox.disclosure(disclosure_id)
        if stored is None or stored.partner_id != partner.id or stored.released_at is None:
            raise HTTPException(404, NOT_FOUND)
        sharing[0].acknowledge(stored, partner.id)  # once, with its event; a repeat is a no-op

    @app.get(
        "/v1/reviews",
        summary="Disclosures die op beoordeling wachten",
        response_model=None,
        responses={200: answer(list[AwaitingReview])},
    )
    async def awaiting_review(
        worker: Annotated[str, Depends(as_kmt_worker)],
    ) -> list[dict[str, Any]]:
        # recorded for audit's ledger (`staff.accessed`) before anything is answered
        acute = sharing[0].acute  # acute meldingen first, marked
        shown = read_recorded(
            outbox,
            settings.topic(DISCLOSURES),
            worker,
            "sharing.reviews",
            lambda: acute.first(outbox.awaiting_review()),
        )
        marked = acute.marked(d.melding_id for d in shown)
        return [review_view(d) | {"acute": d.melding_id in marked} for d in shown]

    @app.get(
        "/v1/reviews/{disclosure_id}",
        summary="Wat een beoordelaar moet wegen (de inhoud; de inzage wordt vastgelegd)",
        response_model=None,
        responses={200: answer(ReviewItem), **problems(404, 409)},
    )
    async def review_item(
        disclosure_id: str, worker: Annotated[str, Depends(as_kmt_worker)]
    ) -> dict[str, Any]:
        stored = outbox.disclosure(disclosure_id)
        sealed = outbox.sealed_review(disclosure_id)[0]
        if stored is None or stored.review is not None or sealed is None:
            raise HTTPException(404, NOT_WAITING)
        try:
            brief = open_brief(opener, stored.melding_id, sealed)
        except ReviewRefused as refused:
            raise HTTPException(409, str(refused)) from None
        # the read and its `staff.accessed` event are committed before the content is shown
        read_recorded(
            outbox, settings.topic(DISCLOSURES), worker, "sharing.review", lambda: [stored]
        )
        acute = stored.melding_id in sharing[0].acute.marked([stored.melding_id])
        return {**review_view(stored), "acute": acute, "brief": brief.model_dump(mode="json")}

    @app.post(
        "/v1/reviews/{disclosure_id}",
        status_code=204,
        summary="Een disclosure goedkeuren of afwijzen",
        responses=problems(404, 409),
    )
    async def review(
        disclosure_id: str,
        verdict: ReviewVerdict,
        reviewer: Annotated[str, Depends(as_kmt_worker)],
    ) -> None:
        stored = outbox.disclosure(disclosure_id)
        if stored is None or not stored.needs_review:
            raise HTTPException(404, NOT_WAITING)
        if stored.review not in (None, REVIEWED[verdict.verdict]):  # the same verdict: a retry
            raise HTTPException(409, "Deze disclosure is al beoordeeld")
        try:
            sharing[0].review(stored, verdict.verdict == "approve", reviewer, verdict.reason)
        except ReviewConflict:  # another verdict was recorded meanwhile; it stands
            raise HTTPException(409, "Deze disclosure is al anders beoordeeld") from None
        except ReviewRefused as refused:
            raise HTTPException(409, str(refused)) from None

    return app


def partner_view(d: StoredDisclosure, reference_key: bytes) -> dict[str, Any]:
    """What the partner sees: its own reference to the melding, never the melding id."""
    data = d.event["data"]
    return {
        "disclosure_id": d.disclosure_id,
        "melding_ref": melding_reference(reference_key, d.melding_id, d.partner_id),
        "recipient": d.recipient,
        "created_at": d.created_at,
        "expires_at": d.expires_at,
        "audit_seq": d.audit_seq,
        "audit_entry_hash": d.audit_entry_hash,
        "jwe": data["jwe"],
    }


def review_view(d: StoredDisclosure) -> dict[str, Any]:
    """What a KMT worker sees before deciding: metadata, never the content."""
    data = d.event["data"]
    return {
        "disclosure_id": d.disclosure_id,
        "melding_id": d.melding_id,
        "recipient": d.recipient,
        "partner_id": d.partner_id,
        "fields": data["fields"],
        "obligations": data["obligations"],
        "audit_recorded": d.audit_seq is not None,
    }
