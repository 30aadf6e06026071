"""The risk engine's own cost per authorisation: µs per evaluate + observe, in process.

Two streams, both with the shipped `default_rules.toml`:
- corpus: `risk_corpus.py`'s synthetic days (3 warm-up days and the attacked day, seed 7,
  ~27,000 events): real shoppers, few hits;
- host 12:00: what `host_profile.py` sends: sales only, 50 terminals of 50 supermarkets
  round robin, 2,000 cards (host card tokens, "c" + 23 hex), groups of 100 sales sharing
  one time, 1,000 sales/s at midday Beijing time: `terminal_velocity` (alert) fires on
  90% of sales, as in the host benchmarks (bench terminals sell far faster than a cashier);
- host 23:30: the same at night, when `off_hours` (alert) fires on every sale too. The
  host benchmarks run on the machine's clock, so between 15:00 and 22:00 UTC they are in
  this case (two hits per sale, not one).

For each: `engine` = evaluate + observe of ready events; `host path` = what the host's
`riskgate` does around them: build the `RiskEvent`, evaluate, the decision's JSON when
something hit (`json.dumps(decision.as_dict())`, stored with the alert), observe. The
database writes (the alert row, the feed row) are not included: `host_profile.py`
measures those with the rest of a sale.

With `--reference` the frozen pre-tuning engine (`tests/risk/riskref_engine.py`) runs
in alternating rounds with the current one, best of `--rounds` each (noise on a shared
machine only ever slows a round down).

With `--in-host N`: N sales of `host_profile.py` through the real host core (SQLite on
disk, the machine's clock, so `off_hours` fires between 15:00 and 22:00 UTC), the CPU
time (`process_time`, ~1 µs of timer per call included) spent inside the engine's hooks
and inside `riskgate`'s (which add the alert's JSON and INSERT and the feed's INSERT).

    .venv/bin/python benchmarks/risk_engine.py [--rounds 7] [--reference] [--profile host]
    .venv/bin/python benchmarks/risk_engine.py --in-host 3000
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import risk_corpus
from kassa.risk import RiskEngine, RiskEvent, RuleSet, load_default_rules

HOUR_MS = 3_600_000
Row = tuple[tuple[Any, ...], str]  # the RiskEvent's fields, the answer


class Engine(Protocol):
    def evaluate(self, event: RiskEvent) -> Any: ...
    def observe(self, event: RiskEvent, response_code: str) -> None: ...


def host_stream(
    start_ms: int, count: int = 6000, terminals: int = 50, cards: int = 2000
) -> list[Row]:
    """Sales as `host_profile.py` makes them: round robin over terminals, each card
    used ~count/cards times, 100 sales per group time, amounts 1.00-500.99 yuan."""
    refs = ["c" + hashlib.sha256(b"card%d" % c).hexdigest()[:23] for c in range(cards)]
    rows: list[Row] = []
    for n in range(count):
        term = n % terminals
        at_ms = start_ms + (n // 100) * 100
        fields = (at_ms, f"{term + 1:08d}", f"89831004899{term:04d}", refs[n * 7 % cards],
                  "sale", 100 + n * 7919 % 50_000, 480, "5411", None)  # fmt: skip
        rows.append((fields, "00"))
    return rows


def corpus_stream() -> list[Row]:
    warmup, _clean, attacked = risk_corpus.corpus(7, 3, 20)
    rows: list[Row] = []
    for txn in warmup + attacked:
        e = txn.event
        fields = (e.at_ms, e.tid, e.mid, e.card_ref, e.txn_type, e.amount_fen,
                  e.utc_offset_min, e.mcc, e.has_matching_sale)  # fmt: skip
        rows.append((fields, txn.code))
    return rows


def engine_only(engine: Engine, events: list[tuple[RiskEvent, str]]) -> float:
    evaluate, observe = engine.evaluate, engine.observe
    started = time.perf_counter()
    for event, code in events:
        evaluate(event)
        observe(event, code)
    return time.perf_counter() - started


def host_path(engine: Engine, rows: list[Row]) -> float:
    evaluate, observe, dumps = engine.evaluate, engine.observe, json.dumps
    started = time.perf_counter()
    for fields, code in rows:
        event = RiskEvent(*fields)
        decision = evaluate(event)
        if decision.hits:
            dumps(decision.as_dict(), ensure_ascii=False)
        observe(event, code)
    return time.perf_counter() - started


def reference_factory() -> Callable[[RuleSet], Engine]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "risk"))
    from riskref_engine import ReferenceEngine

    make: Callable[[RuleSet], Engine] = ReferenceEngine
    return make


def measure(makers: dict[str, Callable[[RuleSet], Engine]], rounds: int) -> None:
    rules = load_default_rules()
    for stream, rows in streams().items():
        events = [(RiskEvent(*fields), code) for fields, code in rows]
        best: dict[tuple[str, str], float] = {}
        for _ in range(rounds):
            for name, make in makers.items():  # alternating: the same noise for both
                for what, run in (("engine", engine_only), ("host path", host_path)):
                    data: Any = events if what == "engine" else rows
                    seconds = run(make(rules), data)
                    key = (name, what)
                    best[key] = min(best.get(key, seconds), seconds)
        for (name, what), seconds in best.items():
            print(f"{stream:10} {name:9} {what:9}: {1e6 * seconds / len(rows):6.1f} µs per"
                  f" authorisation ({len(rows):,} events, best of {rounds})")  # fmt: skip


def streams() -> dict[str, list[Row]]:
    day = risk_corpus.START_MS  # a Monday, 00:00 in Beijing
    return {
        "corpus": corpus_stream(),
        "host 12:00": host_stream(day + 12 * HOUR_MS),
        "host 23:30": host_stream(day + 23 * HOUR_MS + HOUR_MS // 2),
    }


def profile(stream: str) -> None:
    rows = host_stream(risk_corpus.START_MS + 12 * HOUR_MS) if stream == "host" else corpus_stream()
    engine = RiskEngine(load_default_rules())
    prof = cProfile.Profile()
    prof.runcall(host_path, engine, rows)
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def in_host(sales: int) -> None:
    import shutil
    import tempfile

    import benchkit as bk
    import host_profile as hp
    from hostparts import DISK_DEFAULT
    from kassa.host import riskgate
    from kassa.host.runtime import open_host

    spent: dict[str, float] = {}

    def timed(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any) -> Any:
            started = time.process_time()
            try:
                return original(*args)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - started

        setattr(owner, name, wrapper)

    for owner, name, label in ((RiskEngine, "evaluate", "engine.evaluate"),
                               (RiskEngine, "observe", "engine.observe"),
                               (riskgate, "event_for", "riskgate.event_for"),
                               (riskgate, "evaluate", "riskgate.evaluate"),
                               (riskgate, "observe", "riskgate.observe")):  # fmt: skip
        timed(owner, name, label)
    work = Path(tempfile.mkdtemp(prefix="kassa-bench-risk-", dir=DISK_DEFAULT))
    try:
        url = f"sqlite:///{work / 'host.db'}"
        bk.load_host_db(url, work, terminals=50, cards=2000)
        runtime = open_host(url, work, None)
        bodies = hp.sales(hp.sign_on_all(runtime, 50), sales)
        spent.clear()
        _wall, cpu = hp.run(runtime, bodies, 100)
        hits = runtime.core.financial.risk.stats().hits  # type: ignore[union-attr]
        runtime.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{sales} host sales, {1e6 * cpu / sales:,.0f} µs CPU per sale; hits: {hits}")
    for label, seconds in spent.items():
        print(f"  {label:20} {1e6 * seconds / sales:6.1f} µs CPU per sale")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--profile", choices=("host", "corpus"))
    parser.add_argument("--in-host", type=int, metavar="SALES")
    args = parser.parse_args()
    if args.in_host:
        in_host(args.in_host)
        return
    if args.profile:
        profile(args.profile)
        return
    makers: dict[str, Callable[[RuleSet], Engine]] = {"current": RiskEngine}
    if args.reference:
        makers["reference"] = reference_factory()
    measure(makers, args.rounds)


if __name__ == "__main__":
    main()
