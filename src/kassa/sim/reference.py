"""The simulated shop's reference data and database templates: one merchant, its
terminals (each with its own journal) and a handful of cards, for one host on SQLite.

Reference data (one merchant, its terminals, a handful of cards) is loaded once per
process into template files; each seed copies them into a fresh directory (on /dev/shm
when there is one), which is far quicker than migrating and loading every time. The host
database runs with durable=False (speed; the host is not the one being crashed), the
journals as the terminal opens them (WAL, synchronous=FULL) behind a `FaultyDatabase`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kassa.card import luhn_digit
from kassa.host.admin import load_reference
from kassa.host.core import HostConfig
from kassa.host.loader import parse_reference
from kassa.host.schema import MIGRATIONS as HOST_MIGRATIONS
from kassa.host.secrets import HostSecrets
from kassa.store import Database, connect, migrate
from kassa.terminal.config import TerminalConfig
from kassa.terminal.journal import Journal
from kassa.terminal.schema import COMPONENT, MIGRATIONS

TERMINALS_MAX = 8
MID = "898310048160001"
HOST_MASTER = bytes(range(32))
DEVICE_KEY = bytes(range(100, 132))
FLOOR_LIMIT_FEN = 20_000
UTC_OFFSET_MINUTES = 480
# 2026-11-18 08:00 China Standard Time: the shop opens.
DAY_START_MS = int(
    datetime(2026, 11, 18, 8, 0, tzinfo=timezone(timedelta(minutes=480))).timestamp() * 1000
)


def _pan(n: int) -> str:
    body = f"621226{n:012d}"
    return body + luhn_digit(body)


@dataclass(frozen=True, slots=True)
class SimCard:
    pan: str
    pin: str
    kind: str = "debit"
    balance_fen: int = 5_000_000
    credit_limit_fen: int = 0
    status: str = "active"

    def swipe(self) -> str:
        return f";{self.pan}=30121010000012345?"


CARDS = (
    SimCard(_pan(1899460), "1234"),
    SimCard(_pan(2000017), "2580"),
    SimCard(_pan(3000021), "7391"),
    SimCard(_pan(4000035), "4321", kind="credit", balance_fen=0, credit_limit_fen=2_000_000),
    SimCard(_pan(5000049), "1111", balance_fen=30_000),  # runs out of money: 51
    SimCard(_pan(6000052), "9999", balance_fen=10_000, status="lost"),  # 41
)


def tid_of(index: int) -> str:
    return f"SIM{index + 1:05d}"


def tmk_of(index: int) -> bytes:
    return bytes([0x11 + index]) * 16


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _reference() -> str:
    parts = [
        f'[[merchant]]\nmid = "{MID}"\nname = "模拟商户"\nmcc = "5411"\n'
        'fee_rate = "0.0038"\ncredit_allowed = true\ntxn_limit = "50000.00"\n'
    ]
    for i in range(TERMINALS_MAX):
        parts.append(
            f'[[terminal]]\ntid = "{tid_of(i)}"\nmid = "{MID}"\ntmk = "{tmk_of(i).hex()}"\n'
        )
    for card in CARDS:
        text = (
            f'[[card]]\npan = "{card.pan}"\nexpiry = "3012"\npin = "{card.pin}"\n'
            f'kind = "{card.kind}"\nbalance = "{_yuan(card.balance_fen)}"\n'
            f'status = "{card.status}"\n'
        )
        if card.kind == "credit":
            text += f'credit_limit = "{_yuan(card.credit_limit_fen)}"\n'
        parts.append(text)
    return "\n".join(parts)


def terminal_config(index: int) -> TerminalConfig:
    return TerminalConfig(
        tid=tid_of(index),
        mid=MID,
        merchant_name="模拟商户",
        hosts=("sim-host:5000",),
        floor_limit_fen=FLOOR_LIMIT_FEN,
        saf_count_max=6,
        saf_total_max_fen=60_000,
        saf_age_max_ms=4 * 3600 * 1000,
    )


class Templates:
    """Migrated, loaded database files, built once and copied per seed.

    They live in one directory per content (reference data, schemas, configuration),
    shared by every process: built in a private directory, then renamed into place, so
    concurrent builders never see half a template and nothing piles up.
    """

    _built: Templates | None = None

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = root / "host.db"

    def _build(self) -> None:
        secrets = HostSecrets.from_master(HOST_MASTER)
        db = connect(f"sqlite:///{self.host}", durable=False)
        migrate(db, "host", HOST_MIGRATIONS)
        ref, problems = parse_reference(_reference(), "sim.toml")
        assert not problems, problems
        counter = iter(range(1, 1 << 30))
        with db.transaction() as tx:
            load_reference(tx, secrets, ref, DAY_START_MS, lambda n: next(counter).to_bytes(n))
        db.close()
        for i in range(TERMINALS_MAX):
            journal = Journal.open(str(self.journal(i)), DEVICE_KEY)
            journal.save_config(terminal_config(i))
            journal.set_tmk(tmk_of(i))
            journal.close()

    def journal(self, index: int) -> Path:
        return self.root / f"journal-{tid_of(index)}.db"

    @classmethod
    def get(cls) -> Templates:
        if cls._built is not None and cls._built.host.exists():
            return cls._built
        final = Path(scratch() or tempfile.gettempdir()) / f"kassa-sim-templates-{_content_key()}"
        if not (final / "host.db").exists():
            fresh = cls(Path(tempfile.mkdtemp(prefix="kassa-sim-build-", dir=final.parent)))
            fresh._build()
            try:
                os.rename(fresh.root, final)
            except OSError:  # another process got there first: theirs is as good
                shutil.rmtree(fresh.root, ignore_errors=True)
        cls._built = cls(final)
        return cls._built

    def copy_to(self, where: Path, terminals: int) -> tuple[Path, list[Path]]:
        host = where / "host.db"
        shutil.copyfile(self.host, host)
        journals = []
        for i in range(terminals):
            path = where / self.journal(i).name
            shutil.copyfile(self.journal(i), path)
            journals.append(path)
        return host, journals


def _content_key() -> str:
    parts = [_reference(), repr(HOST_MIGRATIONS), repr(MIGRATIONS)]
    parts += [terminal_config(i).to_json() for i in range(TERMINALS_MAX)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def scratch() -> str | None:
    """/dev/shm when it exists (memory-backed: fsync costs nothing), else the default."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None


def open_journal_db(path: Path) -> Database:
    """The journal's database, opened and migrated exactly as `Journal.open` does it."""
    db = connect(f"sqlite:///{path}", durable=True)
    migrate(db, COMPONENT, MIGRATIONS)
    return db


HOST_CONFIG = replace(HostConfig(), utc_offset_minutes=UTC_OFFSET_MINUTES)
