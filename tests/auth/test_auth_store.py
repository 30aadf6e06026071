"""OperatorStore on SQLite and PostgreSQL: round trips, login, lockout, codes, history."""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from kassa.auth import (
    HASH_FAST,
    AuthSettings,
    HashParams,
    LockoutPolicy,
    PasswordRejected,
    Role,
    vault_sealer,
    verify_password,
)
from kassa.auth.store import OperatorStore
from kassa.errors import InputError
from kassa.store import Database, connect, schema_version

T0 = 1_714_528_800_000
MINUTE = 60_000
SETTINGS = AuthSettings(hash_params=HASH_FAST)
# RFC 6238 Appendix B SHA1 seed; at T=59 s its code is 94287082, 6 digits 287082.
RFC_SEED = b"12345678901234567890"


def rand_with_rfc_seed(size: int) -> bytes:
    """Random bytes, except that a TOTP secret (20 bytes) is the RFC 6238 seed."""
    return RFC_SEED if size == len(RFC_SEED) else random.randbytes(size)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = connect(db_url, durable=False)
    try:
        yield database
    finally:
        database.close()


def make_store(db: Database, settings: AuthSettings = SETTINGS) -> OperatorStore:
    seal, open_sealed = vault_sealer(bytes(range(32)), random.randbytes)
    return OperatorStore(
        db, settings=settings, seal=seal, open_sealed=open_sealed, rand=rand_with_rfc_seed
    )


def test_add_get_round_trip(db: Database) -> None:
    store = make_store(db)
    assert schema_version(db, "auth") == 1
    record, secret = store.add("99", Role.SUPERVISOR, "Harbour-lamp-47", T0)
    assert secret == base64.b32encode(RFC_SEED).decode()
    assert store.get("99") == record
    assert store.get("98") is None
    with pytest.raises(InputError, match="already exists"):
        store.add("99", Role.CASHIER, "739155", T0)
    with pytest.raises(PasswordRejected):
        store.add("01", Role.CASHIER, "123456", T0)
    make_store(db)  # a second start-up finds the schema in place


def test_list_save_and_set_active(db: Database) -> None:
    store = make_store(db)
    for operator_id in ("03", "01", "02"):
        store.add(operator_id, Role.CASHIER, "739155", T0, temporary=False)
    store.add("boss", Role.ADMIN, "Harbour-lamp-47", T0)
    assert [r.operator_id for r in store.list()] == ["01", "02", "03", "boss"]
    assert [r.operator_id for r in store.list(Role.ADMIN)] == ["boss"]
    disabled = store.set_active("02", False)
    assert store.get("02") == disabled and not disabled.active
    assert store.login("02", "739155", None, T0).reason_code == "operator_disabled"
    edited = replace(store.list()[0], failed_count=3, history=("h1", "h2"))
    store.save(edited)
    assert store.get("01") == edited
    with pytest.raises(InputError):
        store.save(replace(edited, operator_id="77"))
    with pytest.raises(InputError):
        store.set_active("77", True)


def test_lockout_is_stored(db: Database) -> None:
    store = make_store(db)
    store.add("01", Role.CASHIER, "739155", T0, temporary=False)
    unknown = store.login("55", "739155", None, T0)
    for _ in range(4):
        wrong = store.login("01", "000000", None, T0)
        assert (wrong.reason_code, wrong.message_zh) == (unknown.reason_code, unknown.message_zh)
    assert store.login("01", "000000", None, T0).reason_code == "operator_locked"
    locked = store.login("01", "739155", None, T0 + MINUTE)
    assert locked.reason_code == "operator_locked"
    assert locked.locked_until_ms == T0 + 15 * MINUTE
    assert store.login("01", "739155", None, T0 + 15 * MINUTE).session_allowed
    record = store.get("01")
    assert record is not None and (record.failed_count, record.locked_until_ms) == (0, None)


def test_supervisor_unlocks(db: Database) -> None:
    store = make_store(db)
    store.add("01", Role.CASHIER, "739155", T0, temporary=False)
    for _ in range(5):
        store.login("01", "000000", None, T0)
    store.unlock("01")
    assert store.login("01", "739155", None, T0 + 1).ok


def test_totp_replay_is_refused_across_transactions(db: Database) -> None:
    store = make_store(db)
    store.add("99", Role.SUPERVISOR, "Harbour-lamp-47", 0, temporary=False)
    assert store.login("99", "Harbour-lamp-47", None, 59_000).reason_code == "otp_required"
    assert store.login("99", "Harbour-lamp-47", "287082", 59_000).session_allowed
    replay = store.login("99", "Harbour-lamp-47", "287082", 60_000)
    assert replay.reason_code == "otp_invalid"
    record = store.get("99")
    assert record is not None and (record.last_totp_step, record.failed_count) == (1, 1)


def test_renew_totp(db: Database) -> None:
    store = make_store(db)
    store.add("99", Role.SUPERVISOR, "Harbour-lamp-47", 0, temporary=False)
    before = store.get("99")
    secret = store.renew_totp("99")
    after = store.get("99")
    assert before is not None and after is not None
    assert secret == base64.b32encode(RFC_SEED).decode()
    assert after.totp_secret_sealed != before.totp_secret_sealed  # fresh nonce


def test_change_password_and_history(db: Database) -> None:
    store = make_store(db)
    store.add("01", Role.CASHIER, "739155", T0)
    first = store.login("01", "739155", None, T0)
    assert first.ok and first.reason_code == "password_temporary"
    assert store.change_password("01", "739155", "482910", T0).ok
    assert store.change_password("01", "482910", "650317", T0).ok
    reused = store.change_password("01", "650317", "739155", T0)
    assert reused.problems == ("reused",)
    record = store.get("01")
    assert record is not None and len(record.history) == 2
    assert verify_password(record.history[0], "482910")
    assert store.login("01", "650317", None, T0).session_allowed
    reset = store.reset_password("01", "918264", T0)
    assert reset.must_change and store.get("01") == reset


def test_rehash_is_stored(db: Database) -> None:
    make_store(db).add("01", Role.CASHIER, "739155", T0, temporary=False)
    stronger = AuthSettings(hash_params=HashParams(time_cost=2, memory_kib=16, parallelism=1))
    store = make_store(db, stronger)
    assert store.login("01", "739155", None, T0).ok
    record = store.get("01")
    assert record is not None and "m=16,t=2,p=1" in record.password_hash


def test_concurrent_failures_are_all_counted(db: Database) -> None:
    settings = AuthSettings(hash_params=HASH_FAST, lockout=LockoutPolicy(failures_max=100))
    make_store(db, settings).add("01", Role.CASHIER, "739155", T0)
    errors: list[BaseException] = []

    def attempts() -> None:
        try:
            with connect(db.url, durable=False) as own:
                store = make_store(own, settings)
                for _ in range(5):
                    store.login("01", "000000", None, T0)
        except BaseException as exc:  # surfaced below: a thread cannot fail the test
            errors.append(exc)

    threads = [threading.Thread(target=attempts) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    record = make_store(db, settings).get("01")
    assert record is not None and record.failed_count == 15
