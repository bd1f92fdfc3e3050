"""The ledger's state, `verify` on demand and the year's figures, for privacy officers (the
console's ledger and Cijfers pages). Each call is recorded as an `audit_access` entry before
anything is computed, like every other read of the trail."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.audit.figures import DEFAULT_THRESHOLD, figures
from services.audit.ledger import Ledger
from services.audit.verify import describe
from services.common.staff import require_role

Record = Callable[..., Awaitable[None]]
PrivacyOfficer = Annotated[str, Depends(require_role("privacy_officer"))]


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

    return router
