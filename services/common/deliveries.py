"""Notifications that must reach someone outside KMT (the on-call channel, a partner's
webhook), kept in the sending service's state database until they did, with every attempt.

A delivery is committed first (in the same transaction as what it announces, where there is
one), then a `Dispatcher` sends it at once and, while the receiver fails, again after 0.5 s,
1 s, 2 s, … (at most `BACKOFF_CAP` apart) until it is taken or `give_up_seconds` have passed;
then it is given up with an `ALARM delivery` log line. Every attempt is a row of its own that
is never changed (`<prefix>delivery_attempts`: when, the attempt's number, taken or not, and
the outcome, `HTTP 204` or the error type), so an operator can always see what was tried
(`kmt alerts attempts`, `kmt partners attempts`). Deliveries hold ids and categories only,
never personal data.

Several instances may share one PostgreSQL state database: a dispatcher claims what it sends
for `LEASE_SECONDS` (rows another is claiming are passed by).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.state.database import Database

log = logging.getLogger(__name__)
FIRST_DELAY = 0.5
BACKOFF_CAP = 60.0
LEASE_SECONDS = 30.0
IDLE_SECONDS = 0.5
"""How often a dispatcher looks for retries that fell due without being woken."""


def schema(prefix: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {prefix}deliveries (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    give_up_at DOUBLE PRECISION NOT NULL,
    next_at DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'wachtend',
    leased_until DOUBLE PRECISION NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS {prefix}deliveries_due ON {prefix}deliveries (state, next_at);
CREATE TABLE IF NOT EXISTS {prefix}delivery_attempts (
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    taken INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (delivery_id, attempt));
"""


def grants(prefix: str) -> dict[str, str]:
    """What the service's writer role may do in PostgreSQL: an attempt is never changed."""
    return {
        f"{prefix}deliveries": "SELECT, INSERT, UPDATE",
        f"{prefix}delivery_attempts": "SELECT, INSERT",
    }


@dataclass(frozen=True)
class Delivery:
    id: str
    channel: str
    target: str
    body: str
    attempts: int
    give_up_at: float


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    channel: str
    target: str
    attempt: int
    at: str
    taken: bool
    outcome: str
    state: str


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, …)."""
    return float(min(FIRST_DELAY * 2 ** (attempt - 1), BACKOFF_CAP))


class Deliveries:
    def __init__(
        self, db: Database, prefix: str, service: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.prefix = prefix
        self.clock = clock
        self._listeners: list[Callable[[], None]] = []
        db.ensure_schema(schema(prefix), list(grants(prefix)), service)

    def enqueue(
        self, id: str, channel: str, target: str, body: str, give_up_seconds: float
    ) -> None:
        """Keep a delivery (once per id); it is sent as soon as the enclosing transaction
        commits (never if it rolls back)."""
        now = self.clock()
        with self.db.transaction() as db:
            db.execute(
                f"INSERT INTO {self.prefix}deliveries (id, channel, target, body, created_at,"
                " give_up_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (id, channel, target, body, _iso(now), now + give_up_seconds, now),
            )
            for listener in self._listeners:
                db.after_commit(listener)

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def claim_due(self, limit: int = 50) -> list[Delivery]:
        now = self.clock()
        with self.db.transaction() as db:
            rows = db.execute(
                f"UPDATE {self.prefix}deliveries SET leased_until = ? WHERE id IN ("
                f"SELECT id FROM {self.prefix}deliveries WHERE state = 'wachtend'"
                " AND next_at <= ? AND leased_until <= ?"
                f" ORDER BY next_at LIMIT ?{db.skip_locked})"
                " RETURNING id, channel, target, body, attempts, give_up_at",
                (now + LEASE_SECONDS, now, now, limit),
            ).fetchall()
        return [Delivery(r[0], r[1], r[2], r[3], int(r[4]), float(r[5])) for r in rows]

    def record(self, delivery: Delivery, taken: bool, outcome: str) -> str:
        """Record one attempt and what follows from it; returns the delivery's new state
        (`afgeleverd`, `wachtend` for a retry, `opgegeven`)."""
        now = self.clock()
        attempt = delivery.attempts + 1
        retry_at = now + backoff(attempt)
        state = (
            "afgeleverd" if taken else "wachtend" if retry_at < delivery.give_up_at else "opgegeven"
        )
        with self.db.transaction() as db:
            db.execute(
                f"INSERT INTO {self.prefix}delivery_attempts VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (delivery.id, attempt, _iso(now), int(taken), outcome),
            )
            db.execute(
                f"UPDATE {self.prefix}deliveries SET attempts = ?, state = ?, next_at = ?,"
                " leased_until = 0 WHERE id = ?",
                (attempt, state, retry_at, delivery.id),
            )
        return state

    def attempts(self, limit: int = 200) -> list[Attempt]:
        """The latest attempts, newest first, with their delivery's channel, target, state."""
        p = self.prefix
        rows = self.db.execute(
            f"SELECT a.delivery_id, d.channel, d.target, a.attempt, a.at, a.taken, a.outcome,"
            f" d.state FROM {p}delivery_attempts a JOIN {p}deliveries d ON d.id = a.delivery_id"
            " ORDER BY a.at DESC, a.attempt DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [Attempt(r[0], r[1], r[2], int(r[3]), r[4], bool(r[5]), r[6], r[7]) for r in rows]

    def attempt_lines(self, limit: int = 200) -> list[str]:
        """`attempts` as an operator reads them: when, which delivery, which try, taken or
        not, the outcome, and the delivery's state now."""
        lines = [
            f"{a.at}\t{a.delivery_id}\t{a.channel}\tpoging {a.attempt}\t"
            f"{'afgeleverd' if a.taken else 'mislukt'}\t{a.outcome}\t(nu: {a.state})"
            for a in self.attempts(limit)
        ]
        return lines or ["nog geen pogingen"]


class DeliveryFailed(Exception):
    """One attempt that did not reach its receiver; its message is fit for the record (a
    status or an error type, never what the receiver answered)."""


Sender = Callable[[Delivery], Awaitable[str]]
"""Makes one attempt: returns its outcome in words, or raises (`DeliveryFailed`'s message, or
another exception's type, is recorded)."""


class Dispatcher:
    """Sends due deliveries, each attempt in a task of its own, so one slow receiver does
    not hold up the others."""

    def __init__(self, store: Deliveries, senders: dict[str, Sender]) -> None:
        self.store = store
        self.senders = senders
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        store.on_commit(lambda: self._wake_from(loop))

    def _wake_from(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the dispatcher after a commit (which may run in another thread)."""
        loop.call_soon_threadsafe(self._wake.set)

    async def run_forever(self) -> None:
        while True:
            try:
                for delivery in await asyncio.to_thread(self.store.claim_due):
                    task = asyncio.create_task(self.attempt(delivery))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception as exc:  # the state database away: look again soon
                log.warning("bezorging: wachtrij niet leesbaar (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_SECONDS)
            self._wake.clear()

    async def attempt(self, delivery: Delivery) -> None:
        try:
            outcome, taken = await self.senders[delivery.channel](delivery), True
        except DeliveryFailed as exc:
            outcome, taken = str(exc), False
        except Exception as exc:  # by its type only: a message may quote what was sent
            outcome, taken = type(exc).__name__, False
        state = await asyncio.to_thread(self.store.record, delivery, taken, outcome)
        if state == "opgegeven":
            log.error(
                "ALARM delivery %s naar %s opgegeven na %d pogingen: %s",
                delivery.id, delivery.channel, delivery.attempts + 1, outcome,
            )  # fmt: skip
        elif state == "wachtend":
            log.warning(
                "bezorging %s (%s) poging %d mislukt: %s; opnieuw over %.1f s",
                delivery.id, delivery.channel, delivery.attempts + 1, outcome,
                backoff(delivery.attempts + 1),
            )  # fmt: skip


@contextlib.asynccontextmanager
async def dispatching(store: Deliveries, senders: dict[str, Sender]) -> AsyncIterator[Dispatcher]:
    """Run a dispatcher for the block's duration."""
    dispatcher = Dispatcher(store, senders)
    task = asyncio.create_task(dispatcher.run_forever())
    try:
        yield dispatcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for pending in list(dispatcher._tasks):
            pending.cancel()


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="microseconds")
