"""libFuzzer target (atheris): the frame buffer, frame splitter and message decoder.

What must hold for any bytes in any chunking:
- `FrameBuffer.feed`, `split_body` and `decode` raise nothing but `DecodeError`;
- a message that decodes re-encodes, and the re-encoding decodes to the same message
  (so a host that stores what it decoded can always answer with it).

    .venv/bin/python fuzz/fuzz_decode.py -max_total_time=600 -max_len=1200 fuzz/corpus/decode

atheris (pip install atheris; 3.0.0 has wheels for CPython 3.11 on x86-64 Linux) is not a
dependency of Kassa: this file is run by hand or by `make fuzz`, never by pytest.
"""

from __future__ import annotations

import itertools
import sys

import atheris

with atheris.instrument_imports():
    from kassa.errors import DecodeError
    from kassa.iso8583.codec import decode, encode
    from kassa.iso8583.framing import FrameBuffer, HeaderMode, split_body


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _one_message(message: bytes, offset: int) -> None:
    try:
        msg = decode(message, offset)
    except DecodeError:
        return
    again = decode(encode(msg))  # an EncodeError or a DecodeError here is a finding
    if again != msg:
        raise AssertionError(f"decode(encode(m)) != m for {message.hex()}")


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    mode = provider.PickValueInList(list(HeaderMode))
    cuts = [provider.ConsumeIntInRange(0, 4096) for _ in range(provider.ConsumeIntInRange(0, 8))]
    stream = provider.ConsumeBytes(provider.remaining_bytes())
    frames = FrameBuffer()
    try:
        for chunk in _chunks(stream, cuts):
            for body in frames.feed(chunk):
                frame = split_body(body, mode)
                _one_message(frame.message, frame.message_offset)
    except DecodeError:
        pass
    _one_message(stream, 0)  # the decoder alone, on bytes that were never framed


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
