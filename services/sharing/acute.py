"""Acute meldingen in the review queue: a disclosure of a melding whose decisions carry a
policy alert (acute danger) is marked `acute` and comes first, so a KMT worker reviews it
before anything else (issue 12: an acute melding with an unknown age waits for review).

The mark is a table of its own (`acute_meldingen`, melding ids only), written when sharing
processes a decision that carries an alert, in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable

from services.sharing.outbox import StoredDisclosure
from services.state.database import Database

SCHEMA = "CREATE TABLE IF NOT EXISTS acute_meldingen (melding_id TEXT PRIMARY KEY);"
GRANTS = {"acute_meldingen": "SELECT, INSERT"}


class AcuteMarks:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA, list(GRANTS), "sharing")

    def mark(self, melding_id: str) -> None:
        self.db.execute(
            "INSERT INTO acute_meldingen VALUES (?) ON CONFLICT DO NOTHING", (melding_id,)
        )

    def marked(self, melding_ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(melding_ids))
        if not wanted:
            return set()
        marks = ", ".join("?" * len(wanted))
        rows = self.db.execute(
            f"SELECT melding_id FROM acute_meldingen WHERE melding_id IN ({marks})", wanted
        ).fetchall()
        return {str(r[0]) for r in rows}

    def first(self, waiting: list[StoredDisclosure]) -> list[StoredDisclosure]:
        """The queue with the acute items first, each part in its own order (stable)."""
        acute = self.marked(d.melding_id for d in waiting)
        return sorted(waiting, key=lambda d: d.melding_id not in acute)
