"""`kassa iso decode / encode` as a user runs them: real process, real arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kassa.iso8583 import Message
from kassa.iso8583.framing import Frame, Header
from kassa.iso8583.keys import KeyMode, WorkingKeys, check_value, wrap_working_keys
from kassa.terminal import requests as rq

MAK = bytes.fromhex("2222222222222222")
TMK = bytes.fromhex("11111111111111112222222222222222")
TPDU = bytes.fromhex("6000030000")
HEADER = Header(bytes.fromhex("603100310000"))
SALE = Message(
    "0200",
    {2: "6212264000001899463", 3: "000000", 4: "000000010000", 11: "000123", 22: "021",
     25: "00", 41: "12345678", 42: "123456789012345", 49: "156", 60: "22000001000"},
)  # fmt: skip


def kassa(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from kassa.cli import main; main()", *args],
        capture_output=True, text=True, input=stdin, timeout=60, check=False,
    )  # fmt: skip


def wire(msg: Message, mak: bytes | None = None, header: bool = True) -> str:
    return Frame(TPDU, HEADER if header else None, rq.seal(msg, mak)).to_bytes().hex().upper()


def test_decode_prints_the_documented_json_shape() -> None:
    out = kassa("iso", "decode", wire(SALE, MAK), "--mak", MAK.hex())
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"length", "tpdu", "header", "mti", "fields", "mac_ok", "keys"}
    assert doc["tpdu"] == "6000030000" and doc["header"] == "603100310000"
    assert doc["mti"] == "0200" and doc["mac_ok"] is True and doc["keys"] is None
    assert doc["fields"]["2"] == "6212264000001899463" and doc["fields"]["22"] == "021"
    assert doc["length"] == len(bytes.fromhex(wire(SALE, MAK))) - 2


def test_decode_without_prefix_with_spaces_and_no_header() -> None:
    text = wire(SALE, None, header=False)[4:]
    spaced = " ".join(text[i : i + 2] for i in range(0, len(text), 2))
    doc = json.loads(kassa("iso", "decode", spaced, "--no-header").stdout)
    assert doc["length"] is None and doc["header"] is None and doc["mac_ok"] is None


def test_wrong_mak_says_mac_not_ok() -> None:
    doc = json.loads(kassa("iso", "decode", wire(SALE, MAK), "--mak", "33" * 8).stdout)
    assert doc["mac_ok"] is False


def test_tmk_decrypts_the_sign_on_keys_and_checks_them() -> None:
    keys = WorkingKeys(bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")[:16],
                       bytes.fromhex("FEDCBA9876543210"), None)  # fmt: skip
    f62 = wrap_working_keys(TMK, keys, KeyMode.DOUBLE)
    reply = Message("0810", {11: "000001", 39: "00", 41: "12345678", 42: "123456789012345",
                             60: "00000001003", 62: f62.hex()})  # fmt: skip
    doc = json.loads(kassa("iso", "decode", wire(reply), "--tmk", TMK.hex()).stdout)
    assert doc["keys"] == {"pik": keys.pik.hex().upper(), "mak": keys.mak.hex().upper(),
                           "tdk": None, "kcv_ok": True}  # fmt: skip
    assert check_value(keys.mak)  # the values come from the keys, not the test
    broken = bytearray(f62)
    broken[-1] ^= 1
    bad = reply.with_fields(f62=bytes(broken).hex())
    assert (
        json.loads(kassa("iso", "decode", wire(bad), "--tmk", TMK.hex()).stdout)["keys"]["kcv_ok"]
        is False
    )


def test_pretty_masks_the_card_number() -> None:
    out = kassa("iso", "decode", wire(SALE), "--pretty")
    assert out.returncode == 0
    assert "6212264000001899463" not in out.stdout and "621226" in out.stdout


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("00ZZ", "'Z' is not a hex digit"),
        ("600003000060310031000002", "MTI"),
        ("0200", "TPDU"),
    ],
)
def test_bad_input_is_one_line_without_traceback(text: str, words: str) -> None:
    out = kassa("iso", "decode", text)
    assert out.returncode != 0
    assert words in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_bad_bcd_names_the_field_and_byte_offset() -> None:
    raw = bytearray.fromhex(wire(SALE))
    offset = raw.index(bytes.fromhex("000000010000"))
    raw[offset + 3] = 0xA1
    out = kassa("iso", "decode", raw.hex())
    assert out.returncode != 0
    assert f"field 4, byte {offset}" in out.stderr


def test_bad_key_option_is_one_line() -> None:
    out = kassa("iso", "decode", wire(SALE), "--mak", "XYZ")
    assert out.returncode != 0 and "--mak" in out.stderr and "Traceback" not in out.stderr


def test_encode_is_the_inverse_of_decode_and_computes_the_mac(tmp_path: Path) -> None:
    original = wire(SALE, MAK)
    doc = json.loads(kassa("iso", "decode", original).stdout)
    del doc["fields"]["64"]
    path = tmp_path / "sale.json"
    path.write_text(json.dumps(doc))
    out = kassa("iso", "encode", str(path), "--mak", MAK.hex())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == original


def test_encode_refuses_bad_documents(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"mti": "0200", "fields": {"4": "12.50"}}))
    out = kassa("iso", "encode", str(path))
    assert out.returncode != 0 and "field 4" in out.stderr and "Traceback" not in out.stderr
    path.write_text("{not json")
    out = kassa("iso", "encode", str(path))
    assert out.returncode != 0 and "not JSON" in out.stderr
    out = kassa("iso", "encode", str(tmp_path / "missing.json"))
    assert out.returncode != 0 and "cannot read" in out.stderr
