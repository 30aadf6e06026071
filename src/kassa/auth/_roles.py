"""Who an operator is: the roles of the POS terminal and of the web console."""

from __future__ import annotations

from enum import StrEnum

from kassa.errors import InputError


class Role(StrEnum):
    """An operator's role.

    The terminal knows `CASHIER` (收银员) and `SUPERVISOR` (主管); the console knows
    `VIEWER`, `OPERATOR`, `SUPERVISOR` and `ADMIN`. A supervisor account serves both.
    """

    CASHIER = "cashier"
    VIEWER = "viewer"
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def needs_totp(self) -> bool:
        """Whether logging in also takes a one-time code (TOTP): supervisors and admins."""
        return self in (Role.SUPERVISOR, Role.ADMIN)

    @property
    def on_terminal(self) -> bool:
        """Whether this role logs in at a POS terminal."""
        return self in (Role.CASHIER, Role.SUPERVISOR)

    @property
    def on_console(self) -> bool:
        """Whether this role logs in to the web console."""
        return self is not Role.CASHIER

    @property
    def label_zh(self) -> str:
        """The role's name on Chinese screens."""
        return _LABELS_ZH[self]


_LABELS_ZH: dict[Role, str] = {
    Role.CASHIER: "收银员",
    Role.VIEWER: "查询员",
    Role.OPERATOR: "操作员",
    Role.SUPERVISOR: "主管",
    Role.ADMIN: "管理员",
}


def parse_role(text: str) -> Role:
    """The role named `text` (case and spaces ignored); InputError for an unknown name."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(role.value for role in Role)
        raise InputError(f"unknown role {text!r}: use one of {names}") from None
