"""A rejected disclosure stays rejected (issue 9 item 8): the first recorded verdict stands,
whatever a later or concurrent verdict says, and only a recorded approval releases.

The review endpoint reads the disclosure before it calls `Sharing.review`, so the review
can act on a stale copy (two workers, two requests). These tests give `review` such a copy,
with the real outbox; the API's 409 is in test_sharing_release.py."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.common.settings import Settings
from services.sharing.outbox import Outbox, StoredDisclosure
from services.sharing.worker import ReviewConflict, Sharing
from services.state.database import Database

MELDING_ID = "00000000-0000-0000-0000-00000000a001"
DISCLOSURE_ID = "00000000-0000-0000-0000-00000000d001"
PARTNER = "veilig-thuis-twente"
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


def actions(outbox: Outbox) -> list[str]:
    """What the events committed for publication announce, in order."""
    return [p.event.data["action"] for p in outbox.pending(100)]


def worker(tmp_path: Path, *, receipt: bool = True) -> tuple[Sharing, Outbox]:
    """Sharing with one `review:human` disclosure waiting for its verdict."""
    outbox = Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32))
    pending = StoredDisclosure(
        seq=0, disclosure_id=DISCLOSURE_ID, melding_id=MELDING_ID, recipient="veilig_thuis",
        partner_id=PARTNER, event={"data": {"jwe": "x"}}, created_at=NOW.isoformat(),
        expires_at=None, needs_review=True, audit_seq=None, review=None, released_at=None,
        acked_at=None,
    )  # fmt: skip
    outbox.keep_decision("besluit-1", MELDING_ID, "veilig_thuis", "{}")
    outbox.finish_decision("besluit-1", MELDING_ID, [pending], recipients=3)
    if receipt:
        outbox.record_receipt(DISCLOSURE_ID, 7, "0" * 64)
    nothing: Any = None  # a review opens no melding and asks no policy
    settings = Settings(topic_prefix="t.", keys_dir=tmp_path / "keys")
    return Sharing(settings, outbox, nothing, nothing), outbox


def released(outbox: Outbox) -> list[str]:
    return [d.disclosure_id for d in outbox.released_for(PARTNER, 0, NOW, 50)]


def test_reject_then_approve_releases_nothing(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path)
    stale = outbox.disclosure(DISCLOSURE_ID)  # read before either verdict, as the API does
    assert stale is not None and stale.review is None and stale.audit_seq == 7
    sharing.review(stale, approve=False, reviewer="eerste")
    with pytest.raises(ReviewConflict):
        sharing.review(stale, approve=True, reviewer="tweede")
    now = outbox.disclosure(DISCLOSURE_ID)
    assert now is not None and now.review == "rejected" and now.released_at is None
    assert released(outbox) == []
    assert actions(outbox) == ["rejected"]  # no approval, no release on the bus


def test_approve_then_reject_does_not_take_the_release_back(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path)
    stale = outbox.disclosure(DISCLOSURE_ID)
    assert stale is not None
    sharing.review(stale, approve=True, reviewer="eerste")
    with pytest.raises(ReviewConflict):
        sharing.review(stale, approve=False, reviewer="tweede")
    assert released(outbox) == [DISCLOSURE_ID]
    assert actions(outbox) == ["approved", "released"]


def test_the_same_verdict_twice_releases_once(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path)
    stale = outbox.disclosure(DISCLOSURE_ID)
    assert stale is not None
    sharing.review(stale, approve=False, reviewer="eerste")
    sharing.review(stale, approve=False, reviewer="eerste")  # a retry: no conflict
    assert released(outbox) == [] and actions(outbox) == ["rejected"]


def test_an_approval_releases_when_the_receipt_came_after_the_read(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path, receipt=False)
    stale = outbox.disclosure(DISCLOSURE_ID)
    assert stale is not None and stale.audit_seq is None
    outbox.record_receipt(DISCLOSURE_ID, 7, "0" * 64)  # on_receipt: not approved yet, held
    sharing.review(stale, approve=True, reviewer="eerste")
    assert released(outbox) == [DISCLOSURE_ID]
