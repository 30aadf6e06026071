"""`kassa iso`: decode and encode UnionPay-dialect messages, the engineer's first tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kassa.errors import InputError
from kassa.iso8583 import inspect
from kassa.iso8583.framing import HeaderMode
from kassa.iso8583.keys import parse_key_hex
from kassa.iso8583.mac import MacAlgorithm
from kassa.iso8583.render import field_rows

app = typer.Typer(help="Decode and encode UnionPay ISO 8583 messages.", no_args_is_help=True)

MakOpt = Annotated[
    str | None, typer.Option("--mak", help="MAK as hex: check (decode) or compute (encode) F64")
]
AlgOpt = Annotated[
    MacAlgorithm, typer.Option("--mac-alg", help="MAC algorithm (UnionPay ECB by default)")
]


def _key(text: str | None, option: str) -> bytes | None:
    if text is None:
        return None
    try:
        return parse_key_hex(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


@app.command("decode")
def decode(
    hex_text: Annotated[
        str, typer.Argument(metavar="HEX", help="the message as hex; - reads stdin")
    ],
    mak: MakOpt = None,
    tmk: Annotated[
        str | None, typer.Option("--tmk", help="TMK as hex: decrypt the working keys of an 0810")
    ] = None,
    no_header: Annotated[
        bool, typer.Option("--no-header", help="the frame has no 6-byte message header")
    ] = False,
    pretty: Annotated[
        bool, typer.Option("--pretty", help="a table with field names, PANs masked")
    ] = False,
    mac_alg: AlgOpt = MacAlgorithm.ECB,
) -> None:
    """Decode a message (with or without its 2-byte length prefix) to JSON."""
    text = sys.stdin.read() if hex_text == "-" else hex_text
    data = inspect.parse_hex(text)
    mode = HeaderMode.ABSENT if no_header else HeaderMode.AUTO
    doc = inspect.decode_frame(data, mode, _key(mak, "--mak"), _key(tmk, "--tmk"), mac_alg)
    if pretty:
        _print_pretty(doc)
    else:
        typer.echo(json.dumps(doc, ensure_ascii=False))


@app.command("encode")
def encode(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.json", help="the JSON shape; - reads stdin")
    ],
    mak: MakOpt = None,
    mac_alg: AlgOpt = MacAlgorithm.ECB,
) -> None:
    """Encode the JSON shape that `decode` prints back to hex (F64 computed with --mak)."""
    doc = _read_json(file)
    frame = inspect.encode_document(doc, _key(mak, "--mak"), mac_alg)
    typer.echo(frame.hex().upper())


def _read_json(file: Path) -> Any:
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{file}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def _print_pretty(doc: dict[str, Any]) -> None:
    console = Console()
    head = f"MTI {doc['mti']}  TPDU {doc['tpdu']}  header {doc['header'] or '(none)'}"
    if doc["length"] is not None:
        head += f"  length {doc['length']}"
    table = Table(title=head, show_lines=False)
    for col in ("F", "名称 / name", "format", "value"):
        table.add_column(col, overflow="fold")
    for row in field_rows(doc["fields"]):
        table.add_row(*row)
    console.print(table)
    if doc["mac_ok"] is not None:
        console.print(
            "MAC: " + ("[green]OK 校验通过[/]" if doc["mac_ok"] else "[red]BAD 校验失败[/]")
        )
    if doc["keys"] is not None:
        ok = doc["keys"]["kcv_ok"]
        console.print(
            "working keys: "
            + ("[green]check values match[/]" if ok else "[red]check values DO NOT match[/]")
        )
