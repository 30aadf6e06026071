"""Codec benchmark: encode + decode of a full sale (0200, 19 fields with F55) and its 0210.

Kassa's validated codec (Message -> bytes -> Message, BCD checked, dict never mutated)
against bare pyiso8583 with the same field spec, measured in the same run, interleaved
in rounds so that machine noise hits both alike. Prints pairs per second and the ratio.
Goal (issue 2): ratio >= 0.8.

    .venv/bin/python benchmarks/codec.py [--rounds 7] [--pairs 3000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import iso8583
from kassa.iso8583 import Message, decode, encode
from kassa.iso8583.dialect import PYISO_SPEC

F55 = (
    "9F2608C2A1B0D3E4F5061728"
    "9F2701809F101307010103A0A802010A010000000000C8A1B2C39F3704AABBCCDD"
    "9F360200A8950580800488009A032611189C01009F02060000000128005F2A020156"
    "820279009F1A0201569F03060000000000009F330360F8C89F34034203009F3501229F1E0831323334353637388407A0000003330101"
)
SALE = {
    2: "6212264000001899463", 3: "000000", 4: "000000012800", 11: "000123", 14: "2612",
    22: "051", 23: "001", 25: "00", 26: "12", 35: "6212264000001899463D26122010000012345",
    41: "10000001", 42: "898310048990001", 49: "156", 52: "8A1B2C3D4E5F6071",
    53: "2600000000000000", 55: F55, 60: "2200000100050", 63: "01 ", 64: "4130393133463035",
}  # fmt: skip
REPLY = {
    3: "000000", 4: "000000012800", 11: "000123", 12: "190640", 13: "1118", 15: "1118",
    22: "051", 25: "00", 32: "48520000", 37: "000000000003", 38: "179645", 39: "00",
    41: "10000001", 42: "898310048990001", 49: "156", 60: "2200000100050",
    64: "4130393133463035",
}  # fmt: skip


def kassa_pairs(n: int) -> float:
    request, response = Message("0200", SALE), Message("0210", REPLY)
    start = time.perf_counter()
    for _ in range(n):
        decode(encode(request))
        decode(encode(response))
    return n / (time.perf_counter() - start)


def bare_pairs(n: int) -> float:
    request = {"t": "0200", **{str(k): v for k, v in SALE.items()}}
    response = {"t": "0210", **{str(k): v for k, v in REPLY.items()}}
    start = time.perf_counter()
    for _ in range(n):
        raw, _ = iso8583.encode(dict(request), PYISO_SPEC)
        iso8583.decode(raw, PYISO_SPEC)
        raw, _ = iso8583.encode(dict(response), PYISO_SPEC)
        iso8583.decode(raw, PYISO_SPEC)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=3000)
    args = parser.parse_args()
    kassa_pairs(200), bare_pairs(200)  # warm up
    kassa_runs, bare_runs = [], []
    for _ in range(args.rounds):
        bare_runs.append(bare_pairs(args.pairs))
        kassa_runs.append(kassa_pairs(args.pairs))
    bare, kassa = statistics.median(bare_runs), statistics.median(kassa_runs)
    print(f"{'codec':<34}{'sale+reply pairs/s (median)':>30}")
    print(f"{'bare pyiso8583, same spec':<34}{bare:>30,.0f}")
    print(f"{'kassa validated codec':<34}{kassa:>30,.0f}")
    print(f"ratio kassa / bare: {kassa / bare:.2f}  (goal >= 0.80)")


if __name__ == "__main__":
    main()
