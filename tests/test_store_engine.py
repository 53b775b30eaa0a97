"""The store's database engine, on SQLite (a file) and on a real PostgreSQL
(tests/pg_server.py): migrations from empty and against the tables, a store that cannot be
opened, concurrent writers (threads, and processes on a new SQLite file) and the WAL
switch's retry."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
import traceback

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import pg_server
from mlcore.errors import StoreError
from mlcore.store import Store
from mlcore.store_schema import metadata
from test_store import store_url  # noqa: F401 (the fixture: SQLite and PostgreSQL)


# ---- migrations


def test_migrations_create_the_schema_from_empty(store_url):
    began = time.perf_counter()
    store = Store(store_url)
    first = time.perf_counter() - began
    with store.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        assert tables == set(metadata.tables) | {"alembic_version"}
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        assert version.scalars().all() == ["0001"]
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()
    began = time.perf_counter()
    Store(store_url).close()  # already at head: nothing to do
    print(f"\n{store_url.split(':')[0]}: migrate from empty {first * 1000:.0f} ms, "
          f"reopen {(time.perf_counter() - began) * 1000:.0f} ms")


def test_a_store_that_cannot_be_opened_says_so_in_one_line(tmp_path):
    with pytest.raises(StoreError, match=r"^Cannot open the store nosuch://x: "):
        Store("nosuch://x")
    port = pg_server._free_port()
    with pytest.raises(StoreError, match=r"^Cannot open the store postgresql\+psycopg://"
                                         r"u:\*\*\*@127\.0\.0\.1") as err:
        Store(f"postgresql+psycopg://u:secret@127.0.0.1:{port}/db")
    assert "secret" not in str(err.value) and "\n" not in str(err.value)
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    with Store(url) as store, store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(StoreError, match="its schema is not one this version knows .*'0099'"):
        Store(url)


# ---- concurrent writers


def test_concurrent_writers_lose_nothing(store_url, students_bundle):
    """4 threads, each with its own Store (engine and connections), recording 25 runs each
    into one workspace at the same time: all 100 are there, none failed."""
    with Store(store_url) as setup:
        workspace = setup.create_workspace()
    start, errors, ids = threading.Barrier(4), [], []

    def writer() -> None:
        try:
            with Store(store_url) as own:
                start.wait()
                ids.extend(own.record_run(workspace, students_bundle, dataset_hash=None,
                                          data_name="t") for _ in range(25))
        except Exception as err:  # reported below, with its type
            errors.append(f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=writer) for _ in range(4)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    assert errors == []
    with Store(store_url) as check:
        assert sorted(r.id for r in check.list_runs(workspace)) == sorted(ids)
        assert len(set(ids)) == 100
    print(f"\n{store_url.split(':')[0]}: 4 threads x 25 runs in {seconds:.2f} s")


def _process_writer(url: str, bundle, start) -> None:
    """One writer process: wait for the others, open the (new) store, record 25 runs in
    the workspace named "cli"; exit status 1 on any error."""
    try:
        start.wait(timeout=60)
        with Store(url) as store:
            workspace = store.named_workspace("cli")
            for _ in range(25):
                store.record_run(workspace, bundle, dataset_hash=None, data_name="t")
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def test_concurrent_processes_on_a_fresh_sqlite_file(tmp_path, students_bundle):
    """4 processes open a store that does not exist yet at once (4 migrations racing),
    find the same named workspace and record 25 runs each at the same time: all 100 are
    there, and no 'database is locked'. Forked, so no process pays for importing torch."""
    url = f"sqlite:///{tmp_path / 'studio.db'}"
    context = multiprocessing.get_context("fork")
    start = context.Barrier(5)
    children = [context.Process(target=_process_writer, args=(url, students_bundle, start))
                for _ in range(4)]
    for child in children:
        child.start()
    start.wait(timeout=60)
    began = time.perf_counter()
    for child in children:
        child.join(timeout=120)
    seconds = time.perf_counter() - began
    assert [child.exitcode for child in children] == [0] * 4
    with Store(url) as store:
        assert len(store.list_runs(store.named_workspace("cli"))) == 100
    print(f"\nsqlite: 4 processes x 25 runs on a new file in {seconds:.2f} s")


def test_switching_to_wal_retries_a_lock_sqlite_does_not_wait_for():
    """Two openers of a new file both switching it to WAL: SQLite answers one 'database is
    locked' at once (no busy wait, to avoid a deadlock); the switch is retried."""
    import sqlite3

    from mlcore.store_engine import _set_wal

    class Cursor:
        def __init__(self, failures: list[str]) -> None:
            self.failures, self.calls = failures, 0

        def execute(self, sql: str) -> None:
            self.calls += 1
            if self.failures:
                raise sqlite3.OperationalError(self.failures.pop(0))

    cursor = Cursor(["database is locked", "database is locked"])
    _set_wal(cursor)
    assert cursor.calls == 3
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        _set_wal(Cursor(["disk I/O error"]))  # anything else is not retried
