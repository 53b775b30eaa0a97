"""Issue 10: the hand-written training engine agrees with autograd, is deterministic, leaves
ordinary parameters behind, and hands over to autograd for what it does not handle."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import mlcore.training as training
from mlcore.fast_engine import Engine, predicted_classes
from mlcore.model import ModelConfig, build_model
from mlcore.training import TrainConfig, TrainData, _predicted, make_optimizer, train


@pytest.fixture(scope="module")
def table() -> TrainData:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(537, 7, generator=g)  # 537: the last batch is a short one
    return TrainData(X, (X[:, 0] + X[:, 1] ** 2 > 0.5).long() + (X[:, 2] > 1).long())


def _run(engine: str, data: TrainData, model_config: ModelConfig, n_classes: int = 3,
         **config) -> tuple[training.History, nn.Module]:
    training.ENGINE = engine
    try:
        model = build_model(data.X.shape[1], n_classes, model_config, seed=1)
        config = TrainConfig(**{"batch_size": 32, "epochs": 4, "device": "cpu", **config})
        return train(model, data, config), model
    finally:
        training.ENGINE = "auto"


CASES = [(ModelConfig(hidden=(16, 8), activation=a), {"optimizer": "adam", "lr": 0.01})
         for a in ("relu", "tanh", "sigmoid", "gelu", "silu", "leaky_relu")] + [
    (ModelConfig(hidden=(10, 10)), {"optimizer": "adamw", "lr": 0.01, "weight_decay": 0.01}),
    (ModelConfig(hidden=(10,)), {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
                                 "weight_decay": 1e-3}),
    (ModelConfig(hidden=(10,)), {"optimizer": "sgd", "lr": 0.05, "momentum": 0.0}),
    (ModelConfig(hidden=()), {"optimizer": "adam", "lr": 0.05, "batch_size": 600}),
]


@pytest.mark.parametrize("model_config, config", CASES,
                         ids=[f"{m.activation}-{c['optimizer']}-{len(m.hidden)}"
                              for m, c in CASES])
def test_same_training_as_autograd(table, model_config, config):
    by_hand, hand_model = _run("auto", table, model_config, **config)
    reference, autograd_model = _run("autograd", table, model_config, **config)
    for a, b in zip(hand_model.parameters(), autograd_model.parameters()):
        assert torch.allclose(a, b, atol=2e-6)
    for a, b in zip(by_hand.epochs, reference.epochs):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5)
        assert a.train_accuracy == pytest.approx(b.train_accuracy, abs=2 / len(table.X))


def test_sigmoid_head_same_as_autograd(table):
    data = TrainData(table.X, (table.y == 0).long())
    config = ModelConfig(hidden=(8,), binary_head="sigmoid")
    by_hand, hand_model = _run("auto", data, config, 2, optimizer="sgd", lr=0.05)
    reference, autograd_model = _run("autograd", data, config, 2, optimizer="sgd", lr=0.05)
    assert by_hand.last.train_loss == pytest.approx(reference.last.train_loss, rel=1e-5)
    for a, b in zip(hand_model.parameters(), autograd_model.parameters()):
        assert torch.allclose(a, b, atol=2e-6)


def test_deterministic_with_dropout_and_parameters_left_ordinary(table):
    config = ModelConfig(hidden=(12, 6), activation="gelu", dropout=0.2)
    first, a = _run("auto", table, config, optimizer="adamw", lr=0.01)
    second, b = _run("auto", table, config, optimizer="adamw", lr=0.01)
    assert [e.train_loss for e in first.epochs] == [e.train_loss for e in second.epochs]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    params = list(a.parameters())
    assert all(p.is_contiguous() and p.grad is not None and p.grad.shape == p.shape
               for p in params)
    storages = {p.untyped_storage().data_ptr() for p in params}
    assert len(storages) == len(params)  # no longer views of one flat tensor


def test_engine_applies_to_build_model_networks_only(table):
    model = build_model(7, 3, ModelConfig(hidden=(4,)), seed=1)
    config = TrainConfig(device="cpu")
    g = torch.Generator()
    assert Engine.build(model, make_optimizer(model, config), table.X, table.y, 8, g)
    others = [nn.Sequential(nn.Linear(7, 4), nn.Softplus(), nn.Linear(4, 3)),
              nn.Sequential(nn.Linear(7, 4), nn.ReLU(inplace=True), nn.Linear(4, 3)),
              nn.Sequential(nn.Linear(7, 3), nn.ReLU())]
    for other in others:
        assert Engine.build(other, make_optimizer(other, config), table.X, table.y, 8, g) is None
        history = train(other, table, TrainConfig(epochs=2, batch_size=64, device="cpu"))
        assert len(history.epochs) == 2  # through autograd
    unfused = torch.optim.Adam(model.parameters())
    assert Engine.build(model, unfused, table.X, table.y, 8, g) is None
    assert Engine.build(model, make_optimizer(model, config), table.X.double(), table.y, 8,
                        g) is None


def test_resume_across_engines(table, tmp_path):
    """A checkpoint written through autograd resumes with the hand-written engine (the
    optimizer state is torch's own format either way) and lands where autograd would."""
    model_config, config = ModelConfig(hidden=(10, 10)), {"optimizer": "adam", "lr": 0.01}
    _, unbroken = _run("autograd", table, model_config, epochs=8, **config)
    training.ENGINE = "autograd"
    try:
        first = build_model(7, 3, model_config, seed=1)
        train(first, table, TrainConfig(batch_size=32, epochs=4, checkpoint_every=4,
                                        device="cpu", **config),
              checkpoint_dir=tmp_path, fingerprint={"run": 1})
    finally:
        training.ENGINE = "auto"
    resumed = build_model(7, 3, model_config, seed=5)
    history = train(resumed, table, TrainConfig(batch_size=32, epochs=8, device="cpu",
                                                **config),
                    resume=tmp_path / "epoch-00004.pt", fingerprint={"run": 1})
    assert [e.epoch for e in history.epochs] == list(range(1, 9))
    for a, b in zip(resumed.parameters(), unbroken.parameters()):
        assert torch.allclose(a, b, atol=2e-6)


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_predicted_classes_is_the_decision_rule(classes):
    g = torch.Generator().manual_seed(classes)
    logits = torch.randn(3, classes, 40, generator=g)
    logits[:, :, :10] = torch.randint(0, 2, (3, classes, 10), generator=g).float()  # ties
    probabilities = torch.softmax(logits, 1)
    rows = logits.transpose(1, 2).reshape(-1, classes)
    assert torch.equal(predicted_classes(probabilities).view(-1), _predicted(rows))
