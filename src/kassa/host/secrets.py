"""The host's key hierarchy below its master key (pure).

host master key ──HKDF──> tmk-seal key  (seals TMKs and working keys at rest)
                 ├──────> pan-seal key  (seals PANs at rest, PCI DSS 3.5.1)
                 ├──────> pan-lookup    (keyed hash to find a card by PAN)
                 └──────> pvk           (keyed PIN verification values; no clear PIN kept)

Reading the master key from a file or the environment is the shell's job
(`kassa.host.masterkey`); this module only derives and applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kassa.iso8583.keys import KeyMode, WorkingKeys
from kassa.vault import derive_key, lookup_hash, open_sealed, seal

_NONCE_SIZE = 12


@dataclass(frozen=True, slots=True)
class HostSecrets:
    """Keys derived from the host master key. repr never shows them."""

    tmk_seal: bytes = field(repr=False)
    pan_seal: bytes = field(repr=False)
    pan_lookup: bytes = field(repr=False)
    pvk: bytes = field(repr=False)

    @classmethod
    def from_master(cls, master: bytes) -> HostSecrets:
        return cls(
            derive_key(master, "tmk"),
            derive_key(master, "pan"),
            derive_key(master, "pan-lookup"),
            derive_key(master, "pvk"),
        )

    def pan_hash(self, pan: str) -> str:
        return lookup_hash(self.pan_lookup, pan)

    def seal_pan(self, pan: str, rand: Callable[[int], bytes]) -> bytes:
        return seal(self.pan_seal, pan.encode(), b"pan", rand(_NONCE_SIZE))

    def open_pan(self, blob: bytes) -> str:
        return open_sealed(self.pan_seal, blob, b"pan").decode()

    def seal_tmk(self, tid: str, tmk: bytes, rand: Callable[[int], bytes]) -> bytes:
        return seal(self.tmk_seal, tmk, b"tmk:" + tid.encode(), rand(_NONCE_SIZE))

    def open_tmk(self, tid: str, blob: bytes) -> bytes:
        return open_sealed(self.tmk_seal, blob, b"tmk:" + tid.encode())

    def seal_keys(self, tid: str, keys: WorkingKeys, rand: Callable[[int], bytes]) -> bytes:
        tdk = keys.tdk or b""
        plain = bytes([len(keys.pik), len(keys.mak), len(tdk)]) + keys.pik + keys.mak + tdk
        return seal(self.tmk_seal, plain, b"wk:" + tid.encode(), rand(_NONCE_SIZE))

    def open_keys(self, tid: str, blob: bytes) -> WorkingKeys:
        plain = open_sealed(self.tmk_seal, blob, b"wk:" + tid.encode())
        pik_n, mak_n, tdk_n = plain[0], plain[1], plain[2]
        body = plain[3:]
        tdk = body[pik_n + mak_n : pik_n + mak_n + tdk_n] or None
        return WorkingKeys(body[:pik_n], body[pik_n : pik_n + mak_n], tdk)


def key_mode_of(text: str | None) -> KeyMode | None:
    return KeyMode(text) if text in {m.value for m in KeyMode} else None
