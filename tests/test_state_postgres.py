"""Intake's and sharing's state in one PostgreSQL database, shared by several instances: what
one instance did, another sees, and two instances racing for the same thing cannot both win.

Each "instance" here is a store on its own connection, as a second process would have; the
races run in threads against the real PostgreSQL of `postgres_url`."""

from __future__ import annotations

import os
import secrets
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.events import CloudEvent, new_event
from services.common.models import DisclosureLifecycle
from services.common.partner_auth import ReplayGuard
from services.intake.idempotency import IdempotencyStore, Reservation
from services.sharing.outbox import LEASE_SECONDS, Outbox, StoredDisclosure
from services.state.database import Database, SchemaNotReady
from tests.postgres_server import fresh_database

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY = os.urandom(32)
runner = CliRunner()


def migrated(postgres_url: str, service: str) -> tuple[str, str]:
    """A fresh database migrated for `service` by its owner; (owner URL, writer URL)."""
    owner = fresh_database(postgres_url)
    role, password = f"kmt_{service}_{secrets.token_hex(3)}", secrets.token_hex(8)
    writer = owner.replace("postgres@", f"{role}:{password}@")
    result = runner.invoke(
        app,
        ["state", "init-db", service],
        env={"KMT_STATE_OWNER_DB_URL": owner, "KMT_STATE_DB_URL": writer},
    )
    assert result.exit_code == 0, result.output
    return owner, writer


@pytest.fixture
def sharing_url(postgres_url: str) -> str:
    return migrated(postgres_url, "sharing")[1]


def outbox(url: str, clock: Callable[[], float] | None = None) -> Outbox:
    return Outbox(Database.on_postgres(url), KEY, *([clock] if clock else []))


def disclosure(disclosure_id: str) -> StoredDisclosure:
    return StoredDisclosure(
        seq=0, disclosure_id=disclosure_id, melding_id="m", recipient="riec",
        partner_id="riec-oost", event={"data": {}}, created_at=NOW.isoformat(), expires_at=None,
        needs_review=False, audit_seq=None, review=None, released_at=None, acked_at=None,
    )  # fmt: skip


def lifecycle(n: int) -> CloudEvent:
    return new_event(
        type="nl.kmt.disclosure.released.v1",
        source="kmt/sharing",
        subject="m",
        data=DisclosureLifecycle(
            disclosure_id=uuid.UUID(int=n),
            melding_id=uuid.UUID(int=1),
            recipient="riec",
            partner_id="riec-oost",
            action="released",
            actor="kmt/sharing",
            at=NOW,
        ),
        id=f"event-{n}",
    )


def test_a_melding_kept_by_one_instance_is_read_by_another_and_encrypted_at_rest(
    sharing_url: str,
) -> None:
    one, two = outbox(sharing_url), outbox(sharing_url)
    assert one.keep_melding("m-1", "verzegelde melding")
    assert two.melding("m-1") == "verzegelde melding"
    with psycopg.connect(sharing_url) as raw:
        (body,) = raw.execute("SELECT body FROM meldingen").fetchone() or ("",)
    assert "verzegelde" not in body  # AES-GCM under the store key, in PostgreSQL too


def test_two_relays_claim_disjoint_events_and_take_over_a_dead_ones(sharing_url: str) -> None:
    now = [1000.0]
    one, two = outbox(sharing_url, lambda: now[0]), outbox(sharing_url, lambda: now[0])
    with one.transaction():
        for n in range(10):
            one.enqueue("t", lifecycle(n))
    claimed_one = one.pending(6)
    claimed_two = two.pending(6)
    ids_one = [p.event.id for p in claimed_one]
    ids_two = [p.event.id for p in claimed_two]
    assert ids_one == [f"event-{n}" for n in range(6)]  # oldest first
    assert ids_two == [f"event-{n}" for n in range(6, 10)]  # never what the other claimed
    for item in claimed_two:
        two.delivered(item.position)
    # Instance one dies before publishing: its claims hold until the lease runs out ...
    assert two.pending(10) == []
    now[0] += LEASE_SECONDS + 1
    # ... then the other instance publishes them: nothing is lost.
    assert [p.event.id for p in two.pending(10)] == ids_one


def test_concurrent_claims_never_hand_out_an_event_twice(sharing_url: str) -> None:
    first = outbox(sharing_url)
    with first.transaction():
        for n in range(200):
            first.enqueue("t", lifecycle(n))
    relays = [outbox(sharing_url) for _ in range(4)]
    seen: list[str] = []
    lock = threading.Lock()

    def drain(relay: Outbox) -> None:
        while batch := relay.pending(7):
            with lock:
                seen.extend(p.event.id for p in batch)
            for item in batch:
                relay.delivered(item.position)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(drain, relays))
    assert sorted(seen) == sorted(f"event-{n}" for n in range(200))  # each once, none lost


def test_one_decision_finished_by_two_instances_at_once_is_stored_once(sharing_url: str) -> None:
    instances = [outbox(sharing_url) for _ in range(2)]
    for round_ in range(10):
        event_id = f"besluit-{round_}"
        instances[0].keep_decision(event_id, "m", "riec", "{}")
        made = [disclosure(f"d-{round_}")]
        with ThreadPoolExecutor(2) as pool:
            won = list(
                pool.map(lambda o, e=event_id, m=made: o.finish_decision(e, "m", m, 3), instances)
            )
        assert sorted(won) == [False, True], round_  # exactly one stores and announces it


def test_concurrent_releases_get_distinct_positions_in_commit_order(sharing_url: str) -> None:
    instances = [outbox(sharing_url) for _ in range(3)]
    instances[0].keep_decision("besluit", "m", "riec", "{}")
    ids = [f"d-{n}" for n in range(30)]
    instances[0].finish_decision("besluit", "m", [disclosure(i) for i in ids], 3)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda n: instances[n % 3].release(ids[n], NOW), range(30)))
    served = instances[1].released_for("riec-oost", 0, NOW, 100)
    assert sorted(d.disclosure_id for d in served) == sorted(ids)
    assert [d.release_seq for d in served] == list(range(1, 31))  # no gap, no duplicate


def test_the_same_idempotency_key_at_two_intakes_yields_one_melding(postgres_url: str) -> None:
    url = migrated(postgres_url, "intake")[1]
    intakes = [
        IdempotencyStore(Database.on_postgres(url), KEY, timedelta(hours=1)) for _ in range(2)
    ]
    for round_ in range(10):

        def reserve(store: IdempotencyStore, key: str = f"sleutel-{round_}") -> Reservation:
            mine = Reservation(store.request_mac(b"melding"), str(uuid.uuid4()),
                               str(uuid.uuid4()), NOW.isoformat(), False)  # fmt: skip
            return store.reserve("wijkteam", key, mine)

        with ThreadPoolExecutor(2) as pool:
            a, b = pool.map(reserve, intakes)
        assert a == b  # the same melding id and event id, whichever intake answered


def test_an_assertion_used_at_one_instance_is_refused_at_another(postgres_url: str) -> None:
    url = migrated(postgres_url, "intake")[1]
    guards = [ReplayGuard(Database.on_postgres(url), "intake") for _ in range(2)]
    assert guards[0].first_use("wijkteam", "jti-1", 2000.0, 1000.0)
    assert not guards[1].first_use("wijkteam", "jti-1", 2000.0, 1000.0)
    with ThreadPoolExecutor(2) as pool:
        won = list(pool.map(lambda g: g.first_use("wijkteam", "jti-2", 2000.0, 1000.0), guards))
    assert sorted(won) == [False, True]


def test_each_writer_may_touch_only_its_own_service_and_not_more(postgres_url: str) -> None:
    owner, sharing = migrated(postgres_url, "sharing")
    intake_role, intake_password = "kmt_intake_" + secrets.token_hex(3), secrets.token_hex(8)
    intake = owner.replace("postgres@", f"{intake_role}:{intake_password}@")
    result = runner.invoke(
        app, ["state", "init-db", "intake"],
        env={"KMT_STATE_OWNER_DB_URL": owner, "KMT_STATE_DB_URL": intake},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with psycopg.connect(intake, autocommit=True) as raw:
        for forbidden in ("SELECT * FROM disclosures", "SELECT * FROM sharing_used_assertions"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                raw.execute(forbidden)
    store = outbox(sharing)
    store.keep_decision("besluit", "m", "riec", "{}")
    store.finish_decision("besluit", "m", [disclosure("d")], 3)
    with psycopg.connect(sharing, autocommit=True) as raw:
        for forbidden in (
            "DELETE FROM disclosures",
            "DROP TABLE outgoing",
            "SELECT * FROM idempotency_records",
            "CREATE TABLE extra (x INTEGER)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                raw.execute(forbidden)


def test_a_service_before_the_migration_says_what_to_run_and_the_owner_is_refused(
    postgres_url: str,
) -> None:
    empty = fresh_database(postgres_url)
    with pytest.raises(SchemaNotReady, match="kmt state init-db sharing"):
        outbox(empty)
    result = runner.invoke(
        app, ["state", "init-db", "intake"],
        env={"KMT_STATE_OWNER_DB_URL": empty, "KMT_STATE_DB_URL": empty},
    )  # fmt: skip
    assert result.exit_code == 1 and "eigenaar zelf" in result.output


def test_the_dry_runs_role_reads_routings_history_and_can_change_nothing(
    postgres_url: str,
) -> None:
    """`kmt state init-db dry-run`: the dry run in a deployment reads routing's history with
    a role of its own, which may not add, change or remove a record, nor read other stores."""
    owner, routing = migrated(postgres_url, "routing")
    role, password = "kmt_dry_run_" + secrets.token_hex(3), secrets.token_hex(8)
    dry_run = owner.replace("postgres@", f"{role}:{password}@")
    for service in ("dry-run", "intake"):  # intake's tables exist too: the role must not see them
        result = runner.invoke(
            app, ["state", "init-db", service],
            env={"KMT_STATE_OWNER_DB_URL": owner,
                 "KMT_STATE_DB_URL": dry_run if service == "dry-run" else routing},
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    with psycopg.connect(routing, autocommit=True) as raw:
        raw.execute("INSERT INTO policy_inputs VALUES ('m1', '2026-11-22T12:00:00Z', 'verzegeld')")
    with psycopg.connect(dry_run, autocommit=True) as raw:
        assert raw.execute("SELECT melding_id FROM policy_inputs").fetchall() == [("m1",)]
        for forbidden in (
            "INSERT INTO policy_inputs VALUES ('m2', '2026-11-22T12:00:00Z', 'vals')",
            "UPDATE policy_inputs SET sealed = 'vals'",
            "DELETE FROM policy_inputs",
            "TRUNCATE policy_inputs",
            "SELECT * FROM idempotency_records",
            "CREATE TABLE extra (x INTEGER)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                raw.execute(forbidden)
    database = Database.on_postgres(dry_run)
    try:
        database.ensure_schema("", ["policy_inputs"], "routing")  # what PolicyInputs checks
    finally:
        database.close()


def test_a_melding_and_its_decision_kept_at_once_by_two_instances_see_each_other(
    sharing_url: str,
) -> None:
    """Instance A keeps a decision in a batch transaction and finds no melding; instance B
    keeps that melding meanwhile in its own. B must wait for A (the melding's lock) and then
    find the decision waiting: otherwise neither processes it and nothing is disclosed."""
    first, second = outbox(sharing_url), outbox(sharing_url)
    found: dict[str, list[tuple[str, str]]] = {}
    started = threading.Event()

    def keep_melding() -> None:
        started.set()
        with second.transaction():
            second.keep_melding("x", "verzegeld")
            found["waiting"] = second.unprocessed_decisions("x")

    with first.transaction():
        first.keep_decision("besluit-x", "x", "riec", "{}")
        assert first.melding("x") is None
        other = threading.Thread(target=keep_melding)
        other.start()
        started.wait(5)
        other.join(0.5)
        assert other.is_alive() and not found  # B waits for A's transaction
    other.join(10)
    assert found["waiting"] == [("besluit-x", "{}")]
