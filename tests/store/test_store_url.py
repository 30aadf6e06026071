"""Database URL parsing and password masking."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import ConfigError
from kassa.store import DbUrl, mask_url, parse_db_url


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("sqlite:///host.db", Path("host.db")),  # three slashes: relative (SQLAlchemy)
        ("sqlite:///data/k/host.db", Path("data/k/host.db")),
        ("sqlite:////var/lib/kassa/host.db", Path("/var/lib/kassa/host.db")),  # four: absolute
        ("  sqlite:///x.db\n", Path("x.db")),
        ("host.db", Path("host.db")),
        ("./data/terminal.sqlite3", Path("data/terminal.sqlite3")),
        ("/srv/kassa/journal.db", Path("/srv/kassa/journal.db")),
        ("sqlite:///name-without-suffix", Path("name-without-suffix")),
    ],
)
def test_sqlite_urls_give_the_file_path(text: str, path: Path) -> None:
    url = parse_db_url(text)
    assert url.kind == "sqlite"
    assert url.path == path
    assert url.dsn is None
    assert path.is_absolute() == str(url.path).startswith("/")


@pytest.mark.parametrize(
    ("text", "dsn"),
    [
        ("postgresql://kassa@db.example:5432/host", "postgresql://kassa@db.example:5432/host"),
        ("postgres://kassa@localhost/host", "postgresql://kassa@localhost/host"),
        ("postgresql+psycopg://k@h/db", "postgresql://k@h/db"),
        ("postgresql:///host?host=/run/postgresql", "postgresql:///host?host=/run/postgresql"),
        ("postgresql://a@h1:5432,h2:5433/db", "postgresql://a@h1:5432,h2:5433/db"),
    ],
)
def test_postgresql_urls_keep_a_libpq_dsn(text: str, dsn: str) -> None:
    url = parse_db_url(text)
    assert url.kind == "postgresql"
    assert url.dsn == dsn
    assert url.path is None


def test_unsupported_database_message_is_the_documented_one_liner() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_db_url("mysql://x")
    assert str(caught.value) == (
        "--db 'mysql://x': unsupported database; "
        "use sqlite:///path/file.db or postgresql://user@host/db"
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "unsupported database"),
        ("host.txt", "unsupported database"),
        ("sqlite://host.db", "three or four slashes"),
        ("sqlite:///", "no database file"),
        ("sqlite:///dir/", "no database file"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///x.db?mode=ro", "take no options"),
        ("postgresql://u@h:notaport/db", "bad PostgreSQL URL"),
        ("postgresql://u@h:99999/db", "bad PostgreSQL URL"),
        ("postgresql://u@h:0/db", "port 0"),
        ("postgresql:///db", "no host"),
        ("postgresql://u@h/db#frag", "fragment"),
    ],
)
def test_bad_urls_are_config_errors_of_one_line(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_db_url(text, source="KASSA_DB")
    message = str(caught.value)
    assert words in message
    assert message.startswith("KASSA_DB ")
    assert "\n" not in message


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://kassa:Hunter2Secret@db:5432/host",
        "postgresql://kassa:Hunter2Secret@db:99999/host",
        "mysql://root:Hunter2Secret@db/x",
        "postgresql://kassa@db/host?password=Hunter2Secret&sslmode=require",
        "postgresql://kassa:Hunter2Secret@db/host#x",
        "postgresql://kassa:Hun/ter2Secret@db/host",  # unescaped '/' in the password
    ],
)
def test_passwords_never_appear_in_errors_or_repr(text: str) -> None:
    secret_parts = ("Hunter2Secret", "Hun/ter2Secret", "ter2Secret")
    try:
        url = parse_db_url(text)
    except ConfigError as exc:
        shown = str(exc)
    else:
        shown = f"{url!r} {url} {url.display}"
    assert not any(part in shown for part in secret_parts), shown
    assert "***" in shown


def test_repr_hides_the_dsn_but_keeps_the_masked_display() -> None:
    url = parse_db_url("postgresql://kassa:pw123456@db/host")
    assert url.display == "postgresql://kassa:***@db/host"
    assert "pw123456" not in repr(url)
    assert url.dsn is not None and "pw123456" in url.dsn  # libpq still needs it


def test_db_url_is_immutable() -> None:
    url = parse_db_url("sqlite:///a.db")
    with pytest.raises(AttributeError):
        url.kind = "postgresql"  # type: ignore[misc]


_name = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12)
_password = st.text(
    st.characters(codec="ascii", exclude_characters="\n\r#?&"), min_size=6, max_size=24
)


@given(user=_name, password=_password, host=_name, db=_name)
def test_mask_url_replaces_exactly_the_password(
    user: str, password: str, host: str, db: str
) -> None:
    assert mask_url(f"postgresql://{user}:{password}@{host}/{db}") == (
        f"postgresql://{user}:***@{host}/{db}"
    )
    assert mask_url(f"postgresql://{user}@{host}/{db}?password={password}") == (
        f"postgresql://{user}@{host}/{db}?password=***"
    )


@given(st.text(max_size=80))
def test_parse_never_fails_with_anything_but_config_error(text: str) -> None:
    try:
        url = parse_db_url(text)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip("\n") or "\n" in text
    else:
        assert isinstance(url, DbUrl)
        assert (url.path is None) == (url.kind == "postgresql")


@given(st.lists(_name, min_size=1, max_size=4), st.booleans())
def test_sqlite_path_round_trips(parts: list[str], absolute: bool) -> None:
    path = ("/" if absolute else "") + "/".join(parts) + ".db"
    assert parse_db_url("sqlite:///" + path).path == Path(path)
    assert parse_db_url(path).path == Path(path)
