"""Write a seed corpus of valid frames for `fuzz_decode.py`: every MTI of the dialect with
a few field sets, each as a whole length-prefixed frame (TPDU, header) and as a bare
message. A fuzzer that starts from valid frames reaches the field decoders at once.

    .venv/bin/python fuzz/seed_corpus.py fuzz/corpus/decode
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from kassa.iso8583.codec import encode
from kassa.iso8583.dialect import FIELDS, MTI_NAMES, FieldDef, Kind, Length
from kassa.iso8583.framing import Frame, Header
from kassa.iso8583.message import Message

TPDU = bytes.fromhex("6000030000")
FIELD_SETS = (
    (2, 3, 4, 11, 14, 22, 25, 26, 35, 41, 42, 49, 52, 53, 60, 64),  # a sale with a swipe
    (3, 4, 11, 22, 25, 37, 38, 39, 41, 42, 49, 55, 60, 61, 62, 63),
    (11, 12, 13, 32, 37, 39, 41, 42, 44, 48, 54, 60, 62, 63),
    (11, 41, 42, 60, 63),  # a sign-on
)


def _value(d: FieldDef, seed: int) -> str:
    size = d.size if d.length is Length.FIXED else max(1, min(d.size, 8 + seed % 11))
    if d.kind is Kind.N:
        return "".join(str((seed + i) % 10) for i in range(size))
    if d.kind is Kind.Z:
        return "".join("0123456789D"[(seed + i) % 11] for i in range(size))
    if d.kind is Kind.B:
        return bytes((seed * 7 + i) % 256 for i in range(size)).hex().upper()
    return "".join(chr(0x41 + (seed + i) % 26) for i in range(size))


def frames() -> list[bytes]:
    found = []
    for mti in sorted(MTI_NAMES):
        for seed, numbers in enumerate(FIELD_SETS):
            msg = Message(mti, {n: _value(FIELDS[n], seed) for n in numbers if n in FIELDS})
            body = encode(msg)
            found.append(Frame(TPDU, Header.parse_hex(Header.DEFAULT_HEX), body).to_bytes())
            found.append(body)
    return found


def main(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for data in frames():
        (target / hashlib.sha1(data).hexdigest()).write_bytes(data)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/decode"))
