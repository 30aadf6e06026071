"""What a backup covers and where a restore writes: the host database and the terminal journal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kassa.store import DbUrl, parse_db_url

JOURNAL_RELATIVE = Path("terminal") / "journal.db"


@dataclass(frozen=True, slots=True)
class Target:
    """A database to back up or restore into: ``db`` (host) or ``journal`` (terminal)."""

    name: str
    url: DbUrl


def targets_for(home: Path, db: str | None, journal: str | None, default_db: str) -> list[Target]:
    """What to back up: `db` / `journal` when given, else those present in the home."""
    targets = []
    if db is not None:
        targets.append(Target("db", parse_db_url(db)))
    else:
        url = parse_db_url(default_db)
        if url.path is not None and url.path.is_file():
            targets.append(Target("db", url))
    path = Path(journal) if journal is not None else home / JOURNAL_RELATIVE
    if journal is not None or path.is_file():
        targets.append(Target("journal", DbUrl("sqlite", path=path, display=str(path))))
    return targets


def location(url: DbUrl) -> str:
    """Where a source lives, as recorded: the absolute file, or the masked URL."""
    return str(url.path.resolve()) if url.path is not None else url.display
