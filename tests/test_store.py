"""The run store on SQLite (a file) and on a real PostgreSQL (tests/pg_server.py): datasets
by hash, runs round trip (and their parents), isolation, share links, quotas, gc, the
state row and the model card in the zip (the database engine: test_store_engine.py)."""
from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
import torch
from sqlalchemy import func, select

import pg_server
from conftest import members_of, zip_of
from mlcore.bundle import CARD, bundle_from_zip, bundle_to_zip
from mlcore.errors import QuotaError, ShareError, StoreError
from mlcore.sharing import SHARE_INVALID
from mlcore.store import Store
from mlcore.store_schema import datasets, runs

TABLE = b"sex\tage\tmajor\nM\t30\tgeology\nF\t41\thistory\n"


class Clock:
    """A clock the test sets: starts 2026-01-01 UTC, moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A fresh, empty store: a SQLite file, or a new database on the test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studio.db'}"
    return pg_server.server(request).database()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_url, clock):
    with Store(store_url, clock=clock) as opened:
        yield opened


def _count(store: Store, table) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _record(store: Store, workspace: str, bundle, digest: str | None = None, **kw) -> int:
    return store.record_run(workspace, bundle, dataset_hash=digest, data_name="students.tsv",
                            **kw)


# ---- datasets, runs, workspaces


def test_datasets_are_stored_once_by_hash(store, students_bundle):
    first, second = store.create_workspace(), store.create_workspace()
    digest = store.put_dataset(first, "students.tsv", TABLE)
    assert digest == hashlib.sha256(TABLE).hexdigest()
    assert store.put_dataset(second, "mine.tsv", TABLE) == digest
    assert store.put_dataset(first, "students.tsv", TABLE) == digest
    for workspace in (first, second):
        for _ in range(2):
            _record(store, workspace, students_bundle, digest)
    assert _count(store, datasets) == 1 and _count(store, runs) == 4
    assert store.get_dataset(first, digest) == ("students.tsv", TABLE)
    assert store.get_dataset(second, digest) == ("mine.tsv", TABLE)
    with pytest.raises(StoreError, match="no dataset with that hash"):
        store.get_dataset(store.create_workspace(), digest)
    with pytest.raises(StoreError, match="put_dataset it first"):
        _record(store, store.create_workspace(), students_bundle, digest)


def test_runs_round_trip(store, students_bundle):
    workspace = store.create_workspace()
    digest = store.put_dataset(workspace, "students.tsv", TABLE)
    timings = {"read_seconds": 0.5, "prepare_seconds": 0.25}
    first = _record(store, workspace, students_bundle, digest, timings=timings)
    second = _record(store, workspace, students_bundle, digest, parent=first,
                     status="stopped")
    listed = store.list_runs(workspace)
    assert [r.id for r in listed] == [second, first]  # newest first (same time: by id)
    assert listed[0].metrics is None and listed[0].history is None
    row = store.get_run(workspace, first)
    assert (row.label, row.class_names, row.architecture) == (
        "col4", students_bundle.class_names, "6-(10-10)-3")
    assert row.status == "finished" and store.get_run(workspace, second).status == "stopped"
    assert store.get_run(workspace, second).parent == first
    assert row.metrics == students_bundle.metrics and row.history == students_bundle.history
    assert row.schema == students_bundle.schema.to_dict()
    assert row.train_config == students_bundle.train_config.to_dict()
    assert row.confusion == students_bundle.metrics["test"]["confusion"]
    assert row.test_accuracy == students_bundle.metrics["test"]["accuracy"]
    assert row.timings == {**timings, "train_seconds": students_bundle.history["train_seconds"]}
    assert row.epochs == 40 and row.seed == 1 and row.dataset_hash == digest
    back = store.run_bundle(workspace, first)
    assert back.state_dict.keys() == students_bundle.state_dict.keys()
    for key, tensor in students_bundle.state_dict.items():
        assert back.state_dict[key].dtype == tensor.dtype
        assert torch.equal(back.state_dict[key], tensor)
    assert back.encoder == students_bundle.encoder and back.schema == students_bundle.schema
    with pytest.raises(StoreError, match="status is one of"):
        _record(store, workspace, students_bundle, status="exploded")


def test_pin_and_delete(store, students_bundle):
    workspace = store.create_workspace()
    parent = _record(store, workspace, students_bundle)
    child = _record(store, workspace, students_bundle, parent=parent)
    token = store.share(workspace, parent)
    store.pin_run(workspace, child)
    assert store.get_run(workspace, child).pinned
    store.pin_run(workspace, child, False)
    assert not store.get_run(workspace, child).pinned
    store.delete_run(workspace, parent)
    assert [r.id for r in store.list_runs(workspace)] == [child]
    assert store.get_run(workspace, child).parent is None
    with pytest.raises(ShareError):
        store.shared(token)
    with pytest.raises(StoreError, match=f"There is no run {parent} in this workspace"):
        store.run_bundle(workspace, parent)


def test_a_parent_deleted_meanwhile_or_of_another_workspace_is_left_out(store,
                                                                      students_bundle):
    workspace, other = store.create_workspace(), store.create_workspace()
    parent = _record(store, workspace, students_bundle)
    foreign = _record(store, other, students_bundle)
    store.delete_run(workspace, parent)  # while the resumed run trained
    child = _record(store, workspace, students_bundle, parent=parent)
    stranger = _record(store, workspace, students_bundle, parent=foreign)
    assert store.get_run(workspace, child).parent is None
    assert store.get_run(workspace, stranger).parent is None


def test_workspaces_are_isolated(store, students_bundle):
    mine, theirs = store.create_workspace(), store.create_workspace()
    assert len(mine) >= 32 and mine != theirs and store.workspace_exists(mine)
    run_id = _record(store, mine, students_bundle)
    assert store.list_runs(theirs) == [] and store.list_runs("not-a-token") == []
    assert not store.workspace_exists("not-a-token") and not store.workspace_exists("x" * 500)
    for call in (lambda w: store.get_run(w, run_id), lambda w: store.run_bundle(w, run_id),
                 lambda w: store.delete_run(w, run_id), lambda w: store.pin_run(w, run_id),
                 lambda w: store.share(w, run_id)):
        with pytest.raises(StoreError, match="no run"):
            call(theirs)
    with pytest.raises(StoreError, match="This workspace does not exist"):
        store.put_dataset("not-a-token", "t.tsv", TABLE)
    with pytest.raises(StoreError, match="This workspace does not exist"):
        _record(store, "not-a-token", students_bundle)
    assert [r.id for r in store.list_runs(mine)] == [run_id]
    assert store.named_workspace("cli") == store.named_workspace("cli") != mine


def test_state_round_trip(store):
    workspace = store.create_workspace()
    assert store.get_state(workspace) == {}
    store.put_state(workspace, {"table": "abc", "settings": {"lr": 0.01}, "run": 3})
    store.put_state(workspace, {"table": "def"})
    assert store.get_state(workspace) == {"table": "def"}
    assert store.get_state(store.create_workspace()) == {}
    with pytest.raises(StoreError, match="over its 256 kB limit"):
        store.put_state(workspace, {"big": "x" * 300_000})
    with pytest.raises(StoreError, match="does not exist"):
        store.get_state("not-a-token")


# ---- share links


def test_share_revoke_and_expiry(store, clock, students_bundle):
    workspace = store.create_workspace()
    run_id = _record(store, workspace, students_bundle)
    forever, week = store.share(workspace, run_id), store.share(workspace, run_id, 7)
    assert len(forever) >= 32 and forever != week
    row, bundle = store.shared(forever)
    assert row.id == run_id and row.label == "col4" and row.metrics is not None
    assert all(torch.equal(bundle.state_dict[k], v)
               for k, v in students_bundle.state_dict.items())
    assert {s.token for s in store.shares(workspace, run_id)} == {forever, week}
    clock.advance(days=6, hours=23)
    assert store.shared(week)[0].id == run_id
    clock.advance(hours=2)
    for token in (week, "never-issued", "", "x" * 1000):
        with pytest.raises(ShareError) as err:
            store.shared(token)
        assert str(err.value) == SHARE_INVALID
    with pytest.raises(StoreError, match="no share link with that token"):
        store.revoke(store.create_workspace(), forever)  # only the owner revokes
    assert store.shared(forever)[0].id == run_id
    store.revoke(workspace, forever)
    store.revoke(workspace, forever)  # twice is fine
    with pytest.raises(ShareError, match=f"^{SHARE_INVALID}$"):
        store.shared(forever)
    assert [s.active(clock.now) for s in store.shares(workspace, run_id)] == [False, False]
    with pytest.raises(StoreError, match="expires after 0 to 3,650 days"):
        store.share(workspace, run_id, -1)


# ---- quotas and gc


def _one_sentence(text: str) -> bool:
    return text.endswith(".") and ". " not in text.replace("e.g. ", "")


def test_quotas_refuse_in_one_sentence(store, students_bundle, monkeypatch):
    small = store.create_workspace(quota_runs=2)
    first = _record(store, small, students_bundle)
    _record(store, small, students_bundle)
    with pytest.raises(QuotaError) as err:
        _record(store, small, students_bundle)
    message = str(err.value)
    assert message.startswith("This workspace already holds 2 runs, its quota of 2: delete "
                              f"runs you no longer need (the oldest unpinned: #{first}, #")
    assert _one_sentence(message)
    store.delete_run(small, first)
    _record(store, small, students_bundle)  # room again

    tiny = store.create_workspace(quota_bytes=2048)
    with pytest.raises(QuotaError) as err:
        store.put_dataset(tiny, "big.tsv", b"x" * 4096)
    assert str(err.value).startswith("The table 'big.tsv' (4 kB) would take this workspace "
                                     "to 4 kB, over its quota of 2 kB: ")
    assert _one_sentence(str(err.value))
    with pytest.raises(QuotaError, match=r"^Run on 'students.tsv' \(\d+ kB\) would take"):
        _record(store, tiny, students_bundle)
    assert store.list_runs(tiny) == [] and _count(store, datasets) == 0

    monkeypatch.setenv("STUDIO_QUOTA_RUNS", "1")
    default = store.create_workspace()
    _record(store, default, students_bundle)
    with pytest.raises(QuotaError, match="its quota of 1"):
        _record(store, default, students_bundle)
    usage = store.usage(default)
    assert usage.runs == 1 and usage.quota_runs == 1 and usage.bytes > 1000


def test_gc_removes_old_unpinned_runs_and_unused_datasets(store, clock, students_bundle):
    workspace = store.create_workspace()
    old_table = store.put_dataset(workspace, "old.tsv", b"old\n1\n")
    kept_table = store.put_dataset(workspace, "kept.tsv", b"kept\n1\n")
    old = _record(store, workspace, students_bundle, old_table)
    pinned = _record(store, workspace, students_bundle, kept_table)
    store.pin_run(workspace, pinned)
    token = store.share(workspace, old)
    clock.advance(days=40)
    fresh = _record(store, workspace, students_bundle, parent=old)
    other = store.create_workspace()
    _record(store, other, students_bundle)
    removed = store.gc(30, workspace)
    assert (removed.runs, removed.datasets) == (1, 1)
    assert [r.id for r in store.list_runs(workspace)] == [fresh, pinned]
    assert store.get_run(workspace, fresh).parent is None
    assert len(store.list_runs(other)) == 1  # another workspace's old run is not touched
    assert store.get_dataset(workspace, kept_table)[0] == "kept.tsv"
    with pytest.raises(StoreError):
        store.get_dataset(workspace, old_table)
    with pytest.raises(ShareError):
        store.shared(token)
    clock.advance(days=40)
    assert store.gc(30).runs == 2  # every workspace: fresh and other's run
    assert [r.id for r in store.list_runs(workspace)] == [pinned]
    assert _count(store, datasets) == 1


# ---- the model card in the zip


def test_the_zip_carries_the_model_card(store, students_bundle):
    data = bundle_to_zip(students_bundle, "students_train.tsv")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        card = archive.read(CARD).decode()
    assert card.startswith("# Model card: `col4` from students_train.tsv")
    for text in ("finance, geology, history", "| `col0` | binary | F, M |", "| `col1` | number",
                 "| `col2` | categorical |", "oklahoma", "Confusion matrix", "6-(10-10)-3",
                 "Optimizer: adam, lr 0.01", "--row '"):
        assert text in card
    assert bundle_from_zip(data).class_names == students_bundle.class_names
    bare = {k: v for k, v in members_of(students_bundle).items() if k != CARD}
    assert bundle_from_zip(zip_of(bare)).class_names == students_bundle.class_names
    workspace = store.create_workspace()
    run_id = _record(store, workspace, students_bundle)
    with zipfile.ZipFile(io.BytesIO(store.run_zip(workspace, run_id))) as archive:
        assert "from students.tsv" in archive.read(CARD).decode()
