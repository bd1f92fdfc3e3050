"""The audit ledger: append-only, hash-chained, checkpointed in a signed Merkle tree.

One class over either store (`SqliteStore`, `PostgresStore`). Appends are serialised by the
store's write lock, so several service instances can share one PostgreSQL ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import checkpoint as notes
from services.audit.cases import Cases, index_subjects
from services.audit.counts import Counts, add_counts
from services.audit.entry import (
    COLUMNS,
    GENESIS_HASH,
    POSITION,
    Draft,
    Entry,
    entry_of,
    row_params,
    seal,
)
from services.audit.merkle import Frontier, consistency_path, inclusion_path
from services.audit.nodes import TreeNodes
from services.audit.prunes import INSERT_PRUNE, SELECT_PRUNES, PruneRecord
from services.audit.store import Cursor, Row, Store
from services.audit.verify import Problem, Verification, verify

SELECT_ENTRIES = f"SELECT {', '.join(COLUMNS)} FROM entries"
INSERT_ENTRY = (
    f"INSERT INTO entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)
SCAN_BATCH = 20_000
ENTRY_HASH = POSITION["entry_hash"]
WRONG_NODE = "opgeslagen boomknoop (waar bewijzen uit bestaan) klopt niet met entries"
NO_CHECKPOINT_KEY = (
    "deze ledger mag alleen toevoegen en lezen: checkpoints tekent alleen de auditservice"
)
PRUNE_NEEDS_OWNER = (
    "opschonen mag alleen de eigenaar van de ledgerdatabase; de schrijfrol van de services mag"
    " niets verwijderen"
)


@dataclass(frozen=True)
class Appended:
    seq: int
    entry_hash: str
    created: bool
    """False when the event was recorded before: redelivery changes nothing."""


@dataclass(frozen=True)
class Anchor:
    """Where the live tables start after pruning: the chain and tree state below `min_seq`."""

    min_seq: int
    prev_hash: str
    frontier: Frontier


@dataclass(frozen=True)
class Query:
    """A search of the trail; every condition is optional, `after` is the cursor."""

    melding_ids: Sequence[str] | None = None
    types: Sequence[str] | None = None
    recipient: str | None = None
    legal_basis: str | None = None
    allow: bool | None = None
    """Decisions that allowed (True) or refused (False) to inform their recipient."""
    since: str | None = None
    until: str | None = None
    after: int = -1
    limit: int = 100


def timestamp(moment: datetime) -> str:
    """How entries record time: UTC, microseconds, `Z`; sorts as text in both stores."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> str:
    return timestamp(datetime.now(UTC))


class Ledger:
    """With `signer` None the ledger only appends and reads (the policy lifecycle): it signs
    no checkpoint and no prune, and leaves checkpointing its entries to the audit service."""

    def __init__(
        self, store: Store, signer: Ed25519PrivateKey | None, *, checkpoint_every: int = 1000
    ) -> None:
        self.store = store
        self._signer = signer
        self._verifier_key = notes.verifier_key(signer.public_key()) if signer else None
        self.checkpoint_every = checkpoint_every
        self.nodes = TreeNodes(store)

    @property
    def signer(self) -> Ed25519PrivateKey:
        if self._signer is None:
            raise PermissionError(NO_CHECKPOINT_KEY)
        return self._signer

    @property
    def verifier_key(self) -> str:
        if self._verifier_key is None:
            raise PermissionError(NO_CHECKPOINT_KEY)
        return self._verifier_key

    def _q(self, cursor: Cursor, query: str, params: Sequence[Any] = ()) -> Cursor:
        cursor.execute(self.store.sql(query), params)
        return cursor

    # -- appending ----------------------------------------------------------------------

    def append(self, draft: Draft) -> Appended:
        return self.append_many([draft])[0]

    def append_many(
        self, drafts: Sequence[Draft], cases: Cases = None, counts: Counts = None
    ) -> list[Appended]:
        """In one transaction: the drafts in order (known event ids skipped), `cases` rows
        and the `counts` of the new melding entries (`services.audit.counts`)."""
        with self.store.writing() as cursor:
            condition, params = self.store.any_of("event_id", [d.event_id for d in drafts])
            known = {
                event_id: Appended(seq, digest, created=False)
                for event_id, seq, digest in self._q(
                    cursor,
                    f"SELECT event_id, seq, entry_hash FROM entries WHERE {condition}",
                    params,
                ).fetchall()
            }
            head = self._q(
                cursor, "SELECT seq, entry_hash FROM entries ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev_hash = (head[0] + 1, head[1]) if head else self._start(cursor)
            recorded_at = now()
            results, new_entries = [], []
            for draft in drafts:
                if draft.event_id in known:
                    results.append(known[draft.event_id])
                    continue
                entry = seal(draft, seq=seq, recorded_at=recorded_at, prev_hash=prev_hash)
                new_entries.append(entry)
                known[draft.event_id] = Appended(entry.seq, entry.entry_hash, created=False)
                results.append(Appended(entry.seq, entry.entry_hash, created=True))
                seq, prev_hash = seq + 1, entry.entry_hash
            if new_entries:
                cursor.executemany(
                    self.store.sql(INSERT_ENTRY), [row_params(e) for e in new_entries]
                )
                index_subjects(cursor, self.store, cases, new_entries)
                add_counts(cursor, self.store, counts, new_entries)
        due = new_entries and self._signer is not None
        if due and seq - self.checkpointed_size() >= self.checkpoint_every:
            self.checkpoint()
        return results

    def _start(self, cursor: Cursor) -> tuple[int, str]:
        anchor = self._anchor(cursor)
        return (anchor.min_seq, anchor.prev_hash) if anchor else (0, GENESIS_HASH)

    # -- reading ------------------------------------------------------------------------

    def size(self) -> int:
        """The number of entries ever appended (pruned ones included): the next seq."""
        with self.store.reading() as cursor:
            head = self._q(cursor, "SELECT MAX(seq) FROM entries").fetchone()
            if head and head[0] is not None:
                return int(head[0]) + 1
            anchor = self._anchor(cursor)
            return anchor.min_seq if anchor else 0

    def entry(self, seq: int) -> Entry | None:
        with self.store.reading() as cursor:
            row = self._q(cursor, f"{SELECT_ENTRIES} WHERE seq = ?", [seq]).fetchone()
        return entry_of(row) if row else None

    def search(self, query: Query) -> list[Entry]:
        conditions: list[str] = ["seq > ?"]
        params: list[Any] = [query.after]
        if query.melding_ids is not None:
            if not query.melding_ids:
                return []
            condition, ids = self.store.any_of("melding_id", query.melding_ids)
            conditions.append(condition)
            params += ids
        if query.types is not None:
            condition, types = self.store.any_of("type", query.types)
            conditions.append(condition)
            params += types
        if query.recipient is not None:
            conditions.append("recipient = ?")
            params.append(query.recipient)
        if query.legal_basis is not None:
            conditions.append(self.store.contains("legal_basis"))
            params.append(query.legal_basis)
        if query.allow is not None:
            conditions.append("allow = ?")
            params.append(query.allow)
        if query.since is not None:
            conditions.append("recorded_at >= ?")
            params.append(query.since)
        if query.until is not None:
            conditions.append("recorded_at < ?")
            params.append(query.until)
        sql = f"{SELECT_ENTRIES} WHERE {' AND '.join(conditions)} ORDER BY seq LIMIT ?"
        with self.store.reading() as cursor:
            rows = self._q(cursor, sql, [*params, query.limit]).fetchall()
        return [entry_of(r) for r in rows]

    def seq_range(self, since: str | None, until: str | None) -> tuple[int, int] | None:
        """First and last seq recorded in [since, until); None when the period is empty."""
        conditions, params = ["1 = 1"], []
        if since is not None:
            conditions.append("recorded_at >= ?")
            params.append(since)
        if until is not None:
            conditions.append("recorded_at < ?")
            params.append(until)
        sql = f"SELECT MIN(seq), MAX(seq) FROM entries WHERE {' AND '.join(conditions)}"
        with self.store.reading() as cursor:
            row = self._q(cursor, sql, params).fetchone()
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def melding_ids_of(self, pseudonyms: Sequence[str]) -> list[str]:
        if not pseudonyms:
            return []
        condition, params = self.store.any_of("pseudonym", pseudonyms)
        with self.store.reading() as cursor:
            rows = self._q(
                cursor,
                f"SELECT DISTINCT melding_id FROM subjects WHERE {condition} ORDER BY melding_id",
                params,
            ).fetchall()
        return [str(r[0]) for r in rows]

    def scan(self, start: int = 0, stop: int | None = None) -> Iterator[Row]:
        """Every stored entry with `start <= seq < stop`, in seq order, as a stored row."""
        while True:
            high = start + SCAN_BATCH if stop is None else min(start + SCAN_BATCH, stop)
            with self.store.reading() as cursor:
                rows = self._q(
                    cursor,
                    f"{SELECT_ENTRIES} WHERE seq >= ? AND seq < ? ORDER BY seq",
                    [start, high],
                ).fetchall()
                more = self._q(cursor, "SELECT 1 FROM entries WHERE seq >= ? LIMIT 1", [high])
                beyond = more.fetchone() is not None
            yield from rows
            if (stop is not None and high >= stop) or not beyond:
                return
            start = high

    # -- checkpoints and proofs ---------------------------------------------------------

    def checkpointed_size(self) -> int:
        with self.store.reading() as cursor:
            row = self._q(cursor, "SELECT MAX(size) FROM checkpoints").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def checkpoint(self) -> notes.Checkpoint | None:
        """Sign a checkpoint over every entry so far; None when there is nothing new."""
        signer = self.signer
        with self.store.writing() as cursor:
            last = self._q(
                cursor, "SELECT size, frontier FROM checkpoints ORDER BY size DESC LIMIT 1"
            ).fetchone()
            frontier = Frontier.from_json(json.loads(last[1])) if last else Frontier()
            if not self.nodes.holds(cursor, frontier):  # signed before nodes were stored
                anchor = self._anchor(cursor)
                self.nodes.rebuild(cursor, anchor.frontier if anchor else Frontier(), frontier.size)
            self.nodes.grow(cursor, frontier)
            if frontier.size == 0 or (last and frontier.size == last[0]):
                return None
            signed = notes.sign(signer, frontier.size, frontier.root())
            self._q(
                cursor,
                "INSERT INTO checkpoints (size, root_hash, frontier, note, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    signed.size,
                    signed.root.hex(),
                    json.dumps(frontier.to_json()),
                    signed.note,
                    now(),
                ],
            )
        return signed

    def checkpoint_notes(self, since: int = 0) -> list[str]:
        """The stored signed notes, unchecked (for `verify`, which checks them)."""
        with self.store.reading() as cursor:
            rows = self._q(
                cursor, "SELECT note FROM checkpoints WHERE size >= ? ORDER BY size", [since]
            ).fetchall()
        return [str(r[0]) for r in rows]

    def checkpoints(self, since: int = 0) -> list[notes.Checkpoint]:
        return [notes.open_note(n, self.verifier_key) for n in self.checkpoint_notes(since)]

    def checkpoint_at(self, size: int) -> notes.Checkpoint | None:
        with self.store.reading() as cursor:
            row = self._q(cursor, "SELECT note FROM checkpoints WHERE size = ?", [size]).fetchone()
        return notes.open_note(str(row[0]), self.verifier_key) if row else None

    def last_checkpoint_at(self) -> str | None:
        """When the last checkpoint was signed (RFC 3339 UTC), None before the first."""
        with self.store.reading() as cursor:
            row = self._q(cursor, "SELECT MAX(created_at) FROM checkpoints").fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def latest_checkpoint(self) -> notes.Checkpoint | None:
        with self.store.reading() as cursor:
            row = self._q(
                cursor, "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1"
            ).fetchone()
        return notes.open_note(str(row[0]), self.verifier_key) if row else None

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 for a checkpointed `size`, from O(log size)
        stored nodes and without the append lock; `ValueError` when a node is not stored."""
        return self.nodes.hashes(inclusion_path(index, size))

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """PROOF(old, D[0:new]) of RFC 9162 between checkpointed sizes, likewise."""
        return self.nodes.hashes(consistency_path(old, new))

    def verify(self) -> Verification:
        """Recompute every live entry hash, the chain and every checkpoint root and signature,
        and check every prune record's signature (the latest one says where entries start)
        and every stored Merkle node over the live entries (what proofs are made of)."""
        anchor = self.anchor()
        result = verify(
            self.scan(anchor.min_seq if anchor else 0),
            self.checkpoint_notes(),
            self.verifier_key,
            start_seq=anchor.min_seq if anchor else 0,
            prev_hash=anchor.prev_hash if anchor else GENESIS_HASH,
            frontier=anchor.frontier if anchor else None,
            prunes=self.prune_records(),
        )
        base = anchor.frontier if anchor else Frontier()
        for lo, hi in self.nodes.wrong(base, self.checkpointed_size()):
            result.problems.append(Problem(lo, f"{WRONG_NODE} {lo}..{hi - 1}"))
        return result

    # -- retention ----------------------------------------------------------------------

    def anchor(self) -> Anchor | None:
        with self.store.reading() as cursor:
            return self._anchor(cursor)

    def _anchor(self, cursor: Cursor) -> Anchor | None:
        row = self._q(
            cursor, "SELECT min_seq, prev_hash, frontier FROM prunes ORDER BY min_seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return Anchor(int(row[0]), str(row[1]), Frontier.from_json(json.loads(row[2])))

    def prune_records(self) -> list[PruneRecord]:
        """Every stored prune record, unchecked (for `verify` and exports, which check them)."""
        with self.store.reading() as cursor:
            return [PruneRecord.of(r) for r in self._q(cursor, SELECT_PRUNES).fetchall()]

    def prune(self, min_seq: int, archive_sha256: str) -> None:
        """Delete entries below `min_seq`, which must be a checkpoint size, once archived;
        the prune record is signed with the checkpoint key. Only the owner role may prune."""
        if not self.store.may_prune():
            raise PermissionError(PRUNE_NEEDS_OWNER)
        with self.store.pruning() as cursor:
            row = self._q(
                cursor, "SELECT frontier FROM checkpoints WHERE size = ?", [min_seq]
            ).fetchone()
            if row is None:
                raise ValueError(f"geen checkpoint op grootte {min_seq}: kies een checkpoint")
            last = self._q(
                cursor, "SELECT entry_hash FROM entries WHERE seq = ?", [min_seq - 1]
            ).fetchone()
            if last is None:
                raise ValueError(f"entry {min_seq - 1} ontbreekt al: niets om op te schonen")
            record = PruneRecord(min_seq, last[0], row[0], archive_sha256, now())
            self._q(cursor, INSERT_PRUNE, record.signed(self.signer).as_row())
            for table in ("cases", "subjects", "entries"):
                self._q(cursor, f"DELETE FROM {table} WHERE seq < ?", [min_seq])

    def close(self) -> None:
        self.store.close()
