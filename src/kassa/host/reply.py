"""What a handler decides: the response code, extra fields, and what to record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Reply:
    """A handler's answer.

    `fields` are added to the standard response fields; `drop` removes echoed ones.
    `record`, when set, stores the request in `txns` (columns beyond the identity) so a
    repeat is answered from the store. `replay` is a stored response's fields, sent as is.
    """

    code: str
    fields: dict[int, str] = field(default_factory=dict)
    drop: tuple[int, ...] = ()
    record: dict[str, Any] | None = None
    replay: dict[int, str] | None = None
