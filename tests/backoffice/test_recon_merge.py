"""The streamed reconciliation (external sort, paged host, merge with its shortcut for
agreeing pairs) finds exactly what a plain in-memory grouping finds, on random days.

The reference below holds everything in dicts: every identity's journal rows (in file
order) and host rows (in MTI order, as the host's index gives them), judged by
`classify`; rows that met nobody paired once more by identity, then by RRN. Tiny sort
chunks, spill blocks and host pages make the fast path spill, merge and page every time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.backoffice import _recon_sort, recon_views
from kassa.backoffice.recon import ReconSources, classify, ensure_schema, run_recon
from kassa.backoffice.recon_schema import Difference, list_differences
from kassa.backoffice.recon_views import HOST_MTIS, HostRow, TermRow, Window
from kassa.host.schema import COMPONENT, MIGRATIONS
from kassa.store import Database, connect, migrate

TIDS = ("00000001", "00000002", "0000000A")
STANS = tuple(f"{n:06d}" for n in range(1, 6))
RRNS = (None, "000000000001", "000000000002", "000000000003")
TIMES = (1_000, 2_000, 86_400_000 * 3)
AMOUNTS = (100, 101, 250)

identity = st.tuples(st.sampled_from(TIDS), st.sampled_from(("000001", "000002")),
                     st.sampled_from(STANS))  # fmt: skip
journal_line = st.tuples(
    identity, st.sampled_from(sorted(recon_views.TERMINAL_STATUS)),
    st.sampled_from(AMOUNTS), st.sampled_from(RRNS), st.sampled_from(TIMES),
    st.sampled_from(("sale", "sale", "void", "balance")),
)  # fmt: skip
host_row = st.tuples(
    identity, st.sampled_from(("0200", "0200", "0100", "0220", "0400")),
    st.sampled_from(sorted(recon_views.HOST_STATUS)), st.sampled_from(AMOUNTS),
    st.sampled_from(RRNS), st.sampled_from(TIMES), st.sampled_from(("sale", "void", "balance")),
)  # fmt: skip
windows = st.sampled_from((Window(), Window(1_500, None), Window(None, 1_500), Window(0, 10)))
# The host's status for a journal state, when the host is to agree with the line.
_AGREEING = {"approved": "approved", "uploaded": "approved", "voided": "voided",
             "declined": "declined", "reversed": "reversed"}  # fmt: skip


def _with_echoes(lines: list[Any], host: list[Any], echo: list[int]) -> list[Any]:
    """``host`` plus, for each index in ``echo``, a host row agreeing with that line (most
    lines of a real day agree, which is the path the fast merge takes)."""
    out = list(host)
    for i in echo:
        if lines:
            ident, state, amount, rrn, at, kind = lines[i % len(lines)]
            status = _AGREEING.get(state, "approved")
            out.insert(i % (len(out) + 1), (ident, "0200", status, amount, rrn, at, kind))
    return out


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = connect(db_url)
    migrate(database, COMPONENT, MIGRATIONS)
    ensure_schema(database)
    try:
        yield database
    finally:
        database.close()


def _write_host(db: Database, rows: list[tuple[Any, ...]]) -> list[HostRow]:
    out, seen = [], set()
    with db.transaction() as tx:
        tx.execute("DELETE FROM txns")
        tx.execute("DELETE FROM recon_differences")
        for (tid, batch, stan), mti, status, amount, rrn, at, kind in rows:
            if (tid, batch, stan, mti) in seen:
                continue  # the host keeps one row per identity and MTI
            seen.add((tid, batch, stan, mti))
            got = tx.fetchone(
                "INSERT INTO txns (tid, batch, stan, mti, txn_type, content_hash, mid, card_ref,"
                " pan_masked, amount_fen, rrn, response_code, status, settle_date, created_ms,"
                " updated_ms, request, response) VALUES (?, ?, ?, ?, ?, 'h', '898310048990001',"
                " 'c1', '621226******1234', ?, ?, '00', ?, '1118', ?, ?, ?, ?) RETURNING id",
                (tid, batch, stan, mti, kind, amount, rrn, status, at, at, b"", b""),
            )
            assert got is not None
            out.append(HostRow(tid, batch, stan, mti, rrn, kind, amount, status, at, int(got[0]),
                               "c1", "621226******1234", "898310048990001"))  # fmt: skip
    return out


def _write_journals(tmp: Path, lines: list[Any], split: int) -> tuple[list[TermRow], list[Path]]:
    files = [tmp / "a.jsonl", tmp / "b.jsonl"]
    texts: list[list[str]] = [[], []]
    rows = []
    for n, ((tid, batch, stan), state, amount, rrn, at, kind) in enumerate(lines):
        which = 0 if n < split else 1
        doc = {"tid": tid, "batch": batch, "stan": stan, "state": state, "amount_fen": amount,
               "rrn": rrn, "created_ms": at, "txn_type": kind, "pan_masked": "621226******1234"}  # fmt: skip
        texts[which].append(json.dumps(doc))
        if kind != "balance":
            origin = f"{files[which].name}:{len(texts[which])}"
            rows.append(TermRow(tid, batch, stan, rrn, kind, amount, state, at,
                                "621226******1234", origin))  # fmt: skip
    for path, text in zip(files, texts, strict=True):
        path.write_text("".join(t + "\n" for t in text), encoding="utf-8")
    # The journal is read file after file: the reference groups in that order too.
    rows.sort(key=lambda r: (r.origin.split(":")[0], int(r.origin.split(":")[1])))
    return rows, files


def reference(terms: list[TermRow], hosts: list[HostRow],
              window: Window) -> tuple[list[Difference], int]:  # fmt: skip
    """Every difference and the count of agreeing identities, the plain way."""
    low, high = window.widened()
    tids = {r.tid for r in terms}
    groups: dict[tuple[str, str, str], tuple[list[TermRow], list[HostRow]]] = {}
    for t in terms:
        groups.setdefault((t.tid, t.batch, t.stan), ([], []))[0].append(t)
    in_scope = [h for h in hosts if h.tid in tids and h.mti in HOST_MTIS
                and h.txn_type != "balance" and low <= h.created_ms < high]  # fmt: skip
    for h in sorted(in_scope, key=lambda h: h.mti):
        groups.setdefault((h.tid, h.batch, h.stan), ([], []))[1].append(h)
    diffs: list[Difference] = []
    matched = 0
    lonely = []
    for key in sorted(groups):
        mine, theirs = groups[key]
        if not any(window.holds(r.created_ms) for r in [*mine, *theirs]):
            continue
        if mine and theirs:
            found = classify("terminal", mine, theirs)
            diffs += found
            matched += not found
        else:
            lonely.append((mine, theirs))
    for mine, theirs in _pair_again(lonely):
        found = classify("terminal", mine, theirs)
        diffs += found
        matched += not found
    return diffs, matched


def _pair_again(
    lonely: list[tuple[list[TermRow], list[HostRow]]],
) -> list[tuple[list[TermRow], list[HostRow]]]:
    hosts = {(h[0].tid, h[0].batch, h[0].stan): h for _, h in lonely if h}
    by_rrn = {r.rrn: key for key, rows in hosts.items() for r in rows if r.rrn}
    pairs = []
    for mine, _ in lonely:
        if mine:
            key = (mine[0].tid, mine[0].batch, mine[0].stan)
            if key not in hosts and mine[0].rrn in by_rrn:
                key = by_rrn[mine[0].rrn or ""]
            pairs.append((mine, hosts.pop(key, [])))
    return pairs + [([], rows) for rows in hosts.values()]


def _canonical(diffs: list[Difference]) -> list[str]:
    return sorted(json.dumps([d.identity, d.klass, d.detail, d.terminal_fen, d.host_fen,
                              d.txn_ms, d.terminal_view, d.host_view], sort_keys=True)
                  for d in diffs)  # fmt: skip


def test_the_streamed_run_finds_what_the_plain_grouping_finds(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @settings(max_examples=80, deadline=None)
    @given(st.lists(journal_line, max_size=25), st.lists(host_row, max_size=8),
           st.lists(st.integers(0, 30), max_size=25), windows, st.integers(0, 25),
           st.integers(1, 6), st.integers(1, 3), st.integers(1, 4))  # fmt: skip
    def check(lines: list[Any], host: list[Any], echo: list[int], window: Window, split: int,
              chunk: int, block: int, page: int) -> None:  # fmt: skip
        monkeypatch.setattr(_recon_sort, "sort_chunk_rows", chunk)
        monkeypatch.setattr(_recon_sort, "spill_block_rows", block)
        monkeypatch.setattr(recon_views, "page_rows", page)
        hosts = _write_host(db, _with_echoes(lines, host, echo))
        terms, files = _write_journals(tmp_path, lines, split)
        if not terms:
            return  # nothing to reconcile from these lines (balance inquiries only)
        sources = ReconSources(journals=tuple((f, None) for f in files), window=window)
        summary = run_recon(db, sources, 10**13, "ops01")
        with db.transaction(write=False) as tx:
            found = [r.diff for r in list_differences(tx, run_id=summary.run_id)]
        expected, matched = reference(terms, hosts, window)
        assert _canonical(found) == _canonical(expected)
        assert summary.matched == matched
        assert summary.terminal_rows == len(terms)
        low, high = window.widened()
        assert summary.host_rows == sum(
            h.tid in {t.tid for t in terms} and h.mti in HOST_MTIS and h.txn_type != "balance"
            and low <= h.created_ms < high for h in hosts
        )  # fmt: skip

    check()
