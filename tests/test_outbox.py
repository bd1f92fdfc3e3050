"""The sharing outbox's rules that need no broker: what a partner may be served."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from services.sharing.outbox import Outbox, StoredDisclosure

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def stored(disclosure_id: str, partner: str, expires_at: datetime | None) -> StoredDisclosure:
    return StoredDisclosure(
        seq=0, disclosure_id=disclosure_id, melding_id="m", recipient="riec", partner_id=partner,
        event={"data": {"jwe": "x"}}, created_at=NOW.isoformat(),
        expires_at=expires_at.isoformat() if expires_at else None, needs_review=False,
        audit_seq=None, review=None, released_at=None, acked_at=None,
    )  # fmt: skip


def test_only_released_unexpired_own_disclosures_are_served(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "sharing.db", os.urandom(32))
    outbox.keep_decision("d1", "m", "riec", "{}")
    outbox.finish_decision(
        "d1",
        "m",
        [
            stored("verloopt", "riec-oost", NOW + timedelta(days=1)),
            stored("blijft", "riec-oost", None),
            stored("niet-vrijgegeven", "riec-oost", None),
            stored("van-een-ander", "ander", None),
        ],
        recipients=3,
    )
    for disclosure_id in ("verloopt", "blijft", "van-een-ander"):
        outbox.release(disclosure_id, NOW)

    def served(at: datetime) -> list[str]:
        return [d.disclosure_id for d in outbox.released_for("riec-oost", 0, at, 50)]

    assert served(NOW) == ["verloopt", "blijft"]
    assert served(NOW + timedelta(days=2)) == ["blijft"]  # expired: no longer served
    first, *_ = outbox.released_for("riec-oost", 0, NOW, 50)
    assert first.release_seq is not None
    after_first = outbox.released_for("riec-oost", first.release_seq, NOW, 50)
    assert [d.disclosure_id for d in after_first] == ["blijft"]  # the cursor moves on


def test_a_disclosure_released_late_is_not_skipped_by_the_cursor(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "sharing.db", os.urandom(32))
    outbox.keep_decision("d1", "m", "riec", "{}")
    made = [stored(name, "riec-oost", None) for name in ("eerst-gemaakt", "later-gemaakt")]
    outbox.finish_decision("d1", "m", made, recipients=3)
    outbox.release("later-gemaakt", NOW)  # its receipt came first
    (seen,) = outbox.released_for("riec-oost", 0, NOW, 50)
    cursor = seen.release_seq
    assert cursor is not None
    outbox.release("eerst-gemaakt", NOW)  # e.g. approved after human review
    assert [d.disclosure_id for d in outbox.released_for("riec-oost", cursor, NOW, 50)] == [
        "eerst-gemaakt"
    ]


def test_the_melding_copy_is_encrypted_at_rest_and_bound_to_its_id(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "sharing.db", os.urandom(32))
    body = '{"victim": {"name": "Sanne de Vries"}}'
    assert outbox.keep_melding("m-1", body)
    assert outbox.melding("m-1") == body
    raw = sqlite3.connect(tmp_path / "sharing.db").execute("SELECT body FROM meldingen").fetchone()
    assert "Sanne" not in raw[0]
    # A row moved under another melding id does not decrypt.
    database = sqlite3.connect(tmp_path / "sharing.db")
    database.execute("INSERT INTO meldingen VALUES ('m-2', ?)", raw)
    database.commit()
    with pytest.raises(InvalidTag):
        outbox.melding("m-2")
