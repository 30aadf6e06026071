"""Reports of a settled day: acquirer and merchant CSV, printable HTML, the payout file."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator

import pytest
from test_settlement_kit import CUT, DAY, M1, M2, PAN, RUN_MS, World, day_one, open_world

from kassa.backoffice import (
    DayResult,
    MerchantSettlement,
    SettledTxn,
    acquirer_csv,
    load_details,
    merchant_csv,
    payout_file,
    report_html,
    run_day,
    verify_payout_file,
)
from kassa.errors import InputError


@pytest.fixture
def settled(db_url: str) -> Iterator[tuple[DayResult, list[SettledTxn]]]:
    world: World = open_world(db_url)
    try:
        day_one(world)
        result = run_day(world.db, DAY, RUN_MS, CUT)
        with world.db.transaction(write=False) as tx:
            details = load_details(tx, result.settle_day)
        yield result, details
    finally:
        world.close()


def rows(data: bytes) -> list[list[str]]:
    assert b"\r\n" in data and not data.startswith(b"\xef\xbb\xbf")  # CRLF, no BOM
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_acquirer_csv(settled: tuple[DayResult, list[SettledTxn]]) -> None:
    result, _ = settled
    table = rows(acquirer_csv(result))
    assert table[0][:4] == ["settle_day", "mid", "name", "count"]
    as_dicts = [dict(zip(table[0], r, strict=True)) for r in table[1:]]
    m1, m2, total = as_dicts
    assert (m1["mid"], m1["name"], m1["count"]) == (M1, "测试商户, 一号", "5")
    assert (m1["gross_fen"], m1["refunds_fen"], m1["fee_fen"], m1["net_fen"]) == (
        "528100", "4000", "2238", "521862",
    )  # fmt: skip
    assert (m2["payout_fen"], m2["payout_yuan"]) == ("1002100", "10021.00")
    assert total["mid"] == "TOTAL"
    assert (total["count"], total["fee_fen"], total["payout_fen"], total["payout_yuan"]) == (
        "10", str(2_238 + 2_899), str(521_862 + 1_002_100), "15239.62",
    )  # fmt: skip


def test_merchant_csv_lists_every_settled_transaction(
    settled: tuple[DayResult, list[SettledTxn]],
) -> None:
    result, details = settled
    data = merchant_csv(result, M1, details, CUT)
    assert PAN.encode() not in data  # card numbers only masked
    table = rows(data)
    header, lines, total = table[0], table[1:-1], table[-1]
    body = [dict(zip(header, r, strict=True)) for r in lines]
    assert [(r["type"], r["role"], r["amount_fen"], r["fee_fen"]) for r in body] == [
        ("sale", "capture", "10000", "70"),
        ("sale", "excluded", "5000", "50"),  # 0.30 + 0.10 under the minimum
        ("void", "excluded", "-5000", "-50"),
        ("sale", "capture", "500000", "2000"),
        ("sale", "capture", "100", "50"),
        ("sale", "excluded", "7700", "56"),  # 0.462 -> 0.46 + 0.10
        ("reversal", "excluded", "-7700", "-56"),
        ("refund", "refund", "-4000", "0"),
        ("completion", "capture", "18000", "118"),
    ]
    assert all(r["card"].startswith("621226") and "*" in r["card"] for r in body)
    assert body[0]["time"] == "2026-11-18 19:06:40" and body[0]["tid"] == "12345678"
    assert total[6] == "TOTAL" and total[9] == "count=5"
    assert total[10:] == ["524100", "5241.00", "2238"]
    with pytest.raises(InputError, match="no settlement"):
        merchant_csv(result, "000000000000000", details)


def test_html_pages_are_bilingual_escaped_and_printable(
    settled: tuple[DayResult, list[SettledTxn]],
) -> None:
    result, details = settled
    page = report_html(result, cutoff=CUT)
    for heading in ("收单清算汇总", "Acquirer settlement summary", "商户号", "MID", "手续费",
                    "Fees", "应付金额", "Payable", "合计 Total", "@media print"):  # fmt: skip
        assert heading in page
    assert "2026-11-17 23:00:00 — 2026-11-18 23:00:00" in page
    assert "5218.62" in page and "10021.00" in page and "15239.62" in page
    assert "&lt;b&gt;Shop &amp; Co&lt;/b&gt;" in page and "<b>Shop" not in page
    statement = report_html(result, M1, details, CUT)
    assert "商户结算单" in statement and "交易明细 Transactions" in statement
    assert PAN not in statement and "Shop" not in statement
    assert statement.count('class="excluded"') == 4
    assert "5000.00" in statement and "-40.00" in statement


def test_payout_file_has_a_sha256_trailer(settled: tuple[DayResult, list[SettledTxn]]) -> None:
    result, _ = settled
    data = payout_file(result)
    lines = data.split(b"\r\n")
    assert lines[-1] == b""  # ends with CRLF
    assert lines[0] == b"mid,name,settle_date,net_payable_fen,net_payable_yuan,count"
    assert lines[1].decode() == f'{M1},"测试商户, 一号",2026-11-18,521862,5218.62,5'
    assert lines[2].decode() == f"{M2},<b>Shop & Co</b>,2026-11-18,1002100,10021.00,5"
    body = b"".join(line + b"\r\n" for line in lines[:3])
    digest = hashlib.sha256(body).hexdigest()
    assert lines[3].decode() == f"TRAILER,2,1523962,{digest}"
    assert verify_payout_file(data)
    assert payout_file(result) == data  # the same day gives the same file, byte for byte
    assert not verify_payout_file(data.replace(b"521862", b"521863"))
    assert not verify_payout_file(data.replace(b"TRAILER,2", b"TRAILER,3"))
    assert not verify_payout_file(data[: data.rindex(b"TRAILER")])


def test_a_merchant_not_owed_anything_is_not_in_the_payout_file(
    settled: tuple[DayResult, list[SettledTxn]],
) -> None:
    result, _ = settled
    owing = MerchantSettlement("2026-11-18", M2, "x", 0, 500, 0, 0, -500, 0, 0, 1, None, None)
    data = payout_file(DayResult(result.settle_day, "done", 0, 1, (result.merchants[0], owing)))
    assert M2.encode() not in data and data.count(b"\r\n") == 3
    assert verify_payout_file(data)


def test_no_payout_file_for_an_unfinished_day(
    settled: tuple[DayResult, list[SettledTxn]],
) -> None:
    result, _ = settled
    running = DayResult(result.settle_day, "running", 0, 1, result.merchants[:1])
    with pytest.raises(InputError, match="has not finished"):
        payout_file(running)
