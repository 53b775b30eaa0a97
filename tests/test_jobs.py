"""Background training jobs: worker process, live epochs, stop, the server-wide queue."""
from __future__ import annotations

import time

import pytest

from mlcore import jobs
from mlcore.model import ModelConfig
from mlcore.schema import infer_schema
from mlcore.table import read_table
from mlcore.training import TrainConfig
from mlcore.samples import SAMPLES
from mlcore.workflow import prepare


@pytest.fixture(scope="module")
def prepared():
    sample = SAMPLES["students"]
    train = read_table(sample.train_path(), names=list(sample.columns)).frame
    test = read_table(sample.test_path(), names=list(sample.columns)).frame
    return prepare(train, infer_schema(train), test)


def wait(job: jobs.TrainingJob, timeout: float = 120) -> None:
    job.join(timeout)
    assert not job.active, job.state


def test_job_trains_in_a_worker_and_streams_epochs(prepared, tmp_path):
    job = jobs.TrainingJob(prepared, ModelConfig(), TrainConfig(epochs=4, checkpoint_every=2),
                           tmp_path)
    job.start()
    wait(job)
    assert job.state == "done", job.error
    assert [e.epoch for e in job.epochs] == [1, 2, 3, 4]
    assert job.run.reports["test"].n == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-00002.pt", "epoch-00004.pt"]
    assert job.progress == 1.0


def test_stop_keeps_what_was_learned(prepared):
    job = jobs.TrainingJob(prepared, ModelConfig(), TrainConfig(epochs=5000))
    job.start()
    deadline = time.time() + 60
    while len(job.epochs) < 2 and time.time() < deadline:
        time.sleep(0.05)
    job.stop()
    wait(job)
    assert job.state == "stopped"
    assert 2 <= len(job.run.history.epochs) < 5000
    assert job.run.history.stopped == "user"


def test_jobs_beyond_the_cap_wait_in_a_queue(prepared, monkeypatch):
    monkeypatch.setattr(jobs, "_slots", jobs.threading.BoundedSemaphore(1))
    first = jobs.TrainingJob(prepared, ModelConfig(), TrainConfig(epochs=5000))
    second = jobs.TrainingJob(prepared, ModelConfig(), TrainConfig(epochs=1))
    first.start()
    second.start()
    time.sleep(0.5)
    assert second.state == "queued" and second.queue_position == 1
    second.stop()  # leaving the queue never starts a worker
    wait(second)
    assert second.state == "stopped" and second.run is None
    first.stop()
    wait(first)
    assert first.state == "stopped"


def test_resume_from_a_damaged_checkpoint_is_refused(prepared, tmp_path):
    bad = tmp_path / "epoch-00001.pt"
    bad.write_bytes(b"not a checkpoint")
    job = jobs.TrainingJob(prepared, ModelConfig(), TrainConfig(epochs=2), resume=bad)
    with pytest.raises(Exception, match="not a readable checkpoint"):
        job.start()


def test_resume_job_checks_the_checkpoints_settings(prepared, tmp_path):
    """The Train page's resume: the same settings continue; another one fails in one line."""
    first = jobs.TrainingJob(prepared, ModelConfig(), TrainConfig(epochs=2, checkpoint_every=2),
                             tmp_path)
    first.start()
    wait(first)
    assert first.state == "done", first.error
    checkpoint = tmp_path / "epoch-00002.pt"
    same = jobs.TrainingJob(prepared, ModelConfig(), TrainConfig(epochs=4, checkpoint_every=2),
                            tmp_path, checkpoint)
    other = jobs.TrainingJob(prepared, ModelConfig(activation="relu"),
                             TrainConfig(epochs=4, checkpoint_every=2), tmp_path, checkpoint)
    same.start()
    other.start()
    wait(same)
    wait(other)
    assert same.state == "done", same.error
    assert [e.epoch for e in same.run.history.epochs] == [1, 2, 3, 4]
    assert other.state == "failed" and other.run is None
    assert other.error == ("epoch-00002.pt was trained with activation=tanh, not relu; resume "
                           "with the same settings or start a new run")


def test_long_epochs_report_rows_inside_the_epoch():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60_000, 4)).round(3).astype(str), columns=list("abcd"))
    frame["label"] = np.where(rng.random(60_000) < 0.5, "yes", "no")
    job = jobs.TrainingJob(prepare(frame, infer_schema(frame)), ModelConfig(),
                           TrainConfig(epochs=2, batch_size=1))
    job.start()
    seen = []
    while job.active:
        if job.state == "running" and job.rows is not None:
            seen.append((job.where, job.progress))
        time.sleep(0.05)
    assert job.state == "done", job.error
    inside = [(where, progress) for where, progress in seen if "rows" in where]
    assert inside, seen[-3:]
    where, progress = inside[0]
    assert where.startswith("epoch 0 of 2 · rows ") and where.endswith(" in epoch 1")
    assert 0 < progress < 0.5
