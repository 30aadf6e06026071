"""The pure hash chain: hashing, keyed chains, verification, anchors, detail hygiene."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.audit import (
    GENESIS_HASH,
    AuditRecord,
    ChainKey,
    anchor,
    append,
    parse_anchor,
    record_hash,
    verify,
)
from kassa.errors import CryptoError, InputError

T0 = 1_714_521_600_000  # 2024-05-01 00:00 UTC
KEY = ChainKey(bytes(range(32)))
PAN = "6222021234567890128"  # 19 digits, Luhn-valid (checked in test_pan_fixture_is_a_pan)


def _chain(n: int, key: ChainKey | None = None) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for i in range(n):
        prev = records[-1] if records else None
        records.append(
            append(
                prev,
                at_ms=T0 + i * 1000,
                actor=f"op{i % 3}",
                role="cashier",
                action="txn.void",
                target=f"STAN {i:06d}",
                detail={"n": i},
                source="terminal",
                key=key,
            )
        )
    return records


def _spec_hash(record: AuditRecord, key: bytes | None = None) -> str:
    """The hash as the module docstring specifies it, computed here from scratch."""
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    del fields["hash"]
    data = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if key is None:
        return hashlib.sha256(data.encode("utf-8")).hexdigest()
    return hmac.new(key, data.encode("utf-8"), hashlib.sha256).hexdigest()


def _resealed(record: AuditRecord, key: bytes | None = None, **changes: object) -> AuditRecord:
    changed = dataclasses.replace(record, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(changed, hash=_spec_hash(changed, key))


def test_pan_fixture_is_a_pan() -> None:
    digits = [int(d) for d in PAN]
    total = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    assert total % 10 == 0


def test_first_record_starts_from_genesis_and_hash_follows_the_spec() -> None:
    first, second = _chain(2)
    assert (first.seq, first.prev_hash) == (1, "0" * 64) and GENESIS_HASH == "0" * 64
    assert first.hash == _spec_hash(first)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert second.hash == _spec_hash(second)


def test_non_ascii_text_is_hashed_as_utf8_without_escapes() -> None:
    record = append(
        None,
        at_ms=T0,
        actor="张三",
        role="主管",
        action="config.change",
        target="商户",
        detail={"原因": "调整"},
        source="console",
    )
    assert record.hash == _spec_hash(record)
    assert verify([record]).ok


def test_keyed_chain_is_hmac_sha256_over_the_same_bytes() -> None:
    record = _chain(1, KEY)[0]
    assert record.hash == _spec_hash(record, KEY.secret)
    assert record.hash != _spec_hash(record)


def test_intact_chain_verifies_and_reports_its_head() -> None:
    records = _chain(10)
    result = verify(records)
    assert result.ok and result.checked == 10 and result.first_bad_seq is None
    assert result.last == records[-1].head
    assert verify([]).ok and verify([]).checked == 0


def test_changed_detail_is_found_at_its_seq() -> None:
    records = _chain(6)
    records[3] = dataclasses.replace(records[3], detail={"n": 999})
    result = verify(records)
    assert (result.ok, result.first_bad_seq, result.reason, result.checked) == (
        False,
        4,
        "changed",
        3,
    )
    assert result.record is records[3]


def test_changed_entry_with_recomputed_hash_is_found_at_its_own_seq() -> None:
    records = _chain(6)
    records[2] = _resealed(records[2], detail={"n": "forged"})
    result = verify(records)
    assert (result.first_bad_seq, result.reason, result.checked) == (3, "changed", 2)


def test_deleted_entry_is_named() -> None:
    records = _chain(6)
    del records[2]
    result = verify(records)
    assert (result.first_bad_seq, result.reason, result.checked) == (3, "deleted", 2)
    first_gone = verify(_chain(3)[1:])
    assert (first_gone.first_bad_seq, first_gone.reason) == (1, "deleted")


def test_swapped_seqs_are_found_as_reordered_at_the_earlier_one() -> None:
    records = _chain(8)
    a, b = records[2], records[5]
    records[2], records[5] = (dataclasses.replace(b, seq=a.seq), dataclasses.replace(a, seq=b.seq))
    result = verify(records)
    assert (result.first_bad_seq, result.reason) == (3, "reordered")


def test_out_of_order_stream_is_reordered() -> None:
    records = _chain(4)
    result = verify([records[0], records[1], records[1], records[2]])
    assert (result.first_bad_seq, result.reason) == (2, "reordered")


def test_truncation_shows_only_against_an_anchor() -> None:
    records = _chain(5)
    kept = anchor(records[-1])
    assert verify(records[:-2]).ok  # a cut-off chain is whole by itself
    result = verify(records[:-2], anchor=parse_anchor(kept))
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 4, "truncated")
    assert verify(records, anchor=parse_anchor(kept)).ok
    empty = verify([], anchor=parse_anchor(kept))
    assert (empty.first_bad_seq, empty.reason) == (1, "truncated")


def test_anchor_catches_a_recomputed_unkeyed_chain() -> None:
    records = _chain(4)
    kept = parse_anchor(anchor(records[-1], digits=16))  # a short anchor fits a slip
    forged = [records[0], _resealed(records[1], detail={"n": "forged"})]
    for original in records[2:]:
        forged.append(_resealed(original, prev_hash=forged[-1].hash))
    assert verify(forged).ok  # without a key or an anchor, a full rewrite is invisible
    result = verify(forged, anchor=kept)
    assert (result.first_bad_seq, result.reason) == (4, "changed")


def test_keyed_chain_cannot_be_recomputed_without_the_key() -> None:
    records = _chain(4, KEY)
    assert verify(records, KEY).ok
    for guess in (None, b"\x00" * 32, hashlib.sha256(b"audit").digest()):
        forged = [records[0], _resealed(records[1], guess, detail={"n": "forged"})]
        for original in records[2:]:
            forged.append(_resealed(original, guess, prev_hash=forged[-1].hash))
        result = verify(forged, KEY)
        assert (result.ok, result.first_bad_seq) == (False, 2)
    wrong = verify(records, ChainKey(b"\x01" * 32))
    assert (wrong.first_bad_seq, wrong.reason) == (1, "changed")
    assert not verify(records).ok  # a keyed chain does not pass as unkeyed


def test_chain_key_rules() -> None:
    with pytest.raises(CryptoError):
        ChainKey(b"short")
    assert KEY.secret.hex() not in repr(KEY)
    master = b"\x42" * 32
    derived = ChainKey.from_master(master)
    assert derived == ChainKey.from_master(master) and derived.secret != master
    assert len(derived.key_id) == 16 and derived.key_id != KEY.key_id


@pytest.mark.parametrize(
    "text",
    ["", "12", "0:" + "a" * 64, "x:" + "a" * 64, "3:" + "a" * 15, "3:" + "g" * 64, "3:" + "a" * 65],
)
def test_bad_anchors_are_input_errors(text: str) -> None:
    with pytest.raises(InputError):
        parse_anchor(text)


def test_anchor_round_trip_and_upper_case() -> None:
    record = _chain(3)[-1]
    parsed = parse_anchor(anchor(record).upper())
    assert (parsed.seq, parsed.hash) == (3, record.hash) and parsed.matches(record)


@pytest.mark.parametrize(
    "key",
    [
        "pin",
        "PIN",
        "pin_block",
        "new_password",
        "Password",
        "track2",
        "track_data",
        "cvn2",
        "CVV",
        "oldPin",
    ],
)
def test_secret_keys_are_refused_even_nested(key: str) -> None:
    for detail in ({key: "x"}, {"outer": {key: "x"}}, {"list": [{key: 1}]}):
        with pytest.raises(InputError, match="refused"):
            append(
                None,
                at_ms=T0,
                actor="a",
                role="r",
                action="login.failed",
                target="",
                detail=detail,
                source="console",
            )


def test_pans_are_masked_in_detail_actor_and_target() -> None:
    record = append(
        None,
        at_ms=T0,
        actor=f"user {PAN}",
        role="cashier",
        action="txn.refund",
        target=PAN,
        detail={"note": f"card {PAN} ok", PAN: int(PAN), "pin_tries": 2},
        source="terminal",
    )
    text = json.dumps(dataclasses.asdict(record))
    assert PAN not in text and PAN[6:15] not in text
    assert "622202" in record.target and record.target.endswith("0128")
    assert record.detail["pin_tries"] == 2  # a count of PIN tries is no secret
    assert verify([record]).ok


@pytest.mark.parametrize("value", [1.5, b"bytes", {1: "x"}, object(), "\ud800"])
def test_non_json_detail_values_are_refused(value: object) -> None:
    with pytest.raises(InputError):
        append(
            None,
            at_ms=T0,
            actor="a",
            role="r",
            action="config.change",
            target="",
            detail={"v": value},
            source="console",
        )


def test_detail_size_and_depth_are_bounded() -> None:
    deep: dict[str, object] = {}
    for _ in range(12):
        deep = {"d": deep}
    for detail in (deep, {"big": "x" * 9000}):
        with pytest.raises(InputError):
            append(
                None,
                at_ms=T0,
                actor="a",
                role="r",
                action="config.change",
                target="",
                detail=detail,
                source="console",
            )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("action", "void"),
        ("action", "Txn.Void"),
        ("action", "txn..void"),
        ("source", "web"),
        ("at_ms", -1),
        ("at_ms", True),
    ],
)
def test_bad_fields_are_input_errors(field: str, value: object) -> None:
    fields: dict[str, object] = {
        "at_ms": T0,
        "actor": "a",
        "role": "r",
        "action": "txn.void",
        "target": "",
        "detail": {},
        "source": "host",
    }
    fields[field] = value
    with pytest.raises(InputError):
        append(None, **fields)  # type: ignore[arg-type]


def test_a_huge_user_name_is_clipped_not_refused() -> None:
    record = append(
        None,
        at_ms=T0,
        actor="x" * 5000,
        role="?",
        action="login.failed",
        target="y" * 5000,
        detail={},
        source="console",
    )
    assert len(record.actor) == 128 and len(record.target) == 256
    assert record.hash == record_hash(record, None)


@given(st.integers(2, 15), st.data())
def test_any_single_change_or_deletion_is_located(n: int, data: st.DataObject) -> None:
    records = _chain(n)
    i = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["at_ms", "actor", "role", "action", "target", "detail"]))
    replacement = {
        "at_ms": records[i].at_ms + 1,
        "actor": "mallory",
        "role": "admin",
        "action": "txn.refund",
        "target": "other",
        "detail": {"n": -1},
    }[field]
    changed = list(records)
    changed[i] = dataclasses.replace(records[i], **{field: replacement})  # type: ignore[arg-type]
    result = verify(changed)
    assert (result.first_bad_seq, result.reason, result.checked) == (i + 1, "changed", i)
    if i < n - 1:
        gone = verify(records[:i] + records[i + 1 :])
        assert (gone.first_bad_seq, gone.reason) == (i + 1, "deleted")
