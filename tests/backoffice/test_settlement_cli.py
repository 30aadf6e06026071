"""`kassa settle run / report / payout-file` on a day already closed by the real clock."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from test_settlement_kit import CUT, M1, PAN, at, day_one, open_world
from typer.testing import CliRunner

from kassa.backoffice import verify_payout_file
from kassa.cli.settle import app
from kassa.errors import InputError

PAST = date(2024, 3, 5)
PAST_TEXT = "2024-03-05"


@pytest.fixture
def db(db_url: str) -> str:
    world = open_world(db_url)
    try:
        at(world, CUT.end_ms(PAST) - 11 * 3_600_000)  # 2024-03-05 12:00 UTC+8
        day_one(world)
    finally:
        world.close()
    return db_url


def settle(*args: str, home: Path) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, [*args, "--home", str(home)])
    return result.exit_code, result.stdout, result.exception


def test_run_report_and_payout_file(db: str, tmp_path: Path) -> None:
    code, out, error = settle("run", "--day", PAST_TEXT, "--db", db, home=tmp_path)
    assert code == 0, error
    assert f"{M1}      5  gross 5281.00  refunds 40.00  fee 22.38  net 5218.62" in out
    assert out.splitlines()[-1] == (
        "settlement 2024-03-05 done: 2 merchants, 10 transactions, fees 51.37, payout 15239.62"
    )
    code, again, _ = settle("run", "--day", PAST_TEXT, "--db", db, home=tmp_path)
    assert code == 0 and again.splitlines() == out.splitlines()[-1:]  # nothing settled twice

    code, out, _ = settle("report", "--day", PAST_TEXT, "--db", db, home=tmp_path)
    assert code == 0
    # gross 5281.00 + 11049.99, refunds 40.00 + 1000.00, fees 22.38 + 28.99
    total = "2024-03-05,TOTAL,,10,1633099,104000,0,5137,1523962,0,1523962,0,15239.62"
    assert out.splitlines()[-1] == total

    page = tmp_path / "m1.html"
    args = ("report", "--day", PAST_TEXT, "--format", "html", "--mid", M1, "--out", str(page))
    assert settle(*args, "--db", db, home=tmp_path)[0] == 0
    text = page.read_text(encoding="utf-8")
    assert "商户结算单" in text and "2024-03-05 12:00:00" in text and PAN not in text

    paid = tmp_path / "payout.csv"
    args = ("payout-file", "--day", PAST_TEXT, "--out", str(paid), "--db", db)
    code, out, _ = settle(*args, home=tmp_path)
    assert code == 0 and "2 payouts, 15239.62 yuan" in out
    assert verify_payout_file(paid.read_bytes())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("run", "--day", "2024-02-30"), "is not a date YYYY-MM-DD"),
        (("run", "--day", "5/3/2024"), "is not a date YYYY-MM-DD"),
        (("run", "--day", PAST_TEXT, "--cutoff", "7pm"), "is not HH:MM"),
        (("report", "--day", "2024-03-04"), "has not been settled"),
        (("payout-file", "--day", "20240305", "--out", "x.csv"), "is not a date"),
    ],
)
def test_bad_input_is_one_line(db: str, tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    code, _, error = settle(*args, "--db", db, home=tmp_path)
    assert code != 0 and isinstance(error, InputError)
    assert words in str(error) and "\n" not in str(error)


def test_the_default_database_lives_in_the_home(tmp_path: Path) -> None:
    code, out, error = settle("run", "--day", PAST_TEXT, home=tmp_path)
    assert code == 0, error
    assert "settlement 2024-03-05 done: 0 merchants" in out
    assert (tmp_path / "host" / "host.db").exists()
