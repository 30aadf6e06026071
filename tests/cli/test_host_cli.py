"""`kassa host` commands as an operator runs them (real processes, a real database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kassa.store import connect

GOOD = """
[[merchant]]
mid = "123456789012345"
name = "测试商户"
mcc = "5411"
fee_rate = "0.0038"
credit_allowed = true
txn_limit = "50000.00"
[[terminal]]
tid = "12345678"
mid = "123456789012345"
tmk = "11111111111111111111111111111111"
[[card]]
pan = "6212264000001899463"
expiry = "2612"
pin = "1234"
balance = "1000.00"
"""
BAD = """
[[merchant]]
mid = "12345"
name = "测试商户"
mcc = "5411"
fee_rate = "0.0038"
txn_limit = "50000.00"
[[card]]
pan = "6212264000001899464"
expiry = "2612"
pin = "12"
balance = "12.505"
[[card]]
pan = "6212264000001899463"
expiry = "2612"
pin = "1234"
balance = "1.00"
kind = "gold"
"""


def kassa(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KASSA_HOME": str(home), "KASSA_HOST_MASTER_KEY": "cd" * 32}
    return subprocess.run([sys.executable, "-c", "from kassa.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip


def test_a_file_with_errors_loads_nothing_and_says_where(tmp_path: Path) -> None:
    ref = tmp_path / "ref.toml"
    ref.write_text(BAD, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'host.db'}"
    out = kassa(tmp_path, "host", "load", str(ref), "--db", db)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert any(line.startswith(f"{ref}:2: merchant: mid") for line in lines)
    assert any(line.startswith(f"{ref}:8: card:") for line in lines)
    assert any(f"{ref}:13: card: kind" in line for line in lines)
    cards = kassa(tmp_path, "host", "card", "list", "--db", db)
    assert "621226" not in cards.stdout  # nothing was loaded


def test_load_check_and_manage(tmp_path: Path) -> None:
    ref = tmp_path / "ref.toml"
    ref.write_text(GOOD, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'host.db'}"
    assert kassa(tmp_path, "host", "load", str(ref), "--db", db).returncode == 0
    listed = kassa(tmp_path, "host", "card", "list", "--db", db).stdout
    assert "621226" in listed and "6212264000001899463" not in listed  # masked
    again = kassa(tmp_path, "host", "load", str(ref), "--db", db)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert kassa(tmp_path, "host", "terminal", "freeze", "12345678", "--db", db).returncode == 0
    assert "frozen" in kassa(tmp_path, "host", "terminal", "list", "--db", db).stdout
    missing = kassa(tmp_path, "host", "merchant", "freeze", "999999999999999", "--db", db)
    assert missing.returncode != 0 and "no merchant" in missing.stderr
    ok = kassa(tmp_path, "host", "check", "--db", db)
    assert ok.returncode == 0 and "OK" in ok.stdout
    database = connect(db)
    with database.transaction() as tx:
        tx.execute("UPDATE ledger_postings SET amount_fen = amount_fen + 1 WHERE seq = 0")
    database.close()
    bad = kassa(tmp_path, "host", "check", "--db", db)
    assert bad.returncode == 1 and "PROBLEM" in bad.stdout


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    for args, words in ((("host", "serve", "--listen", "nowhere"), "--listen"),
                        (("host", "check", "--db", "mysql://x/y"), "unsupported"),
                        (("host", "load", str(tmp_path / "none.toml")), "cannot read")):  # fmt: skip
        out = kassa(tmp_path, *args)
        assert out.returncode != 0 and words in out.stderr and "Traceback" not in out.stderr
