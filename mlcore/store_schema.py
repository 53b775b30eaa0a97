"""The run store's tables (SQLAlchemy Core), the one description both the store's queries
and Alembic's migrations are checked against. Change a table here and add a migration
under mlcore/migrations/versions (docs/store.md says how)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, Float, ForeignKey,
                        Index, Integer, LargeBinary, MetaData, String, Table)
from sqlalchemy.types import TypeDecorator

NAMING = {"ix": "ix_%(table_name)s_%(column_0_N_name)s",
          "uq": "uq_%(table_name)s_%(column_0_N_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}
metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator):
    """A timestamp that goes in as UTC and comes out timezone-aware (UTC) on every
    backend: SQLite stores it naive, PostgreSQL as timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=timezone.utc)


workspaces = Table(
    "workspaces", metadata,
    Column("token", String(64), primary_key=True),
    Column("name", String(64), unique=True),          # only named ones, e.g. the CLI's "cli"
    Column("created", UtcDateTime(), nullable=False),
    Column("quota_bytes", BigInteger),                 # NULL: the store's default quota
    Column("quota_runs", Integer),
)

workspace_state = Table(
    "workspace_state", metadata,
    Column("workspace", String(64), ForeignKey("workspaces.token", ondelete="CASCADE"),
           primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated", UtcDateTime(), nullable=False),
)

datasets = Table(
    "datasets", metadata,
    Column("hash", String(64), primary_key=True),      # sha256 of the bytes, hex
    Column("name", String(255), nullable=False),       # the first upload's file name
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created", UtcDateTime(), nullable=False),
)

workspace_datasets = Table(
    "workspace_datasets", metadata,
    Column("workspace", String(64), ForeignKey("workspaces.token", ondelete="CASCADE"),
           primary_key=True),
    Column("hash", String(64), ForeignKey("datasets.hash", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(255), nullable=False),       # this workspace's name for it
    Column("used", UtcDateTime(), nullable=False),     # last put or run: gc keeps recent ones
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(64), ForeignKey("workspaces.token", ondelete="CASCADE"),
           nullable=False),
    Column("dataset_hash", String(64), ForeignKey("datasets.hash"), index=True),
    Column("data_name", String(255), nullable=False),
    Column("label", String(255), nullable=False),
    Column("class_names", JSON, nullable=False),
    Column("architecture", String(255), nullable=False),
    Column("schema_choices", JSON, nullable=False),  # Schema.to_dict()
    Column("model_config", JSON, nullable=False),
    Column("train_config", JSON, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("epochs", Integer, nullable=False),         # epochs actually run
    Column("history", JSON),
    Column("metrics", JSON, nullable=False),
    Column("confusion", JSON),                         # the test confusion matrix
    Column("timings", JSON, nullable=False),
    Column("test_accuracy", Float),
    Column("train_accuracy", Float),
    Column("parent", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("created", UtcDateTime(), nullable=False),
    Column("pinned", Boolean, nullable=False, default=False),
    Column("bundle_size", BigInteger, nullable=False),
    Index("ix_runs_workspace_created", "workspace", "created"),
)

bundles = Table(
    "bundles", metadata,
    Column("run", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("data", LargeBinary, nullable=False),       # mlcore.bundle's zip bytes
)

shares = Table(
    "shares", metadata,
    Column("token", String(64), primary_key=True),
    Column("run", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("created", UtcDateTime(), nullable=False),
    Column("expires", UtcDateTime()),
    Column("revoked", Boolean, nullable=False, default=False),
)
