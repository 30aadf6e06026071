"""How one transaction's rows on both sides are judged (see `kassa.backoffice.recon`).

`classify` takes the rows of one identity from the terminal (or bank statement) view and
the host's, and returns its `Difference`s: none when they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from kassa.backoffice import recon_views as views
from kassa.backoffice.recon_schema import Difference
from kassa.backoffice.recon_views import NEUTRAL, HostRow, TermRow
from kassa.money import Amount

__all__ = ["HostView", "classify", "host_view"]


class HostView(NamedTuple):
    """What the host says about one transaction, corrections included."""

    status: str  # "approved", a neutral one, or "absent"
    amount_fen: int
    principal: HostRow | None
    corrections_fen: int
    standing: int  # how many host rows stand (more than one is a duplicate)


def host_view(rows: Sequence[HostRow]) -> HostView:
    """The host's view of one identity: its request rows plus approved corrections."""
    base = [r for r in rows if r.mti != views.CORRECTION_MTI]
    delta = sum(r.amount_fen for r in rows if r.mti == views.CORRECTION_MTI)
    standing = [r for r in base if views.HOST_STATUS.get(r.status) == "approved"]
    principal = standing[0] if standing else (base[0] if base else None)
    status = "absent" if principal is None else views.HOST_STATUS.get(principal.status, "none")
    amount = principal.amount_fen if status == "approved" and principal else 0
    if delta:
        amount += delta
        status = "approved" if amount > 0 else "reversed"
    return HostView(status, amount, principal, delta, len(standing))


def _term_json(row: TermRow, count: int = 1) -> dict[str, Any]:
    doc = row._asdict()
    if count > 1:
        doc["records"] = count
    return doc


def _host_json(view: HostView) -> dict[str, Any] | None:
    p = view.principal
    if p is None and not view.corrections_fen:
        return None
    doc: dict[str, Any] = {"status": view.status, "amount_fen": view.amount_fen,
                           "corrections_fen": view.corrections_fen}  # fmt: skip
    if p is not None:
        doc.update(txn_id=p.id, mti=p.mti, row_status=p.status, base_fen=p.amount_fen,
                   rrn=p.rrn, txn_type=p.txn_type, pan_masked=p.pan_masked, mid=p.mid,
                   created_ms=p.created_ms)  # fmt: skip
    return doc


def _yuan(fen: int) -> str:
    return Amount(fen).yuan()


def _said(status: str, fen: int | None) -> str:
    return f"{status} {_yuan(fen)}" if status == "approved" and fen is not None else status


def classify(
    source: str,
    theirs: Sequence[TermRow],
    host: Sequence[HostRow],
    closed: Callable[[str, str], bool] = lambda tid, batch: True,
) -> list[Difference]:
    """The differences between one transaction's rows in the terminal (or external) view
    and in the host's; empty when they agree. ``closed(tid, batch)``: whether the host
    has closed that batch (only what is closed reaches a bank statement)."""
    real = [r for r in theirs if not r.origin.startswith("import:")] or list(theirs)
    view = host_view(host)
    mine = real[0] if real else None
    out: list[Difference] = []
    if len(real) > 1:
        origins = ", ".join(r.origin for r in real[:5])
        out.append(_diff("duplicate", "mismatched", source, mine, view, len(real),
                         f"{len(real)} {source} records for one transaction: {origins}"))  # fmt: skip
    if view.standing > 1:
        out.append(_diff("duplicate", "mismatched", source, mine, view, 1,
                         f"{view.standing} host rows stand for one transaction"))  # fmt: skip
    theirs_status = "absent" if mine is None else _status_of(source, mine)
    if theirs_status in NEUTRAL and view.status in NEUTRAL:
        return out
    theirs_fen = mine.amount_fen if mine is not None else None
    if theirs_status == view.status and (
        theirs_status != "approved" or theirs_fen == view.amount_fen
    ):
        return out
    kind, klass = _kind(source, theirs_status, view, closed)
    detail = (
        f"{source} {_said(theirs_status, theirs_fen)}, host {_said(view.status, view.amount_fen)}"
    )
    out.append(_diff(kind, klass, source, mine, view, len(real), detail))
    return out


def _status_of(source: str, row: TermRow) -> str:
    if source == "external":
        return row.state
    return views.TERMINAL_STATUS.get(row.state, "none")


def _kind(
    source: str, theirs: str, view: HostView, closed: Callable[[str, str], bool]
) -> tuple[str, str]:
    klass = "expected" if theirs == "in_flight" else "mismatched"
    if view.status == "absent":
        return "missing_at_host", klass
    if theirs == "absent":
        p = view.principal
        if source == "external":
            settled = p is None or closed(p.tid, p.batch)
            return "missing_at_external", "mismatched" if settled else "expected"
        return "missing_at_terminal", klass
    if theirs == view.status == "approved":
        return "amount_mismatch", klass
    return "status_mismatch", klass


def _diff(kind: str, klass: str, source: str, mine: TermRow | None, view: HostView,
          count: int, detail: str) -> Difference:  # fmt: skip
    p = view.principal
    ref: Any = mine if mine is not None else p
    assert ref is not None, "a difference needs at least one side"
    times = [t for t in (mine.created_ms if mine else None, p.created_ms if p else None) if t]
    tid, batch, stan = (p.tid, p.batch, p.stan) if p is not None and source == "external" else (
        ref.tid, ref.batch, ref.stan)  # fmt: skip
    return Difference(
        kind, klass, source, tid, batch, stan, (mine.rrn if mine else None) or (p.rrn if p else None),
        (p.txn_type if p is not None else ref.txn_type), min(times) if times else 0,
        mine.amount_fen if mine else None, view.amount_fen if view.status != "absent" else None,
        _term_json(mine, count) if mine else None, _host_json(view), detail,
    )  # fmt: skip
