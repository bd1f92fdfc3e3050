"""RFC 9162 Merkle tree against a literal transcription of the RFC's definitions, and the
proof verifiers against every wrong answer we can think of."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from services.audit.merkle import (
    Frontier,
    Tree,
    leaf_hash,
    node_hash,
    split,
    verify_consistency,
    verify_inclusion,
)


def mth(data: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 section 2.1.1 defines it."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return leaf_hash(data[0])
    k = split(len(data))
    return node_hash(mth(data[:k]), mth(data[k:]))


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


sizes = st.integers(min_value=1, max_value=70)


@given(sizes)
def test_frontier_and_tree_agree_with_the_rfc(n: int) -> None:
    data = leaves(n)
    frontier = Frontier()
    for i, item in enumerate(data):
        frontier.append(leaf_hash(item))
        assert frontier.root() == mth(data[: i + 1])
    tree = Tree([leaf_hash(d) for d in data])
    assert all(tree.root(m) == mth(data[:m]) for m in range(n + 1))


@given(sizes, st.data())
def test_inclusion_proofs(n: int, draw: st.DataObject) -> None:
    data = leaves(n)
    tree = Tree([leaf_hash(d) for d in data])
    size = draw.draw(st.integers(min_value=1, max_value=n))
    index = draw.draw(st.integers(min_value=0, max_value=size - 1))
    root, leaf = mth(data[:size]), leaf_hash(data[index])
    proof = tree.inclusion_proof(index, size)
    assert verify_inclusion(index, size, leaf, proof, root)
    assert not verify_inclusion(index, size, leaf_hash(b"other"), proof, root)
    assert not verify_inclusion(size, size, leaf, proof, root)
    assert not verify_inclusion(index, size, leaf, [*proof, bytes(32)], root)
    if proof:
        assert not verify_inclusion(index, size, leaf, proof[:-1], root)
        assert not verify_inclusion(index ^ 1, size, leaf, proof, root) or index ^ 1 >= size


@given(sizes, st.data())
def test_consistency_proofs(n: int, draw: st.DataObject) -> None:
    data = leaves(n)
    tree = Tree([leaf_hash(d) for d in data])
    old = draw.draw(st.integers(min_value=1, max_value=n))
    old_root, new_root = mth(data[:old]), mth(data)
    proof = tree.consistency_proof(old, n)
    assert verify_consistency(old, n, old_root, new_root, proof)
    assert not verify_consistency(old, n, old_root, mth(leaves(n + 1)), proof)
    if old < n:
        assert not verify_consistency(old, n, mth([*data[: old - 1], b"x"]), new_root, proof)
        assert not verify_consistency(old, n, old_root, new_root, [*proof, bytes(32)])
        assert not verify_consistency(old, n, old_root, new_root, proof[:-1])


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=40))
def test_a_pruned_tree_still_proves_what_remains(base_size: int, extra: int) -> None:
    data = leaves(base_size + extra)
    base = Frontier()
    for item in data[:base_size]:
        base.append(leaf_hash(item))
    pruned = Tree([leaf_hash(d) for d in data[base_size:]], base)
    full = Tree([leaf_hash(d) for d in data])
    for size in range(base_size, base_size + extra + 1):
        assert pruned.root(size) == full.root(size)
        for index in range(base_size, size):
            assert pruned.inclusion_proof(index, size) == full.inclusion_proof(index, size)
        assert pruned.consistency_proof(base_size, size) == full.consistency_proof(base_size, size)
