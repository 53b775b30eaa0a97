"""The run store: workspaces (an unguessable token each), their datasets (stored once by
content hash), runs with their bundles, share links and a per-workspace state, in SQLite
(a file, the default) or PostgreSQL through SQLAlchemy. Every write is one transaction;
quotas per workspace are checked inside it. docs/store.md describes it all."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import Connection, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .budget import size_text
from .bundle import Bundle, bundle_from_zip, bundle_to_zip
from .errors import QuotaError, StoreError
from .sharing import ShareRow, list_shares, new_share, revoke_share, shared_run_id
from .store_engine import default_url, open_engine, shown_url, writer
from .store_runs import RunRow, run_row, run_values
from .store_schema import (bundles, datasets, runs, workspace_datasets, workspace_state,
                           workspaces)

DEFAULT_QUOTA_MB, DEFAULT_QUOTA_RUNS = 500, 500
MAX_STATE_BYTES = 256 * 1024
MAX_TOKEN_LENGTH = 64
UNKNOWN_WORKSPACE = "This workspace does not exist (check the workspace token)."
LIGHT = [c for c in runs.c if c.name not in ("history", "metrics")]  # list_runs' columns


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise StoreError(f"{name}={text!r} is not a number.") from None
    if value <= 0:
        raise StoreError(f"{name}={text!r} must be a positive number.")
    return value


def default_quota() -> tuple[int, int]:
    """(bytes, runs) a workspace may hold: STUDIO_QUOTA_MB (500) and STUDIO_QUOTA_RUNS
    (500), for workspaces created without their own quota."""
    return (int(_env_number("STUDIO_QUOTA_MB", DEFAULT_QUOTA_MB) * 2**20),
            int(_env_number("STUDIO_QUOTA_RUNS", DEFAULT_QUOTA_RUNS)))


@dataclass(frozen=True)
class Usage:
    """What a workspace holds against its quota."""

    bytes: int
    runs: int
    quota_bytes: int
    quota_runs: int


@dataclass(frozen=True)
class Removed:
    """What gc removed."""

    runs: int
    datasets: int


def _upsert(connection: Connection, table, values: dict, keys: list[str],
            update_columns: list[str]) -> None:
    """INSERT, or on a conflict on `keys` update `update_columns` (nothing: keep the row);
    one statement, so concurrent writers of the same key never fail."""
    dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(connection.dialect.name)
    if dialect is None:
        raise StoreError(f"The store supports SQLite and PostgreSQL, not "
                         f"{connection.dialect.name}.")
    statement = dialect.insert(table).values(**values)
    if update_columns:
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={c: statement.excluded[c] for c in update_columns})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    connection.execute(statement)


class Store:
    """The run store at `url` (default: STUDIO_STORE, else the SQLite file studio.db),
    migrated to the newest schema on open. `clock` gives the time (tests set it)."""

    def __init__(self, url: str | None = None, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.url = url or default_url()
        self.clock = clock or _utc_now
        self.engine = open_engine(self.url)
        self._writer = writer(self.engine)

    def __repr__(self) -> str:
        return f"Store({shown_url(self.url)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the store's connections."""
        self.engine.dispose()

    def _write(self):
        """One write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
        return self._writer.begin()

    def _read(self):
        return self.engine.connect()

    # ---- workspaces and their state

    def create_workspace(self, *, quota_bytes: int | None = None,
                         quota_runs: int | None = None) -> str:
        """A new workspace; returns its token (unguessable: secrets.token_urlsafe(24)).
        Without quotas it follows the store's default (default_quota)."""
        token = secrets.token_urlsafe(24)
        with self._write() as connection:
            connection.execute(insert(workspaces).values(
                token=token, created=self.clock(), quota_bytes=quota_bytes,
                quota_runs=quota_runs))
        return token

    def named_workspace(self, name: str) -> str:
        """The token of the workspace called `name` (e.g. the CLI's "cli"), created on
        first use."""
        with self._write() as connection:
            _upsert(connection, workspaces, {"token": secrets.token_urlsafe(24),
                                             "name": name[:64], "created": self.clock()},
                    ["name"], [])
            return connection.execute(select(workspaces.c.token)
                                      .where(workspaces.c.name == name[:64])).scalar_one()

    def workspace_exists(self, token: str) -> bool:
        """Whether `token` is a workspace of this store."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        with self._read() as connection:
            return connection.execute(select(workspaces.c.token)
                                      .where(workspaces.c.token == token)).first() is not None

    def _workspace(self, connection: Connection, token: str, lock: bool = False):
        """The workspace's row; locked for this transaction when `lock` (PostgreSQL: so
        concurrent writers of one workspace check its quota one after another)."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise StoreError(UNKNOWN_WORKSPACE)
        query = select(workspaces).where(workspaces.c.token == token)
        row = connection.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise StoreError(UNKNOWN_WORKSPACE)
        return row

    def get_state(self, workspace: str) -> dict:
        """The workspace's saved state (the app's table choice, settings, current run), or
        {} when none was saved."""
        with self._read() as connection:
            self._workspace(connection, workspace)
            state = connection.execute(select(workspace_state.c.state).where(
                workspace_state.c.workspace == workspace)).scalar()
        return state or {}

    def put_state(self, workspace: str, state: dict) -> None:
        """Replace the workspace's saved state (JSON, at most 256 KiB)."""
        size = len(json.dumps(state))
        if size > MAX_STATE_BYTES:
            raise StoreError(f"The workspace state is {size_text(size)}, over its "
                             f"{size_text(MAX_STATE_BYTES)} limit.")
        with self._write() as connection:
            self._workspace(connection, workspace)
            _upsert(connection, workspace_state, {"workspace": workspace, "state": state,
                                                  "updated": self.clock()},
                    ["workspace"], ["state", "updated"])

    # ---- quotas

    def usage(self, workspace: str) -> Usage:
        """The bytes (bundles + datasets) and runs the workspace holds, and its quota."""
        with self._read() as connection:
            return self._usage(connection, self._workspace(connection, workspace))

    def _usage(self, connection: Connection, workspace_row) -> Usage:
        token = workspace_row.token
        run_bytes, n_runs = connection.execute(
            select(func.coalesce(func.sum(runs.c.bundle_size), 0), func.count(runs.c.id))
            .where(runs.c.workspace == token)).one()
        data_bytes = connection.execute(
            select(func.coalesce(func.sum(datasets.c.size), 0))
            .select_from(workspace_datasets.join(datasets))
            .where(workspace_datasets.c.workspace == token)).scalar_one()
        quota_bytes, quota_runs = default_quota()
        own_bytes, own_runs = workspace_row.quota_bytes, workspace_row.quota_runs
        return Usage(int(run_bytes) + int(data_bytes), int(n_runs),
                     quota_bytes if own_bytes is None else own_bytes,
                     quota_runs if own_runs is None else own_runs)

    def _check_quota(self, connection: Connection, workspace_row, add_bytes: int,
                     add_runs: int, what: str) -> None:
        """Refuse, in one sentence saying what to delete, a write past the quota."""
        usage = self._usage(connection, workspace_row)
        oldest = connection.execute(
            select(runs.c.id).where(runs.c.workspace == workspace_row.token,
                                    runs.c.pinned.is_(False))
            .order_by(runs.c.created, runs.c.id).limit(3)).scalars().all()
        advice = ("delete runs you no longer need (the oldest unpinned: "
                  + ", ".join(f"#{i}" for i in oldest) + ") and try again" if oldest else
                  "unpin and delete runs you no longer need, or ask for a larger quota")
        if add_runs and usage.runs + add_runs > usage.quota_runs:
            raise QuotaError(f"This workspace already holds {usage.runs:,} runs, its quota "
                             f"of {usage.quota_runs:,}: {advice}.")
        if usage.bytes + add_bytes > usage.quota_bytes:
            raise QuotaError(f"{what} ({size_text(add_bytes)}) would take this workspace "
                             f"to {size_text(usage.bytes + add_bytes)}, over its quota of "
                             f"{size_text(usage.quota_bytes)}: {advice}.")

    # ---- datasets

    def put_dataset(self, workspace: str, name: str, data: bytes) -> str:
        """Keep a table's bytes for the workspace; returns their sha256 (hex). The bytes
        are stored once however many workspaces and runs use them."""
        digest = hashlib.sha256(data).hexdigest()
        now = self.clock()
        with self._write() as connection:
            row = self._workspace(connection, workspace, lock=True)
            linked = connection.execute(select(workspace_datasets.c.hash).where(
                workspace_datasets.c.workspace == workspace,
                workspace_datasets.c.hash == digest)).first()
            if linked is None:
                self._check_quota(connection, row, len(data), 0, f"The table {name!r}")
            if connection.execute(select(datasets.c.hash)
                                  .where(datasets.c.hash == digest)).first() is None:
                _upsert(connection, datasets, {"hash": digest, "name": name[:255],
                                               "size": len(data), "data": data,
                                               "created": now}, ["hash"], [])
            _upsert(connection, workspace_datasets, {"workspace": workspace, "hash": digest,
                                                     "name": name[:255], "used": now},
                    ["workspace", "hash"], ["name", "used"])
        return digest

    def get_dataset(self, workspace: str, digest: str) -> tuple[str, bytes]:
        """(name, bytes) of a dataset this workspace put."""
        with self._read() as connection:
            self._workspace(connection, workspace)
            row = connection.execute(
                select(workspace_datasets.c.name, datasets.c.data)
                .select_from(workspace_datasets.join(datasets))
                .where(workspace_datasets.c.workspace == workspace,
                       workspace_datasets.c.hash == digest)).first()
        if row is None:
            raise StoreError("This workspace has no dataset with that hash.")
        return row.name, bytes(row.data)

    # ---- runs

    def record_run(self, workspace: str, bundle: Bundle, *, dataset_hash: str | None,
                   data_name: str, status: str | None = None, timings: dict | None = None,
                   parent: int | None = None) -> int:
        """Record a trained run and its bundle; returns the run's id. `dataset_hash` is a
        put_dataset hash of this workspace (None: no table kept), `status` is finished,
        early-stopped or stopped (default: from the bundle's history), `parent` the run
        this one resumed (left out when this workspace no longer has it: deleted while the
        resumed run trained, the new run stands alone)."""
        values = run_values(bundle, data_name, status, timings)
        zipped = bundle_to_zip(bundle, data_name)
        now = self.clock()
        with self._write() as connection:
            row = self._workspace(connection, workspace, lock=True)
            self._check_quota(connection, row, len(zipped), 1, f"Run on {data_name!r}")
            if dataset_hash is not None:
                self._touch_dataset(connection, workspace, dataset_hash, now)
            if parent is not None and connection.execute(select(runs.c.id).where(
                    runs.c.id == parent, runs.c.workspace == workspace)).first() is None:
                parent = None
            run_id = connection.execute(insert(runs).values(
                workspace=workspace, dataset_hash=dataset_hash, parent=parent, created=now,
                pinned=False, bundle_size=len(zipped), **values)).inserted_primary_key[0]
            connection.execute(insert(bundles).values(run=run_id, data=zipped))
        return int(run_id)

    def _touch_dataset(self, connection: Connection, workspace: str, digest: str,
                       now: datetime) -> None:
        done = connection.execute(update(workspace_datasets).where(
            workspace_datasets.c.workspace == workspace, workspace_datasets.c.hash == digest)
            .values(used=now))
        if done.rowcount != 1:
            raise StoreError("This workspace has no dataset with that hash: put_dataset "
                             "it first.")

    def _run(self, connection: Connection, workspace: str, run_id: int, columns=None):
        row = connection.execute(select(*(columns or runs.c)).where(
            runs.c.id == run_id, runs.c.workspace == workspace)).first()
        if row is None:
            raise StoreError(f"There is no run {run_id} in this workspace.")
        return row

    def list_runs(self, workspace: str) -> list[RunRow]:
        """The workspace's runs, newest first, without metrics and history (a wrong token
        sees none)."""
        with self._read() as connection:
            rows = connection.execute(select(*LIGHT).where(runs.c.workspace == workspace)
                                      .order_by(runs.c.created.desc(), runs.c.id.desc()))
            return [run_row(r, full=False) for r in rows]

    def get_run(self, workspace: str, run_id: int) -> RunRow:
        """One run of the workspace with its metrics and history."""
        with self._read() as connection:
            return run_row(self._run(connection, workspace, run_id), full=True)

    def run_zip(self, workspace: str, run_id: int) -> bytes:
        """The run's bundle as the zip it was stored as (with its model card)."""
        with self._read() as connection:
            self._run(connection, workspace, run_id, [runs.c.id])
            return bytes(connection.execute(select(bundles.c.data)
                                            .where(bundles.c.run == run_id)).scalar_one())

    def run_bundle(self, workspace: str, run_id: int) -> Bundle:
        """The run's Bundle, read back with the bundle module's checked zip reader."""
        return bundle_from_zip(self.run_zip(workspace, run_id), f"run {run_id}")

    def pin_run(self, workspace: str, run_id: int, pinned: bool = True) -> None:
        """Pin (gc keeps it) or unpin a run."""
        with self._write() as connection:
            self._run(connection, workspace, run_id, [runs.c.id])
            connection.execute(update(runs).where(runs.c.id == run_id)
                               .values(pinned=bool(pinned)))

    def delete_run(self, workspace: str, run_id: int) -> None:
        """Delete a run with its bundle and share links (its dataset stays until gc)."""
        with self._write() as connection:
            self._run(connection, workspace, run_id, [runs.c.id])
            connection.execute(delete(runs).where(runs.c.id == run_id))

    # ---- share links

    def share(self, workspace: str, run_id: int, expires_days: float | None = None) -> str:
        """A new read-only link token for a run of the workspace (expiring after
        `expires_days`, or never)."""
        with self._write() as connection:
            self._run(connection, workspace, run_id, [runs.c.id])
            return new_share(connection, run_id, self.clock(), expires_days)

    def shares(self, workspace: str, run_id: int) -> list[ShareRow]:
        """The share links of a run of the workspace, newest first."""
        with self._read() as connection:
            self._run(connection, workspace, run_id, [runs.c.id])
            return list_shares(connection, run_id)

    def revoke(self, workspace: str, token: str) -> None:
        """Revoke a share link of one of the workspace's runs."""
        with self._write() as connection:
            revoke_share(connection, workspace, token)

    def shared(self, token: str) -> tuple[RunRow, Bundle]:
        """The run and bundle a share link opens; ShareError, one sentence, when the token
        is unknown, revoked or expired."""
        with self._read() as connection:
            run_id = shared_run_id(connection, token, self.clock())
            row = connection.execute(select(runs).where(runs.c.id == run_id)).one()
            data = connection.execute(select(bundles.c.data)
                                      .where(bundles.c.run == run_id)).scalar_one()
        return run_row(row, full=True), bundle_from_zip(bytes(data), "the shared model")

    # ---- garbage collection

    def gc(self, older_than_days: float, workspace: str | None = None) -> Removed:
        """Delete unpinned runs created over `older_than_days` ago (of one workspace, or
        all), then the workspace datasets no run uses and unused as long, then the bytes
        of datasets no workspace holds any more."""
        if older_than_days < 0:
            raise StoreError(f"gc keeps runs younger than 0 days or more "
                             f"(got {older_than_days:g}).")
        cutoff = self.clock() - timedelta(days=older_than_days)
        scope = [] if workspace is None else [runs.c.workspace == workspace]
        links = [] if workspace is None else [workspace_datasets.c.workspace == workspace]
        with self._write() as connection:
            n_runs = connection.execute(delete(runs).where(
                runs.c.created < cutoff, runs.c.pinned.is_(False), *scope)).rowcount
            used = exists().where(runs.c.workspace == workspace_datasets.c.workspace,
                                  runs.c.dataset_hash == workspace_datasets.c.hash)
            connection.execute(delete(workspace_datasets).where(
                workspace_datasets.c.used < cutoff, ~used, *links))
            held = exists().where(workspace_datasets.c.hash == datasets.c.hash)
            referenced = exists().where(runs.c.dataset_hash == datasets.c.hash)
            n_data = connection.execute(delete(datasets).where(~held, ~referenced)).rowcount
        return Removed(n_runs, n_data)
