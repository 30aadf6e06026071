"""The UnionPay POS dialect of ISO 8583: pure protocol, no I/O."""

from kassa.iso8583.codec import decode, encode
from kassa.iso8583.dialect import FIELDS, MTI_NAMES, FieldDef, Kind, Length
from kassa.iso8583.message import Message

__all__ = ["FIELDS", "MTI_NAMES", "FieldDef", "Kind", "Length", "Message", "decode", "encode"]
