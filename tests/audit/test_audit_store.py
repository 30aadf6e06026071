"""The audit log in a real database (SQLite and PostgreSQL): appends, tampering, locking."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import kassa.audit.store as audit_store
from kassa.audit import AuditLog, ChainKey, anchor, parse_anchor
from kassa.errors import InputError, StoreError
from kassa.store import ConstraintError, Database, connect

T0 = 1_714_521_600_000
KEY = ChainKey(b"\x17" * 32)
PAN = "6222021234567890128"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = connect(db_url, durable=False)
    try:
        yield database
    finally:
        database.close()


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.record(f"op{i % 2}", "supervisor", "txn.void", f"STAN {i:06d}", {"n": i}, T0 + i)


def _drop_guards(db: Database) -> None:
    """What an intruder with DDL rights does first: remove the append-only triggers."""
    with db.transaction() as tx:
        if tx.dialect == "sqlite":
            tx.execute("DROP TRIGGER audit_log_no_update")
            tx.execute("DROP TRIGGER audit_log_no_delete")
        else:
            tx.execute("DROP TRIGGER audit_log_append_only ON audit_log")


def _tamper(db: Database, *statements: tuple[str, tuple[object, ...]]) -> None:
    _drop_guards(db)
    with db.transaction() as tx:
        for sql, params in statements:
            tx.execute(sql, params)


def test_records_are_stored_masked_and_verify(db: Database) -> None:
    log = AuditLog(db, "host", KEY)
    first = log.record(
        "0001", "cashier", "txn.refund", f"card {PAN}", {"pan": PAN, "amount_fen": 1200}, T0
    )
    _fill(log, 4)
    with db.transaction(write=False) as tx:
        stored = " ".join(str(v) for row in tx.fetchall("SELECT * FROM audit_log") for v in row)
    assert PAN not in stored and PAN[6:15] not in stored and "amount_fen" in stored
    records = list(log.iter_records())
    assert records[0] == first and [r.seq for r in records] == [1, 2, 3, 4, 5]
    result = log.verify()
    assert result.ok and result.checked == 5 and log.head() == records[-1].head


def test_empty_log_verifies(db: Database) -> None:
    log = AuditLog(db, "host")
    assert log.head() is None and log.verify().ok and list(log.iter_records()) == []


def test_the_table_refuses_update_and_delete(db: Database) -> None:
    log = AuditLog(db, "host")
    _fill(log, 2)
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log"):
        with pytest.raises(ConstraintError, match="append-only"), db.transaction() as tx:
            tx.execute(sql)
    assert log.verify().ok and log.verify().checked == 2


def test_updated_detail_is_found(db: Database) -> None:
    log = AuditLog(db, "host", KEY)
    _fill(log, 6)
    _tamper(db, ("UPDATE audit_log SET detail = ? WHERE seq = 4", ('{"n":40}',)))
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 4, "changed")


def test_unreadable_values_are_reported_not_crashed_on(db: Database) -> None:
    log = AuditLog(db, "host")
    _fill(log, 3)
    _tamper(db, ("UPDATE audit_log SET detail = ? WHERE seq = 2", ("not json",)))
    assert (log.verify().first_bad_seq, log.verify().reason) == (2, "changed")


def test_deleted_middle_row_is_found(db: Database) -> None:
    log = AuditLog(db, "host", KEY)
    _fill(log, 6)
    _tamper(db, ("DELETE FROM audit_log WHERE seq = ?", (3,)))
    result = log.verify()
    assert (result.first_bad_seq, result.reason, result.checked) == (3, "deleted", 2)


def test_swapped_seqs_are_found(db: Database) -> None:
    log = AuditLog(db, "host", KEY)
    _fill(log, 6)
    _tamper(
        db,
        ("UPDATE audit_log SET seq = -1 WHERE seq = 2", ()),
        ("UPDATE audit_log SET seq = 2 WHERE seq = 5", ()),
        ("UPDATE audit_log SET seq = 5 WHERE seq = -1", ()),
    )
    result = log.verify()
    assert (result.first_bad_seq, result.reason) == (2, "reordered")


def test_deleted_last_row_is_found_by_anchor_and_by_head(db: Database) -> None:
    log = AuditLog(db, "host", KEY)
    _fill(log, 5)
    kept = parse_anchor(anchor(log.verify().last))  # type: ignore[arg-type]
    _tamper(db, ("DELETE FROM audit_log WHERE seq = 5", ()))
    by_anchor = log.verify(kept)
    assert (by_anchor.first_bad_seq, by_anchor.reason) == (5, "truncated")
    by_head = log.verify()
    assert (by_head.first_bad_seq, by_head.reason) == (5, "truncated")
    # The intruder also winds the head back: only the anchor kept elsewhere still tells.
    with db.transaction() as tx:
        row = tx.fetchone("SELECT hash FROM audit_log WHERE seq = 4")
        assert row is not None
        tx.execute("UPDATE audit_head SET seq = 4, hash = ? WHERE id = 1", (row[0],))
    assert log.verify().ok
    assert (log.verify(kept).first_bad_seq, log.verify(kept).reason) == (5, "truncated")


def test_appending_after_a_cut_off_end_leaves_a_gap(db: Database) -> None:
    log = AuditLog(db, "host")
    _fill(log, 4)
    _tamper(db, ("DELETE FROM audit_log WHERE seq = 4", ()))
    log.record("op", "admin", "config.change", "x", {}, T0 + 99)
    result = log.verify()
    assert (result.first_bad_seq, result.reason) == (4, "deleted")


def test_rows_added_behind_the_logs_back_are_found(db: Database) -> None:
    log = AuditLog(db, "host")
    _fill(log, 3)
    from kassa.audit import append

    last = list(log.iter_records())[-1]
    forged = append(
        last,
        at_ms=T0,
        actor="mallory",
        role="admin",
        action="key.change",
        target="",
        detail={},
        source="host",
    )
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                forged.seq,
                forged.at_ms,
                forged.actor,
                forged.role,
                forged.action,
                forged.target,
                "{}",
                forged.source,
                forged.prev_hash,
                forged.hash,
            ),
        )
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 4, "changed")


def test_keyed_log_rewritten_without_the_key_fails(db: Database) -> None:
    log = AuditLog(db, "host", KEY)
    _fill(log, 4)
    forger = AuditLog(db, "host", None)  # same database, no key: rewrite from entry 2 on
    rewritten = [r for r in log.iter_records()][:1]
    from kassa.audit import append

    _drop_guards(db)
    with db.transaction() as tx:
        tx.execute("DELETE FROM audit_log WHERE seq >= 2")
        tx.execute("UPDATE audit_head SET seq = 1, hash = ? WHERE id = 1", (rewritten[0].hash,))
    for i in range(3):
        rewritten.append(
            append(
                rewritten[-1],
                at_ms=T0 + i,
                actor="mallory",
                role="admin",
                action="txn.void",
                target="",
                detail={},
                source="host",
            )
        )
    with db.transaction() as tx:
        for r in rewritten[1:]:
            tx.execute(
                "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.seq,
                    r.at_ms,
                    r.actor,
                    r.role,
                    r.action,
                    r.target,
                    "{}",
                    r.source,
                    r.prev_hash,
                    r.hash,
                ),
            )
        tx.execute("UPDATE audit_head SET seq = 4, hash = ? WHERE id = 1", (rewritten[-1].hash,))
    assert forger.verify().first_bad_seq == 1  # unkeyed check fails at once: entry 1 is keyed
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 2, "changed")


def test_a_writer_with_another_key_is_refused_and_verify_hints(db: Database) -> None:
    AuditLog(db, "host", KEY).record("a", "r", "login.ok", "", {}, T0)
    other = AuditLog(db, "console", ChainKey(b"\x99" * 32))
    with pytest.raises(StoreError, match="key id"):
        other.record("a", "r", "login.ok", "", {}, T0)
    result = AuditLog(db, "cli", None).verify()
    assert not result.ok and KEY.key_id in result.message


def test_record_in_commits_or_vanishes_with_the_callers_transaction(db: Database) -> None:
    log = AuditLog(db, "host")
    with db.transaction() as tx:
        log.record_in(tx, "op", "admin", "config.change", "fee", {"new": 38}, T0)
    with pytest.raises(RuntimeError), db.transaction() as tx:
        log.record_in(tx, "op", "admin", "config.change", "fee", {"new": 99}, T0 + 1)
        raise RuntimeError("the change itself failed")
    assert [r.detail for r in log.iter_records()] == [{"new": 38}]
    assert log.head() is not None and log.head().seq == 1  # type: ignore[union-attr]
    log.record("op", "admin", "config.change", "fee", {"new": 40}, T0 + 2)
    assert log.verify().ok and log.verify().checked == 2


def test_bad_input_writes_nothing(db: Database) -> None:
    log = AuditLog(db, "host")
    with pytest.raises(InputError):
        log.record("op", "admin", "login.failed", "", {"password": "hunter2hunter2"}, T0)
    assert log.head() is None


def test_iter_records_by_time_across_pages(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_store, "page_size_records", 3)
    log = AuditLog(db, "host")
    _fill(log, 10)
    assert [r.seq for r in log.iter_records()] == list(range(1, 11))
    assert [r.seq for r in log.iter_records(since_ms=T0 + 2, until_ms=T0 + 8)] == list(range(3, 9))
    assert log.verify().checked == 10


def test_two_writers_never_fork_the_chain(db_url: str) -> None:
    per_writer = 200
    AuditLog(connect(db_url, durable=False), "host").db.close()  # migrate once up front
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            with connect(db_url, durable=False) as mine:
                log = AuditLog(mine, "host", KEY)
                for i in range(per_writer):
                    log.record(name, "cashier", "txn.void", f"{name}-{i}", {"i": i}, T0 + i)
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in ("alpha", "beta")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with connect(db_url) as check:
        log = AuditLog(check, "cli", KEY)
        result = log.verify()
        records = list(log.iter_records())
    assert result.ok and result.checked == 2 * per_writer, result.message
    assert [r.seq for r in records] == list(range(1, 2 * per_writer + 1))
    for name in ("alpha", "beta"):
        mine = [r.detail["i"] for r in records if r.actor == name]
        assert mine == list(range(per_writer))  # each writer's own order is kept
