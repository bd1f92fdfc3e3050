"""The audit HTTP API: the trail for privacy officers, proofs and checkpoints for everyone.

Reading entries needs the privacy-officer role and is itself recorded as an `audit_access`
entry before anything is returned (no record, no answer). Proofs, checkpoints and the public
key carry only hashes and sizes, so anyone may fetch them to check a receipt; callers without
a staff token are rate-limited per address (`KMT_PUBLIC_RATE_*`).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from services.audit.api_ledger import ledger_router
from services.audit.api_models import ConsistencyProof, InclusionProof, SignedCheckpoint
from services.audit.cases_api import case_links_router
from services.audit.checkpoint import Checkpoint
from services.audit.entry import Draft, Entry, EntryType, reason_parts
from services.audit.export import export_lines
from services.audit.ledger import Ledger, timestamp
from services.audit.ledger import Query as LedgerQuery
from services.audit.report.content import AccessReport, Controller, access_draft, access_report
from services.audit.report.document import document
from services.audit.report.html import render_html
from services.audit.report.pdf import render_pdf
from services.audit.report.query import SubjectQuery, every_pseudonym
from services.common.http import MAX_INTEGER, documentation, install_error_handlers
from services.common.models import Recipient
from services.common.openapi import answer, problems
from services.common.ratelimit import RateLimit, Throttled, install_rate_limit
from services.common.settings import Settings
from services.common.staff import require_role
from services.observability.tracing import current_traceparent, trace_id_of

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
PrivacyOfficer = Annotated[str, Depends(require_role("privacy_officer"))]
MAX_PAGE = 500
BIGGEST = MAX_INTEGER
"""Sequence numbers and sizes above this are refused as input (the stores use 64 bits)."""
Size = Annotated[int, PathParam(ge=1, le=BIGGEST)]
NDJSON_EXPORT = {
    "description": "Eén JSON-object per regel: de entries, de checkpoints en de verwerkingen, "
    "zoals `python -m services.audit.verify` ze offline controleert.",
    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
}
PDF_REPORT = {
    "description": "Het inzageoverzicht als PDF, om aan de betrokkene te geven.",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
}
OFFICER_NOTES = "KMT-Aandachtspunten"
"""Header of the HTML and PDF report: codes of what the officer must check before sending it
(the texts are in the JSON report's `aandachtspunten`)."""


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"size": checkpoint.size, "root_hash": _b64(checkpoint.root), "note": checkpoint.note}


def trail_view(entry: Entry) -> dict[str, Any]:
    """An entry as the trail shows it: as recorded, and each reason's rule with its Dutch text."""
    return {
        **entry.as_dict(),
        "reason_texts": [
            {"rule": rule, "text": text} for rule, text in map(reason_parts, entry.reasons)
        ],
    }


def _officer_headers(report: AccessReport) -> dict[str, str]:
    return {OFFICER_NOTES: ",".join(code for code, _ in report.officer_notes) or "geen"}


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise HTTPException(
            422, "tijdstip zonder tijdzone; schrijf bijvoorbeeld 2026-01-01T00:00:00Z"
        )
    return timestamp(value)


def create_app(
    ledger: Ledger,
    subject_key: bytes,
    staff_file: Path,
    lifespan: Lifespan | None = None,
    docs: bool = True,
    controller: Controller | None = None,
    public_limit: RateLimit | None = None,
) -> FastAPI:
    app = FastAPI(title="KMT audit", version="1", lifespan=lifespan, **documentation(docs))
    app.state.staff_file = staff_file

    install_error_handlers(app)
    declared = controller or Controller.of(Settings())
    install_rate_limit(app, public_limit or RateLimit.of(Settings()))

    async def record_access(actor: str, what: str, **scope: Any) -> None:
        draft = Draft(
            type="audit_access",
            event_id=str(uuid.uuid4()),
            event_type=what,
            actor=f"staff:{actor}",
            **{"trace_id": trace_id_of(current_traceparent()), **scope},  # the read's own trace
        )
        await asyncio.to_thread(ledger.append, draft)

    app.include_router(ledger_router(ledger, record_access))
    app.include_router(case_links_router(ledger, record_access))

    async def entries(query: LedgerQuery) -> dict[str, Any]:
        found: list[Entry] = await asyncio.to_thread(ledger.search, query)
        cursor = str(found[-1].seq) if len(found) == query.limit else None
        return {"entries": [trail_view(e) for e in found], "next_cursor": cursor}

    @app.get("/health", summary="Gezondheid")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/audit/meldingen/{melding_id}", summary="Alle entries van één melding")
    async def melding_entries(melding_id: UUID, officer: PrivacyOfficer) -> dict[str, Any]:
        await record_access(officer, "audit.melding", melding_id=str(melding_id))
        found = await asyncio.to_thread(
            ledger.search, LedgerQuery(melding_ids=[str(melding_id)], limit=10_000)
        )
        return {"melding_id": str(melding_id), "entries": [trail_view(e) for e in found]}

    @app.get("/v1/audit/entries", summary="Entries zoeken")
    async def search(
        officer: PrivacyOfficer,
        melding_id: UUID | None = None,
        recipient: Recipient | None = None,
        legal_basis: Annotated[str | None, Query(max_length=200)] = None,
        kinds: Annotated[list[EntryType] | None, Query(alias="type", max_length=20)] = None,
        allow: Annotated[bool | None, Query(description="alleen besluiten: ja of nee")] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: Annotated[int, Query(ge=-1, le=BIGGEST)] = -1,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        query = LedgerQuery(
            melding_ids=[str(melding_id)] if melding_id else None,
            types=kinds,
            recipient=recipient,
            legal_basis=legal_basis,
            allow=allow,
            since=_timestamp(since),
            until=_timestamp(until),
            after=cursor,
            limit=limit,
        )
        await record_access(
            officer,
            "audit.search",
            melding_id=query.melding_ids[0] if query.melding_ids else None,
            recipient=recipient,
        )
        return await entries(query)

    @app.post("/v1/audit/subjects/search", summary="Entries over een betrokkene zoeken")
    async def subject_search(
        subject: SubjectQuery,
        officer: PrivacyOfficer,
        cursor: Annotated[int, Query(ge=-1, le=BIGGEST)] = -1,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        pseudonyms = every_pseudonym(subject.pseudonyms(subject_key))
        await record_access(officer, "audit.subject_search", subject_pseudonyms=pseudonyms)
        ids = await asyncio.to_thread(ledger.melding_ids_of, pseudonyms)
        return await entries(LedgerQuery(melding_ids=ids, after=cursor, limit=limit))

    async def report_for(subject: SubjectQuery, officer: str) -> AccessReport:
        """Record the request as an `audit_access` entry, then make its report."""
        found = subject.pseudonyms(subject_key)
        draft = access_draft(f"staff:{officer}", found)
        await asyncio.to_thread(ledger.append, draft)
        return await asyncio.to_thread(
            lambda: access_report(
                ledger,
                found,
                reference=draft.event_id,
                kenmerk=subject.kenmerk,
                controller=declared,
            )
        )

    @app.post("/v1/audit/subjects/report", summary="Inzageoverzicht (AVG art. 15)")
    async def subject_report(subject: SubjectQuery, officer: PrivacyOfficer) -> dict[str, Any]:
        return (await report_for(subject, officer)).as_json()

    @app.post(
        "/v1/audit/subjects/report.html",
        response_class=HTMLResponse,
        summary="Inzageoverzicht (AVG art. 15) als HTML",
    )
    async def subject_report_html(subject: SubjectQuery, officer: PrivacyOfficer) -> Response:
        report = await report_for(subject, officer)
        return HTMLResponse(render_html(document(report)), headers=_officer_headers(report))

    @app.post(
        "/v1/audit/subjects/report.pdf",
        response_class=Response,
        summary="Inzageoverzicht (AVG art. 15) als PDF",
        responses={200: PDF_REPORT},
    )
    async def subject_report_pdf(subject: SubjectQuery, officer: PrivacyOfficer) -> Response:
        report = await report_for(subject, officer)
        pdf = await asyncio.to_thread(render_pdf, document(report))
        disposition = f'attachment; filename="inzage-{report.reference}.pdf"'
        return Response(
            pdf,
            media_type="application/pdf",
            headers={**_officer_headers(report), "Content-Disposition": disposition},
        )

    @app.get(
        "/v1/audit/export",
        response_class=StreamingResponse,
        summary="Export van het grootboek (NDJSON)",
        responses={200: NDJSON_EXPORT},
    )
    async def export(
        officer: PrivacyOfficer, since: datetime | None = None, until: datetime | None = None
    ) -> StreamingResponse:
        await record_access(officer, "audit.export")
        lines = await asyncio.to_thread(
            lambda: list(export_lines(ledger, since=_timestamp(since), until=_timestamp(until)))
        )

        async def body() -> AsyncIterator[bytes]:
            for line in lines:
                yield line.encode() + b"\n"

        return StreamingResponse(body(), media_type="application/x-ndjson")

    @app.get(
        "/v1/audit/public-key",
        response_class=PlainTextResponse,
        summary="Publieke sleutel van de checkpoints",
        responses=problems(429),
    )
    async def public_key(_: Throttled) -> str:
        return ledger.verifier_key + "\n"

    @app.get(
        "/v1/audit/checkpoints/latest",
        summary="Laatste ondertekende checkpoint",
        response_model=None,
        responses={200: answer(SignedCheckpoint), **problems(404, 429)},
    )
    async def latest_checkpoint(_: Throttled) -> dict[str, Any]:
        found = await asyncio.to_thread(ledger.latest_checkpoint)
        if found is None:
            raise HTTPException(404, "nog geen checkpoint")
        return _checkpoint_json(found)

    @app.get(
        "/v1/audit/checkpoints/{size}",
        summary="Checkpoint van een bepaalde grootte",
        response_model=None,
        responses={200: answer(SignedCheckpoint), **problems(404, 429)},
    )
    async def checkpoint(size: Size, _: Throttled) -> dict[str, Any]:
        found = await asyncio.to_thread(ledger.checkpoint_at, size)
        if found is None:
            raise HTTPException(404, f"geen checkpoint met grootte {size}")
        return _checkpoint_json(found)

    @app.get(
        "/v1/audit/checkpoints/{old}/consistency/{new}",
        summary="Consistentiebewijs tussen twee checkpoints",
        response_model=None,
        responses={200: answer(ConsistencyProof), **problems(404, 410, 429)},
    )
    async def consistency(old: Size, new: Size, _: Throttled) -> dict[str, Any]:
        old_cp, new_cp = await asyncio.gather(
            asyncio.to_thread(ledger.checkpoint_at, old),
            asyncio.to_thread(ledger.checkpoint_at, new),
        )
        if old_cp is None or new_cp is None:
            raise HTTPException(
                404, f"geen checkpoint met grootte {old if old_cp is None else new}"
            )
        if old > new:
            raise HTTPException(422, "de eerste checkpoint moet de kleinste zijn")
        try:
            proof = await asyncio.to_thread(ledger.consistency_proof, old, new)
        except ValueError as exc:
            raise HTTPException(410, str(exc)) from None
        return {
            "old": _checkpoint_json(old_cp),
            "new": _checkpoint_json(new_cp),
            "proof": [_b64(p) for p in proof],
        }

    @app.get(
        "/v1/audit/entries/{seq}/proof",
        summary="Inclusiebewijs van een entry",
        response_model=None,
        responses={200: answer(InclusionProof), **problems(404, 409, 410, 429)},
    )
    async def inclusion(
        _: Throttled,
        seq: Annotated[int, PathParam(ge=0, le=BIGGEST)],
        tree_size: Annotated[int | None, Query(ge=1, le=BIGGEST)] = None,
    ) -> dict[str, Any]:
        entry = await asyncio.to_thread(ledger.entry, seq)
        if entry is None:
            raise HTTPException(404, f"geen entry met seq {seq}")
        signed = await asyncio.to_thread(
            ledger.latest_checkpoint
            if tree_size is None
            else lambda: ledger.checkpoint_at(tree_size)
        )
        if signed is None:
            raise HTTPException(
                404,
                "nog geen checkpoint"
                if tree_size is None
                else f"geen checkpoint met grootte {tree_size}",
            )
        if tree_size is not None and tree_size <= seq:
            raise HTTPException(422, f"tree_size moet groter zijn dan seq {seq}")
        if signed.size <= seq:
            raise HTTPException(
                409, f"entry {seq} valt nog niet onder een checkpoint; probeer het straks opnieuw"
            )
        try:
            proof = await asyncio.to_thread(ledger.inclusion_proof, seq, signed.size)
        except ValueError as exc:
            raise HTTPException(410, str(exc)) from None
        return {
            "seq": seq,
            "entry_hash": entry.entry_hash,
            "leaf_index": seq,
            "checkpoint": _checkpoint_json(signed),
            "proof": [_b64(p) for p in proof],
        }

    return app
