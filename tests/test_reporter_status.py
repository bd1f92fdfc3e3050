"""Feedback to the reporter (issue 12 §4), on the real stack: the reporting partner reads the
progress of its own meldingen (received, assessed with its time, alert raised, closed), never
a recipient or a decision; another partner asking gets exactly what a melding that does not
exist gets; a status event not signed by audit changes nothing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from services.common.events import MELDING_STATUS, new_event
from services.common.status_event import MeldingStatus
from services.common.topics import DEAD_LETTER, STATUS
from tests.stack import Stack, eventually, read_events, send, submission

pytestmark = pytest.mark.integration
REPORTER = "wijkteam-almelo"


def progress(stack: Stack, melding_id: str, partner: str = REPORTER) -> httpx.Response:
    token = stack.client(partner).token(stack.url("intake"))
    return httpx.get(
        f"{stack.url('intake')}/v1/meldingen/{melding_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def reached(stack: Stack, melding_id: str, *steps: str) -> dict[str, Any]:
    """The progress, once it shows every one of `steps`."""
    return eventually(
        lambda: (
            (body := progress(stack, melding_id).json()) and all(body[s] for s in steps) and body
        )
    )


def test_the_reporter_follows_its_melding_to_closed(stack: Stack) -> None:
    melding_id = stack.submit(submission("02.json"))  # RIEC informed, the other two not
    first = progress(stack, melding_id)
    assert first.status_code == 200, first.text
    assert first.json()["melding_id"] == melding_id and first.json()["received_at"]
    done = reached(stack, melding_id, "assessed", "closed")
    assert done["assessed_at"] and done["closed_at"] >= done["assessed_at"]
    assert done["alert_raised"] is False and done["alert_at"] is None
    # Nothing about whom KMT informed or what it decided: no rule lets the reporter know.
    text = progress(stack, melding_id).text.lower()
    assert not any(word in text for word in ("riec", "veilig", "gemeente", "allow", "recipient"))


def test_a_melding_waiting_for_review_is_not_closed_until_the_verdict(stack: Stack) -> None:
    unknown_age = copy.deepcopy(submission("10.json"))  # Veilig Thuis with review:human
    unknown_age["victim"].pop("birth_date", None)
    unknown_age["signals"]["minors_in_household"] = False
    unknown_age["signals"]["acute_danger"] = True  # the policy raises an alert as well
    melding_id = stack.submit(unknown_age)
    waiting = reached(stack, melding_id, "assessed", "alert_raised")
    assert waiting["closed"] is False and waiting["alert_at"]

    worker = {"Authorization": f"Bearer {stack.worker_token}"}
    url = f"{stack.url('sharing')}/v1/reviews"
    disclosure_id = eventually(lambda: next((q["disclosure_id"] for q in httpx.get(
        url, headers=worker).json() if q["melding_id"] == melding_id), None))  # fmt: skip
    verdict = {"verdict": "reject", "reason": "geen aanwijzing voor minderjarigheid"}
    assert httpx.post(f"{url}/{disclosure_id}", json=verdict, headers=worker).status_code == 204
    assert reached(stack, melding_id, "closed")["assessed_at"] == waiting["assessed_at"]


def test_another_partners_melding_is_answered_as_one_that_does_not_exist(stack: Stack) -> None:
    melding_id = stack.submit(submission("02.json"))
    reached(stack, melding_id, "assessed")
    others = progress(stack, melding_id, partner="gemeente-almelo")  # a reporter too
    unknown = progress(stack, "00000000-0000-4000-8000-000000000001", partner="gemeente-almelo")
    assert others.status_code == unknown.status_code == 404
    assert others.json() == unknown.json()  # the same problem, word for word: no oracle
    assert others.headers["content-type"] == unknown.headers["content-type"]
    assert progress(stack, melding_id, partner="riec-oost").status_code == 404  # a recipient
    url = f"{stack.url('intake')}/v1/meldingen/{melding_id}"
    assert httpx.get(url, timeout=10).status_code == 401
    sharing_token = stack.client(REPORTER).token(stack.url("sharing"))  # not for intake
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {sharing_token}"}, timeout=10)
    assert wrong.status_code == 401
    worker = httpx.get(url, headers={"Authorization": f"Bearer {stack.worker_token}"}, timeout=10)
    assert worker.status_code == 401  # a staff token is no partner token


def test_a_status_not_signed_by_audit_changes_nothing(stack: Stack) -> None:
    stack.stop("routing")  # the melding stays unassessed: only a forgery could move it on
    try:
        melding_id = stack.submit(submission("02.json"))
        forged = new_event(
            type=MELDING_STATUS,
            source="kmt/audit",
            subject=melding_id,
            data=MeldingStatus(melding_id=UUID(melding_id), step="closed", at=datetime.now(UTC)),
        )
        send(stack.settings, STATUS, forged)  # unsigned
        send(stack.settings, STATUS, forged, sign_as="sharing")  # signed, by another service
        refused = eventually(lambda: (found := [
            d for d in read_events(stack.settings, DEAD_LETTER)
            if d["data"]["topic"] == stack.settings.topic(STATUS)
            and d["data"]["consumer"] == "intake"
        ]) and len(found) >= 2 and found)  # fmt: skip
        assert len(refused) == 2
        body = progress(stack, melding_id).json()
        assert body["closed"] is False and body["assessed"] is False
    finally:
        stack.ensure("routing")
