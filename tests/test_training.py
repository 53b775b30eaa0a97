"""Issue 2, items 5 to 7: the MLP, the training loop, stop/early stop, checkpoints, resume."""
from __future__ import annotations

import threading

import pytest
import torch

from mlcore.checkpoint import FORMAT, fingerprint, list_checkpoints, load_checkpoint
from mlcore.device import describe_device, resolve_device
from mlcore.errors import BundleError
from mlcore.model import (ModelConfig, build_model, count_parameters, loss_function,
                          to_probabilities)
from mlcore.training import TrainConfig, TrainData, train


@pytest.fixture(scope="module")
def data(students_prepared) -> TrainData:
    return students_prepared.train_data()


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{"optimizer": "sgd", "lr": 0.05, "momentum": 0.0, "batch_size": 10,
                          "epochs": 5, "device": "cpu", **changes})


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---- model


def test_articles_network_description_and_parameter_count():
    config = ModelConfig(hidden=(10, 10), activation="tanh")
    model = build_model(6, 3, config)
    assert config.describe(6, 3) == "6-(10-10)-3"
    assert count_parameters(model) == (6 * 10 + 10) + (10 * 10 + 10) + (10 * 3 + 3)
    assert isinstance(model[1], torch.nn.Tanh) and model[-1].out_features == 3
    assert ModelConfig(hidden=()).describe(4, 3) == "4-3"


def test_logits_out_softmax_only_when_predicting():
    model = build_model(6, 3, ModelConfig(hidden=(10, 10)))
    assert not any(isinstance(m, torch.nn.Softmax) for m in model.modules())
    logits = model(torch.randn(5, 6))
    assert not torch.allclose(logits.sum(1), torch.ones(5))
    probs = to_probabilities(logits)
    assert torch.allclose(probs.sum(1), torch.ones(5)) and (probs > 0).all()


def test_sigmoid_head_has_one_output_and_two_probabilities():
    config = ModelConfig(hidden=(10, 10), binary_head="sigmoid")
    assert config.describe(8, 2) == "8-(10-10)-1" and config.outputs(3) == 3
    model = build_model(8, 2, config)
    logits = model(torch.randn(4, 8))
    assert logits.shape == (4, 1)
    probs = to_probabilities(logits)
    p = torch.sigmoid(logits[:, 0])
    assert torch.allclose(probs, torch.stack([1 - p, p], dim=1))
    targets = torch.tensor([0, 1, 1, 0])
    expected = torch.nn.functional.binary_cross_entropy(p, targets.float())
    assert torch.allclose(loss_function(logits, targets), expected, atol=1e-6)
    assert build_model(8, 2, ModelConfig(hidden=(10, 10)))(torch.randn(4, 8)).shape == (4, 2)


def test_model_config_validation_and_round_trip():
    config = ModelConfig(hidden=[8, 4], activation="gelu", dropout=0.2, binary_head="sigmoid")
    assert ModelConfig.from_dict(config.to_dict()) == config
    for bad in ({"activation": "swish"}, {"binary_head": "tanh"}, {"hidden": (0,)},
                {"dropout": 1.0}):
        with pytest.raises(ValueError):
            ModelConfig(**bad)
    with pytest.raises(ValueError):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError):
        TrainConfig(lr=0)


def test_same_seed_same_initial_weights():
    a, b = (build_model(6, 3, ModelConfig(), seed=5) for _ in range(2))
    c = build_model(6, 3, ModelConfig(), seed=6)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, c[0].weight)


# ---- training


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_training_decreases_the_loss(data, optimizer):
    model = build_model(6, 3, ModelConfig(hidden=(10, 10)))
    history = train(model, data, _config(optimizer=optimizer, momentum=0.9, lr=0.01,
                                         epochs=15, weight_decay=1e-4))
    losses = [e.train_loss for e in history.epochs]
    assert len(losses) == 15 and losses[-1] < 0.8 * losses[0]
    assert history.epochs[-1].train_accuracy > 0.5
    assert history.stopped == "" and history.train_seconds > 0
    assert not model.training  # left in eval mode


def test_on_epoch_reports_every_epoch(data):
    seen = []
    history = train(build_model(6, 3, ModelConfig()), data, _config(epochs=4), on_epoch=seen.append)
    assert [s.epoch for s in seen] == [1, 2, 3, 4] and seen == history.epochs
    assert history.eval_name == "test" and history.device.startswith("CPU")
    for s in seen:
        assert s.train_loss > 0 and 0 <= s.train_accuracy <= 1
        assert s.eval_loss > 0 and 0 <= s.eval_accuracy <= 1
    assert [s.elapsed_s for s in seen] == sorted(s.elapsed_s for s in seen)


def test_eval_metrics_match_a_batched_pass(data):
    model = build_model(6, 3, ModelConfig())
    history = train(model, data, _config(epochs=2))
    with torch.inference_mode():
        logits = model(data.X_eval)
    assert history.last.eval_loss == pytest.approx(loss_function(logits, data.y_eval).item())
    assert history.last.eval_accuracy == pytest.approx(
        (logits.argmax(1) == data.y_eval).float().mean().item())


def test_training_without_eval_set(data):
    history = train(build_model(6, 3, ModelConfig()), TrainData(data.X, data.y), _config(epochs=2))
    assert history.eval_name is None and history.last.eval_loss is None


def test_stop_event_stops_cleanly_and_keeps_weights(data):
    stop = threading.Event()
    model = build_model(6, 3, ModelConfig())
    before = _state(model)

    def on_epoch(stats):
        if stats.epoch == 3:
            stop.set()

    history = train(model, data, _config(epochs=50), on_epoch=on_epoch, stop=stop)
    assert history.stopped == "user"
    assert [e.epoch for e in history.epochs] == [1, 2, 3]
    assert not model.training
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())


def test_stop_already_set_stops_after_one_batch(data):
    stop = threading.Event()
    stop.set()
    history = train(build_model(6, 3, ModelConfig()), data, _config(epochs=5), stop=stop)
    assert history.stopped == "user" and history.epochs == []


def test_early_stopping_restores_the_best_weights(students_prepared):
    prepared = students_prepared
    from mlcore.workflow import prepare
    prepared = prepare(prepared.parts["train"], prepared.schema, validation_fraction=0.3)
    data = prepared.train_data()
    snapshots = {}
    model = build_model(prepared.encoder.n_features, 3, ModelConfig(hidden=(64, 64)))
    history = train(model, data, _config(optimizer="adam", lr=0.05, epochs=300, patience=3),
                    on_epoch=lambda s: snapshots.__setitem__(s.epoch, _state(model)))
    assert history.stopped == "early" and len(history.epochs) < 300
    losses = {e.epoch: e.eval_loss for e in history.epochs}
    assert history.best_epoch == min(losses, key=losses.get)
    assert history.best_epoch == len(history.epochs) - 3
    best = snapshots[history.best_epoch]
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())


def test_early_stopping_needs_a_validation_set(data):
    with pytest.raises(ValueError, match="validation"):
        train(build_model(6, 3, ModelConfig()), data, _config(patience=3))


# ---- checkpoints and resume


def test_checkpoints_every_n_epochs_load_with_weights_only(data, tmp_path):
    model = build_model(6, 3, ModelConfig(dropout=0.1))
    train(model, data, _config(epochs=7, checkpoint_every=3), checkpoint_dir=tmp_path)
    # every 3 epochs, and the last one (to extend a finished run later)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["epoch-00003.pt", "epoch-00006.pt",
                                                             "epoch-00007.pt"]
    state = torch.load(tmp_path / "epoch-00006.pt", weights_only=True)
    assert state["format"] == FORMAT and state["epoch"] == 6
    assert set(state) >= {"model", "optimizer", "rng", "history", "config"}
    assert set(state["rng"]) == {"order", "dropout"}
    assert len(state["history"]) == 6
    assert set(state["model"]) == set(model.state_dict())
    listed = list_checkpoints(tmp_path)
    assert [(c.epoch, c.stats["epoch"]) for c in listed] == [(7, 7), (6, 6), (3, 3)]
    assert all(c.saved_at > 0 for c in listed)


def test_checkpoints_listed_newest_first_from_metadata_and_only_the_last_kept(
        students_prepared, data, tmp_path, monkeypatch):
    import mlcore.checkpoint as checkpoint

    model = build_model(data.X.shape[1], 3, ModelConfig(hidden=(4,)), seed=1)
    train(model, data, _config(epochs=10, checkpoint_every=1), checkpoint_dir=tmp_path,
          fingerprint={"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"epoch-{e:05d}.{ext}" for e in (8, 9, 10) for ext in ("json", "pt")]
    monkeypatch.setattr(checkpoint, "load_checkpoint", lambda path: 1 / 0)  # never loaded
    listed = list_checkpoints(tmp_path)
    assert [c.epoch for c in listed] == [10, 9, 8]
    assert listed[0].stats["train_accuracy"] > 0


@pytest.mark.parametrize("model_config, train_config", [
    (ModelConfig(hidden=(10, 10)), _config(epochs=20, batch_size=25, optimizer="adam", lr=0.01)),
    (ModelConfig(hidden=(10, 10), dropout=0.3), _config(epochs=20, batch_size=25, optimizer="adamw")),
    (ModelConfig(hidden=(10, 10)), _config(epochs=20, batch_size=25, momentum=0.9, lr=0.01, weight_decay=0.01)),
    (ModelConfig(hidden=(8,), binary_head="sigmoid", dropout=0.2),
     _config(epochs=20, batch_size=25, momentum=0.9, lr=0.01)),
], ids=["adam", "adamw-dropout", "sgd-momentum", "sigmoid-dropout-sgd"])
def test_resume_is_bit_identical(students_prepared, data, tmp_path, model_config,
                                 train_config):
    if model_config.binary_head == "sigmoid":  # a two-class problem: finance or not
        data = TrainData(data.X, (data.y == 0).long(), data.X_eval, (data.y_eval == 0).long(),
                         "test")
    n_classes = 2 if model_config.binary_head == "sigmoid" else 3
    whole = build_model(6, n_classes, model_config, seed=1)
    full = train(whole, data, train_config)

    first = build_model(6, n_classes, model_config, seed=1)
    cfg10 = TrainConfig(**{**train_config.to_dict(), "epochs": 10, "checkpoint_every": 10})
    run = fingerprint(students_prepared.schema, students_prepared.encoder, model_config,
                      train_config)
    train(first, data, cfg10, checkpoint_dir=tmp_path, fingerprint=run)
    resumed = build_model(6, n_classes, model_config, seed=99)  # weights come from the file
    seen = []
    history = train(resumed, data, train_config, on_epoch=seen.append,
                    resume=tmp_path / "epoch-00010.pt", fingerprint=run)
    assert [s.epoch for s in seen] == list(range(11, 21))
    assert [e.epoch for e in history.epochs] == list(range(1, 21))
    assert [e.train_loss for e in history.epochs] == [e.train_loss for e in full.epochs]
    for key, tensor in whole.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[key]), key


def test_bad_checkpoint_files_are_refused(tmp_path):
    with pytest.raises(BundleError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BundleError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"epoch": 1}, tmp_path / "foreign.pt")
    with pytest.raises(BundleError, match="not a Classifier Studio checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


# ---- device


def test_device_auto_and_unavailable():
    auto = resolve_device("auto")
    if torch.cuda.is_available():
        assert auto.type == "cuda"
    elif not torch.backends.mps.is_available():
        assert auto == torch.device("cpu")
        assert describe_device(auto).startswith("CPU (")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA was asked for"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="CUDA"):
            train(build_model(2, 2, ModelConfig()), TrainData(torch.zeros(4, 2),
                                                              torch.tensor([0, 1, 0, 1])),
                  TrainConfig(device="cuda", epochs=1))


def test_fit_can_start_from_saved_weights(students_prepared, students_run):
    """Continuing a saved model: with a zero learning rate its weights come back unchanged."""
    import torch

    from mlcore.training import TrainConfig
    from mlcore.workflow import fit, prepare

    saved = students_run.bundle
    prepared = prepare(students_prepared.parts["train"], saved.schema,
                       students_prepared.parts["test"], encoder=saved.encoder)
    assert prepared.encoder is saved.encoder
    run = fit(prepared, saved.model_config, TrainConfig(optimizer="sgd", lr=1e-12, momentum=0,
                                                        epochs=1, device="cpu"),
              initial_state=saved.state_dict)
    for name, tensor in saved.state_dict.items():
        assert torch.allclose(run.bundle.state_dict[name], tensor)
    assert run.reports["test"].n_correct == students_run.reports["test"].n_correct
