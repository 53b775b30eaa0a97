"""The first schema: workspaces, their state, datasets by hash, runs, bundles, shares.

Revision ID: 0001
Revises:
Create Date: 2026-12-10
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the first schema."""
    op.create_table(
        "workspaces",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=True),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=True),
        sa.Column("quota_runs", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("token", name="pk_workspaces"),
        sa.UniqueConstraint("name", name="uq_workspaces_name"))
    op.create_table(
        "workspace_state",
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["workspace"], ["workspaces.token"], ondelete="CASCADE",
                                name="fk_workspace_state_workspace_workspaces"),
        sa.PrimaryKeyConstraint("workspace", name="pk_workspace_state"))
    op.create_table(
        "datasets",
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("hash", name="pk_datasets"))
    op.create_table(
        "workspace_datasets",
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("used", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["workspace"], ["workspaces.token"], ondelete="CASCADE",
                                name="fk_workspace_datasets_workspace_workspaces"),
        sa.ForeignKeyConstraint(["hash"], ["datasets.hash"], ondelete="CASCADE",
                                name="fk_workspace_datasets_hash_datasets"),
        sa.PrimaryKeyConstraint("workspace", "hash", name="pk_workspace_datasets"))
    _create_runs()
    op.create_table(
        "bundles",
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run"], ["runs.id"], ondelete="CASCADE",
                                name="fk_bundles_run_runs"),
        sa.PrimaryKeyConstraint("run", name="pk_bundles"))
    op.create_table(
        "shares",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("expires", WHEN, nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["run"], ["runs.id"], ondelete="CASCADE",
                                name="fk_shares_run_runs"),
        sa.PrimaryKeyConstraint("token", name="pk_shares"))
    op.create_index("ix_shares_run", "shares", ["run"])


def _create_runs() -> None:
    """The runs table: what was trained on what, how it went, and its listing columns."""
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("dataset_hash", sa.String(64), nullable=True),
        sa.Column("data_name", sa.String(255), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("class_names", sa.JSON(), nullable=False),
        sa.Column("architecture", sa.String(255), nullable=False),
        sa.Column("schema_choices", sa.JSON(), nullable=False),
        sa.Column("model_config", sa.JSON(), nullable=False),
        sa.Column("train_config", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("confusion", sa.JSON(), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("test_accuracy", sa.Float(), nullable=True),
        sa.Column("train_accuracy", sa.Float(), nullable=True),
        sa.Column("parent", sa.Integer(), nullable=True),
        sa.Column("created", WHEN, nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("bundle_size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace"], ["workspaces.token"], ondelete="CASCADE",
                                name="fk_runs_workspace_workspaces"),
        sa.ForeignKeyConstraint(["dataset_hash"], ["datasets.hash"],
                                name="fk_runs_dataset_hash_datasets"),
        sa.ForeignKeyConstraint(["parent"], ["runs.id"], ondelete="SET NULL",
                                name="fk_runs_parent_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"))
    op.create_index("ix_runs_workspace_created", "runs", ["workspace", "created"])
    op.create_index("ix_runs_dataset_hash", "runs", ["dataset_hash"])


def downgrade() -> None:
    """Drop every table (the store is empty again)."""
    for table in ("shares", "bundles", "runs", "workspace_datasets", "datasets",
                  "workspace_state", "workspaces"):
        op.drop_table(table)
