"""House rules that code review alone would let slip."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "kassa"
PURE_PACKAGES = ("iso8583", "card", "guide", "ledger", "host", "terminal", "auth", "risk", "audit")
PURE_MODULES = ("money.py", "vault.py", "errors.py", "limits.py")
# Thin I/O shells that live beside the pure code of their package.
SHELLS = {
    "host/service.py",
    "host/masterkey.py",
    "host/runtime.py",
    # `kassa host serve --workers N`: processes, signals, sockets, a file lock.
    "host/workers.py",
    "host/_supervisor.py",
    "host/_worker.py",
    "host/_writelock.py",
    "auth/store.py",
    "audit/store.py",
    # The terminal's orchestration drives the journal and the link it is handed; the
    # decisions it applies (states, verdict, offline rules, totals, requests) are pure.
    "terminal/journal.py",
    "terminal/runtime.py",
    "terminal/context.py",
    "terminal/printer.py",
    "terminal/drill.py",
    "terminal/printing.py",
}
BANNED = {"asyncio", "socket", "sqlite3", "time", "random", "os", "secrets", "psycopg",
          "threading", "subprocess", "ssl"}  # fmt: skip
FUNCTION_LINES_MAX = 70


def _pure_files() -> list[Path]:
    files = [SRC / name for name in PURE_MODULES]
    for package in PURE_PACKAGES:
        files += sorted((SRC / package).rglob("*.py"))
    return [f for f in files if str(f.relative_to(SRC)) not in SHELLS]


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_layers_do_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert not (_imports(tree) & BANNED), f"{path.name} imports {_imports(tree) & BANNED}"


def test_functions_stay_short() -> None:
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > FUNCTION_LINES_MAX:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({size})")
    assert not long, long


def test_no_floats_in_the_domain() -> None:
    """Money is integer fen: the pure layers have no float at all, so none can creep in."""
    offenders = []
    for path in _pure_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_float = isinstance(node, ast.Constant) and isinstance(node.value, float)
            if is_float or (isinstance(node, ast.Name) and node.id == "float"):
                offenders.append(f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)}")
    assert not offenders, f"floats in the pure layers: {offenders}"
