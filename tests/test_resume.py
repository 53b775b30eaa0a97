"""Issue 9, item 5: a checkpoint records what it was trained for, and resuming checks it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mlcore.checkpoint import check_fingerprint, fingerprint, load_checkpoint
from mlcore.errors import ResumeError
from mlcore.model import ModelConfig, build_model
from mlcore.training import TrainConfig, train
from mlcore.workflow import Prepared, fit, prepare

MODEL = ModelConfig(hidden=(10, 10), activation="tanh")
TAIL = "; resume with the same settings or start a new run"


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{"optimizer": "sgd", "lr": 0.05, "momentum": 0.0, "batch_size": 10,
                          "epochs": 4, "checkpoint_every": 2, "device": "cpu", **changes})


def _prepared(students: Prepared, schema=None, scaling: str = "zscore") -> Prepared:
    """The students rows prepared again, maybe with another schema or scaling."""
    return prepare(students.parts["train"], schema or students.schema, students.parts["test"],
                   scaling=scaling)


@pytest.fixture(scope="module")
def run_dir(students_prepared, tmp_path_factory) -> Path:
    """Checkpoints at epochs 2 and 4 of a 6-(10-10)-3 tanh run, sgd lr 0.05, z-scores."""
    directory = tmp_path_factory.mktemp("run")
    fit(students_prepared, MODEL, _config(), checkpoint_dir=directory)
    return directory


def test_every_checkpoint_holds_the_runs_fingerprint(students_prepared, run_dir):
    expected = fingerprint(students_prepared.schema, students_prepared.encoder, MODEL, _config())
    assert json.loads(json.dumps(expected)) == expected  # plain JSON values
    assert {"schema", "label", "encoding", "scaling", "hidden", "activation", "dropout",
            "binary_head", "n_features", "n_classes", "optimizer", "lr", "momentum",
            "batch_size", "weight_decay", "seed", "patience"} <= set(expected)
    assert (expected["label"], expected["scaling"], expected["hidden"]) == ("col4", "zscore",
                                                                            [10, 10])
    for name in ("epoch-00002.pt", "epoch-00004.pt"):
        assert load_checkpoint(run_dir / name)["fingerprint"] == expected
    # the epochs, checkpoint interval, device and threads are not part of it
    other = _config(epochs=50, checkpoint_every=7, device="auto", threads=3)
    assert fingerprint(students_prepared.schema, students_prepared.encoder, MODEL,
                       other) == expected


def _other_schema(students: Prepared) -> Prepared:
    return _prepared(students, students.schema.with_column("col2", role="ignore"))


def _other_label(students: Prepared) -> Prepared:
    return _prepared(students, students.schema.with_label("col0"))


@pytest.mark.parametrize("change, message", [
    ({"model": ModelConfig(hidden=(10, 10), activation="relu")}, "activation=tanh, not relu"),
    ({"model": ModelConfig(hidden=(8, 8, 8))}, "hidden=10,10, not 8,8,8"),
    ({"model": ModelConfig(hidden=(10, 10), dropout=0.2)}, "dropout=0.0, not 0.2"),
    ({"prepared": lambda s: _prepared(s, scaling="minmax")}, "scaling=zscore, not minmax"),
    ({"prepared": _other_schema}, "another schema (columns, roles, kinds)"),
    ({"prepared": _other_label}, "label=col4, not col0"),
    ({"train": {"optimizer": "adam"}}, "optimizer=sgd, not adam"),
    ({"train": {"lr": 0.1}}, "lr=0.05, not 0.1"),
    ({"train": {"batch_size": 20}}, "batch_size=10, not 20"),
    ({"train": {"seed": 2}}, "seed=1, not 2"),
], ids=["activation", "hidden", "dropout", "scaling", "schema", "label", "optimizer", "lr",
        "batch_size", "seed"])
def test_resume_with_another_setting_is_refused_in_one_line(students_prepared, run_dir,
                                                            change, message):
    prepared = change.get("prepared", lambda s: s)(students_prepared)
    config = _config(epochs=8, **change.get("train", {}))
    with pytest.raises(ResumeError) as refused:
        fit(prepared, change.get("model", MODEL), config, resume=run_dir / "epoch-00002.pt")
    assert str(refused.value) == f"epoch-00002.pt was trained with {message}{TAIL}"


def test_other_rows_change_the_encoding(students_prepared, run_dir):
    fewer = prepare(students_prepared.parts["train"].iloc[10:], students_prepared.schema,
                    students_prepared.parts["test"])
    with pytest.raises(ResumeError, match=r"trained with another encoding \(other training"):
        fit(fewer, MODEL, _config(epochs=8), resume=run_dir / "epoch-00002.pt")


def test_a_refused_checkpoint_loads_nothing_into_the_model(students_prepared, run_dir):
    model = build_model(students_prepared.encoder.n_features, 3, MODEL, seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    current = fingerprint(students_prepared.schema, students_prepared.encoder, MODEL,
                          _config(lr=0.2))
    with pytest.raises(ResumeError, match="lr=0.05, not 0.2"):
        train(model, students_prepared.train_data(), _config(epochs=8, lr=0.2),
              resume=run_dir / "epoch-00002.pt", fingerprint=current)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_epochs_interval_and_threads_may_change(students_prepared, run_dir, tmp_path):
    config = _config(epochs=7, checkpoint_every=3, threads=2)
    seen, threads = [], torch.get_num_threads()
    try:
        run = fit(students_prepared, MODEL, config, on_epoch=seen.append,
                  checkpoint_dir=tmp_path, resume=run_dir / "epoch-00002.pt")
    finally:
        torch.set_num_threads(threads)
    assert [s.epoch for s in seen] == [3, 4, 5, 6, 7]
    assert [e.epoch for e in run.history.epochs] == list(range(1, 8))
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["epoch-00003.pt", "epoch-00006.pt",
                                                          "epoch-00007.pt"]
    unbroken = fit(students_prepared, MODEL, _config(epochs=7, checkpoint_every=0))
    for key, tensor in unbroken.bundle.state_dict.items():
        assert torch.equal(tensor, run.bundle.state_dict[key]), key


def test_a_checkpoint_without_fingerprint_is_refused(students_prepared, run_dir, tmp_path):
    old = load_checkpoint(run_dir / "epoch-00002.pt")
    del old["fingerprint"]
    torch.save(old, tmp_path / "epoch-00002.pt")
    with pytest.raises(ResumeError) as refused:
        fit(students_prepared, MODEL, _config(epochs=8), resume=tmp_path / "epoch-00002.pt")
    assert str(refused.value) == ("epoch-00002.pt does not record the settings it was trained "
                                  "with (an older checkpoint); start a new run")


def test_a_finished_checkpoint_needs_more_epochs(students_prepared, run_dir):
    with pytest.raises(ResumeError, match="epoch-00004.pt is already at epoch 4; ask for more"):
        fit(students_prepared, MODEL, _config(epochs=4), resume=run_dir / "epoch-00004.pt")


def test_resuming_needs_a_fingerprint(students_prepared, run_dir):
    with pytest.raises(ValueError, match="fingerprint"):
        train(build_model(students_prepared.encoder.n_features, 3, MODEL),
              students_prepared.train_data(), _config(epochs=8),
              resume=run_dir / "epoch-00002.pt")


def test_check_fingerprint_names_the_first_difference():
    saved = {"schema": "aaaa", "hidden": [10, 10], "activation": "tanh", "lr": 0.01}
    check_fingerprint(saved, dict(saved), "x.pt")
    with pytest.raises(ResumeError, match=r"^x.pt was trained with hidden=10,10, not 16; "):
        check_fingerprint(saved, {**saved, "hidden": [16], "lr": 0.1}, "x.pt")
    with pytest.raises(ResumeError, match=r"with hidden=10,10, not none;"):
        check_fingerprint(saved, {**saved, "hidden": []}, "x.pt")
    with pytest.raises(ResumeError, match="another schema"):
        check_fingerprint(saved, {**saved, "schema": "bbbb"}, "x.pt")


def test_resume_with_another_ensemble_size_is_refused_in_one_sentence(students_prepared):
    prepared = students_prepared
    single = fingerprint(prepared.schema, prepared.encoder, ModelConfig(), _config())
    assert "ensemble" not in single  # K=1 checkpoints stay as they were
    four = fingerprint(prepared.schema, prepared.encoder, ModelConfig(ensemble=4), _config())
    with pytest.raises(ResumeError, match="ensemble=None, not 4"):
        check_fingerprint(single, four, "epoch-00002.pt")
