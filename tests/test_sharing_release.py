"""Sharing against the real broker: release only after the audit record, restarts that lose
and double nothing, human review, and a partner API that reveals nothing to the wrong caller."""

from __future__ import annotations

import contextlib
import copy
import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from services.common.events import DISCLOSURE_CREATED
from services.common.settings import Settings
from services.common.topics import DISCLOSURES
from tests.stack import Stack, deployment, eventually, read_events, submission


@pytest.fixture(scope="module")
def stack(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    # Without the audit service: the first test starts it.
    logs = tmp_path_factory.mktemp("logs")
    with deployment(settings_factory(), logs, "intake", "routing", "sharing") as running:
        yield running


def sealed_disclosures(stack: Stack) -> list[dict[str, Any]]:
    """`disclosure.created` events on Kafka: what sharing has sealed, released or not."""
    events = read_events(stack.settings, DISCLOSURES)
    return [e["data"] for e in events if e["type"] == DISCLOSURE_CREATED]


def test_nothing_is_released_before_the_audit_record_then_everything_exactly_once(
    stack: Stack,
) -> None:
    # The module starts without the audit service.
    for name in ("02.json", "03.json", "05.json"):
        stack.submit(submission(name))
    sealed = eventually(lambda: len(sealed_disclosures(stack)) >= 3)
    assert sealed and len(sealed_disclosures(stack)) == 3
    for partner in ("riec-oost", "gemeente-hengelo", "veilig-thuis-twente"):
        assert stack.fetch_all(partner) == [], partner

    stack.start("audit")
    for partner in ("riec-oost", "gemeente-hengelo", "veilig-thuis-twente"):
        items = eventually(lambda p=partner: stack.fetch_all(p), timeout=60)
        assert len(items) == 1, partner
        assert items[0]["audit_seq"] is not None
        payload = stack.client(partner).open(items[0])
        assert payload["disclosure_id"] == items[0]["disclosure_id"]
    assert stack.fetch_all("gemeente-almelo") == []  # not its municipality's melding


def test_sharing_restart_mid_stream_loses_nothing_and_doubles_nothing(stack: Stack) -> None:
    stack.ensure("audit")
    before = len(stack.fetch_all("riec-oost"))
    count = 12
    for _ in range(count // 2):
        stack.submit(submission("02.json"))
    stack.kill("sharing")  # no clean shutdown, no last commit
    for _ in range(count // 2):
        stack.submit(submission("02.json"))
    stack.start("sharing")

    def all_there() -> list[dict[str, Any]] | None:
        found = stack.fetch_all("riec-oost")
        return found if len(found) >= before + count else None

    try:
        items = eventually(all_there, timeout=120)
    except AssertionError:
        got = len(stack.fetch_all("riec-oost"))
        logs = {n: (stack.logs / f"{n}.log").read_text(errors="replace")[-2000:]
                for n in ("sharing", "audit")}  # fmt: skip
        raise AssertionError(f"{got} van {before + count} disclosures; logs: {logs}") from None
    ids = [i["disclosure_id"] for i in items]
    assert len(ids) == len(set(ids)) == before + count
    meldingen = {i["melding_ref"] for i in items}  # each melding its own reference
    assert len(meldingen) == before + count


def test_partner_api_reveals_nothing_to_the_wrong_caller(stack: Stack) -> None:
    stack.ensure("audit")
    stack.submit(submission("03.json"))  # for gemeente Hengelo only
    (item, *_) = eventually(lambda: stack.fetch_all("gemeente-hengelo"))
    url = stack.url("sharing")
    almelo = stack.client("gemeente-almelo")
    as_almelo = {"Authorization": f"Bearer {almelo.token()}"}

    not_yours = httpx.post(f"{url}/v1/disclosures/{item['disclosure_id']}/ack", headers=as_almelo)
    unknown = httpx.post(f"{url}/v1/disclosures/00000000-0000-0000-0000-000000000000/ack",
                         headers=as_almelo)  # fmt: skip
    assert not_yours.status_code == unknown.status_code == 404
    assert not_yours.json() == unknown.json()
    assert item["disclosure_id"] not in json.dumps(stack.fetch_all("gemeente-almelo"))

    assert httpx.get(f"{url}/v1/disclosures").status_code == 401
    garbage = httpx.get(f"{url}/v1/disclosures", headers={"Authorization": "Bearer x.y.z"})
    assert garbage.status_code == 401
    intake_token = almelo.token(stack.url("intake"))  # valid, but for another service
    wrong_audience = httpx.get(
        f"{url}/v1/disclosures", headers={"Authorization": f"Bearer {intake_token}"}
    )
    assert wrong_audience.status_code == 401
    staff = httpx.get(f"{url}/v1/reviews", headers=as_almelo)
    assert staff.status_code == 401  # a partner token is no staff token

    hengelo = stack.client("gemeente-hengelo")
    hengelo.ack(item["disclosure_id"])
    hengelo.ack(item["disclosure_id"])  # harmless when repeated


def test_review_human_holds_the_disclosure_until_a_kmt_worker_approves(stack: Stack) -> None:
    stack.ensure("audit")
    unknown_age = copy.deepcopy(submission("10.json"))
    unknown_age["victim"].pop("birth_date", None)
    unknown_age["signals"]["minors_in_household"] = False
    approved_id = stack.submit(unknown_age)
    rejected_id = stack.submit(unknown_age)
    worker = {"Authorization": f"Bearer {stack.worker_token}"}
    officer = {"Authorization": f"Bearer {stack.officer_token}"}
    url = stack.url("sharing")

    def waiting() -> dict[str, str] | None:
        queue = httpx.get(f"{url}/v1/reviews", headers=worker).json()
        found = {q["melding_id"]: q["disclosure_id"] for q in queue if q["audit_recorded"]}
        return found if {approved_id, rejected_id} <= set(found) else None

    queue = eventually(waiting)
    assert httpx.get(f"{url}/v1/reviews", headers=officer).status_code == 403

    def refs(melding_id: str) -> str:
        return stack.melding_ref(melding_id, "veilig-thuis-twente")

    before = {i["melding_ref"] for i in stack.fetch_all("veilig-thuis-twente")}
    assert not {refs(approved_id), refs(rejected_id)} & before

    bad = httpx.post(f"{url}/v1/reviews/{queue[approved_id]}", json={"verdict": "misschien"},
                     headers=worker)  # fmt: skip
    assert bad.status_code == 422
    for no_reason in ({"verdict": "approve"}, {"verdict": "approve", "reason": "  \n "}):
        refused = httpx.post(f"{url}/v1/reviews/{queue[approved_id]}", json=no_reason,
                             headers=worker)  # fmt: skip
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["path"] == "body.reason"
        assert refused.json()["errors"][0]["message"] in (
            "verplicht veld ontbreekt", "geef een reden voor het oordeel")  # fmt: skip
    item = httpx.get(f"{url}/v1/reviews/{queue[approved_id]}", headers=worker)
    assert item.status_code == 200
    assert item.json()["acute"] is False
    brief = item.json()["brief"]  # what the reviewer must judge: the age evidence, the signals
    assert brief["age_evidence"] == {"age": None, "birth_date": None, "age_at_received": None}
    assert brief["signals"]["narrative"] == unknown_age["signals"]["narrative"]
    assert any(r["rule"].startswith("veilig_thuis") for r in brief["reasons"])
    assert httpx.get(f"{url}/v1/reviews/{queue[approved_id]}", headers=officer).status_code == 403
    seen = eventually(lambda: [e for e in stack.audit_entries(approved_id)
                               if e["event_type"] == "sharing.review"])  # fmt: skip
    assert [(e["type"], e["actor"]) for e in seen] == [
        ("audit_access", "staff:demo-kmt-medewerker")
    ]
    reasons = {approved_id: "Uit het verhaal blijkt dat zij 17 is", rejected_id: "Geen grond"}
    for melding_id, verdict in ((approved_id, "approve"), (rejected_id, "reject")):
        response = httpx.post(f"{url}/v1/reviews/{queue[melding_id]}", headers=worker,
                              json={"verdict": verdict, "reason": reasons[melding_id]})  # fmt: skip
        assert response.status_code == 204
    again = httpx.post(f"{url}/v1/reviews/{queue[approved_id]}", headers=worker,
                       json={"verdict": "reject", "reason": "toch niet"})  # fmt: skip
    assert again.status_code == 409
    # A rejected disclosure stays rejected: approving it afterwards is refused (issue 9 item 8).
    flip = httpx.post(f"{url}/v1/reviews/{queue[rejected_id]}", headers=worker,
                      json={"verdict": "approve", "reason": "toch wel"})  # fmt: skip
    assert flip.status_code == 409
    assert "al beoordeeld" in flip.json()["detail"]

    released = eventually(
        lambda: (
            refs(approved_id) in {i["melding_ref"] for i in stack.fetch_all("veilig-thuis-twente")}
        )
    )
    assert released
    assert refs(rejected_id) not in {
        i["melding_ref"] for i in stack.fetch_all("veilig-thuis-twente")
    }

    def reviews(melding_id: str) -> list[dict[str, Any]] | None:
        trail = stack.audit_entries(melding_id)
        found = [e for e in trail if e["type"] in ("review", "release")]
        return found if any(e["type"] == "review" for e in found) else None

    approved = eventually(lambda: (r := reviews(approved_id)) and len(r) == 2 and r)
    assert {(e["type"], e["allow"], e["actor"]) for e in approved} == {
        ("review", True, "staff:demo-kmt-medewerker"),
        ("release", True, "staff:demo-kmt-medewerker"),
    }
    rejected = eventually(lambda: reviews(rejected_id))
    assert [(e["type"], e["allow"]) for e in rejected] == [("review", False)]
    verdicts = [e for e in [*approved, *rejected] if e["type"] == "review"]
    assert all(e["ciphertext_sha256"] for e in verdicts)  # each reason's hash (sealed)
    # The rejected disclosure's ciphertext is gone from sharing's store; its hash stays.
    path = stack.settings.data_dir / "sharing.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (event,) = db.execute("SELECT event FROM disclosures WHERE disclosure_id = ?",
                              (queue[rejected_id],)).fetchone()  # fmt: skip
    assert json.loads(event)["data"]["jwe"] == "" and json.loads(event)["data"]["ciphertext_sha256"]
    assert httpx.get(f"{url}/v1/reviews/{queue[rejected_id]}", headers=worker).status_code == 404
