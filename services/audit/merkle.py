"""RFC 9162 Merkle tree: roots and proofs. Hashing and verifying them (shared with partners)
is `services.common.transparency`.

Leaf `i` of the tree is the ledger entry with `seq == i`; its leaf data is the 32 raw bytes
of the entry hash. A tree of size `n` covers seq `0 .. n-1`.

A `Frontier` is the compact form of a tree: the roots of its perfect subtrees, left to right.
It grows one leaf at a time in amortised O(1) and gives the root of the tree so far in
O(log n), which is what makes checkpointing and verifying a million entries cheap. Stored at
a checkpoint, it also lets the live tables be pruned below that size while proofs and roots
for everything after stay computable.

Proofs are built from the hashes of perfect subtrees, each stored once under its `node_id`
as the frontier grows: every hash a proof of RFC 9162 section 2.1.3 or 2.1.4 names is one
such node or folds from at most log2(n) of them, so a proof reads O(log n) stored nodes
instead of rebuilding the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from services.common.transparency import leaf_hash as leaf_hash
from services.common.transparency import node_hash as node_hash
from services.common.transparency import verify_consistency as verify_consistency
from services.common.transparency import verify_inclusion as verify_inclusion

EMPTY_ROOT = hashlib.sha256(b"").digest()

Block = tuple[int, int, bytes]
"""A perfect subtree as `(start, size, hash)`: leaves `start .. start+size-1`."""
Range = tuple[int, int]
"""Leaves `lo .. hi-1`, whose hash is MTH(D[lo:hi])."""


def split(n: int) -> int:
    """The largest power of two smaller than `n` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def node_id(start: int, size: int) -> int:
    """The in-order number of the perfect subtree over leaves `start .. start+size-1`:
    leaf `i` is `2i`, the subtree over `[s, s + 2^k)` is `2s + 2^k - 1`; distinct for every
    aligned perfect subtree, so one integer key stores each node once."""
    return 2 * start + size - 1


class Frontier:
    """The perfect-subtree roots of a tree, as `(start, size, hash)` left to right."""

    def __init__(self, blocks: Iterable[Block] = ()) -> None:
        self.blocks = list(blocks)
        self.size = self.blocks[-1][0] + self.blocks[-1][1] if self.blocks else 0

    def append(self, leaf: bytes) -> list[Block]:
        """Add a leaf; returns the perfect subtrees it completes (the leaf itself first)."""
        blocks = self.blocks
        blocks.append((self.size, 1, leaf))
        made = [blocks[-1]]
        self.size += 1
        while len(blocks) >= 2 and blocks[-1][1] == blocks[-2][1]:
            right = blocks.pop()
            left = blocks.pop()
            blocks.append((left[0], left[1] * 2, node_hash(left[2], right[2])))
            made.append(blocks[-1])
        return made

    def root(self) -> bytes:
        if not self.blocks:
            return EMPTY_ROOT
        result = self.blocks[-1][2]
        for _, _, left in reversed(self.blocks[:-1]):
            result = node_hash(left, result)
        return result

    def copy(self) -> Frontier:
        return Frontier(self.blocks)

    def to_json(self) -> list[list[int | str]]:
        return [[start, size, digest.hex()] for start, size, digest in self.blocks]

    @classmethod
    def from_json(cls, blocks: Iterable[list[int | str]]) -> Frontier:
        return cls((int(s), int(n), bytes.fromhex(str(h))) for s, n, h in blocks)


def perfect_blocks(lo: int, hi: int) -> list[Range]:
    """The aligned perfect subtrees that make up `[lo, hi)`, left to right: the largest that
    starts at `lo` and fits, then on from its end (for every range a proof names, one per
    set bit of `hi - lo`)."""
    blocks = []
    while lo < hi:
        size = 1 << ((hi - lo).bit_length() - 1)
        if lo:
            size = min(size, lo & -lo)
        blocks.append((lo, lo + size))
        lo += size
    return blocks


def inclusion_path(index: int, size: int) -> list[Range]:
    """The ranges whose hashes are PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError("blad valt buiten de boom")
    path: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    return path[::-1]


def consistency_path(old: int, new: int) -> list[Range]:
    """The ranges whose hashes are PROOF(old, D[0:new]) of RFC 9162 section 2.1.4.1."""
    if not 0 < old <= new:
        raise ValueError("ongeldige boomgroottes")
    if old == new:
        return []
    path: list[Range] = []
    m, lo, hi, whole = old, 0, new, True
    while lo + m != hi:
        k = split(hi - lo)
        if m <= k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            m, lo, whole = m - k, lo + k, False
    if not whole:
        path.append((lo, hi))
    return path[::-1]


def nodes_of(ranges: Iterable[Range]) -> set[int]:
    """The ids of the stored nodes the hashes of `ranges` fold from."""
    return {node_id(lo, hi - lo) for r in ranges for lo, hi in perfect_blocks(*r)}


def range_hashes(ranges: Iterable[Range], nodes: Mapping[int, bytes]) -> list[bytes]:
    """MTH of each range, folded from `nodes` (by `node_id`); `ValueError` when one is not
    stored (its leaves were archived before nodes were kept, or the size is no checkpoint)."""

    def node(lo: int, hi: int) -> bytes:
        found = nodes.get(node_id(lo, hi - lo))
        if found is None:
            raise ValueError(f"boomknoop over entries {lo}..{hi - 1} is niet (meer) bewaard")
        return found

    hashes = []
    for r in ranges:
        blocks = perfect_blocks(*r)
        result = node(*blocks[-1])
        for block in reversed(blocks[:-1]):
            result = node_hash(node(*block), result)
        hashes.append(result)
    return hashes
