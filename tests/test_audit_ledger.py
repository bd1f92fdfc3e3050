"""The ledger on both backends: append-only, idempotent, tamper-evident, provable, prunable.

Tampering goes around the database's own guards (SQLite: dropping the triggers;
PostgreSQL: `session_replication_role = replica` as superuser), as an attacker with file or
superuser access would, and `verify` must then name the damaged seq.
"""

from __future__ import annotations

import itertools
import sqlite3

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.checkpoint import open_note, verifier_key
from services.audit.entry import Draft, dump_list, entry_hash, seal
from services.audit.export import export_lines
from services.audit.ledger import ENTRY_HASH, Ledger, Query
from services.audit.merkle import (
    Frontier,
    leaf_hash,
    node_id,
    verify_consistency,
    verify_inclusion,
)
from services.audit.postgres_store import PostgresStore, init_schema
from services.audit.verify import verify_export
from tests.ledger_backends import EVERY, Backend, decision, filled
from tests.ledger_backends import backend as backend  # the fixture, on both backends
from tests.postgres_server import fresh_database


def problem_seqs(ledger: Ledger) -> set[int | None]:
    result = ledger.verify()
    assert not result.ok
    return {p.seq for p in result.problems}


# -- appending ----------------------------------------------------------------------------


def test_appends_are_numbered_and_chained(backend: Backend) -> None:
    ledger = filled(backend, 6)
    entries = ledger.search(Query())
    assert [e.seq for e in entries] == list(range(6))
    assert entries[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash
    for entry in entries:
        assert entry_hash(entry.as_dict()) == entry.entry_hash
    assert ledger.verify().ok


def test_redelivered_event_gives_no_second_entry(backend: Backend) -> None:
    ledger = backend.ledger
    first = ledger.append(decision(1))
    again = ledger.append(decision(1))
    batch = ledger.append_many([decision(2), decision(1), decision(2)])
    assert first.created and not again.created
    assert (again.seq, again.entry_hash) == (first.seq, first.entry_hash)
    assert [a.seq for a in batch] == [1, 0, 1]
    assert [a.created for a in batch] == [True, False, False]
    assert ledger.size() == 2


def test_checkpoints_are_signed_every_n_entries(backend: Backend) -> None:
    ledger = filled(backend, 2 * EVERY + 1)
    sizes = [c.size for c in ledger.checkpoints()]
    assert sizes == [EVERY, 2 * EVERY]
    for signed in ledger.checkpoints():
        tree = Frontier()
        for row in ledger.scan(0, signed.size):
            tree.append(leaf_hash(bytes.fromhex(row[ENTRY_HASH])))
        assert open_note(signed.note, ledger.verifier_key).root == tree.root()
    assert ledger.checkpoint() is not None  # the odd one out, as the timer would sign it
    assert ledger.checkpoint() is None  # nothing new


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE entries SET purpose = 'anders' WHERE seq = 1",
        "DELETE FROM entries WHERE seq = 1",
        "UPDATE checkpoints SET note = 'x'",
        "DELETE FROM checkpoints",
        "DELETE FROM subjects",
        "UPDATE tree_nodes SET hash = 'x'",
        "DELETE FROM tree_nodes",
    ],
)
def test_database_refuses_changes(backend: Backend, statement: str) -> None:
    filled(backend, EVERY)
    backend.ledger.append(
        Draft(
            type="melding",
            event_id="melding-1",
            actor="kmt/intake",
            melding_id="00000000-0000-4000-8000-000000000001",
            subject_pseudonyms=("a" * 64,),
        )
    )
    with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
        backend.attempt(statement)
    assert backend.ledger.verify().ok


def test_postgres_writer_role_may_only_insert_and_select(postgres_url: str) -> None:
    url = fresh_database(postgres_url)
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute(
            "DO $$ BEGIN CREATE ROLE kmt_audit_writer LOGIN;"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    init_schema(url, writer_role="kmt_audit_writer")
    writer_url = url.replace("postgres@", "kmt_audit_writer@")
    ledger = Ledger(PostgresStore(writer_url), Ed25519PrivateKey.generate(), checkpoint_every=EVERY)
    try:
        ledger.append_many([decision(i) for i in range(EVERY)])
        assert ledger.verify().ok
        with psycopg.connect(writer_url, autocommit=True) as writer:
            for statement in (
                "UPDATE entries SET purpose = 'x'",
                "DELETE FROM entries",
                "TRUNCATE entries",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    writer.execute(statement)  # type: ignore[arg-type]
    finally:
        ledger.close()


# -- tamper evidence ----------------------------------------------------------------------


def test_edited_entry_is_named(backend: Backend) -> None:
    ledger = filled(backend, 10)
    backend.tamper("UPDATE entries SET recipient = 'veilig_thuis' WHERE seq = 5")
    assert 5 in problem_seqs(ledger)


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(backend: Backend) -> None:
    ledger = filled(backend, 10)
    original = ledger.entry(5)
    assert original is not None
    rehashed = entry_hash({**original.as_dict(), "recipient": "veilig_thuis"})
    backend.tamper(
        f"UPDATE entries SET recipient = 'veilig_thuis', entry_hash = '{rehashed}' WHERE seq = 5"
    )
    seqs = problem_seqs(ledger)
    assert 6 in seqs  # its prev_hash no longer links
    assert EVERY in seqs  # and the checkpoint over seq 4..7 has another root


def test_deleted_entry_is_named(backend: Backend) -> None:
    ledger = filled(backend, 10)
    backend.tamper("DELETE FROM entries WHERE seq = 3")
    assert 3 in problem_seqs(ledger)


def test_truncated_tail_is_found(backend: Backend) -> None:
    ledger = filled(backend, 10)  # checkpoints at 4 and 8
    backend.tamper("DELETE FROM entries WHERE seq >= 6")
    result = ledger.verify()
    assert not result.ok
    assert any("ontbreken" in p.message for p in result.problems)


def test_inserted_entry_is_found(backend: Backend) -> None:
    ledger = filled(backend, 10)
    backend.tamper(
        "UPDATE entries SET seq = seq + 1000 WHERE seq >= 3;"
        " UPDATE entries SET seq = seq - 999 WHERE seq >= 1000;"
    )
    before = ledger.entry(2)
    assert before is not None
    forged = seal(decision(99), seq=3, recorded_at=before.recorded_at, prev_hash=before.entry_hash)
    values = forged.as_dict()
    columns = ", ".join(values)
    literals = ", ".join(_literal(v) for v in values.values())
    backend.tamper(f"INSERT INTO entries ({columns}) VALUES ({literals})")
    seqs = problem_seqs(ledger)
    assert 4 in seqs  # the entry that was at 3 no longer fits at 4
    assert 0 in seqs or EVERY in seqs or 3 in seqs


def test_reordered_entries_are_named(backend: Backend) -> None:
    ledger = filled(backend, 10)
    backend.tamper(
        "UPDATE entries SET seq = 1000 WHERE seq = 2;"
        " UPDATE entries SET seq = 2 WHERE seq = 6;"
        " UPDATE entries SET seq = 6 WHERE seq = 1000;"
    )
    seqs = problem_seqs(ledger)
    assert {2, 6} <= seqs


def test_forged_checkpoint_is_found(backend: Backend) -> None:
    ledger = filled(backend, 10)
    backend.tamper("UPDATE checkpoints SET note = replace(note, '\n4\n', '\n5\n') WHERE size = 4")
    result = ledger.verify()
    assert not result.ok
    assert any("handtekening" in p.message for p in result.problems)


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        value = dump_list(value)
    return "'" + str(value).replace("'", "''") + "'"


def test_a_forged_merkle_node_is_named_and_its_proofs_fail(backend: Backend) -> None:
    ledger = filled(backend, 3 * EVERY)
    signed = ledger.latest_checkpoint()
    assert signed is not None and ledger.verify().ok
    backend.tamper(f"UPDATE tree_nodes SET hash = '{'0' * 64}' WHERE id = {node_id(4, 2)}")
    assert problem_seqs(ledger) == {4}
    leaf = leaf_hash(bytes.fromhex(ledger.entry(6).entry_hash))  # type: ignore[union-attr]
    proof = ledger.inclusion_proof(6, signed.size)
    assert not verify_inclusion(6, signed.size, leaf, proof, signed.root)


# -- proofs -------------------------------------------------------------------------------


def test_inclusion_proofs_verify_and_fail_when_wrong(backend: Backend) -> None:
    ledger = filled(backend, 11)
    signed = ledger.latest_checkpoint()
    assert signed is not None and signed.size == 8
    for seq in range(signed.size):
        leaf = leaf_hash(bytes.fromhex(ledger.entry(seq).entry_hash))  # type: ignore[union-attr]
        proof = ledger.inclusion_proof(seq, signed.size)
        assert verify_inclusion(seq, signed.size, leaf, proof, signed.root)
        assert not verify_inclusion((seq + 1) % signed.size, signed.size, leaf, proof, signed.root)
        if proof:
            bad = [bytes(32), *proof[1:]]
            assert not verify_inclusion(seq, signed.size, leaf, bad, signed.root)


def test_consistency_proofs_between_checkpoints(backend: Backend) -> None:
    ledger = filled(backend, 4 * EVERY)
    checkpoints = ledger.checkpoints()
    for old in checkpoints:
        for new in checkpoints:
            if old.size > new.size:
                continue
            proof = ledger.consistency_proof(old.size, new.size)
            assert verify_consistency(old.size, new.size, old.root, new.root, proof)
            if proof:
                assert not verify_consistency(
                    old.size, new.size, old.root, new.root, [*proof[::-1], bytes(32)]
                )


def test_a_ledger_signed_before_nodes_were_stored_gets_them_at_its_next_checkpoint(
    backend: Backend,
) -> None:
    ledger = filled(backend, 3 * EVERY)
    ledger.prune(2 * EVERY, "0" * 64)
    backend.tamper("DELETE FROM tree_nodes")  # as a ledger written by the previous release
    with pytest.raises(ValueError, match="bewaard"):
        ledger.inclusion_proof(2 * EVERY, 3 * EVERY)
    for n in range(3 * EVERY, 4 * EVERY):
        ledger.append(decision(n))
    signed = ledger.latest_checkpoint()
    assert signed is not None and signed.size == 4 * EVERY
    for seq in range(2 * EVERY, signed.size):
        leaf = leaf_hash(bytes.fromhex(ledger.entry(seq).entry_hash))  # type: ignore[union-attr]
        proof = ledger.inclusion_proof(seq, signed.size)
        assert verify_inclusion(seq, signed.size, leaf, proof, signed.root)
    for old in ledger.checkpoints(2 * EVERY):
        proof = ledger.consistency_proof(old.size, signed.size)
        assert verify_consistency(old.size, signed.size, old.root, signed.root, proof)
    with pytest.raises(ValueError, match="bewaard"):  # inside the archived entries: refused
        ledger.consistency_proof(EVERY, signed.size)


# -- export and retention -----------------------------------------------------------------


def test_export_verifies_offline_and_shows_tampering(backend: Backend) -> None:
    ledger = filled(backend, 10)
    lines = list(export_lines(ledger))
    assert verify_export(lines, ledger.verifier_key).ok
    other_key = verifier_key(Ed25519PrivateKey.generate().public_key())
    assert not verify_export(lines, other_key).ok
    edited = [
        line.replace('"recipient":"riec"', '"recipient":"veilig_thuis"', 1)
        if '"seq":2,' in line
        else line
        for line in lines
    ]
    assert edited != lines
    result = verify_export(edited, ledger.verifier_key)
    assert 2 in {p.seq for p in result.problems}


def test_pruning_keeps_the_rest_verifiable(backend: Backend) -> None:
    ledger = filled(backend, 5 * EVERY + 1)
    with pytest.raises(ValueError, match="checkpoint"):
        ledger.prune(EVERY + 1, "0" * 64)
    ledger.prune(2 * EVERY, "0" * 64)
    assert ledger.entry(2 * EVERY - 1) is None and ledger.entry(2 * EVERY) is not None
    assert ledger.verify().ok
    assert ledger.size() == 5 * EVERY + 1
    # proofs for what remains still hold against the signed roots
    signed = ledger.latest_checkpoint()
    assert signed is not None
    leaf = leaf_hash(bytes.fromhex(ledger.entry(2 * EVERY + 1).entry_hash))  # type: ignore[union-attr]
    assert verify_inclusion(
        2 * EVERY + 1,
        signed.size,
        leaf,
        ledger.inclusion_proof(2 * EVERY + 1, signed.size),
        signed.root,
    )
    old = ledger.checkpoint_at(3 * EVERY)
    assert old is not None
    proof = ledger.consistency_proof(old.size, signed.size)
    assert verify_consistency(old.size, signed.size, old.root, signed.root, proof)
    # appending goes on from the right place, and deleting above the horizon is still refused
    ledger.append(decision(1000))
    assert ledger.verify().ok
    with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
        backend.attempt(f"DELETE FROM entries WHERE seq = {2 * EVERY}")
    # and an edit after pruning is still named
    backend.tamper(f"UPDATE entries SET purpose = 'x' WHERE seq = {2 * EVERY + 2}")
    assert 2 * EVERY + 2 in problem_seqs(ledger)
