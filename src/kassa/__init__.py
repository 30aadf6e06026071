"""Kassa: a card-payment POS system speaking the China UnionPay dialect of ISO 8583."""

__version__ = "0.1.0"
