"""A rejected disclosure stays rejected (issue 9 item 8): the first recorded verdict stands,
whatever a later or concurrent verdict says, and only a recorded approval releases.

The review endpoint reads the disclosure before it calls `Sharing.review`, so the review
can act on a stale copy (two workers, two requests). These tests give `review` such a copy,
with the real outbox; the API's 409 is in test_sharing_release.py."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.common.settings import Settings
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import MeldingErased, Opener, Sealer, generate_reader_keys
from services.sharing.outbox import Outbox, StoredDisclosure
from services.sharing.reviews import ReviewRefused
from services.sharing.worker import ReviewConflict, Sharing
from services.state.database import Database

MELDING_ID = "00000000-0000-0000-0000-00000000a001"
DISCLOSURE_ID = "00000000-0000-0000-0000-00000000d001"
PARTNER = "veilig-thuis-twente"
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
CREATED = {"id": "created-1", "source": "kmt/sharing", "type": "nl.kmt.disclosure.created",
           "time": NOW.isoformat(), "data": {"jwe": "x"}}  # fmt: skip


def actions(outbox: Outbox) -> list[str]:
    """What the events committed for publication announce, in order."""
    return [p.event.data["action"] for p in outbox.pending(100)]


def worker(tmp_path: Path, *, receipt: bool = True) -> tuple[Sharing, Outbox]:
    """Sharing with one `review:human` disclosure waiting for its verdict, its brief sealed
    under the melding's data key as sharing seals it."""
    outbox = Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32))
    keys = tmp_path / "keys"
    generate_reader_keys(keys)
    store = DataKeyStore(tmp_path / "keystore.db")
    sealed_melding = Sealer.load(keys, store).seal(MELDING_ID, b"{}")
    opener = Opener.load(keys, "sharing", store)
    pending = StoredDisclosure(
        seq=0, disclosure_id=DISCLOSURE_ID, melding_id=MELDING_ID, recipient="veilig_thuis",
        partner_id=PARTNER, event=CREATED, created_at=NOW.isoformat(),
        expires_at=None, needs_review=True, audit_seq=None, review=None, released_at=None,
        acked_at=None, review_brief=opener.seal_alongside(MELDING_ID, sealed_melding, b"{}"),
    )  # fmt: skip
    outbox.keep_decision("besluit-1", MELDING_ID, "veilig_thuis", "{}")
    outbox.finish_decision("besluit-1", MELDING_ID, [pending], recipients=3)
    if receipt:
        outbox.record_receipt(DISCLOSURE_ID, 7, "0" * 64)
    nothing: Any = None  # a review opens no melding and asks no policy
    settings = Settings(topic_prefix="t.", keys_dir=keys)
    return Sharing(settings, outbox, opener, nothing), outbox


def released(outbox: Outbox) -> list[str]:
    return [d.disclosure_id for d in outbox.released_for(PARTNER, 0, NOW, 50)]


def test_reject_then_approve_releases_nothing(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path)
    stale = outbox.disclosure(DISCLOSURE_ID)  # read before either verdict, as the API does
    assert stale is not None and stale.review is None and stale.audit_seq == 7
    sharing.review(
        stale, approve=False, reviewer="eerste", reason="leeftijd blijkt uit het verhaal"
    )
    with pytest.raises(ReviewConflict):
        sharing.review(
            stale, approve=True, reviewer="tweede", reason="leeftijd blijkt uit het verhaal"
        )
    now = outbox.disclosure(DISCLOSURE_ID)
    assert now is not None and now.review == "rejected" and now.released_at is None
    assert released(outbox) == []
    assert actions(outbox) == ["rejected"]  # no approval, no release on the bus


def test_approve_then_reject_does_not_take_the_release_back(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path)
    stale = outbox.disclosure(DISCLOSURE_ID)
    assert stale is not None
    sharing.review(stale, approve=True, reviewer="eerste", reason="leeftijd blijkt uit het verhaal")
    with pytest.raises(ReviewConflict):
        sharing.review(
            stale, approve=False, reviewer="tweede", reason="leeftijd blijkt uit het verhaal"
        )
    assert released(outbox) == [DISCLOSURE_ID]
    assert actions(outbox) == ["approved", "released"]


def test_the_same_verdict_twice_releases_once(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path)
    stale = outbox.disclosure(DISCLOSURE_ID)
    assert stale is not None
    sharing.review(
        stale, approve=False, reviewer="eerste", reason="leeftijd blijkt uit het verhaal"
    )
    sharing.review(
        stale, approve=False, reviewer="eerste", reason="leeftijd blijkt uit het verhaal"
    )  # a retry: no conflict
    assert released(outbox) == [] and actions(outbox) == ["rejected"]


def test_an_approval_releases_when_the_receipt_came_after_the_read(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path, receipt=False)
    stale = outbox.disclosure(DISCLOSURE_ID)
    assert stale is not None and stale.audit_seq is None
    outbox.record_receipt(DISCLOSURE_ID, 7, "0" * 64)  # on_receipt: not approved yet, held
    sharing.review(stale, approve=True, reviewer="eerste", reason="leeftijd blijkt uit het verhaal")
    assert released(outbox) == [DISCLOSURE_ID]


def test_the_reason_is_kept_sealed_under_the_melding_key_and_its_hash_is_announced(
    tmp_path: Path,
) -> None:
    sharing, outbox = worker(tmp_path)
    stale = outbox.disclosure(DISCLOSURE_ID)
    assert stale is not None
    sharing.review(stale, approve=True, reviewer="eerste", reason="Ziet er meerderjarig uit")
    brief, reason = outbox.sealed_review(DISCLOSURE_ID)
    assert brief is None  # its work is done
    assert reason is not None and "meerderjarig" not in reason
    assert sharing.opener.open(MELDING_ID, reason) == b"Ziet er meerderjarig uit"
    (reviewed, _) = [p.event for p in outbox.pending(100)]
    assert reviewed.data["reason_sha256"] == hashlib.sha256(reason.encode()).hexdigest()
    sharing.opener.store.destroy(MELDING_ID)  # kmt erase: the reason goes with the melding
    with pytest.raises(MeldingErased):
        sharing.opener.open(MELDING_ID, reason)


def test_a_rejection_destroys_the_partners_ciphertext(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path)
    stale = outbox.disclosure(DISCLOSURE_ID)
    assert stale is not None and stale.event["data"]["jwe"] == "x"
    sharing.review(stale, approve=False, reviewer="eerste", reason="geen grond")
    now = outbox.disclosure(DISCLOSURE_ID)
    assert now is not None and now.event["data"]["jwe"] == ""
    assert released(outbox) == []


def test_no_verdict_once_the_melding_is_erased(tmp_path: Path) -> None:
    sharing, outbox = worker(tmp_path)
    sharing.opener.store.destroy(MELDING_ID)
    stale = outbox.disclosure(DISCLOSURE_ID)
    assert stale is not None
    with pytest.raises(ReviewRefused):
        sharing.review(stale, approve=True, reviewer="eerste", reason="akkoord")
    assert released(outbox) == [] and actions(outbox) == []
