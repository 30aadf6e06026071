"""`kassa doctor` against a real host on loopback: healthy, down (refused), hung (accepts,
never answers); the command's JSON and exit status; a host database examined."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kassa.cli.doctor import doctor as doctor_command
from kassa.errors import ConfigError
from kassa.guide import lookup
from kassa.net import FrameServer
from kassa.net.tls import make_self_signed, server_context
from kassa.ops.doctor import Check, DoctorReport, doctor, render_json, render_text
from kassa.ops.drills.cast import Narrator, Till
from kassa.ops.drills.stage import Stage

pytestmark = pytest.mark.anyio
TID = "10000001"


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    """A host in this process on a loopback port, with terminal TID registered."""
    stage = Stage(tmp_path, Narrator(lambda _: None), host_process=False)
    stage.load_host((TID,))
    await stage.start_host()
    try:
        yield stage
    finally:
        await stage.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel completes the handshake from the
    listen backlog) and never answers a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on return: nothing listens there


def by_name(report: DoctorReport) -> dict[str, Check]:
    return {c.name: c for c in report.checks}


async def signed_on(stage: Stage, hosts: str | None = None, **settings: str) -> Till:
    """A terminal signed on at the stage's host, then (if `hosts`) pointed elsewhere."""
    till = stage.till(TID, settings=settings)
    assert (await till.terminal.sign_on()).ok
    if hosts is not None:
        journal = till.terminal.journal
        journal.save_config(journal.config().updated("hosts", hosts))
    return till


async def test_a_healthy_terminal_is_all_ok(stage: Stage) -> None:
    till = await signed_on(stage)
    assert (await till.sale("10.00")).ok
    report = await doctor(till.home)
    bad = [c for c in report.checks if not c.ok]
    assert not bad, bad
    assert report.status == 0 and report.examined == ("terminal",)
    checks = by_name(report)
    address = f"127.0.0.1:{stage.port}"
    assert checks[f"tcp {address}"].severity == "ok"
    assert checks["echo 0820"].severity == "ok" and address in checks["echo 0820"].detail
    for name in ("clock vs host", "keys", "signed on", "journal integrity", "journal invariants",
                 "reversals and resends", "store-and-forward", "disk", "in flight"):  # fmt: skip
        assert checks[name].severity == "ok", checks[name]
    assert checks["clock vs NTP"].severity == "info"  # no --ntp given
    assert checks[f"dns {'127.0.0.1'}"].severity == "info"  # an IP: nothing to resolve


async def test_host_down_is_connection_refused_with_its_advice(stage: Stage) -> None:
    till = await signed_on(stage, hosts=f"127.0.0.1:{free_port()}")
    report = await doctor(till.home)
    checks = by_name(report)
    tcp = next(c for c in report.checks if c.name.startswith("tcp "))
    assert tcp.severity == "failure" and tcp.guide_code == "connect_refused"
    assert "wrong port" in tcp.detail
    assert checks["echo 0820"].guide_code == "connect_refused"
    assert report.status == 2
    text = render_text(report)
    assert lookup("connect_refused").action_en in text  # what to do, in English
    assert lookup("connect_refused").action_zh in text  # and in Chinese


async def test_a_host_that_never_answers_is_a_response_timeout(
    stage: Stage, silent_port: int
) -> None:
    till = await signed_on(stage, hosts=f"127.0.0.1:{silent_port}")
    report = await doctor(till.home, timeout_s=0.5)
    checks = by_name(report)
    assert checks[f"tcp 127.0.0.1:{silent_port}"].severity == "ok"  # the connect works...
    echo = checks["echo 0820"]
    assert echo.severity == "failure" and echo.guide_code == "response_timeout"  # ...no answer
    assert checks["clock vs host"].severity == "ok"  # from sign-on: no echo time to compare
    assert report.status == 2


async def test_a_backup_host_turns_the_primary_failure_into_a_warning(stage: Stage) -> None:
    dead = free_port()
    till = await signed_on(stage, hosts=f"127.0.0.1:{dead},127.0.0.1:{stage.port}")
    checks = by_name(await doctor(till.home))
    assert checks[f"tcp 127.0.0.1:{dead}"].severity == "warning"
    assert checks[f"tcp 127.0.0.1:{dead}"].guide_code == "connect_refused"
    assert checks["echo 0820"].severity == "ok"  # the terminal fails over


async def test_local_problems_each_name_their_guide_entry(stage: Stage) -> None:
    paper = stage.base / "printer.bin"
    paper.with_name("printer.bin.status").write_text("out")
    till = await signed_on(stage, printer=f"file://{paper}")
    journal = till.terminal.journal
    day_ms = 86_400_000
    journal.put(signon_ms=str(int(journal.get("signon_ms") or 0) - 2 * day_ms))
    assert (await till.sale("10.00")).ok
    with journal.db.transaction() as tx:  # a power cut left one row, a bug another
        tx.execute("UPDATE txns SET state = 'pending'")
        tx.execute(
            "INSERT INTO txns (batch, stan, txn_type, amount_fen, state, reversible,"
            " created_ms, updated_ms, tz) VALUES ('000001', '000099', 'sale', 100,"
            " 'in_doubt', 1, 0, 0, 'UTC+08:00')"
        )
    checks = by_name(await doctor(till.home))
    assert checks["keys"].guide_code == "keys_stale" and checks["keys"].severity == "warning"
    assert checks["printer"].guide_code == "printer_no_paper"
    assert (
        checks["printer"].severity == "failure"
        and "2 receipt(s) waiting" in checks["printer"].detail
    )
    assert checks["in flight"].guide_code == "power_loss_recovered"
    invariants = checks["journal invariants"]
    assert (
        invariants.guide_code == "journal_corrupt"
        and "in doubt without its reversal" in invariants.detail
    )
    assert checks["reversals and resends"].guide_code == "reversal_failed"  # in doubt since 1970


async def test_the_host_database_is_examined(stage: Stage) -> None:
    till = await signed_on(stage)
    assert (await till.sale("10.00")).ok
    report = await doctor(stage.host_home, host_db=stage.host_url)
    checks = by_name(report)
    assert report.examined == ("host",)
    for name in ("host database", "host database integrity", "host schema", "host ledger",
                 "host terminals", "host master key"):  # fmt: skip
        assert checks[name].severity == "ok", checks[name]
    assert TID in checks["host terminals"].detail
    stage.host_write(
        "UPDATE accounts SET balance_fen = balance_fen + 1 WHERE account LIKE 'card:%'"
    )
    broken = by_name(await doctor(stage.host_home, host_db=stage.host_url))
    assert broken["host ledger"].severity == "failure"
    assert "projection" in broken["host ledger"].detail


async def test_a_missing_host_database_is_a_failure(tmp_path: Path) -> None:
    report = await doctor(tmp_path, host_db=f"sqlite:///{tmp_path / 'nothing.db'}")
    assert by_name(report)["host database"].guide_code == "storage_failure"
    assert not (tmp_path / "nothing.db").exists()  # the doctor creates nothing
    assert report.status == 2


async def test_nothing_to_examine_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to examine"):
        await doctor(tmp_path)


def test_the_command_prints_one_json_object(tmp_path: Path, silent_port: int) -> None:
    async def setup() -> Path:
        stage = Stage(tmp_path, Narrator(lambda _: None), host_process=False)
        try:
            stage.load_host((TID,))
            await stage.start_host()
            return (await signed_on(stage, hosts=f"127.0.0.1:{silent_port}")).home
        finally:
            await stage.close()

    home = asyncio.run(setup())
    app = typer.Typer()
    app.command()(doctor_command)
    done = CliRunner().invoke(app, ["--json", "--home", str(home), "--timeout", "0.3"])
    assert done.exit_code == 2, done.output
    doc = json.loads(done.output)
    assert doc["status"] == 2 and doc["ok"] is False and doc["examined"] == ["terminal"]
    for item in doc["checks"]:
        assert set(item) >= {"name", "ok", "severity", "detail", "guide_code"}
        assert item["ok"] == (item["severity"] in ("ok", "info"))
        if not item["ok"]:
            assert item["advice"]["code"] == item["guide_code"]
            assert item["advice"]["action_zh"] and item["advice"]["action_en"]
    echo = next(i for i in doc["checks"] if i["name"] == "echo 0820")
    assert echo["guide_code"] == "response_timeout"


def test_json_rendering_keeps_every_check() -> None:
    report = DoctorReport(("terminal",), (Check("a", "ok", "fine"),
                                          Check("b", "warning", "soon", "keys_stale")))  # fmt: skip
    doc = json.loads(render_json(report))
    assert [c["name"] for c in doc["checks"]] == ["a", "b"] and doc["status"] == 1
    assert "advice" not in doc["checks"][0] and doc["checks"][1]["advice"]["code"] == "keys_stale"


async def test_tls_is_handshaken_with_the_certificate_checked(stage: Stage) -> None:
    cert, key = make_self_signed(stage.base / "tls")
    stranger, _ = make_self_signed(stage.base / "other")

    async def never_answer(body: bytes) -> bytes | None:
        return None

    server = FrameServer(never_answer, host="127.0.0.1", port=0,
                         ssl_context=server_context(cert, key))  # fmt: skip
    await server.start()
    try:
        address = f"tls://127.0.0.1:{server.port}"
        till = await signed_on(stage, hosts=address)
        journal = till.terminal.journal
        journal.save_config(journal.config().updated("tls_ca", str(cert)))
        good = by_name(await doctor(till.home, timeout_s=0.5))[f"tls {address}"]
        assert good.severity == "ok" and "verified" in good.detail
        journal.save_config(journal.config().updated("tls_ca", str(stranger)))
        bad = by_name(await doctor(till.home, timeout_s=0.5))[f"tls {address}"]
        assert bad.severity == "failure" and bad.guide_code == "tls_failure"
        assert "certificate" in bad.detail.lower()
    finally:
        await server.stop(grace_s=0.0)


async def test_host_names_are_resolved(stage: Stage) -> None:
    till = await signed_on(stage, hosts=f"localhost:{stage.port}")
    checks = by_name(await doctor(till.home))
    assert (
        checks["dns localhost"].severity == "ok" and "127.0.0.1" in checks["dns localhost"].detail
    )
    assert checks["echo 0820"].severity == "ok"


async def test_a_row_in_flight_in_a_running_terminal_is_not_a_fault(stage: Stage) -> None:
    """A pending row is a power-cut leftover only when no process has the journal open."""
    till = await signed_on(stage)
    assert (await till.sale("10.00")).ok
    journal = till.terminal.journal
    with journal.db.transaction() as tx:
        tx.execute("UPDATE txns SET state = 'pending'")
    path = till.home / "terminal" / "journal.db"
    holder = subprocess.Popen(  # another terminal process, mid-sale
        [sys.executable, "-c", "import sys; f = open(sys.argv[1], 'rb'); print(1, flush=True);"
         " sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "1"
        running = by_name(await doctor(till.home))["in flight"]
    finally:
        holder.communicate("")
    assert running.severity == "info" and str(holder.pid) in running.detail
    stopped = by_name(await doctor(till.home))["in flight"]
    assert stopped.severity == "warning" and stopped.guide_code == "power_loss_recovered"
