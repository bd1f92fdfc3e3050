"""RFC 9162 Merkle tree against a literal transcription of the RFC's definitions, proofs
folded from stored perfect-subtree nodes (O(log n) of them), and the proof verifiers against
every wrong answer we can think of."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    node_id,
    nodes_of,
    range_hashes,
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


def rfc_path(m: int, data: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) exactly as RFC 9162 section 2.1.3.1 defines it."""
    if len(data) == 1:
        return []
    k = split(len(data))
    if m < k:
        return [*rfc_path(m, data[:k]), mth(data[k:])]
    return [*rfc_path(m - k, data[k:]), mth(data[:k])]


def rfc_proof(m: int, data: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) exactly as RFC 9162 section 2.1.4.1 defines it."""

    def subproof(m: int, data: list[bytes], whole: bool) -> list[bytes]:
        if m == len(data):
            return [] if whole else [mth(data)]
        k = split(len(data))
        if m <= k:
            return [*subproof(m, data[:k], whole), mth(data[k:])]
        return [*subproof(m - k, data[k:], False), mth(data[:k])]

    return subproof(m, data, True)


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


def stored(data: list[bytes], base: Frontier | None = None) -> dict[int, bytes]:
    """The nodes a ledger stores as `data` grows on `base`: the base's blocks, then every
    perfect subtree each new leaf completes."""
    frontier = base.copy() if base else Frontier()
    nodes = {node_id(start, size): digest for start, size, digest in frontier.blocks}
    for item in data:
        for start, size, digest in frontier.append(leaf_hash(item)):
            nodes[node_id(start, size)] = digest
    return nodes


def inclusion(index: int, size: int, nodes: dict[int, bytes]) -> list[bytes]:
    return range_hashes(inclusion_path(index, size), nodes)


def consistency(old: int, new: int, nodes: dict[int, bytes]) -> list[bytes]:
    return range_hashes(consistency_path(old, new), nodes)


def root(size: int, nodes: dict[int, bytes]) -> bytes:
    return range_hashes([(0, size)], nodes)[0] if size else EMPTY_ROOT


sizes = st.integers(min_value=1, max_value=70)


@given(sizes)
def test_frontier_and_tree_agree_with_the_rfc(n: int) -> None:
    data = leaves(n)
    frontier = Frontier()
    for i, item in enumerate(data):
        frontier.append(leaf_hash(item))
        assert frontier.root() == mth(data[: i + 1])
    nodes = stored(data)
    assert all(root(m, nodes) == mth(data[:m]) for m in range(n + 1))


@given(sizes, st.data())
def test_proofs_are_the_rfcs_own(n: int, draw: st.DataObject) -> None:
    data, nodes = leaves(n), stored(leaves(n))
    size = draw.draw(st.integers(min_value=1, max_value=n))
    index = draw.draw(st.integers(min_value=0, max_value=size - 1))
    assert inclusion(index, size, nodes) == rfc_path(index, data[:size])
    assert consistency(size, n, nodes) == rfc_proof(size, data)


@pytest.mark.parametrize("n", [2**17, 200_000, 2**40 + 12345, 2**62 - 1])
def test_a_proof_reads_a_logarithmic_number_of_nodes(n: int) -> None:
    """What a proof reads grows with log2(n): never the tree (the old code read every
    entry for each proof)."""
    bound = 2 * n.bit_length()
    for index in (0, 1, n // 3, n // 2, n - 2, n - 1):
        assert len(nodes_of(inclusion_path(index, n))) <= bound
    for old in (1, 2, n // 3, n // 2 + 1, n - 1, n):
        assert len(nodes_of(consistency_path(old, n))) <= bound


def test_a_missing_node_is_refused_not_guessed() -> None:
    nodes = stored(leaves(8))
    del nodes[node_id(4, 4)]
    with pytest.raises(ValueError, match="niet \\(meer\\) bewaard"):
        inclusion(0, 8, nodes)
    with pytest.raises(ValueError):
        inclusion(8, 8, nodes)
    with pytest.raises(ValueError):
        consistency(5, 4, nodes)


@given(sizes, st.data())
def test_inclusion_proofs(n: int, draw: st.DataObject) -> None:
    data = leaves(n)
    nodes = stored(data)
    size = draw.draw(st.integers(min_value=1, max_value=n))
    index = draw.draw(st.integers(min_value=0, max_value=size - 1))
    root, leaf = mth(data[:size]), leaf_hash(data[index])
    proof = inclusion(index, size, nodes)
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
    nodes = stored(data)
    old = draw.draw(st.integers(min_value=1, max_value=n))
    old_root, new_root = mth(data[:old]), mth(data)
    proof = consistency(old, n, nodes)
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
    pruned = stored(data[base_size:], base)  # nodes kept from the archived base's blocks on
    full = stored(data)
    for size in range(base_size, base_size + extra + 1):
        assert root(size, pruned) == root(size, full)
        for index in range(base_size, size):
            assert inclusion(index, size, pruned) == inclusion(index, size, full)
        assert consistency(base_size, size, pruned) == consistency(base_size, size, full)
