"""`kassa leaks scan PATH...`: card data at rest where it must never be (PCI DSS 3.3, 3.5).

Reads raw bytes, not rows: SQLite files whole (free pages and page slack too) with their
-wal, -shm and -journal files, logs (compressed ones decompressed too), receipts, backup
pieces (as stored; with the backup secret, decrypted as well). It looks for:
- a PAN in ASCII: a digit run of 13-19, Luhn-valid, in a card network's IIN range, not
  inside hex text; inside a longer run only at a known BIN;
- a PAN packed as BCD nibbles (field 2: ``19 62 12 26 40 ...``) only at a known BIN
  (`--bin`, or the cards of `--cards`): pages are full of decimal nibbles (ASCII digits
  read as nibbles are ``3x3x3x``), so a BCD search without a BIN finds mostly noise;
- track 2: a PAN, ``=`` or ``D`` (nibble D in BCD), expiry YYMM, service code;
- clear PIN blocks of known cards and PINs (ISO format 0, and the PIN field), raw or hex.
A finding names the file, the byte offset and the kind, never the value: PANs masked.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import zstandard

from kassa.card import luhn_ok, mask_pan
from kassa.errors import InputError, KassaError, StoreError
from kassa.iso8583.pinblock import pin_block

if TYPE_CHECKING:
    from kassa.ops.backup import Secret

_ASCII_RUN = re.compile(rb"[0-9]{13,}")
_NIBBLE_RUN = re.compile(r"[0-9]{13,}")
# Separator, expiry YYMM (a real month), service code (first digit per ISO/IEC 7813).
_TRACK_TAIL = re.compile(rb"[=D][0-9]{2}(0[1-9]|1[0-2])[125679][0-9]{2}")
_NIBBLE_TRACK_TAIL = re.compile(r"d[0-9]{2}(0[1-9]|1[0-2])[125679][0-9]{2}")
# Issuer ranges of the card networks (ISO/IEC 7812 IINs): Mastercard 2221-2720 and 51-55,
# Maestro 50/56-58, Amex 34/37, JCB 35, Diners 300-305/36/38/39, Visa 4, UnionPay 62,
# Discover and others 6. A 16-digit timestamp or MID that starts otherwise is not a card.
_IIN = re.compile(r"222[1-9]|22[3-9]|2[3-6]|27[01]|2720|30[0-5]|3[4-9]|4|5[0-8]|6")
_HEX_LETTERS = frozenset(bytes([c]) for c in b"abcdefABCDEF")
chunk_bytes = 16 << 20
_overlap_bytes = 64  # longer than any PAN, track 2 or PIN block text
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class Finding:
    """Sensitive data at `offset` of `path` (of its decrypted/decompressed content when
    `layer` says so). `masked` shows at most the first 6 and last 4 digits."""

    path: str
    offset: int
    kind: str  # pan, pan-bcd, track2, track2-bcd, pin-block, pin-field (+ "-hex")
    masked: str
    layer: str = "raw"

    def __str__(self) -> str:
        inner = "" if self.layer == "raw" else f" ({self.layer})"
        return f"{self.path}:{self.offset}{inner}: {self.kind} {self.masked}"


@dataclass(frozen=True, slots=True)
class Known:
    """What the scan knows to look for beyond the generic patterns: test cards and PINs."""

    cards: tuple[tuple[str, str | None], ...] = ()  # (PAN, PIN or None)
    bins: frozenset[str] = frozenset()

    @staticmethod
    def of(cards: Iterable[tuple[str, str | None]], bins: Iterable[str] = ()) -> Known:
        cards = tuple(cards)
        return Known(cards, frozenset(bins) | {pan[:6] for pan, _ in cards})

    def needles(self) -> dict[bytes, tuple[str, str]]:
        """Exact byte strings to find: clear PIN blocks and PIN fields, raw and as hex."""
        found: dict[bytes, tuple[str, str]] = {}
        for pan, pin in self.cards:
            if pin is None:
                continue
            field = bytes.fromhex(f"0{len(pin)}{pin}".ljust(16, "F"))
            for kind, raw in (("pin-block", pin_block(pin, pan, 0)), ("pin-field", field)):
                found[raw] = (kind, mask_pan(pan))
                found[raw.hex().encode()] = (f"{kind}-hex", mask_pan(pan))
                found[raw.hex().upper().encode()] = (f"{kind}-hex", mask_pan(pan))
        return found


def _plausible(pan: str) -> bool:
    """13-19 digits, Luhn-valid, in a network's IIN range, and not hex of ASCII text
    (``3x3x4x``: a digit string, MAC or hex field in a database shown as hex)."""
    hex_of_ascii = set(pan[0::2]) <= {"3", "4"} or set(pan[1::2]) <= {"3", "4"}
    zeros = pan[2:].strip("0") == ""  # F53 "2600000000000000" is a number, not a card
    return 13 <= len(pan) <= 19 and _IIN.match(pan) is not None and not hex_of_ascii and (
        not zeros and luhn_ok(pan))  # fmt: skip


def _at_bins(run: str, bins: frozenset[str]) -> Iterator[tuple[int, str]]:
    """(offset in run, PAN) of each Luhn-valid 13-19 digit window starting at a known BIN."""
    for bin_ in bins:
        start = run.find(bin_)
        while start != -1:
            for end in range(start + 19, start + 12, -1):  # the longest valid window
                if end <= len(run) and luhn_ok(run[start:end]):
                    yield start, run[start:end]
                    break
            start = run.find(bin_, start + 1)


def _trimmed(run: str) -> list[tuple[int, str]]:
    """The run, and for SQLite's text of 18 or 19 characters the run less its first digit:
    a record writes each value's type code before it, 2n + 13 for text of n bytes, and
    for n = 18 and 19 that code is 49 and 51, ASCII `1` and `3`, glued to the PAN."""
    if (len(run), run[:1]) in ((19, "1"), (20, "3")):
        return [(0, run), (1, run[1:])]
    return [(0, run)]


def _in_hex(data: bytes, start: int, end: int, track: bool) -> bool:
    """A digit run inside hex text (a key, a MAC, a dump): a hex letter touches it."""
    before = data[start - 1 : start]
    after = data[end : end + 1]
    return before in _HEX_LETTERS or (after in _HEX_LETTERS and not track)


def _ascii(data: bytes, known: Known) -> Iterator[tuple[int, str, str]]:
    for match in _ASCII_RUN.finditer(data):
        run = match.group().decode()
        tail = _TRACK_TAIL.match(data, match.end())
        hits = list(_at_bins(run, known.bins))
        if not hits and not _in_hex(data, *match.span(), tail is not None):
            hits = [(i, p) for i, p in _trimmed(run) if _plausible(p)][:1]
        for offset, pan in hits:
            at_end = offset + len(pan) == len(run)
            kind = "track2" if at_end and tail is not None else "pan"
            yield match.start() + offset, kind, pan


def _bcd(data: bytes, known: Known) -> Iterator[tuple[int, str, str]]:
    """PANs at known BINs packed as nibbles; offsets are of the byte holding the first
    digit (rounded down when the PAN starts in the low nibble)."""
    text = data.hex()
    for match in _NIBBLE_RUN.finditer(text):
        run = match.group()
        tail = _NIBBLE_TRACK_TAIL.match(text, match.end())
        for offset, pan in _at_bins(run, known.bins):
            at_end = offset + len(pan) == len(run)
            kind = "track2-bcd" if at_end and tail is not None else "pan-bcd"
            yield (match.start() + offset) // 2, kind, pan


def scan_bytes(data: bytes, path: str, known: Known = Known(), layer: str = "raw",
               base: int = 0) -> list[Finding]:  # fmt: skip
    """Every finding in `data`, whose first byte is at offset `base` of `path`."""
    found = [
        Finding(path, base + offset, kind, mask_pan(pan), layer)
        for detector in (_ascii, _bcd)
        for offset, kind, pan in detector(data, known)
    ]
    for needle, (kind, masked) in known.needles().items():
        start = data.find(needle)
        while start != -1:
            found.append(Finding(path, base + start, kind, f"of {masked}", layer))
            start = data.find(needle, start + 1)
    return found


def _scan_stream(blocks: Iterable[bytes], path: str, known: Known, layer: str) -> list[Finding]:
    """Scan in chunks with an overlap, so memory stays bounded and nothing on a boundary
    is missed; a finding seen twice in the overlap is kept once."""
    found: dict[tuple[int, str], Finding] = {}
    tail, base = b"", 0
    for block in blocks:
        data = tail + block
        for finding in scan_bytes(data, path, known, layer, base):
            found.setdefault((finding.offset, finding.kind), finding)
        tail = data[-_overlap_bytes:]
        base += len(data) - len(tail)
    return sorted(found.values(), key=lambda f: (f.offset, f.kind))


def _file_blocks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            yield block


def _decompressed(path: Path) -> Iterator[bytes]:
    """The content of a compressed log or file (by its name), block by block."""
    with open(path, "rb") as raw:
        if path.suffix == ".gz":
            reader: Any = gzip.GzipFile(fileobj=raw)
        else:
            reader = zstandard.ZstdDecompressor().stream_reader(raw)
        with reader:
            while block := reader.read(chunk_bytes):
                yield block


def scan_file(path: Path, known: Known = Known(), secret: Secret | None = None) -> list[Finding]:
    """One file: its raw bytes, then its decompressed or decrypted content if any."""
    found = _scan_stream(_file_blocks(path), str(path), known, "raw")
    if path.suffix in (".gz", ".zst"):
        try:
            found += _scan_stream(_decompressed(path), str(path), known, "decompressed")
        except (EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError) as exc:
            found.append(Finding(str(path), 0, "not-decompressed", str(exc)[:200]))
    if secret is not None and path.suffix == ".kbk":
        found += _scan_piece(path, known, secret)
    return found


def _scan_piece(path: Path, known: Known, secret: Secret) -> list[Finding]:
    """The decrypted plaintext of a backup piece; a piece that will not open is a finding
    too (`not-decrypted`): what could not be read was not shown clean."""
    from kassa.ops.backup import unlock
    from kassa.ops.backup.manifest import parse_manifest
    from kassa.ops.backup.pieces import read_piece
    from kassa.ops.backup.store import MANIFEST

    try:
        manifest = parse_manifest((path.parent / MANIFEST).read_bytes(), str(path.parent))
        piece = manifest.piece(path.name.removesuffix(".kbk"))
        keys = unlock(secret, manifest)
        with open(path, "rb") as source:
            plain = read_piece(source, keys, manifest.id, piece)
            return _scan_stream(plain, str(path), known, "decrypted")
    except (OSError, KassaError) as exc:
        return [Finding(str(path), 0, "not-decrypted", str(exc)[:200])]


def files_under(paths: Iterable[Path]) -> list[Path]:
    """Every regular file under `paths`, plus each named SQLite file's sidecar files."""
    seen: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            seen |= dict.fromkeys(p for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            seen[path] = None
            sidecars = (path.with_name(path.name + s) for s in SQLITE_SIDECARS)
            seen |= dict.fromkeys(p for p in sidecars if p.is_file())
        else:
            raise InputError(f"{path}: no such file or directory to scan")
    return list(seen)


def scan(paths: Iterable[Path], known: Known = Known(), secret: Secret | None = None,
         ) -> list[Finding]:  # fmt: skip
    """Scan every file under `paths` (directories recursively); findings in path order."""
    found: list[Finding] = []
    for path in files_under(paths):
        try:
            found += scan_file(path, known, secret)
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    return found


def load_known(cards_file: Path | None, bins: Sequence[str]) -> Known:
    """Known cards (and PINs) from a reference TOML's [[card]] tables, plus extra BINs."""
    cards: list[tuple[str, str | None]] = []
    if cards_file is not None:
        import tomllib

        try:
            doc = tomllib.loads(cards_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"--cards {cards_file}: {exc}") from None
        cards = [(str(c["pan"]), str(c["pin"]) if "pin" in c else None)
                 for c in doc.get("card", []) if "pan" in c]  # fmt: skip
    for bin_ in bins:
        if not (bin_.isdigit() and 4 <= len(bin_) <= 8):
            raise InputError(f"--bin {bin_!r}: a BIN is 4 to 8 digits, e.g. 621226")
    return Known.of(cards, bins)


def leaks(
    paths: Annotated[list[Path], typer.Argument(help="files or directories to scan")],
    cards: Annotated[
        Path | None, typer.Option("--cards", help="reference TOML: [[card]] pan/pin to look for")
    ] = None,
    bins: Annotated[
        list[str] | None, typer.Option("--bin", help="a BIN to look for in BCD")
    ] = None,
    backups_home: Annotated[
        Path | None, typer.Option("--backup-key-home", help="decrypt backup pieces too")
    ] = None,
) -> None:
    """Scan files for card data in the clear (PAN, track 2, PIN blocks); exit 1 if found."""
    secret: Secret | None = None
    if backups_home is not None:
        from kassa.ops.backup import Secret

        secret = Secret.from_env(backups_home)
    found = scan(paths, load_known(cards, bins or []), secret)
    for finding in found:
        typer.echo(str(finding))
    typer.echo(f"leak scan: {len(found)} finding(s) in {len(files_under(paths))} file(s)")
    if found:
        raise typer.Exit(1)
