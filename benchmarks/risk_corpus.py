"""Risk rules against a synthetic day: detection per attack kind, false positives, speed.

A deterministic (by seed) population of 50 merchants (MCC with its own amount
distribution and opening hours), 200 terminals and 5,000 cards makes normal days:
shoppers with favourite merchants, follow-on purchases in the same trip, mistyped PINs
retried, insufficient funds, refunds of real sales (a few too old for the host to match),
busier lunch and evening hours. Warm-up days fill the rolling statistics; the measured
day adds attacks. Each attack is an episode of transactions; an episode counts as
detected when any of its transactions gets alert, hold or decline. A normal transaction
with any of those is a false positive (the blocking ones, hold or decline, are shown
apart). Then every event of the run is evaluated and observed again, timed.

    .venv/bin/python benchmarks/risk_corpus.py [--seed 7] [--warmup-days 3] [--episodes 20]
    [--rules path/to/rules.toml] [--rounds 5]

Results with the shipped default_rules.toml, 3 warm-up days, 20 episodes per kind (2 cores,
shared machine; seeds 7 / 11 / 23):
- episodes detected: card testing, stolen card, refund fraud, off hours, surge and PIN
  guessing 100% on every seed; big ticket (30-80x the merchant's median) 90 / 70 / 85%.
  Transactions flagged within an episode are lower by design: a window rule can only fire
  once its threshold is crossed (stolen card ~40%: the first four purchases pass).
- false positives on the clean day (~6,100-6,500 transactions): flagged 0.31 / 0.48 /
  0.65%, held or declined 0.21 / 0.22 / 0.35% (mostly refunds the host cannot match and
  cards with three wrong PINs in the hour, which the issuer has locked anyway).
- speed: 12-13 µs per authorisation (evaluate + observe, 9 rules; 19-21 µs before the
  engine was compiled per transaction type), ~500k evaluations/s alone (190-215k before).
  Detection and false positives are unchanged by that tuning, to the line. The host's
  own share is in `risk_engine.py` and the README's "Risk rules cost".
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from kassa.risk import (
    Action,
    Decision,
    RiskEngine,
    RiskEvent,
    RiskState,
    RuleSet,
    load_default_rules,
    load_rules,
)

DAY_MS = 86_400_000
START_MS = 1_772_380_800_000  # 2026-03-02 00:00 in Beijing (UTC+8), a Monday
# mcc: (median amount fen, spread of log amount, opens, closes (minutes), pick weight)
MCCS = {
    "5411": (8_000, 0.9, 7 * 60, 22 * 60 + 30, 8),  # supermarket
    "5812": (12_000, 0.7, 10 * 60, 22 * 60, 8),  # restaurant
    "5814": (3_500, 0.5, 7 * 60, 21 * 60, 6),  # fast food
    "5311": (40_000, 1.0, 10 * 60, 22 * 60, 3),  # department store
    "5732": (150_000, 1.0, 10 * 60, 22 * 60, 2),  # electronics
    "5944": (500_000, 0.9, 10 * 60, 21 * 60, 1),  # jewellery
    "5912": (6_000, 0.8, 8 * 60, 22 * 60, 4),  # pharmacy
    "5651": (30_000, 0.8, 10 * 60, 22 * 60, 4),  # clothing
    "5541": (25_000, 0.4, 0, 24 * 60, 3),  # fuel, all night
    "7011": (60_000, 0.6, 0, 24 * 60, 2),  # hotel, all night
    "5499": (2_500, 0.7, 0, 24 * 60, 4),  # convenience store, all night
}
ATTACKS = ("card_testing", "stolen_card", "refund_fraud", "off_hours", "surge",
           "pin_guessing", "big_ticket")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Merchant:
    mid: str
    mcc: str
    size: int
    tids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Txn:
    event: RiskEvent
    code: str  # what the issuer answers when asked
    label: str  # "normal" or "<attack kind>#<episode>"


class World:
    """The population: merchants with terminals, cards with favourite merchants."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        mccs = list(MCCS)
        weights = [MCCS[m][4] for m in mccs]
        kinds = [rng.choices(mccs, weights)[0] for _ in range(50)]
        sizes = [rng.choice((1, 1, 2, 3, 5, 8)) for _ in kinds]
        tid_counts = [1] * 50  # every merchant has one; 150 more go by size
        for index in rng.choices(range(50), sizes, k=150):
            tid_counts[index] += 1
        self.merchants: list[Merchant] = []
        n = 0
        for index, (mcc, size) in enumerate(zip(kinds, sizes, strict=True)):
            tids = tuple(f"{n + i + 1:08d}" for i in range(tid_counts[index]))
            n += len(tids)
            self.merchants.append(Merchant(f"8983100{index:08d}", mcc, size, tids))
        self.sizes = [m.size * len(m.tids) for m in self.merchants]
        self.cards = [f"card{c:05d}" for c in range(5000)]
        self.activity = [rng.choice((0.3, 0.8, 1.5, 3.0, 5.0)) for _ in self.cards]
        self.favourites = [rng.choices(self.merchants, self.sizes, k=3) for _ in self.cards]

    def amount(self, mcc: str, scale: float = 1.0) -> int:
        median, spread = MCCS[mcc][0], MCCS[mcc][1]
        return max(100, int(self.rng.lognormvariate(math.log(median * scale), spread)))

    def open_minute(self, merchant: Merchant) -> int:
        """A minute of the day inside opening hours, busier at lunch and evening."""
        opens, closes = MCCS[merchant.mcc][2], MCCS[merchant.mcc][3]
        while True:
            minute = int(self.rng.choice((12.5, 18.5, self.rng.uniform(6, 23))) * 60)
            minute = int(self.rng.gauss(minute, 90)) % 1440
            if opens <= minute < closes:
                return minute

    def event(
        self, day: int, minute_ms: int, merchant: Merchant, card: str, **kw: object
    ) -> RiskEvent:
        return RiskEvent(
            at_ms=START_MS + day * DAY_MS + minute_ms, tid=self.rng.choice(merchant.tids),
            mid=merchant.mid, card_ref=card, mcc=merchant.mcc, **kw,  # type: ignore[arg-type]
        )  # fmt: skip


def normal_day(world: World, day: int) -> list[Txn]:
    rng, out = world.rng, []
    for index, card in enumerate(world.cards):
        for _ in range(_poisson(rng, world.activity[index] / 2)):
            merchant = (rng.choice(world.favourites[index]) if rng.random() < 0.6
                        else rng.choices(world.merchants, world.sizes)[0])  # fmt: skip
            at = world.open_minute(merchant) * 60_000 + rng.randrange(60_000)
            out += _shopping(world, day, at, merchant, card)
            if rng.random() < 0.15:  # a second shop on the same trip
                other = rng.choices(world.merchants, world.sizes)[0]
                later = at + rng.randrange(5, 40) * 60_000
                out += _shopping(world, day, later, other, card)
    return out


def _shopping(world: World, day: int, at: int, merchant: Merchant, card: str) -> list[Txn]:
    rng = world.rng
    kind = rng.choices(("sale", "preauth", "balance", "refund"), (90, 4, 3, 3))[0]
    amount = 0 if kind == "balance" else world.amount(merchant.mcc)
    matched = (rng.random() > 0.03) if kind == "refund" else None  # old sales go unmatched
    event = world.event(day, at, merchant, card, txn_type=kind, amount_fen=amount,
                        has_matching_sale=matched)  # fmt: skip
    out, roll = [], rng.random()
    wrong = 3 if roll < 0.003 else 2 if roll < 0.01 else 1 if roll < 0.04 else 0
    for tries in range(wrong):  # mistyped PINs; the issuer locks the third (75)
        again = replace(event, at_ms=event.at_ms + tries * 40_000)
        out.append(Txn(again, "75" if tries == 2 else "55", "normal"))
    if wrong < 3:
        retry = replace(event, at_ms=event.at_ms + wrong * 40_000)
        out.append(Txn(retry, "51" if rng.random() < 0.02 else "00", "normal"))
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


# -- attacks ------------------------------------------------------------------------------


def _open_merchant(world: World, minute: int) -> Merchant:
    candidates = [m for m in world.merchants if MCCS[m.mcc][2] <= minute < MCCS[m.mcc][3] - 90]
    return world.rng.choice(candidates)


def card_testing(world: World, day: int, label: str) -> list[Txn]:
    rng, minute = world.rng, rng_minute(world)
    merchant, out = _open_merchant(world, minute), []
    tid, at = rng.choice(merchant.tids), minute * 60_000
    for n in range(rng.randint(15, 60)):
        at += rng.randint(5, 40) * 1000
        card = f"test{label}-{n}"
        event = RiskEvent(at_ms=START_MS + day * DAY_MS + at, tid=tid, mid=merchant.mid,
                          card_ref=card, txn_type=rng.choice(("sale", "balance")),
                          amount_fen=rng.randint(1, 10) * 100, mcc=merchant.mcc)  # fmt: skip
        code = rng.choices(("14", "54", "51", "05", "00"), (40, 15, 15, 10, 20))[0]
        out.append(Txn(event, code, label))
    return out


def stolen_card(world: World, day: int, label: str) -> list[Txn]:
    rng, minute = world.rng, rng_minute(world)
    card, at, out = rng.choice(world.cards), minute * 60_000, []
    for _ in range(rng.randint(5, 10)):
        merchant = _open_merchant(world, at // 60_000)
        at += rng.randint(3, 15) * 60_000
        event = world.event(day, at, merchant, card, txn_type="sale",
                            amount_fen=world.amount(merchant.mcc, 2.0))  # fmt: skip
        out.append(Txn(event, "00", label))
    return out


def refund_fraud(world: World, day: int, label: str) -> list[Txn]:
    rng, minute = world.rng, rng_minute(world)
    merchant, at, out = _open_merchant(world, minute), minute * 60_000, []
    card = rng.choice(world.cards)
    for _ in range(rng.randint(1, 4)):
        at += rng.randint(2, 30) * 60_000
        event = world.event(day, at, merchant, card, txn_type="refund",
                            amount_fen=rng.randint(500, 5000) * 100,
                            has_matching_sale=False)  # fmt: skip
        out.append(Txn(event, "00", label))
    return out


def off_hours(world: World, day: int, label: str) -> list[Txn]:
    rng = world.rng
    merchant = rng.choice([m for m in world.merchants if MCCS[m.mcc][3] - MCCS[m.mcc][2] < 1440])
    at, out = rng.randint(30, 270) * 60_000, []
    for _ in range(rng.randint(1, 3)):
        at += rng.randint(1, 20) * 60_000
        event = world.event(day, at, merchant, rng.choice(world.cards), txn_type="sale",
                            amount_fen=world.amount(merchant.mcc))  # fmt: skip
        out.append(Txn(event, "00", label))
    return out


def surge(world: World, day: int, label: str) -> list[Txn]:
    rng, minute = world.rng, rng_minute(world)
    merchant, at, out = _open_merchant(world, minute), minute * 60_000, []
    tid = rng.choice(merchant.tids)
    for n in range(rng.randint(40, 90)):
        at += rng.randint(15, 45) * 1000
        event = RiskEvent(at_ms=START_MS + day * DAY_MS + at, tid=tid, mid=merchant.mid,
                          card_ref=f"mule{label}-{n % 25}", txn_type="sale", mcc=merchant.mcc,
                          amount_fen=world.amount(merchant.mcc))  # fmt: skip
        out.append(Txn(event, "00", label))
    return out


def pin_guessing(world: World, day: int, label: str) -> list[Txn]:
    rng, minute = world.rng, rng_minute(world)
    card, at, out = rng.choice(world.cards), minute * 60_000, []
    for n in range(rng.randint(4, 8)):
        merchant = _open_merchant(world, at // 60_000)
        at += rng.randint(1, 8) * 60_000
        event = world.event(day, at, merchant, card, txn_type="sale",
                            amount_fen=world.amount(merchant.mcc))  # fmt: skip
        out.append(Txn(event, "55" if n < 3 else "75", label))
    return out


def big_ticket(world: World, day: int, label: str) -> list[Txn]:
    rng, minute = world.rng, rng_minute(world)
    merchant = _open_merchant(world, minute)
    event = world.event(day, minute * 60_000, merchant, rng.choice(world.cards), txn_type="sale",
                        amount_fen=MCCS[merchant.mcc][0] * rng.randint(30, 80))  # fmt: skip
    return [Txn(event, "00", label)]


def rng_minute(world: World) -> int:
    return world.rng.randint(9 * 60, 20 * 60)


MAKERS = {"card_testing": card_testing, "stolen_card": stolen_card, "refund_fraud": refund_fraud,
          "off_hours": off_hours, "surge": surge, "pin_guessing": pin_guessing,
          "big_ticket": big_ticket}  # fmt: skip


# -- the run ------------------------------------------------------------------------------


def corpus(seed: int, warmup_days: int, episodes: int) -> tuple[list[Txn], list[Txn], list[Txn]]:
    """(warm-up days, the measured day as it was, the same day with attacks), in time order.

    False positives are counted on the clean day: on the attacked day, a real customer
    paying at a terminal in the middle of a surge is caught up in it, rightly."""
    world = World(random.Random(seed))
    warmup = [t for day in range(warmup_days) for t in normal_day(world, day)]
    clean = normal_day(world, warmup_days)
    attacked = list(clean)
    for kind in ATTACKS:
        for n in range(episodes):
            attacked += MAKERS[kind](world, warmup_days, f"{kind}#{n}")
    order = lambda t: t.event.at_ms  # noqa: E731 - stable sort keeps ties in input order
    return sorted(warmup, key=order), sorted(clean, key=order), sorted(attacked, key=order)


def replay(engine: RiskEngine, txns: list[Txn]) -> list[Decision]:
    decisions = []
    for txn in txns:
        decision = engine.evaluate(txn.event)
        if decision.action is Action.DECLINE:
            code = decision.response_code or "59"
        else:
            code = "05" if decision.action is Action.HOLD else txn.code
        engine.observe(txn.event, code)
        decisions.append(decision)
    return decisions


def detection(txns: list[Txn], decisions: list[Decision]) -> None:
    flagged: dict[str, bool] = {}
    events, caught = Counter[str](), Counter[str]()
    for txn, decision in zip(txns, decisions, strict=True):
        if txn.label != "normal":
            hit = decision.action.severity >= Action.ALERT.severity
            kind = txn.label.split("#")[0]
            flagged[txn.label] = flagged.get(txn.label, False) or hit
            events[kind] += 1
            caught[kind] += hit
    print(f"{'attack':14} {'episodes':>9} {'detected':>9} {'txns flagged':>13}")
    for kind in ATTACKS:
        labels = [label for label in flagged if label.startswith(kind + "#")]
        found = sum(flagged[label] for label in labels)
        print(f"{kind:14} {len(labels):9d} {100 * found / len(labels):8.1f}% "
              f"{100 * caught[kind] / events[kind]:12.1f}%")  # fmt: skip


def false_positives(decisions: list[Decision]) -> None:
    flagged = sum(d.action.severity >= Action.ALERT.severity for d in decisions)
    blocked = sum(d.blocks for d in decisions)
    by_rule = Counter(h.rule_id for d in decisions for h in d.hits if h.action is not Action.ALLOW)
    n = len(decisions)
    print(f"normal day, {n} txns: flagged {100 * flagged / n:.2f}%, "
          f"held or declined {100 * blocked / n:.2f}%")  # fmt: skip
    for rule_id, count in by_rule.most_common():
        print(f"  {rule_id:22} {count:5d} ({100 * count / n:.3f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warmup-days", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--rules", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rules = load_rules(args.rules.read_text("utf-8")) if args.rules else load_default_rules()
    warmup, clean, attacked = corpus(args.seed, args.warmup_days, args.episodes)
    engine = RiskEngine(rules)
    replay(engine, warmup)
    warm = engine.state.to_dict()  # both measured runs start from the same warm state
    detection(attacked, replay(RiskEngine(rules, RiskState.from_dict(warm, rules)), attacked))
    false_positives(replay(RiskEngine(rules, RiskState.from_dict(warm, rules)), clean))
    speed(rules, warmup + attacked, args.rounds)


def speed(rules: RuleSet, every: list[Txn], rounds: int) -> None:
    """Best of `rounds` (machine noise only ever slows a run down)."""
    alone, pairs = [], []
    for _ in range(rounds):
        engine = RiskEngine(rules)
        start = time.perf_counter()
        for txn in every:
            engine.evaluate(txn.event)
            engine.observe(txn.event, txn.code)
        pairs.append(len(every) / (time.perf_counter() - start))
        engine = RiskEngine(rules)
        start = time.perf_counter()
        for txn in every:
            engine.evaluate(txn.event)
        alone.append(len(every) / (time.perf_counter() - start))
    best = max(pairs)
    print(f"{len(rules.rules)} rules, {len(every)} events, best of {rounds}: "
          f"{max(alone):,.0f} evaluations/s alone, {best:,.0f} evaluate+observe pairs/s "
          f"({1e6 / best:.1f} µs per authorisation)")  # fmt: skip


if __name__ == "__main__":
    main()
