"""Opening the run store's database: the URL (STUDIO_STORE, a SQLite file by default),
SQLite set up for several writers (WAL, a busy timeout, foreign keys, BEGIN IMMEDIATE for
writes), JSON without NaN (PostgreSQL refuses it), and the schema migrated to Alembic's
head on open, under a lock so that two processes opening one store at once both succeed."""
from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from pathlib import Path

from alembic import command
from alembic.util import CommandError
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from .errors import StoreError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT / "studio.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 30_000           # how long a SQLite writer waits for another one
WRITE = "studio_write"             # execution option: this transaction writes
MIGRATION_LOCK = 0x5354_5544_494F  # PostgreSQL advisory lock key held while migrating


def default_url() -> str:
    """STUDIO_STORE when set, else the SQLite file studio.db beside the code."""
    return os.environ.get("STUDIO_STORE") or f"sqlite:///{DEFAULT_FILE}"


def shown_url(url: str) -> str:
    """The URL for messages, its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def _finite(value: object) -> object:
    """`value` with NaN and infinities as None, so every backend's JSON accepts it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_text(value: object) -> str:
    return json.dumps(_finite(value), allow_nan=False)


def _set_wal(cursor) -> None:
    """PRAGMA journal_mode = WAL, retried until the busy timeout: on a new file, while
    another process switches it to WAL, SQLite answers 'database is locked' at once
    instead of waiting (seen 1 in 30 with 8 processes opening one new file)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_events(engine: Engine) -> None:
    """WAL, a busy timeout and foreign keys on every connection; SQLAlchemy, not the
    sqlite3 module, begins transactions: BEGIN IMMEDIATE for writes (the write lock taken
    first, so a read-then-write transaction never fails to upgrade), BEGIN for reads."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _set_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at each checkpoint in WAL
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        write = connection.get_execution_options().get(WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def open_engine(url: str) -> Engine:
    """An engine for `url`, its database migrated to the newest schema."""
    try:
        parsed = make_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
        if sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, json_serializer=_json_text,
                               pool_pre_ping=not sqlite)
    except (ArgumentError, NoSuchModuleError, ImportError, OSError) as err:
        raise StoreError(f"Cannot open the store {shown_url(url)}: {err}.") from None
    if sqlite:
        _sqlite_events(engine)
    try:
        upgrade(engine)
    except CommandError as err:  # e.g. a database migrated by a newer version of the code
        engine.dispose()
        raise StoreError(f"Cannot open the store {shown_url(url)}: its schema is not one "
                         f"this version knows ({err}); update Classifier Studio.") from None
    except DBAPIError as err:  # no server there, a wrong password, a read-only file
        engine.dispose()
        reason = str(err.orig).strip().splitlines()[0] if err.orig else type(err).__name__
        raise StoreError(f"Cannot open the store {shown_url(url)}: {reason}.") from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, its transactions marked as writes (BEGIN IMMEDIATE on SQLite)."""
    return engine.execution_options(**{WRITE: True})


def alembic_config() -> Config:
    """Alembic's configuration for the store's migrations, without an alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine) -> None:
    """Apply the migrations the database lacks, in one write transaction (PostgreSQL: under
    an advisory lock), so concurrent openers wait for each other instead of racing."""
    config = alembic_config()
    with writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
