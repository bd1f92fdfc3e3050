"""Issue 9 item 7: sharing never makes a change without the event that announces it.

Each test makes sharing's publisher fail at one point of the flow — the broker itself
refuses: sharing's write permission on the disclosures topic is withdrawn — lets sharing make
its change, kills it (SIGKILL, as when a machine dies), gives the permission back and starts
it again. The event must then go out, exactly once, and the ledger must record it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteAclsRequest, DescribeAclsRequest

from services.bus.acls import Grant, create_acls
from services.bus.client import bus_login
from services.bus.consumer import consume_forever
from services.bus.kafka import Publisher
from services.bus.principals import ADMIN, user_name
from services.common.settings import Settings
from services.common.topics import DECISIONS, DISCLOSURES
from services.keyring.datakeys import DataKeyStore
from services.keyring.vault import Opener
from services.policy.engine import PolicyEngine
from services.sharing.outbox import open_outbox
from services.sharing.worker import Sharing
from tests.stack import Stack, deployment, eventually, read_events, submission

pytestmark = pytest.mark.integration
TOPIC, WRITE, ALLOW, LITERAL, ANY = 2, 4, 3, 3, 1  # Kafka's ACL wire codes


@pytest.fixture(scope="module")
def stack(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with deployment(settings_factory(), tmp_path_factory.mktemp("logs")) as running:
        yield running


async def _sharing_write_acls(admin: AIOKafkaAdminClient, settings: Settings) -> int:
    everything = DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ANY)
    response = await admin._send_request(everything)
    return sum(
        1
        for resource_type, name, _pattern, acls in response.resources
        if resource_type == TOPIC and name == settings.topic(DISCLOSURES)
        for principal, _host, operation, _permission in acls
        if principal == f"User:{user_name('sharing')}" and operation == WRITE
    )


def withdraw_sharing_write(settings: Settings) -> None:
    """The broker refuses every publish of sharing on the disclosures topic from now on."""

    async def withdraw() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, **bus_login(settings, ADMIN).aiokafka()
        )
        await admin.start()
        try:
            await admin._send_to_controller(
                DeleteAclsRequest(
                    TOPIC,
                    settings.topic(DISCLOSURES),
                    LITERAL,
                    f"User:{user_name('sharing')}",
                    "*",
                    WRITE,
                    ALLOW,
                )
            )
            for _ in range(100):  # until the broker applies it
                if not await _sharing_write_acls(admin, settings):
                    return
                await asyncio.sleep(0.1)
            raise TimeoutError("ACL niet ingetrokken")
        finally:
            await admin.close()

    asyncio.run(withdraw())


def restore_sharing_write(settings: Settings) -> None:
    async def restore() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, **bus_login(settings, ADMIN).aiokafka()
        )
        await admin.start()
        try:
            grant = Grant(user_name("sharing"), "topic", settings.topic(DISCLOSURES), "write")
            await create_acls(admin, [grant])
        finally:
            await admin.close()

    asyncio.run(restore())


@contextlib.contextmanager
def publishing_refused(stack: Stack) -> Iterator[None]:
    """Inside: sharing cannot publish. Leaving: sharing is killed, may publish again, and is
    started anew; whatever it committed meanwhile must then go out."""
    withdraw_sharing_write(stack.settings)
    try:
        yield
        stack.kill("sharing")
    finally:
        restore_sharing_write(stack.settings)
    stack.start("sharing")


def sharing_store(stack: Stack, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """A read of sharing's own store (read-only; the service may be running)."""
    path = stack.settings.data_dir / "sharing.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return db.execute(sql, params).fetchall()


def events_about(stack: Stack, melding_id: str) -> Counter[str]:
    """How often each event (`type/id`) about the melding is on the disclosures topic."""
    return Counter(
        f"{e['type'].rsplit('.', 1)[-1]}/{e['id']}"
        for e in read_events(stack.settings, DISCLOSURES)
        if e["subject"] == melding_id
    )


def trail(stack: Stack, melding_id: str, *types: str) -> list[dict[str, Any]]:
    return [e for e in stack.audit_entries(melding_id) if e["type"] in types]


def published_once(stack: Stack, melding_id: str, *kinds: str) -> Counter[str]:
    """Waits until an event of every kind is out; each one went out exactly once."""
    counts = eventually(
        lambda: (
            (c := events_about(stack, melding_id))
            and all(any(k.startswith(f"{kind}/") for k in c) for kind in kinds)
            and c
        ),
        timeout=90,
    )
    assert set(counts.values()) == {1}, counts
    return counts


def test_decisions_before_their_melding_still_disclose_when_the_publish_fails(
    stack: Stack,
) -> None:
    # The reproduced defect: the decisions are in sharing's store before the melding, the
    # melding completes them, and the publish of the disclosure fails.
    stack.stop("sharing")
    melding_id = stack.submit(submission("02.json"))
    eventually(
        lambda: (
            len([e for e in read_events(stack.settings, DECISIONS) if e["subject"] == melding_id])
            == 3
        )
    )
    asyncio.run(_take_decisions_only(stack.settings, melding_id))

    with publishing_refused(stack):
        stack.start("sharing")  # reads the melding, and so processes the three decisions
        eventually(lambda: sharing_store(stack, "SELECT 1 FROM meldingen_done WHERE melding_id = ?",
                                         melding_id))  # fmt: skip
        time.sleep(2)  # the publish is being refused meanwhile
        assert not events_about(stack, melding_id)

    counts = published_once(stack, melding_id, "created", "released")
    assert sorted(k.split("/")[0] for k in counts) == ["created", "released"]
    ref = stack.melding_ref(melding_id, "riec-oost")
    items = eventually(lambda: [i for i in stack.fetch_all("riec-oost") if i["melding_ref"] == ref])
    assert len(items) == 1
    assert eventually(lambda: trail(stack, melding_id, "disclosure", "release"))


async def _take_decisions_only(settings: Settings, melding_id: str) -> None:
    """Sharing's own consumer and handler, subscribed to the decisions only: they are then
    processed (stored, offsets committed) while the melding has not been read yet."""
    outbox = open_outbox(settings)
    keystore = DataKeyStore.of(settings)
    policy = PolicyEngine(settings.opa_url)
    publisher = Publisher(settings, "sharing")
    await publisher.start()
    handler = Sharing(settings, outbox, Opener.load(settings.keys_dir, "sharing", keystore), policy)
    task = asyncio.create_task(
        consume_forever(settings, service="sharing", topics=[settings.topic(DECISIONS)],
                        handler=handler, publisher=publisher)
    )  # fmt: skip
    try:
        for _ in range(600):
            if len(outbox.unprocessed_decisions(melding_id)) == 3:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("besluiten niet ontvangen")
        await asyncio.sleep(2)  # the last offset commit follows the handler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await publisher.stop()
        await policy.close()
        keystore.close()
        outbox.close()


def test_a_disclosure_made_while_publishing_fails_goes_out_after_a_restart(
    stack: Stack,
) -> None:
    with publishing_refused(stack):
        melding_id = stack.submit(submission("02.json"))
        eventually(lambda: sharing_store(stack, "SELECT 1 FROM disclosures WHERE melding_id = ?",
                                         melding_id))  # fmt: skip
        assert not events_about(stack, melding_id)
    published_once(stack, melding_id, "created", "released")
    assert eventually(lambda: trail(stack, melding_id, "release"))


def test_a_release_whose_event_fails_is_announced_after_a_restart(stack: Stack) -> None:
    stack.stop("audit")  # no receipt yet: the disclosure is made and published, not released
    melding_id = stack.submit(submission("02.json"))
    published_once(stack, melding_id, "created")
    with publishing_refused(stack):
        stack.start("audit")  # its receipt releases the disclosure; the event cannot go out
        eventually(lambda: sharing_store(
            stack, "SELECT 1 FROM disclosures WHERE melding_id = ? AND released_at IS NOT NULL",
            melding_id))  # fmt: skip
    published_once(stack, melding_id, "created", "released")
    (release,) = eventually(lambda: trail(stack, melding_id, "release"))
    assert release["actor"] == "kmt/sharing"


def test_a_review_is_recorded_in_the_ledger_even_when_its_publish_fails(stack: Stack) -> None:
    unknown_age = copy.deepcopy(submission("10.json"))  # Veilig Thuis, with review:human
    unknown_age["victim"].pop("birth_date", None)
    unknown_age["signals"]["minors_in_household"] = False
    melding_id = stack.submit(unknown_age)
    worker = {"Authorization": f"Bearer {stack.worker_token}"}

    def waiting() -> str | None:
        queue = httpx.get(f"{stack.url('sharing')}/v1/reviews", headers=worker).json()
        return next((q["disclosure_id"] for q in queue
                     if q["melding_id"] == melding_id and q["audit_recorded"]), None)  # fmt: skip

    disclosure_id = eventually(waiting)
    url = f"{stack.url('sharing')}/v1/reviews/{disclosure_id}"
    approve, reject = ({"verdict": v, "reason": "leeftijd blijkt uit het dossier"}
                       for v in ("approve", "reject"))  # fmt: skip
    with publishing_refused(stack):
        assert httpx.post(url, json=approve, headers=worker).status_code == 204  # committed
        # A retry (the answer got lost) is no conflict; the other verdict is.
        assert httpx.post(url, json=approve, headers=worker).status_code == 204
        assert httpx.post(url, json=reject, headers=worker).status_code == 409
        assert "reviewed" not in str(events_about(stack, melding_id))

    published_once(stack, melding_id, "created", "reviewed", "released")
    entries = eventually(lambda: (t := trail(stack, melding_id, "review", "release"))
                         and len(t) == 2 and t)  # fmt: skip
    assert {(e["type"], e["allow"], e["actor"]) for e in entries} == {
        ("review", True, "staff:demo-kmt-medewerker"),
        ("release", True, "staff:demo-kmt-medewerker"),
    }
    # The reason is in sharing's store, sealed; the ledger holds the hash of what is stored.
    ((reason,),) = sharing_store(
        stack, "SELECT review_reason FROM disclosures WHERE disclosure_id = ?", disclosure_id
    )
    assert "dossier" not in reason
    (review,) = [e for e in entries if e["type"] == "review"]
    assert review["ciphertext_sha256"] == hashlib.sha256(reason.encode()).hexdigest()


def test_an_acknowledgement_is_recorded_in_the_ledger_even_when_its_publish_fails(
    stack: Stack,
) -> None:
    melding_id = stack.submit(submission("02.json"))
    ref = stack.melding_ref(melding_id, "riec-oost")
    (item,) = eventually(
        lambda: [i for i in stack.fetch_all("riec-oost") if i["melding_ref"] == ref]
    )
    riec = stack.client("riec-oost")
    with publishing_refused(stack):
        riec.ack(item["disclosure_id"])  # 204: receipt and its event are committed together
        riec.ack(item["disclosure_id"])  # a repeat changes nothing
        assert "acknowledged" not in str(events_about(stack, melding_id))

    published_once(stack, melding_id, "created", "released", "acknowledged")
    (ack,) = eventually(lambda: trail(stack, melding_id, "ack"))
    assert ack["actor"] == "partner:riec-oost"
    assert ack["disclosure_id"] == item["disclosure_id"]
