"""Fuzzing the receive path in the suite (hypothesis; the libFuzzer target is
fuzz/fuzz_decode.py): frame buffer -> frame splitter -> decoder -> inspection and render,
on random streams and on mutated valid frames. Only DecodeError (inspection: also
EncodeError and CryptoError) may come out, every input is answered within a time bound,
and whatever decodes re-encodes to the same message."""

from __future__ import annotations

import contextlib
import itertools
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kassa.errors import CryptoError, DecodeError, EncodeError
from kassa.iso8583.codec import decode, encode
from kassa.iso8583.framing import FrameBuffer, HeaderMode, split_body
from kassa.iso8583.inspect import decode_frame
from kassa.iso8583.message import Message
from kassa.iso8583.render import field_rows

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
sys.path.insert(0, str(FUZZ))
from seed_corpus import frames  # noqa: E402

SEEDS = frames()
# Decoding one frame of at most 2 KiB takes well under a millisecond; a second means a
# pathological path (a quadratic scan, a retry loop) that a hostile peer could exploit.
time_bound_s = 1.0


def _receive(chunks: list[bytes], mode: HeaderMode) -> list[Message]:
    """What the host does with a byte stream; DecodeError ends it, as it ends a connection."""
    buffer = FrameBuffer()
    decoded = []
    for chunk in chunks:
        for body in buffer.feed(chunk):
            frame = split_body(body, mode)
            try:
                decoded.append(decode(frame.message, frame.message_offset))
            except DecodeError:
                continue  # a bad message costs only its own reply, not the connection
    return decoded


def _split(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 6)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif op == 2:
            del out[at : at + rng.randint(1, 8)]
        elif op == 3:
            out[at:at] = out[at : at + rng.randint(1, 40)]  # a repeated run
        elif op == 4 and len(out) > 2:
            out[: rng.choice((1, 2))] = rng.randbytes(2)  # the length prefix lies
        else:
            out = out[: rng.randrange(len(out) + 1)]
    return bytes(out)


def _bounded(work: object) -> None:
    started = time.monotonic()
    assert callable(work)
    work()
    assert time.monotonic() - started < time_bound_s


@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=2048), st.sampled_from(list(HeaderMode)), st.randoms(use_true_random=False)
)
def test_random_streams_raise_only_decode_error(
    data: bytes, mode: HeaderMode, rng: random.Random
) -> None:
    def work() -> None:
        with contextlib.suppress(DecodeError):
            _receive(_split(data, rng), mode)

    _bounded(work)


@settings(max_examples=600, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_mutated_frames_decode_canonically_or_fail_cleanly(
    seeds: list[bytes], rng: random.Random
) -> None:
    stream = b"".join(_mutate(s, rng) if rng.random() < 0.7 else s for s in seeds)

    def work() -> None:
        try:
            messages = _receive(_split(stream, rng), HeaderMode.AUTO)
        except DecodeError:
            return
        for msg in messages:
            assert decode(encode(msg)) == msg

    _bounded(work)


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS), st.randoms(use_true_random=False), st.binary(min_size=16, max_size=16)
)
def test_inspection_and_rendering_of_hostile_frames(
    seed: bytes, rng: random.Random, key: bytes
) -> None:
    """`kassa iso decode --mak --tmk --pretty` on anything: a clean error or rows."""
    data = _mutate(seed, rng) if rng.random() < 0.8 else seed

    def work() -> None:
        try:
            doc = decode_frame(data, rng.choice(list(HeaderMode)), key, key)
        except (DecodeError, EncodeError, CryptoError):
            return
        rows = field_rows(doc["fields"])
        assert [r[0] for r in rows] == sorted(doc["fields"], key=int)

    _bounded(work)


def test_chunking_never_changes_what_is_received() -> None:
    rng = random.Random(8583)
    for _ in range(300):
        stream = b"".join(rng.sample(SEEDS, 3)) + _mutate(rng.choice(SEEDS), rng)
        whole: list[Message] | str
        try:
            whole = _receive([stream], HeaderMode.AUTO)
        except DecodeError as exc:
            whole = str(exc)
        try:
            chunked: list[Message] | str = _receive(_split(stream, rng), HeaderMode.AUTO)
        except DecodeError as exc:
            chunked = str(exc)
        assert chunked == whole


def test_the_libfuzzer_target_runs(tmp_path: Path) -> None:
    """fuzz/fuzz_decode.py stays runnable: a short libFuzzer run over the seed corpus."""
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris)")
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(FUZZ / "seed_corpus.py"), str(corpus)], check=True)
    done = subprocess.run(
        [sys.executable, str(FUZZ / "fuzz_decode.py"), "-runs=20000", "-max_len=1200",
         str(corpus)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 20000 runs" in done.stderr
