"""Acute danger (issue 12 §1), end to end on the real broker and OPA: an acute melding reaches
KMT's on-call channel by a signed webhook and by e-mail (a real HTTP server and a real SMTP
server), without personal data; the ledger has its `alert` entry; Veilig Thuis is told by its
own webhook and fetches the disclosure; an acute melding whose age is unknown waits at the
top of the review queue, marked acute; forged alerts are refused; a receiver that is down is
retried with backoff and every attempt recorded."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.alerts.service import open_deliveries
from services.common import topics
from services.common.alert_event import AlertRaised
from services.common.events import ALERT_RAISED, new_event
from services.common.partners import set_partner_webhook
from services.common.settings import Settings
from services.common.webhooks import SignatureRefused, load_webhook_signer, verify
from services.devstack.paths import free_port
from services.sharing.partner_webhooks import open_notices
from tests.receivers import HttpSink, Received, SmtpSink, http_sink, smtp_sink
from tests.stack import Stack, deployment, eventually, read_events, send, submission

VEILIG_THUIS = "veilig-thuis-twente"
STAFF_URL = "https://medewerkers.kmt.test"
PERSONAL = ("Sanne", "Vries", "111222333", "2011-07-01", "Bakker", "1996-02-01",
            "Grotestraat", "7607", "+31612345678", "prostitutie", "vakantiepark",
            "advertenties", "Iris", "Kok")  # fmt: skip
"""Everything of scenario 06 and the unknown-age example that identifies someone."""
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def on_call() -> Iterator[tuple[HttpSink, SmtpSink]]:
    with http_sink() as http, smtp_sink() as smtp:
        yield http, smtp


@pytest.fixture(scope="module")
def stack(
    settings_factory: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
    on_call: tuple[HttpSink, SmtpSink],
) -> Iterator[Stack]:
    http, smtp = on_call
    settings = settings_factory(
        oncall_webhook_url=http.url("/oncall"),
        oncall_email_to="dienst@kmt.test",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        staff_url=STAFF_URL,
    )
    with deployment(settings, tmp_path_factory.mktemp("logs")) as running:
        set_partner_webhook(settings.partners_file, VEILIG_THUIS, http.url("/vt"))
        running.start("alerts")
        yield running


def about(http: HttpSink, path: str, key: str, value: str) -> list[Received]:
    return [r for r in http.at(path) if json.loads(r.body).get(key) == value]


def acute_minor() -> dict[str, Any]:
    return submission("06.json")


def unknown_age(acute: bool) -> dict[str, Any]:
    melding = json.loads((EXAMPLES / "melding-leeftijd-onbekend.json").read_text())
    melding["signals"]["acute_danger"] = acute
    return dict(melding)


def test_an_acute_minor_reaches_on_call_and_veilig_thuis_without_personal_data(
    stack: Stack, on_call: tuple[HttpSink, SmtpSink]
) -> None:
    http, smtp = on_call
    melding_id = stack.submit(acute_minor())

    hook = eventually(lambda: about(http, "/oncall", "melding_id", melding_id))[0]
    mail = eventually(lambda: smtp.about(melding_id))[0]
    body = json.loads(hook.body)
    assert body["minor"] is True and body["municipality"] == "almelo"
    assert body["veilig_thuis"] == "direct" and body["review_acute"] is False
    assert "minderjarige in acuut gevaar: Veilig Thuis direct informeren" in body["alerts"]
    assert body["link"] == f"{STAFF_URL}/meldingen/{melding_id}"
    assert mail.recipients == ["dienst@kmt.test"]
    assert "minderjarige" in mail.message["Subject"] and body["link"] in mail.text
    for text in (hook.body.decode(), mail.text):
        assert not [p for p in PERSONAL if p in text], "persoonsgegevens in de alert"

    # signed by the alerts service: verifies with its public key, not after tampering
    alerts_key = load_webhook_signer(stack.settings.keys_dir, "alerts").public_key_text
    assert verify(alerts_key, hook.headers, hook.body) == hook.headers["webhook-id"]
    with pytest.raises(SignatureRefused):
        verify(alerts_key, hook.headers, hook.body.replace(b"almelo", b"hengelo"))
    sharing_key = load_webhook_signer(stack.settings.keys_dir, "sharing").public_key_text
    with pytest.raises(SignatureRefused):
        verify(sharing_key, hook.headers, hook.body)

    entries = eventually(
        lambda: [e for e in stack.audit_entries(melding_id) if e["type"] == "alert"]
    )
    assert entries[0]["actor"] == "kmt/routing" and entries[0]["municipality"] == "almelo"
    assert "minderjarig: ja" in entries[0]["reasons"]

    # Veilig Thuis: its own signed webhook, ids only (its melding_ref, never the melding id)
    reference = stack.melding_ref(melding_id, VEILIG_THUIS)
    notice = eventually(lambda: about(http, "/vt", "melding_ref", reference))[0]
    assert melding_id not in notice.body.decode()
    assert verify(sharing_key, notice.headers, notice.body)
    disclosure_id = json.loads(notice.body)["disclosure_id"]
    fetched = stack.fetch_all(VEILIG_THUIS)
    assert [d["melding_ref"] for d in fetched if d["disclosure_id"] == disclosure_id] == [reference]


def test_an_acute_melding_of_unknown_age_waits_first_in_the_queue_marked_acute(
    stack: Stack, on_call: tuple[HttpSink, SmtpSink]
) -> None:
    http, _ = on_call
    calm = stack.submit(unknown_age(acute=False))
    acute = stack.submit(unknown_age(acute=True))

    body = json.loads(eventually(lambda: about(http, "/oncall", "melding_id", acute))[0].body)
    assert body["minor"] is None and body["veilig_thuis"] == "na_beoordeling"
    assert (
        body["review_acute"] is True and "ACUUT, bovenaan de beoordelingswachtrij" in body["text"]
    )

    def queue() -> list[dict[str, Any]] | None:
        answer = httpx.get(
            f"{stack.url('sharing')}/v1/reviews",
            headers={"Authorization": f"Bearer {stack.worker_token}"},
        )
        items = answer.json()
        found = {i["melding_id"] for i in items}
        return items if {calm, acute} <= found else None

    items = eventually(queue)
    assert items[0]["melding_id"] == acute and items[0]["acute"] is True
    assert [i["acute"] for i in items if i["melding_id"] == calm] == [False]


def test_forged_alerts_on_the_topic_are_refused(
    stack: Stack, on_call: tuple[HttpSink, SmtpSink]
) -> None:
    http, smtp = on_call
    forged_id = uuid.uuid4()
    forged = new_event(
        type=ALERT_RAISED,
        source="kmt/routing",
        subject=str(forged_id),
        data=AlertRaised(
            melding_id=forged_id, alerts=["acuut gevaar: politie/112 eerst"], minor=True,
            municipality="enschede", veilig_thuis="direct", policy_revision="x",
            raised_at=datetime.now(UTC),
        ),
    )  # fmt: skip
    send(stack.settings, topics.ALERTS, forged)  # unsigned
    send(stack.settings, topics.ALERTS, forged, sign_as="sharing")  # not the topic's owner

    def refused() -> list[dict[str, Any]]:
        letters = read_events(stack.settings, topics.DEAD_LETTER)
        return [
            d["data"] for d in letters
            if d["data"]["key"] == str(forged_id) and d["data"]["consumer"] == "alerts"
        ]  # fmt: skip

    letters = eventually(refused, timeout=60)
    assert len(letters) >= 2
    assert any("niet ondertekend" in d["reason"] for d in letters)
    assert any("dit topic is van 'routing'" in d["reason"] for d in letters)
    assert not about(http, "/oncall", "melding_id", str(forged_id))
    assert not smtp.about(str(forged_id))
    tried = open_deliveries(stack.settings).attempts()
    assert not [a for a in tried if str(forged_id) in a.delivery_id]


def test_receivers_that_are_down_are_retried_with_backoff_and_every_attempt_recorded(
    stack: Stack, on_call: tuple[HttpSink, SmtpSink]
) -> None:
    http, _ = on_call
    http.failing["/oncall"] = 2  # on-call answers 503 twice
    dead = f"http://127.0.0.1:{free_port()}/vt"  # nobody listens: connection refused
    set_partner_webhook(stack.settings.partners_file, VEILIG_THUIS, dead)
    melding_id = stack.submit(acute_minor())

    eventually(lambda: about(http, "/oncall", "melding_id", melding_id))
    oncall = eventually(lambda: attempts_of(open_deliveries(stack.settings), melding_id, 3))
    assert [(a.attempt, a.taken, a.outcome) for a in oncall] == [
        (1, False, "HTTP 503"), (2, False, "HTTP 503"), (3, True, "HTTP 204"),
    ]  # fmt: skip
    assert oncall[0].at < oncall[1].at < oncall[2].at

    notices = open_notices(stack.settings)
    failed = eventually(lambda: attempts_of(notices, "", 1))
    assert failed[0].outcome == "ConnectError" and not failed[0].taken
    set_partner_webhook(stack.settings.partners_file, VEILIG_THUIS, http.url("/vt"))
    reference = stack.melding_ref(melding_id, VEILIG_THUIS)
    eventually(lambda: about(http, "/vt", "melding_ref", reference))
    delivered = eventually(lambda: [a for a in notices.attempts() if a.taken and
                                    a.delivery_id == failed[0].delivery_id])  # fmt: skip
    assert delivered[0].attempt > 1


def attempts_of(store: Any, melding_or_all: str, at_least: int) -> list[Any] | None:
    """The attempts of the on-call webhook about a melding (or, with "", the failed ones of
    any partner notice), oldest first, once there are `at_least`."""
    found = [
        a for a in reversed(store.attempts())
        if (melding_or_all and a.delivery_id == f"alert:{melding_or_all}:webhook")
        or (not melding_or_all and not a.taken)
    ]  # fmt: skip
    return found if len(found) >= at_least else None
