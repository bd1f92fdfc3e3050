"""What a reporting partner may read of its own meldingen (issue 12 §4): received, assessed
(with when), alert raised, closed.

Intake learns the steps from `melding.status` events on `kmt.status.v1`, which audit
publishes from its ledger and signs (`services.audit.status`); that topic is the only one
intake may read, and it names no recipient and no decision. Kept in intake's state database
per melding: the partner that sent it, when, and when each step was reached; ids and times
only. A partner asking for a melding that is not its own gets the same 404 as for one that
does not exist.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from services.bus.consumer import Record
from services.common.events import MELDING_STATUS, parse_data, parse_event
from services.common.settings import Settings
from services.common.status_event import MeldingStatus, Step
from services.common.topics import carried_by
from services.state.database import Database, open_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS melding_status (
    melding_id TEXT PRIMARY KEY, partner_id TEXT, received_at TEXT,
    assessed_at TEXT, alert_at TEXT, closed_at TEXT);
"""
GRANTS = {"melding_status": "SELECT, INSERT, UPDATE"}
"""What intake's writer role may do in PostgreSQL on this table."""
COLUMNS: dict[Step, str] = {"assessed": "assessed_at", "alert": "alert_at", "closed": "closed_at"}
NOT_FOUND = "Onbekende melding"
"""The one answer for a melding that does not exist and for another partner's."""


class MeldingProgress(BaseModel):
    """Hoe ver KMT is met uw melding. Ontvangers en besluiten staan er niet in: geen regel van
    het beleid zegt dat de melder die mag weten."""

    melding_id: str
    received_at: str = Field(description="Wanneer intake de melding aannam.")
    assessed: bool = Field(description="KMT heeft voor alle ontvangers beoordeeld of zij "
                           "geïnformeerd mogen worden.")  # fmt: skip
    assessed_at: str | None
    alert_raised: bool = Field(description="Er is acuut gevaar gesignaleerd en KMT's "
                               "dienstdoende medewerker gewaarschuwd.")  # fmt: skip
    alert_at: str | None
    closed: bool = Field(description="Er wacht niets meer: wat gedeeld mocht worden is "
                         "gedeeld of na beoordeling afgewezen.")  # fmt: skip
    closed_at: str | None


class StatusStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.ensure_schema(SCHEMA, list(GRANTS), "intake")

    @classmethod
    def of(cls, settings: Settings) -> StatusStore:
        return cls(open_state(settings, "intake"))

    def received(self, melding_id: str, partner_id: str, received_at: str) -> None:
        self._db.execute(
            "INSERT INTO melding_status (melding_id, partner_id, received_at) VALUES (?, ?, ?)"
            " ON CONFLICT (melding_id) DO UPDATE SET partner_id = excluded.partner_id,"
            " received_at = excluded.received_at",
            (melding_id, partner_id, received_at),
        )

    def reached(self, melding_id: str, step: Step, at: str) -> None:
        """The first time a step is reached stands (a status event may come again)."""
        column = COLUMNS[step]
        self._db.execute(
            f"INSERT INTO melding_status (melding_id, {column}) VALUES (?, ?)"
            f" ON CONFLICT (melding_id) DO UPDATE SET {column} ="
            f" COALESCE(melding_status.{column}, excluded.{column})",
            (melding_id, at),
        )

    def progress(self, melding_id: str, partner_id: str) -> dict[str, Any] | None:
        """The partner's own melding's progress; None for any other (or none at all)."""
        row = self._db.execute(
            "SELECT received_at, assessed_at, alert_at, closed_at FROM melding_status"
            " WHERE melding_id = ? AND partner_id = ?",
            (melding_id, partner_id),
        ).fetchone()
        if row is None:
            return None
        received_at, assessed_at, alert_at, closed_at = row
        return MeldingProgress(
            melding_id=melding_id,
            received_at=received_at,
            assessed=assessed_at is not None,
            assessed_at=assessed_at,
            alert_raised=alert_at is not None,
            alert_at=alert_at,
            closed=closed_at is not None,
            closed_at=closed_at,
        ).model_dump()

    def close(self) -> None:
        self._db.close()


class StatusFollower:
    """The consumer's handler: each audit-signed status event into the store."""

    def __init__(self, settings: Settings, store: StatusStore) -> None:
        self.prefix = settings.topic_prefix
        self.store = store

    async def __call__(self, record: Record) -> None:
        accepted = {MELDING_STATUS} & carried_by(record.topic, self.prefix)
        status = parse_data(parse_event(record.value, set(accepted)), MeldingStatus)
        await asyncio.to_thread(
            self.store.reached, str(status.melding_id), status.step, status.at.isoformat()
        )
