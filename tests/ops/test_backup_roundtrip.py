"""Full + incremental backups of a live host database, restored to every point (both dialects)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from backupkit import Clock, make_term, rows_of, sell

from kassa.errors import InputError
from kassa.ops.backup import Repository, Secret, restore, run_backup, targets_for, verify_backup
from kassa.ops.backup.manifest import Kind


def backup(repo: Repository, secret: Secret, url: str, kind: Kind, clock: Clock, home: Path) -> str:
    targets = targets_for(home, url, None, "")
    result = run_backup(
        repo, secret, targets, kind=kind, reason="test", logs_dir=None, now_ms=clock
    )
    return result.manifest.id


def test_full_and_incrementals_restore_each_point_exactly(db_url: str, tmp_path: Path) -> None:
    repo, secret, clock = Repository(tmp_path / "backups"), Secret.from_env(tmp_path, {}), Clock()
    term = make_term(db_url)
    points = []
    for kind, amounts in (("full", (100,)), ("incremental", (200, 300)), ("incremental", (400,))):
        sell(term, *amounts)
        points.append((backup(repo, secret, db_url, kind, clock, tmp_path), rows_of(db_url)))  # type: ignore[arg-type]
    sell(term, 500)  # live data now differs from every backup
    term.db.close()
    manifests = repo.manifests()
    if db_url.startswith("sqlite"):
        assert [m.kind for m in manifests] == ["full", "incremental", "incremental"]
        assert [m.parent for m in manifests] == [None, points[0][0], points[1][0]]
        assert manifests[1].size_bytes < manifests[0].size_bytes  # a diff, not a copy
    else:  # PostgreSQL: a full pg_dump each time, and the manifest says so
        assert [m.kind for m in manifests] == ["full"] * 3
        assert any("pg_dump" in note for note in manifests[1].notes)
    assert points[0][1] != points[1][1] != points[2][1]
    for backup_id, rows in [points[1], points[0], points[2], points[1]]:
        report = restore(
            repo,
            secret,
            at=backup_id,
            overrides={},
            yes=True,
            confirm=lambda q: False,
            now_ms=clock,
        )
        assert rows_of(db_url) == rows
        assert report.ok and report.backup_id == backup_id
        assert "db: host ledger check" in [c.name for c in report.checks]


def test_restore_by_time_picks_the_newest_at_or_before(db_url: str, tmp_path: Path) -> None:
    repo, secret, clock = Repository(tmp_path / "backups"), Secret.from_env(tmp_path, {}), Clock()
    term = make_term(db_url)
    first = backup(repo, secret, db_url, "full", clock, tmp_path)
    first_rows = rows_of(db_url)
    sell(term, 700)
    second = backup(repo, secret, db_url, "incremental", clock, tmp_path)
    term.db.close()
    between = datetime.fromtimestamp((repo.get(second).started_ms - 1) / 1000, UTC).isoformat()
    report = restore(
        repo, secret, at=between, overrides={}, yes=True, confirm=lambda q: False, now_ms=clock
    )
    assert report.backup_id == first and rows_of(db_url) == first_rows
    with pytest.raises(InputError, match="no backup at or before"):
        restore(
            repo,
            secret,
            at="2001-01-01T00:00+00:00",
            overrides={},
            yes=True,
            confirm=lambda q: False,
            now_ms=clock,
        )


def test_restore_refuses_without_yes_and_takes_a_backup_first(db_url: str, tmp_path: Path) -> None:
    repo, secret, clock = Repository(tmp_path / "backups"), Secret.from_env(tmp_path, {}), Clock()
    term = make_term(db_url)
    old = backup(repo, secret, db_url, "full", clock, tmp_path)
    sell(term, 900)
    term.db.close()
    live = rows_of(db_url)
    asked: list[str] = []

    def refuse(question: str) -> bool:
        asked.append(question)
        return False

    with pytest.raises(InputError, match="rerun with --yes"):
        restore(repo, secret, at=old, overrides={}, yes=False, confirm=refuse, now_ms=clock)
    assert asked and old in asked[0]
    assert rows_of(db_url) == live and len(repo.manifests()) == 1  # untouched, nothing taken
    report = restore(
        repo, secret, at=old, overrides={}, yes=False, confirm=lambda q: True, now_ms=clock
    )
    assert report.pre_restore_id is not None and rows_of(db_url) != live
    assert repo.get(report.pre_restore_id).reason == f"pre-restore {old}"
    restore(
        repo,
        secret,
        at=report.pre_restore_id,
        overrides={},
        yes=True,
        confirm=lambda q: False,
        now_ms=clock,
    )
    assert rows_of(db_url) == live  # the automatic backup really holds what was there


@pytest.mark.postgres
def test_verify_test_restores_into_a_scratch_database_and_drops_it(
    pg_url: str, tmp_path: Path
) -> None:
    import psycopg

    repo, secret, clock = Repository(tmp_path / "backups"), Secret.from_env(tmp_path, {}), Clock()
    term = make_term(pg_url)
    sell(term, 100)
    term.db.close()
    backup_id = backup(repo, secret, pg_url, "full", clock, tmp_path)

    def databases() -> set[str]:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}

    before = databases()
    report = verify_backup(repo, secret, backup_id, now_ms=clock())
    assert report.ok, report.problem
    assert [c.name for c in report.checks][-1] == "db: pg_restore into a scratch database"
    assert databases() == before
    mark = repo.verified(backup_id)
    assert mark is not None and mark.ok
