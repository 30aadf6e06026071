"""The POS screen driven by keys, against the real host core and a real terminal journal
(termkit's in-memory link stands in for the network and injects its faults).

Set KASSA_SCREENS_DIR=docs/screens to refresh the README screenshots from the sale test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "terminal"))  # termkit
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))  # hostkit

from hostkit import CREDIT_PAN
from termkit import PAN, Rig, rigged
from textual.pilot import Pilot
from textual.widgets import Input, Static

from kassa.guide import lookup
from kassa.host import repo
from kassa.host.admin import card_ref_for
from kassa.ledger import card_account
from kassa.net import Fault
from kassa.terminal.states import State
from kassa.tui import PosApp
from kassa.tui._forms import CardScreen, FormScreen, PinScreen
from kassa.tui._screens import HomeScreen, ResultScreen, TextScreen

pytestmark = pytest.mark.anyio
SWIPE = f";{PAN}=26121010000012345?"
START_FEN = 100_000  # the test card's balance in hostkit's reference data
SIZE = (100, 36)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    # The host's database dialect is tested elsewhere; one SQLite run keeps this quick.
    with rigged(f"sqlite:///{tmp_path / 'host.db'}", tmp_path) as r:
        yield r


def balance(rig: Rig) -> int:
    with rig.db.transaction() as tx:
        return repo.balance(tx, card_account(card_ref_for(rig.core.secrets, PAN)))


def shown(app: PosApp) -> str:
    """Every text on the current screen."""
    return "\n".join(str(w.content) for w in app.screen.query(Static))


async def until(pilot: Pilot[None], done: Callable[[], bool], what: str) -> None:
    for _ in range(250):
        if done():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}; screen shows:\n{shown(pilot.app)}")  # type: ignore[arg-type]


async def at(pilot: Pilot[None], kind: type, what: str = "") -> None:
    app = pilot.app
    ready = (lambda: app.idle) if kind is HomeScreen else (lambda: not app.busy)  # type: ignore[attr-defined]
    await until(pilot, lambda: isinstance(app.screen, kind) and ready(), what or kind.__name__)


async def enter(pilot: Pilot[None], text: str, typed: bool = False) -> None:
    """Put `text` into the focused input and press Enter; typing it key by key is what a
    person does, but costs ~75 ms a key under the pilot, so most tests fill the field."""
    if typed:
        await pilot.press(*text)
    else:
        focused = pilot.app.focused
        assert isinstance(focused, Input), focused
        focused.value = text
    await pilot.press("enter")


async def swipe(pilot: Pilot[None], typed: bool) -> None:
    """What a USB magstripe reader does: type track 2, then Enter. Typing key by key costs
    ~75 ms a key under the pilot, so only the end-to-end sale types it."""
    await at(pilot, CardScreen, "card screen")
    if typed:
        await pilot.press(*SWIPE)
    else:
        pilot.app.screen.query_one("#card", Input).value = SWIPE
    await pilot.press("enter")


async def sale(pilot: Pilot[None], amount: str, pin: str, typed: bool = False) -> None:
    await at(pilot, HomeScreen)
    await pilot.press("1")
    await at(pilot, FormScreen, "amount entry")
    await enter(pilot, amount, typed)
    await swipe(pilot, typed)
    await at(pilot, PinScreen, "PIN screen")
    await enter(pilot, pin, typed)
    await at(pilot, ResultScreen, "the result")


async def test_sale_end_to_end_charges_the_card_once(rig: Rig, tmp_path: Path) -> None:
    await rig.terminal.sign_on()
    app = PosApp(rig.terminal)
    screens = Path(os.environ.get("KASSA_SCREENS_DIR") or tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await at(pilot, HomeScreen)
        assert "消费" in shown(app) and "12345678" in shown(app)  # menu and status bar
        app.save_screenshot("home.svg", str(screens))
        await sale(pilot, "123.45", "1234", typed=True)
        row = rig.terminal.journal.txns()[-1]
        assert row.state is State.APPROVED and row.rrn and row.auth_code
        text = shown(app)
        assert str(app.screen.query_one("#headline", Static).content) == "交易成功"
        for value in ("RMB 123.45", row.rrn, row.auth_code, row.stan, row.batch):
            assert value in text
        assert balance(rig) == START_FEN - 12_345
        app.save_screenshot("sale-approved.svg", str(screens))
        await pilot.press("enter")
        await at(pilot, TextScreen, "receipt preview")
        slip = shown(app)
        assert "RMB 123.45" in slip and PAN[:6] in slip and PAN not in slip  # masked only
        await pilot.press("enter")
        await at(pilot, HomeScreen)
    assert (screens / "home.svg").stat().st_size > 0
    assert balance(rig) == START_FEN - 12_345  # nothing more after the receipt


async def test_wrong_pin_shows_the_guide_text_and_charges_nothing(rig: Rig) -> None:
    await rig.terminal.sign_on()
    app = PosApp(rig.terminal)
    async with app.run_test(size=SIZE) as pilot:
        await sale(pilot, "10", "9999")
        entry = lookup("55")
        assert str(app.screen.query_one("#headline", Static).content) == entry.screen_zh == "密码错"
        assert entry.cashier_zh in shown(app) and entry.action_zh in shown(app)
        await pilot.press("enter")  # a decline has no receipt: straight back to the menu
        await at(pilot, HomeScreen)
    assert balance(rig) == START_FEN


async def test_lost_response_is_in_doubt_and_reversed(rig: Rig) -> None:
    await rig.terminal.sign_on()
    rig.schedule.add(Fault.DROP_RESPONSE)
    app = PosApp(rig.terminal, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await sale(pilot, "50", "1234")
        text = shown(app)
        assert "Outcome unknown — never charge again" in text
        assert "Reversed automatically" in text
        assert lookup("response_timeout").cashier_en in text
    assert rig.terminal.journal.txns()[-1].state is State.REVERSED
    assert balance(rig) == START_FEN  # the host booked it, the reversal undid it


async def test_bad_amount_is_refused_inline_and_nothing_is_sent(rig: Rig) -> None:
    await rig.terminal.sign_on()
    app = PosApp(rig.terminal)
    async with app.run_test(size=SIZE) as pilot:
        await at(pilot, HomeScreen)
        await pilot.press("1")
        await at(pilot, FormScreen)
        await pilot.press(*"12.345", "enter")
        await pilot.pause()
        error = str(app.screen.query_one("#error", Static).content)
        assert error.startswith("金额无效") and "2 decimal places" in error
        assert isinstance(app.screen, FormScreen)  # still asking
        await pilot.press("escape")
        await at(pilot, HomeScreen)
    assert rig.terminal.journal.txns() == []


async def test_not_signed_on_says_so_before_asking_for_the_card(rig: Rig) -> None:
    app = PosApp(rig.terminal)
    async with app.run_test(size=SIZE) as pilot:
        await at(pilot, HomeScreen)
        await pilot.press("1")
        await at(pilot, ResultScreen)
        assert lookup("not_signed_on").screen_zh in shown(app)  # 请先签到
        await pilot.press("enter")
        await at(pilot, HomeScreen)
        await pilot.press("8")  # sign on from the menu, then the sale goes through
        await at(pilot, ResultScreen, "sign-on result")
        assert "签到成功" in shown(app)
        await pilot.press("enter")
        await sale(pilot, "1.00", "1234")
        assert "交易成功" in shown(app)
    assert rig.terminal.journal.txns()[-1].state is State.APPROVED
    assert balance(rig) == START_FEN - 100


async def test_pin_and_card_never_stay_in_a_widget(rig: Rig) -> None:
    await rig.terminal.sign_on()
    app = PosApp(rig.terminal)
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await at(pilot, HomeScreen)
        await pilot.press("1")
        await at(pilot, FormScreen)
        await enter(pilot, "2")
        await at(pilot, CardScreen)
        card_screen = app.screen
        await swipe(pilot, typed=False)
        await at(pilot, PinScreen)
        seen += [w.value for w in card_screen.query(Input)]
        pin_screen = app.screen
        await pilot.press(*"12", "enter")  # too short: refused without echoing it
        await pilot.pause()
        seen.append(pin_screen.query_one(Input).value)
        assert "4" in str(pin_screen.query_one("#error", Static).content)
        await enter(pilot, "1234")
        await at(pilot, ResultScreen)
        seen += [w.value for w in pin_screen.query(Input)]
    assert seen and all(value == "" for value in seen)


async def keyed(pilot: Pilot[None], pan: str, expiry: str) -> None:
    """Keyed entry: card number, Enter, then expiry and an empty CVN2."""
    await at(pilot, CardScreen, "card screen")
    pilot.app.screen.query_one("#card", Input).value = pan
    await pilot.press("enter")
    await enter(pilot, expiry)
    await pilot.press("enter")  # no CVN2


async def test_void_by_trace_needs_the_same_card_and_gives_the_money_back(rig: Rig) -> None:
    await rig.terminal.sign_on()
    sold = await rig.sale(3_000)
    assert sold.state is State.APPROVED and sold.stan
    app = PosApp(rig.terminal)
    async with app.run_test(size=SIZE) as pilot:
        await at(pilot, HomeScreen)
        await pilot.press("2")
        await at(pilot, FormScreen, "trace entry")
        await pilot.press(*"999", "enter")  # no such sale: refused on the spot
        await pilot.pause()
        assert "本批次无此凭证号的消费" in shown(app)
        await enter(pilot, str(int(sold.stan)))
        await keyed(pilot, CREDIT_PAN, "12/26")  # another card: refused, nothing sent
        await pilot.pause()
        assert "卡号与原交易不符" in shown(app) and "RMB 30.00" in shown(app)
        await keyed(pilot, PAN, "12/26")
        await at(pilot, ResultScreen, "void result")
        assert "交易成功" in shown(app)
        await pilot.press("enter")
        await at(pilot, TextScreen, "void slip")
        assert "消费撤销" in shown(app) and "-30.00" in shown(app)
    assert rig.terminal.journal.txn(sold.txn_id or 0).state is State.VOIDED  # type: ignore[union-attr]
    assert [r.txn_type for r in rig.terminal.journal.txns()] == ["sale", "void"]
    assert balance(rig) == START_FEN


async def test_settle_then_reprint_and_status(rig: Rig) -> None:
    await rig.terminal.sign_on()
    assert (await rig.sale(2_000)).state is State.APPROVED
    app = PosApp(rig.terminal)
    async with app.run_test(size=SIZE) as pilot:
        await at(pilot, HomeScreen)
        await pilot.press("7")
        await at(pilot, ResultScreen, "settlement result")
        text = shown(app)
        assert "结算成功" in text and "对账平" in text and "新批次号: 000002" in text
        assert "1 / RMB 20.00" in text  # one debit of 20.00
        await pilot.press("enter")
        await at(pilot, HomeScreen)
        assert "批次 000002" in shown(app)  # the status bar follows
        await pilot.press("9")
        await at(pilot, TextScreen, "reprint")
        assert "重打印" in shown(app) and "RMB 20.00" in shown(app)
        await pilot.press("enter")
        await at(pilot, HomeScreen)
        await pilot.press("0")
        await at(pilot, TextScreen, "status")
        assert "batch: 000002" in shown(app) and "signed_on: True" in shown(app)


async def test_balance_and_refund_in_english(rig: Rig) -> None:
    await rig.terminal.sign_on()
    sold = await rig.sale(5_000)
    assert sold.rrn
    app = PosApp(rig.terminal)
    async with app.run_test(size=SIZE) as pilot:
        await at(pilot, HomeScreen)
        await pilot.press("l")  # the language key
        assert "Sale" in shown(app) and "Signed on yes" in shown(app)
        await pilot.press("4")
        await swipe(pilot, typed=False)
        await at(pilot, PinScreen)
        await enter(pilot, "1234")
        await at(pilot, ResultScreen, "balance")
        assert "Available balance: RMB 950.00" in shown(app)
        await pilot.press("enter")  # a balance inquiry prints nothing
        await at(pilot, HomeScreen)
        await pilot.press("3")
        await at(pilot, FormScreen, "refund original")
        app.screen.query_one("#f-rrn", Input).value = sold.rrn
        await pilot.press("enter", "enter")  # reference, then no date
        await at(pilot, FormScreen, "refund amount")
        await enter(pilot, "20")
        await swipe(pilot, typed=False)
        await at(pilot, ResultScreen, "refund result")
        assert "Approved" in shown(app)
    assert rig.terminal.journal.txns()[-1].txn_type == "refund"
    assert balance(rig) == START_FEN - 5_000 + 2_000
