"""Every `kassa pos` command, end to end over TCP against a `kassa host serve` process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from procs import SWIPE, host_process, kassa, make_terminal, pos, sign_on

from kassa.store import connect

CARD = f"{SWIPE}\n1234\n"


def doc(out: subprocess.CompletedProcess[str]) -> dict[str, object]:
    try:
        result = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON: {out.args[3:]}\n{out.stdout}\n{out.stderr}") from None
    assert isinstance(result, dict)
    return result


def test_a_working_day_from_the_command_line(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'host.db'}"
    with host_process(tmp_path / "host", db_url, ("12345678",)) as port:
        home = tmp_path / "term"
        make_terminal(home, "12345678", port, printer=f"file://{tmp_path / 'slips.bin'}")
        sign_on(home)
        sale = doc(pos(home, "sale", "100.00", stdin=CARD))
        assert sale["approved"] and sale["screen_zh"] == "交易成功"
        void = doc(pos(home, "void", "--trace", str(sale["stan"]), stdin=f"{SWIPE}\n"))
        assert void["approved"]
        sale2 = doc(pos(home, "sale", "50.00", stdin=CARD))
        refund = doc(pos(home, "refund", "20.00", "--ref", str(sale2["rrn"]), stdin=f"{SWIPE}\n"))
        assert refund["approved"]
        hold = doc(pos(home, "preauth", "300.00", stdin=CARD))
        done = doc(pos(home, "complete", "280.00", "--auth", str(hold["auth_code"]), stdin=CARD))
        assert done["approved"]
        assert doc(pos(home, "complete-void", "--trace", str(done["stan"]), stdin=CARD))["approved"]
        assert doc(pos(home, "preauth-void", "--trace", str(hold["stan"]), stdin=CARD))["approved"]
        wrong = pos(home, "sale", "1.00", stdin=f"{SWIPE}\n0000\n")
        assert wrong.returncode == 1 and doc(wrong)["code"] == "55"
        balance = doc(pos(home, "balance", stdin=CARD))
        assert balance["approved"]
        status = doc(pos(home, "status"))
        assert status["signed_on"] and status["pending_reversals"] == 0
        assert status["printer"] == "ready"
        reprint = kassa(home, "pos", "--home", str(home), "reprint")
        assert reprint.returncode == 0 and "重打印" in reprint.stdout
        lines = pos(home, "journal").stdout.strip().splitlines()
        states = [json.loads(line)["state"] for line in lines]
        assert states.count("approved") >= 5 and "voided" in states
        assert "6212264000001899463" not in "".join(lines)
        settled = doc(pos(home, "settle"))
        assert settled["ok"] and settled["balanced"]
        slips = (tmp_path / "slips.bin").read_bytes().decode("gb18030", "replace")
        assert "商户存根" in slips and "6212264000001899463" not in slips
    db = connect(db_url)
    try:
        with db.transaction(write=False) as tx:
            balance_row = tx.fetchone(
                "SELECT balance_fen FROM accounts WHERE account LIKE 'card:%' ORDER BY account"
            )
    finally:
        db.close()
    assert balance_row is not None
    assert balance_row[0] == 10_000_000 - 5_000 + 2_000  # the void, the refund, the holds undone


def test_bad_arguments_never_give_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "term"
    cases = [
        (("pos", "--home", str(home), "sale", "12.505"), "2 decimal"),
        (("pos", "--home", str(home), "sale", "-5"), "amount"),
        (("pos", "--home", str(home), "void", "--trace", "abc"), "trace"),
        (("pos", "--home", str(home), "refund", "1.00", "--ref", "123"), "12 characters"),
        (("pos", "--home", str(home), "config", "tid", "123"), "tid"),
        (("pos", "--home", str(home), "config", "hosts", "no-port"), "host"),
        (("pos", "--home", str(home), "config", "nonsense", "1"), "unknown setting"),
        (("pos", "--home", str(home), "--lang", "fr", "status"), "--lang"),
        (("pos", "--home", str(home), "sale", "5.00"), "not_signed_on"),
        (("iso", "decode", "zz"), "hex"),
        (("explain", "51", "--lang", "xx"), "lang"),
        (("audit", "verify", "--anchor", "nonsense", "--home", str(tmp_path)), "anchor"),
    ]
    for args, words in cases:
        out = kassa(tmp_path, *args, stdin=f"{SWIPE}\n\n")
        text = out.stdout + out.stderr
        assert out.returncode != 0, args
        assert "Traceback" not in text, (args, text)
        assert words.lower() in text.lower(), (args, text)
