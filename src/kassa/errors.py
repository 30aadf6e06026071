"""The exception tree.

Business outcomes (declines, timeouts, printer out of paper) are data with codes, never
exceptions. Exceptions are for broken input at the edge and for bugs::

    KassaError
     ├── InputError            a person or a file gave us something wrong; one-line message
     │    ├── AmountError      an amount that is not a positive yuan amount with at most 2 decimals
     │    ├── CardError        a PAN, track, expiry or TLV that is malformed
     │    └── ConfigError      a configuration value that is wrong
     ├── ProtocolError         bytes on the wire that break the dialect
     │    ├── DecodeError      a frame or message that cannot be decoded (field, byte offset)
     │    └── EncodeError      a message value that cannot be encoded (field)
     ├── CryptoError           a key of the wrong length, a check value that does not match
     └── StoreError            the journal or database refused or is inconsistent

Every message is one line saying what is wrong and, where it helps, what to do.
"""

from __future__ import annotations


class KassaError(Exception):
    """Root of every error Kassa raises on purpose."""


class InputError(KassaError, ValueError):
    """Wrong input at the edge: an argument, a file, a form field."""


class AmountError(InputError):
    """An amount that cannot be taken as money."""


class CardError(InputError):
    """Card data that is malformed."""


class ConfigError(InputError):
    """A configuration value that is wrong."""


class ProtocolError(KassaError, ValueError):
    """Bytes that break the UnionPay dialect."""


class DecodeError(ProtocolError):
    """A frame or message that cannot be decoded.

    `field` is the ISO 8583 field number (or a part name such as "length", "tpdu",
    "header", "mti", "bitmap"); `offset` the byte offset into the input where the
    problem was found.
    """

    def __init__(self, reason: str, field: str | int | None = None, offset: int | None = None):
        self.reason = reason
        self.field = None if field is None else str(field)
        self.offset = offset
        where = []
        if self.field is not None:
            where.append(f"field {self.field}")
        if offset is not None:
            where.append(f"byte {offset}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + reason)


class EncodeError(ProtocolError):
    """A message value that cannot be put on the wire."""

    def __init__(self, reason: str, field: str | int | None = None):
        self.reason = reason
        self.field = None if field is None else str(field)
        prefix = f"field {self.field}: " if self.field is not None else ""
        super().__init__(prefix + reason)


class CryptoError(KassaError, ValueError):
    """Key material that is wrong: length, parity of a hex string, check value."""


class StoreError(KassaError):
    """The journal or database refused a write or holds something inconsistent.

    `at_commit` is True when COMMIT itself failed: whether the transaction stands is then
    unknown (a connection lost mid-COMMIT), so nothing may be told as if it did not."""

    at_commit: bool = False
