"""Intake: partners POST meldingen; each is validated, given its id and time, sealed under a
data key of its own and published to `kmt.meldingen.v1` with its non-identifying facts. 202
only after the broker acknowledged it.

Partners authenticate with OAuth2 client credentials and `private_key_jwt` (`/oauth/token`);
the authenticated partner becomes `reporter.partner_id`. A partner reads the progress of its
own meldingen at `GET /v1/meldingen/{id}` (`services.intake.status`)."""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from aiokafka.errors import KafkaConnectionError, KafkaError
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.bus.consumer import Backoff
from services.bus.kafka import Publisher
from services.bus.runtime import supervise
from services.common.events import MELDING_RECEIVED, CloudEvent
from services.common.facts import MeldingReceived, policy_facts
from services.common.http import (
    documentation,
    install_error_handlers,
    read_json_body,
    validation_problem,
)
from services.common.models import Melding, MeldingSubmission
from services.common.openapi import answer, json_body, problems, required_header
from services.common.partner_auth import partner_authenticated, token_router
from services.common.partners import Partner
from services.common.settings import Settings
from services.common.topics import MELDINGEN, STATUS
from services.intake.idempotency import IdempotencyStore, Reservation
from services.intake.status import NOT_FOUND, MeldingProgress, StatusFollower, StatusStore
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import Sealer
from services.observability import health as probes
from services.observability.tracing import current_traceparent, foreign_operation

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 15.0
ACCEPTED = {
    "description": "Melding aangenomen: de berichtenbus heeft haar bevestigd.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["melding_id"],
                "properties": {"melding_id": {"type": "string", "format": "uuid"}},
            }
        }
    },
}
BROKER_DOWN = {
    "description": "De berichtenbus is (nog) niet bereikbaar; meldingen krijgen dan 503.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string"}},
            }
        }
    },
}


def create_app(settings: Settings) -> FastAPI:
    store = IdempotencyStore.of(settings)
    status = StatusStore.of(settings)
    data_keys = DataKeyStore.of(settings)
    sealer = Sealer.load(settings.keys_dir, data_keys)
    publisher = Publisher(settings, "intake")
    connected = asyncio.Event()

    async def connect() -> None:
        """Keep trying until the broker answers; meanwhile intake answers 503."""
        backoff = Backoff(cap=5.0)
        while True:
            try:
                await publisher.start()
            except KafkaError as exc:
                log.warning("broker niet bereikbaar (%s)", type(exc).__name__)
                await asyncio.sleep(backoff.next())
            else:
                connected.set()
                return

    async def follow() -> None:
        """Once connected: learn each melding's progress from audit (`services.intake.status`)."""
        await connected.wait()
        follower = StatusFollower(settings, status)
        await supervise(settings, "intake", [settings.topic(STATUS)], follower, publisher)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        connecting = asyncio.create_task(connect())
        following = asyncio.create_task(follow())
        try:
            yield
        finally:
            for task in (following, connecting):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await publisher.stop()
            store.close()
            status.close()
            data_keys.close()

    app = FastAPI(
        title="KMT intake", version="1", lifespan=lifespan, **documentation(settings.api_docs)
    )
    install_error_handlers(app, settings.max_body_bytes)
    probes.observe(
        app,
        settings,
        "intake",
        {"broker": probes.broker(settings), "database": probes.database(settings.state_db_url)},
    )

    @app.get("/health", response_model=None, summary="Gezondheid", responses={503: BROKER_DOWN})
    async def health() -> JSONResponse | dict[str, str]:
        if not connected.is_set():
            return JSONResponse({"status": "broker niet bereikbaar"}, status_code=503)
        return {"status": "ok"}

    app.include_router(token_router("intake", settings))
    as_partner = partner_authenticated("intake", settings)

    @app.post(
        "/v1/meldingen",
        status_code=202,
        response_model=None,
        summary="Melding indienen",
        responses={202: ACCEPTED, **problems(428, 503)},
        openapi_extra={
            **json_body(MeldingSubmission, "De melding (melding.v1, zonder id en tijdstip)."),
            **required_header(
                "Idempotency-Key",
                "Eigen sleutel per melding; gebruik dezelfde bij een herhaalde poging.",
                minLength=1,
                maxLength=200,
            ),
        },
    )
    async def submit_melding(
        request: Request,
        partner: Annotated[Partner, Depends(as_partner)],
        idempotency_key: Annotated[
            str | None,
            Header(alias="Idempotency-Key", min_length=1, max_length=200, include_in_schema=False),
        ] = None,
    ) -> JSONResponse | dict[str, str]:
        partner_id = partner.id
        if idempotency_key is None:
            # Required: after a 503 the first attempt may still reach the broker, and only a
            # retry with the same key then yields the same melding instead of a second one.
            raise HTTPException(
                428,
                "Idempotency-Key ontbreekt: geef elke melding een eigen sleutel en gebruik "
                "die opnieuw bij een herhaalde poging.",
            )
        body = await read_json_body(request)
        # One moment for the melding: its birth dates are checked against the same Dutch
        # date its ages will be computed on.
        received_at = settings.reference_time or datetime.now(UTC)
        try:
            submission = MeldingSubmission.model_validate(
                body, context={"received_at": received_at}
            )
        except ValidationError as exc:
            return validation_problem("Melding ongeldig", exc)
        # The registry says who the partner is; the melding may not say otherwise (a police
        # melding is police data, so only the police may send one, and only as the police).
        mismatch = partner.reporter_type_problem(submission.reporter.type)
        if mismatch is not None:
            raise HTTPException(422, mismatch)

        request_mac = store.request_mac(submission.model_dump_json().encode())
        reservation = Reservation(
            request_mac=request_mac,
            melding_id=str(uuid.uuid4()),
            event_id=str(uuid.uuid4()),
            received_at=received_at.isoformat(),
            published=False,
        )
        # The stores commit to disk (fsync): off the event loop, which serves other requests.
        reservation = await asyncio.to_thread(
            store.reserve, partner_id, idempotency_key, reservation
        )
        if reservation.request_mac != request_mac:
            raise HTTPException(422, "Idempotency-Key is al gebruikt voor een andere melding")
        if reservation.published:
            await asyncio.to_thread(
                status.received, reservation.melding_id, partner_id, reservation.received_at
            )
            return {"melding_id": reservation.melding_id}

        melding = Melding.model_validate(
            {
                **submission.model_dump(mode="json"),
                "reporter": {**submission.reporter.model_dump(), "partner_id": partner_id},
                "melding_id": reservation.melding_id,
                "received_at": reservation.received_at,
            }
        )
        # On the bus: the melding sealed under its own data key, and the facts routing needs.
        received = MeldingReceived(
            melding_id=melding.melding_id,
            received_at=melding.received_at,
            facts=policy_facts(melding),
            sealed=await asyncio.to_thread(
                sealer.seal, reservation.melding_id, melding.model_dump_json().encode()
            ),
            foreign_operation=foreign_operation(request.headers.get("traceparent")),
        )
        event = CloudEvent(
            id=reservation.event_id,
            source=f"kmt/intake/{partner_id}",
            type=MELDING_RECEIVED,
            subject=reservation.melding_id,
            time=datetime.fromisoformat(reservation.received_at),
            data=received.model_dump(mode="json"),
            traceparent=current_traceparent(),  # the partner's trace, continued (or a new one)
        )
        try:
            if not connected.is_set():
                raise KafkaConnectionError()
            await asyncio.wait_for(
                publisher.publish(settings.topic(MELDINGEN), event),
                PUBLISH_TIMEOUT_S,
            )
        except (KafkaError, TimeoutError) as exc:
            log.warning(
                "melding %s niet gepubliceerd: %s", reservation.melding_id, type(exc).__name__
            )
            raise HTTPException(
                503,
                "Melding niet bevestigd: de berichtenbus is niet bereikbaar. Probeer het later "
                "opnieuw met dezelfde Idempotency-Key; dan ontstaat nooit een tweede melding.",
                headers={"Retry-After": "10"},
            ) from None
        await asyncio.to_thread(store.mark_published, partner_id, idempotency_key)
        await asyncio.to_thread(
            status.received, reservation.melding_id, partner_id, reservation.received_at
        )
        log.info("melding %s aangenomen van %s", reservation.melding_id, partner_id)
        return {"melding_id": reservation.melding_id}

    @app.get(
        "/v1/meldingen/{melding_id}",
        response_model=None,
        summary="Stand van een eigen melding",
        responses={200: answer(MeldingProgress), **problems(404)},
    )
    async def melding_progress(
        melding_id: UUID, partner: Annotated[Partner, Depends(as_partner)]
    ) -> dict[str, Any]:
        found = await asyncio.to_thread(status.progress, str(melding_id), partner.id)
        if found is None:  # none, or another partner's: the same answer (no oracle)
            raise HTTPException(404, NOT_FOUND)
        return found

    return app
