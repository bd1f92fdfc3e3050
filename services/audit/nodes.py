"""The ledger's Merkle nodes: the hash of every perfect subtree, stored as checkpoints are
signed, so that a proof reads O(log n) rows instead of rebuilding the tree from every entry.

Nodes are outputs only: a checkpoint's root is computed from the entries and the previous
checkpoint's frontier, never from stored nodes, so a wrong node can only make a proof fail
its check against the signed root, never make a false one pass. Nodes are append-only like
the rest of the ledger and are kept when entries are pruned (they are hashes, no data).
"""

from __future__ import annotations

from collections.abc import Iterable

from services.audit.merkle import (
    Block,
    Frontier,
    Range,
    leaf_hash,
    node_id,
    nodes_of,
    range_hashes,
)
from services.audit.store import Cursor, Store

BATCH = 20_000
CHECK_BATCH = 4096
"""Leaves per read when checking: under 2 * 4096 node ids in one query, within SQLite's limit."""
INSERT_NODES = "INSERT INTO tree_nodes (id, hash) VALUES (?, ?) ON CONFLICT DO NOTHING"
"""Idempotent: a rebuild may meet nodes a concurrent older release did not write."""


class TreeNodes:
    def __init__(self, store: Store) -> None:
        self.store = store

    def holds(self, cursor: Cursor, frontier: Frontier) -> bool:
        """Whether the nodes of `frontier`'s tree are stored (its last block is written last)."""
        if not frontier.blocks:
            return True
        start, size, _ = frontier.blocks[-1]
        cursor.execute(
            self.store.sql("SELECT 1 FROM tree_nodes WHERE id = ?"), [node_id(start, size)]
        )
        return cursor.fetchone() is not None

    def grow(self, cursor: Cursor, frontier: Frontier, stop: int | None = None) -> None:
        """Append the entries from `frontier.size` up to `stop` (default: all) to `frontier`,
        storing every perfect subtree they complete; in the caller's write transaction."""
        while stop is None or frontier.size < stop:
            high = frontier.size + BATCH
            made = self._append(cursor, frontier, high if stop is None else min(stop, high))
            if not made:
                return
            self._insert(cursor, made)

    def rebuild(self, cursor: Cursor, base: Frontier, stop: int) -> None:
        """Store the nodes of the first `stop` entries, starting from `base` (the frontier
        where the live entries start): for a ledger whose checkpoints predate stored nodes.
        Nodes inside pruned entries cannot be recomputed; proofs needing them stay refused."""
        self._insert(cursor, base.blocks)
        self.grow(cursor, base.copy(), stop)

    def hashes(self, ranges: Iterable[Range]) -> list[bytes]:
        """The hash of each range, from the stored nodes in one consistent read; ranges must
        lie within a checkpointed size. `ValueError` when a node is not stored."""
        wanted = list(ranges)
        ids = sorted(nodes_of(wanted))
        if not ids:
            return []
        with self.store.reading() as cursor:
            found = self._stored(cursor, ids)
        return range_hashes(wanted, {i: bytes.fromhex(h) for i, h in found.items()})

    def wrong(self, base: Frontier, stop: int) -> list[Range]:
        """The stored nodes over the live entries (from `base`, where they start, up to
        `stop`) whose hash is not the one the entries give. A missing node is no error: a
        ledger from before nodes were stored has none until its next checkpoint."""
        frontier, pending = base.copy(), list(base.blocks)
        wrong: list[Range] = []
        while True:
            with self.store.reading() as cursor:
                high = min(stop, frontier.size + CHECK_BATCH)
                made, pending = pending + self._append(cursor, frontier, high), []
                if not made:
                    return wrong
                stored = self._stored(cursor, [node_id(s, n) for s, n, _ in made])
            wrong += [
                (s, s + n)
                for s, n, digest in made
                if stored.get(node_id(s, n), digest.hex()) != digest.hex()
            ]

    def _stored(self, cursor: Cursor, ids: list[int]) -> dict[int, str]:
        condition, params = self.store.any_of("id", ids)
        cursor.execute(self.store.sql(f"SELECT id, hash FROM tree_nodes WHERE {condition}"), params)
        return {int(i): str(h) for i, h in cursor.fetchall()}

    def _append(self, cursor: Cursor, frontier: Frontier, stop: int) -> list[Block]:
        """Append entries `frontier.size .. stop-1`; the perfect subtrees they complete."""
        cursor.execute(
            self.store.sql(
                "SELECT entry_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq"
            ),
            [frontier.size, stop],
        )
        return [
            block
            for (digest,) in cursor.fetchall()
            for block in frontier.append(leaf_hash(bytes.fromhex(digest)))
        ]

    def _insert(self, cursor: Cursor, blocks: list[Block]) -> None:
        if blocks:
            cursor.executemany(
                self.store.sql(INSERT_NODES),
                [(node_id(start, size), digest.hex()) for start, size, digest in blocks],
            )
