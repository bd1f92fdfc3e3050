"""The ledger's Merkle nodes: the hash of every perfect subtree, stored as checkpoints are
signed, so that a proof reads O(log n) rows instead of rebuilding the tree from every entry.

Nodes are outputs only: a checkpoint's root is computed from the entries and the previous
checkpoint's frontier, never from stored nodes, so a wrong node can only make a proof fail
its check against the signed root, never make a false one pass. Nodes are append-only like
the rest of the ledger and are kept when entries are pruned (they are hashes, no data).
"""

from __future__ import annotations

from collections.abc import Iterable

from services.audit.merkle import Frontier, Range, leaf_hash, node_id, nodes_of, range_hashes
from services.audit.store import Cursor, Store

BATCH = 20_000
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
            cursor.execute(
                self.store.sql(
                    "SELECT entry_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq"
                ),
                [
                    frontier.size,
                    frontier.size + BATCH if stop is None else min(stop, frontier.size + BATCH),
                ],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            made = [
                block
                for (digest,) in rows
                for block in frontier.append(leaf_hash(bytes.fromhex(digest)))
            ]
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
        condition, params = self.store.any_of("id", ids)
        with self.store.reading() as cursor:
            cursor.execute(
                self.store.sql(f"SELECT id, hash FROM tree_nodes WHERE {condition}"), params
            )
            found = {int(i): bytes.fromhex(h) for i, h in cursor.fetchall()}
        return range_hashes(wanted, found)

    def _insert(self, cursor: Cursor, blocks: list[tuple[int, int, bytes]]) -> None:
        if blocks:
            cursor.executemany(
                self.store.sql(INSERT_NODES),
                [(node_id(start, size), digest.hex()) for start, size, digest in blocks],
            )
