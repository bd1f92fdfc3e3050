"""RFC 9162 Merkle tree: hashes, proofs and their verification (standard library only).

Leaf `i` of the tree is the ledger entry with `seq == i`; its leaf data is the 32 raw bytes
of the entry hash. A tree of size `n` covers seq `0 .. n-1`.

A `Frontier` is the compact form of a tree: the roots of its perfect subtrees, left to right.
It grows one leaf at a time in amortised O(1) and gives the root of the tree so far in
O(log n), which is what makes checkpointing and verifying a million entries cheap. Stored at
a checkpoint, it also lets the live tables be pruned below that size while proofs and roots
for everything after stay computable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than `n` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The perfect-subtree roots of a tree, as `(start, size, hash)` left to right."""

    def __init__(self, blocks: Iterable[tuple[int, int, bytes]] = ()) -> None:
        self.blocks = list(blocks)
        self.size = self.blocks[-1][0] + self.blocks[-1][1] if self.blocks else 0

    def append(self, leaf: bytes) -> None:
        blocks = self.blocks
        blocks.append((self.size, 1, leaf))
        self.size += 1
        while len(blocks) >= 2 and blocks[-1][1] == blocks[-2][1]:
            right = blocks.pop()
            left = blocks.pop()
            blocks.append((left[0], left[1] * 2, node_hash(left[2], right[2])))

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


class Tree:
    """Subtree hashes over leaves `base ..` plus the frontier of everything below `base`."""

    def __init__(self, leaves: list[bytes], base: Frontier | None = None) -> None:
        self.base = base or Frontier()
        self.leaves = leaves
        self.size = self.base.size + len(leaves)
        self._blocks = {(start, start + size): digest for start, size, digest in self.base.blocks}

    def hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]); `ValueError` when it needs leaves that were pruned."""
        if (lo, hi) in self._blocks:
            return self._blocks[(lo, hi)]
        if hi - lo == 1:
            if lo < self.base.size:
                raise ValueError(f"blad {lo} is gearchiveerd")
            return self.leaves[lo - self.base.size]
        k = split(hi - lo)
        return node_hash(self.hash(lo, lo + k), self.hash(lo + k, hi))

    def root(self, size: int) -> bytes:
        return self.hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1."""
        if not 0 <= index < size <= self.size:
            raise ValueError("blad valt buiten de boom")

        def path(m: int, lo: int, hi: int) -> list[bytes]:
            if hi - lo == 1:
                return []
            k = split(hi - lo)
            if m < lo + k:
                return [*path(m, lo, lo + k), self.hash(lo + k, hi)]
            return [*path(m, lo + k, hi), self.hash(lo, lo + k)]

        return path(index, 0, size)

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """PROOF(old, D[0:new]) of RFC 9162 section 2.1.4.1."""
        if not 0 < old <= new <= self.size:
            raise ValueError("ongeldige boomgroottes")

        def subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
            if lo + m == hi:
                return [] if whole else [self.hash(lo, hi)]
            k = split(hi - lo)
            if m <= k:
                return [*subproof(m, lo, lo + k, whole), self.hash(lo + k, hi)]
            return [*subproof(m - k, lo + k, hi, False), self.hash(lo, lo + k)]

        return subproof(old, 0, new, True) if old < new else []


def _lsb(n: int) -> bool:
    return bool(n & 1)


def _shift_until(fn: int, sn: int, stop: Callable[[int], bool]) -> tuple[int, int]:
    while not stop(fn):
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_until(fn, sn, lambda f: _lsb(f) or f == 0)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if not proof:
        return False
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        proof = [old_root, *proof]
    fn, sn = _shift_until(old - 1, new - 1, lambda f: not _lsb(f))
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_until(fn, sn, lambda f: _lsb(f) or f == 0)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0
