"""Every `kassa` command, found by walking the Typer app, fed bad arguments: an unknown
option, a missing required argument, and junk for each option and argument by its type.
Each must answer as a real process would: a message, a non-zero status, no traceback.

Junk is relative and harmless on purpose (each case runs in its own scratch directory
with a scratch home): no absolute paths, no `..`, so a command that wrongly accepts junk
as a path writes only into the scratch directory."""

from __future__ import annotations

import enum
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

import kassa.cli
from kassa.sim.chaos_fork import Zygote

ROOT = typer.main.get_command(kassa.cli.app)
# Commands that serve, watch or compute until stopped: junk that they accept as valid
# leaves them running; only what they print before the time bound is judged.
LONG_RUNNING = {"host serve", "console", "pos screen", "demo", "sim", "doctor", "drill"}
time_bound_s = 20.0
running_bound_s = 4.0  # a server still up after this long has taken the junk as valid
LONG = "9" * 400  # longer than a file name may be (255): finds unguarded path handling
TEXT_JUNK = ("", "-", "é测试\u202e'\";--", "x y\tz", "0x7fffffff", "-1")
NUMBER_JUNK = ("abc", "nan", "-1", LONG)


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, (*path, name))
    else:
        yield path, cmd


COMMANDS = dict(_walk(ROOT))


def _junk(param: Any, rng: random.Random) -> list[str]:
    kind = param.bare_type()
    if kind is bool:
        return []  # a flag takes no value; "--flag junk" is covered as an extra argument
    if kind in (int, float):
        return list(NUMBER_JUNK)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return ["nonsense", ""]
    return [LONG, *rng.sample(TEXT_JUNK, 1)]


def _filler(param: Any) -> list[str]:
    """A plausible value for a required parameter that is not the one under test."""
    value = "1" if param.bare_type() in (int, float) else "x"
    return [value] if param.param_type_name == "argument" else [param.opts[0], value]


def cases(path: tuple[str, ...], cmd: Any) -> list[tuple[list[str], bool]]:
    """(argv, must fail) for one command; `must fail` when the input is wrong for sure."""
    rng = random.Random(" ".join(path))
    found: list[tuple[list[str], bool]] = [([*path, "--no-such-option"], True)]
    required = [p for p in cmd.params if p.required]
    if required:
        found.append(([*path], True))
    for param in cmd.params:
        if param.opts[0] in ("--home",):
            continue  # any directory name is a home; tested through the others
        others = [v for p in required if p is not param for v in _filler(p)]
        if param.opts[0] != "--listen" and any(p.opts[0] == "--listen" for p in cmd.params):
            others += ["--listen", "127.0.0.1:0"]  # never the default port: cases run at once
        for value in _junk(param, rng):
            given = [value] if param.param_type_name == "argument" else [param.opts[0], value]
            found.append(([*path, *others, *given], _typed(param) and value != "-1"))
        if getattr(param, "is_flag", False):
            takes_words = any(p.param_type_name == "argument" for p in cmd.params)
            found.append(([*path, *others, param.opts[0], "junk"], not takes_words))
    return found


def _typed(param: Any) -> bool:
    """A number or a choice: junk for it is wrong for sure (free text may be valid)."""
    kind = param.bare_type()
    return kind in (int, float) or (isinstance(kind, type) and issubclass(kind, enum.Enum))


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    helper = Zygote(tmp_path_factory.mktemp("cli-calls"))
    try:
        yield helper
    finally:
        helper.close()


def test_the_walk_finds_every_group() -> None:
    groups = {path[0] for path in COMMANDS}
    assert {"pos", "host", "iso", "backup", "audit", "settle", "explain"} <= groups
    assert ("pos", "sale") in COMMANDS and ("host", "serve") in COMMANDS
    assert len(COMMANDS) >= 60


# Found by this test, reported to the lead; strict, so a fix turns them into failures to drop.
# Found by this test and reported to the lead. One root cause for most: `kassa.cli.main`
# turns KassaError into a message but lets OSError (a path option naming a file that
# cannot exist: ENAMETOOLONG) and OverflowError (an int option with no range) escape.
# Strict, so a fix shows up as XPASS: then drop the entry.
# Every command answered bad input without a traceback once main() also turned OS
# errors and overflowing numbers into one line; nothing is known broken.
KNOWN_BUGS: dict[tuple[str, ...], str] = {}
PARAMS = [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[p]))
    if p in KNOWN_BUGS
    else p
    for p in sorted(COMMANDS)
]


@pytest.mark.parametrize("path", PARAMS, ids=" ".join)
def test_bad_arguments_never_give_a_traceback(
    path: tuple[str, ...], zygote: Zygote, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    problems = []
    for argv, must_fail in cases(path, COMMANDS[path]):
        long_running = " ".join(path) in LONG_RUNNING
        bound = running_bound_s if long_running else time_bound_s
        done = zygote.run(home, tuple(argv), stdin="\n\n\n", kill_after_s=bound)
        text = done.stdout + done.stderr
        if done.killed and not long_running:
            problems.append(f"{argv}: no answer within {time_bound_s} s")
        elif "Traceback" in text:
            problems.append(f"{argv}: traceback\n{text[-1500:]}")
        elif must_fail and done.returncode == 0:
            problems.append(f"{argv}: accepted (status 0)")
        elif done.returncode not in (0, 1, 2) and not done.killed:
            problems.append(f"{argv}: status {done.returncode}\n{text[-500:]}")
    assert not problems, "\n".join(problems)
