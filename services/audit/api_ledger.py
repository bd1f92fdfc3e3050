"""The ledger's state, `verify` on demand and the year's figures, for privacy officers (the
console's ledger and Cijfers pages), and the newest alerts for KMT workers (the console's
queue page). Each call is recorded as an `audit_access` entry before anything is computed,
like every other read of the trail."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.audit.entry import Entry, entry_of, reason_parts
from services.audit.figures import DEFAULT_THRESHOLD, figures
from services.audit.ledger import SELECT_ENTRIES, Ledger
from services.audit.verify import describe
from services.common.staff import require_role

Record = Callable[..., Awaitable[None]]
PrivacyOfficer = Annotated[str, Depends(require_role("privacy_officer"))]
KmtWorker = Annotated[str, Depends(require_role("kmt_worker"))]
NEWEST_ALERTS = f"{SELECT_ENTRIES} WHERE type = 'alert' ORDER BY seq DESC LIMIT ?"


def alert_view(entry: Entry) -> dict[str, Any]:
    """An `alert` entry as on-call was told it: ids and categories, no personal data."""
    parts = [reason_parts(r) for r in entry.reasons]
    told = {rule: text for rule, text in parts if rule != "alert"}
    return {
        "melding_id": entry.melding_id,
        "recorded_at": entry.recorded_at,
        "municipality": entry.municipality,
        "alerts": [text for rule, text in parts if rule == "alert"],
        "minor": told.get("minderjarig"),
        "veilig_thuis": told.get("veilig_thuis"),
    }


def ledger_router(ledger: Ledger, record_access: Record) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/audit/ledger", summary="Stand van het grootboek")
    async def state(officer: PrivacyOfficer) -> dict[str, Any]:
        await record_access(officer, "audit.ledger")

        def read() -> dict[str, Any]:
            latest = ledger.latest_checkpoint()
            return {
                "entries": ledger.size(),
                "checkpoint": None
                if latest is None
                else {"size": latest.size, "root_hash": latest.root.hex(), "note": latest.note},
                "verifier_key": ledger.verifier_key,
            }

        return await asyncio.to_thread(read)

    @router.post("/v1/audit/verify", summary="Controleer het hele grootboek")
    async def verify(officer: PrivacyOfficer) -> dict[str, Any]:
        """Every hash, chain link, Merkle root and signature, as `kmt audit verify`."""
        await record_access(officer, "audit.verify")
        result = await asyncio.to_thread(ledger.verify)
        return {
            "ok": result.ok,
            "entries": result.entries,
            "checkpoints": result.checkpoints,
            "size": result.size,
            "unsigned": result.unsigned,
            "problems": [{"seq": p.seq, "message": p.message} for p in result.problems],
            "summary": describe(result),
        }

    @router.get("/v1/audit/figures", summary="Aard en omvang: cijfers van een jaar")
    async def year_figures(
        officer: PrivacyOfficer,
        year: Annotated[int, Query(ge=2000, le=2999)],
        threshold: Annotated[int, Query(ge=DEFAULT_THRESHOLD, le=100)] = DEFAULT_THRESHOLD,
    ) -> dict[str, Any]:
        """Counts of the year's meldingen from the ledger; a count under `threshold` (never
        under 5) is given as null, so no cell singles out a person."""
        await record_access(officer, "audit.figures")
        found = await asyncio.to_thread(figures, ledger, year, threshold)
        return {**found, "berekend_op": datetime.now(UTC).isoformat()}

    @router.get("/v1/audit/alerts", summary="Acuut gevaar: de nieuwste signaleringen")
    async def newest_alerts(
        worker: KmtWorker, limit: Annotated[int, Query(ge=1, le=100)] = 20
    ) -> dict[str, Any]:
        """The newest `alert` entries, newest first: what the on-call channel was told (the
        melding id, the alert, minor or not, the municipality, Veilig Thuis's disclosure).
        One `audit_access` entry records each read (`audit.alerts`)."""
        await record_access(worker, "audit.alerts")

        def read() -> list[dict[str, Any]]:
            with ledger.store.reading() as cursor:
                rows = cursor.execute(ledger.store.sql(NEWEST_ALERTS), [limit]).fetchall()
            return [alert_view(entry_of(row)) for row in rows]

        return {"alerts": await asyncio.to_thread(read)}

    return router
