"""Every fixed text of the POS screen, in Chinese and English (pure data).

Screens say `say(key, lang)`; the guide (kassa.guide) supplies the texts of response codes
and local faults, so nothing here repeats what a code means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kassa.iso8583.transactions import TxnType
from kassa.money import Amount

Lang = Literal["zh", "en"]

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("银联POS", "UnionPay POS"),
    "menu_hint": ("按数字键选择，L 切换语言", "Press a number; L switches language"),
    "amount": ("请输入金额（元）", "Enter the amount (yuan)"),
    "amount_bad": ("金额无效", "Invalid amount"),
    "card": ("请刷卡/插卡，或输入卡号", "Swipe or insert card, or key the card number"),
    "card_hint": (
        "刷卡后自动读取；手输卡号后按回车",
        "A swipe is read at once; after keying press Enter",
    ),
    "card_bad": ("卡片无法读取", "Card cannot be read"),
    "expiry": ("有效期 (MM/YY)", "Expiry (MM/YY)"),
    "cvn": ("卡背面三位安全码 CVN2（无则直接回车）", "CVN2, 3 digits on the back (Enter for none)"),
    "pin": ("请持卡人输入密码，无密码直接回车", "Cardholder: enter PIN, or Enter for none"),
    "pin_bad": ("密码须为4至12位数字", "A PIN is 4 to 12 digits"),
    "trace": ("请输入原凭证号", "Enter the original trace number"),
    "rrn": ("请输入原参考号（12位）", "Enter the original reference number (12)"),
    "date": ("原交易日期 MMDD（可空）", "Original date MMDD (may be empty)"),
    "auth": ("请输入原授权码（6位）", "Enter the original authorisation code (6)"),
    "trace_bad": ("凭证号为1至6位数字", "A trace number is 1 to 6 digits"),
    "trace_none": ("本批次无此凭证号的消费", "No sale with this trace in the current batch"),
    "trace_state": ("原交易不能撤销", "The original cannot be voided"),
    "rrn_bad": ("参考号须为12位字母或数字", "A reference number is 12 letters or digits"),
    "date_bad": ("日期须为MMDD，如1118", "The date is MMDD, e.g. 1118"),
    "auth_bad": ("授权码须为6位字母或数字", "An authorisation code is 6 letters or digits"),
    "card_mismatch": ("卡号与原交易不符", "This card is not the card of the original"),
    "original": ("原交易", "Original"),
    "processing": ("处理中…", "Processing…"),
    "processing_hint": ("请勿拔卡，请勿断电", "Do not remove the card or switch off"),
    "signing_on": ("签到中…", "Signing on…"),
    "settling": ("结算中…", "Settling…"),
    "recovering": ("正在恢复未完成交易…", "Recovering unfinished transactions…"),
    "approved": ("交易成功", "Approved"),
    "amount_label": ("金额", "Amount"),
    "balance_label": ("可用余额", "Available balance"),
    "rrn_label": ("参考号", "Reference"),
    "auth_label": ("授权码", "Auth code"),
    "trace_label": ("凭证号", "Trace"),
    "batch_label": ("批次号", "Batch"),
    "code_label": ("代码", "Code"),
    "tell": ("告诉顾客", "Tell the customer"),
    "next": ("下一步", "Next"),
    "in_doubt": ("结果未知 — 请勿重复收款", "Outcome unknown — never charge again"),
    "reversed": (
        "已自动冲正：本笔不会扣款。如需收款，请重新发起交易",
        "Reversed automatically: this payment is not charged. Start a new sale to take payment",
    ),
    "reversal_pending": (
        "冲正待发送：下笔交易前自动发送。冲正完成前请勿重复收款",
        "Reversal pending: it goes out before the next transaction. Do not charge again until then",
    ),
    "not_charged": ("本笔未发出，未扣款", "Nothing was sent: not charged"),
    "saf": ("离线批准，联机后自动上送", "Approved offline; uploaded when the host is back"),
    "resend": (
        "主机未应答，终端会自动重发，请勿重复操作",
        "No answer; the terminal resends it, do not redo it",
    ),
    "enter_receipt": ("回车 查看签购单", "Enter: receipt"),
    "enter_menu": ("回车 返回主菜单", "Enter: back to menu"),
    "receipt": ("签购单预览", "Receipt preview"),
    "reprint": ("重打印", "Reprint"),
    "no_receipt": ("没有可重打印的交易", "No transaction to reprint"),
    "signon_ok": ("签到成功", "Signed on"),
    "signon_failed": ("签到失败", "Sign-on failed"),
    "drift": ("时钟偏差", "Clock drift"),
    "settle_ok": ("结算成功", "Settlement done"),
    "settle_failed": ("结算未完成", "Settlement not finished"),
    "settle_resume": ("再次结算会从中断处继续", "Settle again to go on from where it stopped"),
    "balanced": ("对账平", "Balanced"),
    "unbalanced": ("对账不平，已批上送", "Unbalanced; details uploaded"),
    "uploaded": ("上送笔数", "Records uploaded"),
    "debits": ("借记 笔数/金额", "Debits count/amount"),
    "credits": ("贷记 笔数/金额", "Credits count/amount"),
    "new_batch": ("新批次号", "New batch"),
    "step": ("停在步骤", "Stopped at step"),
    "status": ("终端状态", "Terminal status"),
    "recovered": ("已恢复断电前未完成的交易", "Recovered transactions left by a power cut"),
    "busy": ("交易处理中，请稍候再退出", "A transaction is in progress; wait before quitting"),
    "error": ("操作失败", "Operation failed"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "esc": ("Esc 取消", "Esc: cancel"),
    "bar_tid": ("终端", "TID"),
    "bar_batch": ("批次", "Batch"),
    "bar_signed": ("签到", "Signed on"),
    "bar_reversals": ("待冲正", "Reversals"),
    "bar_saf": ("离线", "SAF"),
    "bar_print": ("待打印", "Print queue"),
    "bar_clock": ("时钟偏移", "Clock offset"),
}


def say(key: str, lang: Lang) -> str:
    """The text `key` in `lang`; a missing key is a bug (KeyError names it)."""
    zh, en = _TEXT[key]
    return zh if lang == "zh" else en


def both(key: str) -> str:
    """Both languages, for a line the cashier and a foreign customer may both read."""
    zh, en = _TEXT[key]
    return f"{zh}  {en}"


def yuan(fen: int) -> str:
    return f"RMB {Amount(fen).yuan()}"


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One line of the home menu: its keys, the action it runs, its labels."""

    keys: tuple[str, ...]
    action: str
    zh: str
    en: str

    def label(self, lang: Lang) -> str:
        return f"{self.keys[-1]}  {self.zh if lang == 'zh' else self.en}"


MENU: tuple[MenuItem, ...] = (
    MenuItem(("f1", "1"), "sale", "消费", "Sale"),
    MenuItem(("2",), "void", "撤销", "Void"),
    MenuItem(("3",), "refund", "退货", "Refund"),
    MenuItem(("4",), "balance", "余额查询", "Balance"),
    MenuItem(("5",), "preauth", "预授权", "Pre-auth"),
    MenuItem(("6",), "completion", "预授权完成", "Completion"),
    MenuItem(("7",), "settle", "结算", "Settle"),
    MenuItem(("8",), "sign_on", "签到", "Sign on"),
    MenuItem(("9",), "reprint", "重打印", "Reprint"),
    MenuItem(("0",), "status", "状态", "Status"),
)

FLOW_TXN: dict[str, TxnType] = {
    "sale": TxnType.SALE,
    "void": TxnType.VOID,
    "refund": TxnType.REFUND,
    "balance": TxnType.BALANCE,
    "preauth": TxnType.PREAUTH,
    "completion": TxnType.COMPLETION,
}


def txn_name(txn: TxnType, lang: Lang) -> str:
    item = next((m for m in MENU if FLOW_TXN.get(m.action) is txn), None)
    if item is None:
        return txn.value
    return item.zh if lang == "zh" else item.en
