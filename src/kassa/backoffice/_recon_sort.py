"""An external sort for reconciliation inputs: bounded memory, stable, fast.

`SortedInput` sorts rows by a key without holding them all: each chunk of
``chunk_rows`` is sorted in memory and spilled to a temporary file as blocks of
``block_rows`` (length-prefixed ``marshal``: one read and one ``loads`` per block, not
many small reads). Reading merges the runs a few blocks at a time: every row below the
smallest "last key loaded" of the runs is in memory, so those rows are taken from every
run, concatenated in run order and sorted (timsort merges the sorted pieces in C; it is
stable, so equal keys keep their input order). Memory: one chunk while adding, one block
per run while reading (more only for a key repeated across many blocks); at most
``merge_fan_in`` runs: when a spill would make more, the runs so far are merged into one
first (an extra pass over the data, beyond 1.6 million rows with the defaults).
"""

from __future__ import annotations

import marshal
import tempfile
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import IO, Any

from kassa.errors import InputError
from kassa.store import Row

sort_chunk_rows = 100_000
spill_block_rows = 4_096
merge_fan_in = 16  # runs read at once; more are first merged into one (memory stays flat)
bad_rows_shown_max = 10
_LENGTH_BYTES = 8


class SortedInput:
    """Input rows sorted by ``key`` (see the module docstring).

    ``add`` every source, then ``check`` (InputError listing ``file:line: reason`` of
    the bad rows: a run never reconciles half a file), then read ``rows`` (or
    ``blocks``) once, then ``close``.
    """

    def __init__(
        self, key: Callable[[Row], Any], chunk_rows: int | None = None,
        block_rows: int | None = None,
    ) -> None:  # fmt: skip
        self.key = key
        self.chunk_rows = chunk_rows or sort_chunk_rows
        self.block_rows = block_rows or spill_block_rows
        assert self.chunk_rows > 0 and self.block_rows > 0
        self.bad: list[str] = []
        self.count = 0
        self.tids: set[str] = set()
        self._buffer: list[Row] = []
        self._runs: list[IO[bytes]] = []

    def add(self, rows: Iterable[Row | str]) -> None:
        """Rows, and ``file:line: reason`` texts for the bad ones (kept for `check`)."""
        buffer, bad, tids, limit = self._buffer, self.bad, self.tids, self.chunk_rows
        for row in rows:
            if type(row) is str:
                bad.append(row)
                continue
            buffer.append(row)  # type: ignore[arg-type]
            tids.add(row[0])
            if len(buffer) >= limit:
                self._spill()

    def _spill(self) -> None:
        if len(self._runs) + 1 >= max(2, merge_fan_in):
            runs, self._runs = self._runs, []
            try:
                self._runs.append(_write_run(merge_blocks([_read_run(r) for r in runs], self.key)))
            finally:
                for run in runs:
                    run.close()
        self._buffer.sort(key=self.key)
        size = self.block_rows
        blocks = (self._buffer[at : at + size] for at in range(0, len(self._buffer), size))
        self._runs.append(_write_run(blocks))
        self._buffer.clear()  # in place: add() holds a reference to it

    def check(self) -> None:
        if self.bad:
            shown = "; ".join(self.bad[:bad_rows_shown_max])
            more = len(self.bad) - bad_rows_shown_max
            tail = f" (and {more} more)" if more > 0 else ""
            raise InputError(
                f"{len(self.bad)} bad input row(s), fix them and run again: {shown}{tail}"
            )

    def blocks(self) -> Iterator[list[Row]]:
        """Every row in ``key`` order (stable), as consecutive non-empty lists."""
        self._buffer.sort(key=self.key)
        runs = [_read_run(run) for run in self._runs]
        if self._buffer:
            runs.append(iter([self._buffer]))
        merged = runs[0] if len(runs) == 1 else merge_blocks(runs, self.key)
        for block in merged:
            self.count += len(block)
            yield block

    def rows(self) -> Iterator[Row]:
        """Every row, in ``key`` order (a stable sort: equal keys keep their input order)."""
        return chain.from_iterable(self.blocks())

    def close(self) -> None:
        for run in self._runs:
            run.close()
        self._runs = []
        self._buffer.clear()


def _write_run(blocks: Iterable[list[Row]]) -> IO[bytes]:
    run = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    for block in blocks:
        data = marshal.dumps(block)
        run.write(len(data).to_bytes(_LENGTH_BYTES, "little"))
        run.write(data)
    run.seek(0)
    return run


def _read_run(run: IO[bytes]) -> Iterator[list[Row]]:
    while head := run.read(_LENGTH_BYTES):
        size = int.from_bytes(head, "little")
        data = run.read(size)
        assert len(head) == _LENGTH_BYTES and len(data) == size, "spill file cut short"
        yield marshal.loads(data)


def merge_blocks(runs: list[Iterator[list[Row]]], key: Callable[[Row], Any]) -> Iterator[list[Row]]:
    """Runs of sorted blocks (each run sorted as a whole) merged into sorted blocks; rows
    of equal keys come out in run order, then in their order within the run."""
    live: list[tuple[list[Row], Iterator[list[Row]]]] = []
    for run in runs:
        first = next(run, None)
        if first:
            live.append((first, run))
    starts = [0] * len(live)
    while live:
        pending = [key(buf[-1]) for buf, run in live if run is not _DONE]
        if not pending:  # every run fully loaded: the rest in one go
            rest = (buf[s:] for (buf, _), s in zip(live, starts, strict=True))
            out = list(chain.from_iterable(rest))
            out.sort(key=key)
            yield out
            return
        # Rows below the smallest last key loaded: no run holds another one unread.
        bound = min(pending)
        out = []
        for i, (buf, _) in enumerate(live):
            cut = bisect_left(buf, bound, starts[i], key=key)
            out += buf[starts[i] : cut]
            starts[i] = cut
        if out:
            out.sort(key=key)
            yield out
        live, starts = _refill(live, starts, key, bound, grow=not out)


_DONE: Iterator[list[Row]] = iter(())


def _refill(
    live: list[tuple[list[Row], Iterator[list[Row]]]],
    starts: list[int],
    key: Callable[[Row], Any],
    bound: Any,
    grow: bool,
) -> tuple[list[tuple[list[Row], Iterator[list[Row]]]], list[int]]:
    """Load the next block of each run used up; when nothing could be taken (every row
    loaded equals ``bound``), append the next block to the runs ending at ``bound``."""
    kept: list[tuple[list[Row], Iterator[list[Row]]]] = []
    kept_starts: list[int] = []
    for (loaded, run), start in zip(live, starts, strict=True):
        buf, source, at = loaded, run, start
        used_up = at >= len(buf)
        if source is not _DONE and (used_up or (grow and key(buf[-1]) == bound)):
            block = next(source, None)
            if block is None:
                source = _DONE
            else:
                buf, at = (block, 0) if used_up else (buf[at:] + block, 0)
        if at < len(buf):
            kept.append((buf, source))
            kept_starts.append(at)
    return kept, kept_starts
