"""Issue 13: K members trained at once as one batched network, predicting the mean of the
members' probabilities; K=1 is today's network; both engines train it alike; bundles,
the Predictor and ONNX take it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import mlcore.training as training
from mlcore.bundle import load_bundle, save_bundle
from mlcore.ensemble import EnsembleMLP, member_probabilities
from mlcore.metrics import evaluate
from mlcore.model import ModelConfig, build_model, planned_shapes, to_probabilities
from mlcore.onnx_export import export_onnx
from mlcore.predict import Predictor
from mlcore.samples import get_sample
from mlcore.schema import infer_schema
from mlcore.table import read_table
from mlcore.training import TrainConfig, TrainData, train
from mlcore.workflow import Prepared, fit, prepare


@pytest.fixture(scope="module")
def table() -> TrainData:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(537, 7, generator=g)  # 537: the last batch is a short one
    return TrainData(X, (X[:, 0] + X[:, 1] ** 2 > 0.5).long() + (X[:, 2] > 1).long())


def test_one_member_is_todays_network():
    model = build_model(7, 3, ModelConfig(hidden=(10, 10)), seed=3)
    assert type(model) is nn.Sequential
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias",
                                        "4.weight", "4.bias"]
    generator = torch.Generator().manual_seed(3)
    first = torch.empty(10, 7).uniform_(-7 ** -0.5, 7 ** -0.5, generator=generator)
    assert torch.equal(model[0].weight, first)


def test_shapes_and_mean_of_member_probabilities():
    config = ModelConfig(hidden=(10, 6), ensemble=5)
    model = build_model(7, 3, config, seed=1)
    assert isinstance(model, EnsembleMLP) and model.members == 5
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == planned_shapes(7, 3, config)
    assert shapes["body.0.weight"] == (5, 10, 7) and shapes["body.4.bias"] == (5, 3)
    X = torch.randn(11, 7)
    members = member_probabilities(model, X)
    assert members.shape == (5, 11, 3)
    mean = to_probabilities(model(X)).detach().double().numpy()
    np.testing.assert_allclose(mean, members.mean(0), atol=1e-6)
    single = build_model(7, 3, ModelConfig(hidden=(10, 6)), seed=1)
    np.testing.assert_allclose(members[0], to_probabilities(single(X)).detach().numpy(),
                               atol=1e-6)  # member 0 starts as the one-member network


def test_sigmoid_head_mean_probability():
    model = build_model(4, 2, ModelConfig(hidden=(8,), ensemble=3, binary_head="sigmoid"))
    X = torch.randn(9, 4)
    np.testing.assert_allclose(to_probabilities(model(X)).detach().numpy(),
                               member_probabilities(model, X).mean(0), atol=1e-6)


@pytest.mark.parametrize("activation, optimizer, dropout",
                         [("tanh", "sgd", 0.0), ("relu", "adam", 0.0), ("gelu", "adamw", 0.0),
                          ("silu", "adam", 0.0), ("leaky_relu", "sgd", 0.0)])
def test_engine_same_as_autograd(table, activation, optimizer, dropout):
    results = []
    for engine in ("auto", "autograd"):
        training.ENGINE = engine
        try:
            model = build_model(7, 3, ModelConfig(hidden=(16, 8), activation=activation,
                                                  ensemble=4), seed=1)
            history = train(model, table, TrainConfig(optimizer=optimizer, lr=0.05,
                                                      batch_size=32, epochs=3, device="cpu"))
        finally:
            training.ENGINE = "auto"
        results.append((history, model))
    (by_hand, hand), (reference, autograd) = results
    for a, b in zip(hand.parameters(), autograd.parameters()):
        assert torch.allclose(a, b, atol=3e-6)
    assert by_hand.last.train_loss == pytest.approx(reference.last.train_loss, rel=1e-5)
    assert by_hand.last.train_accuracy == pytest.approx(reference.last.train_accuracy,
                                                        abs=2 / len(table.X))


def test_each_member_trains_as_if_alone(table):
    config = TrainConfig(optimizer="adam", batch_size=32, epochs=3, device="cpu")
    single = build_model(7, 3, ModelConfig(hidden=(16, 8)), seed=1)
    train(single, table, config)
    ensemble = build_model(7, 3, ModelConfig(hidden=(16, 8), ensemble=4), seed=1)
    train(ensemble, table, config)
    for a, b in zip(single.parameters(), ensemble.parameters()):
        assert torch.allclose(a, b[0], atol=1e-6)


def test_dropout_ensemble_trains_deterministically(table):
    weights = []
    for _ in range(2):
        model = build_model(7, 3, ModelConfig(hidden=(16,), dropout=0.2, ensemble=3), seed=1)
        train(model, table, TrainConfig(batch_size=64, epochs=2, device="cpu"))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(*weights)


def test_report_members_spread(table):
    model = build_model(7, 3, ModelConfig(hidden=(16,), ensemble=6), seed=2)
    train(model, table, TrainConfig(epochs=3, device="cpu"))
    report = evaluate(model, table.X, table.y, ["a", "b", "c"])
    members = report.members()
    assert members["count"] == 6 and len(members["accuracy"]) == 6
    assert members["min"] <= members["median"] <= members["max"]
    assert report.to_dict()["members"] == members
    single = build_model(7, 3, ModelConfig(hidden=(16,)), seed=2)
    assert evaluate(single, table.X, table.y, ["a", "b", "c"]).members() is None


def _sample(name: str) -> Prepared:
    sample = get_sample(name)
    frames = [read_table(path, header=False).frame
              for path in (sample.train_path(), sample.test_path())]
    for frame in frames:
        frame.columns = list(sample.columns)
    return prepare(frames[0], infer_schema(frames[0], label=sample.label), frames[1])


@pytest.mark.parametrize("name, head", [("students", "softmax"), ("people", "sigmoid")])
def test_bundle_predictor_and_onnx(tmp_path, name, head):
    prepared = _sample(name)
    run = fit(prepared, ModelConfig(hidden=(10,), ensemble=4, binary_head=head),
              TrainConfig(epochs=5))
    assert run.reports["test"].members()["count"] == 4
    assert run.bundle.metrics["test"]["members"]["count"] == 4
    save_bundle(run.bundle, tmp_path / "b")
    bundle = load_bundle(tmp_path / "b")
    X, _ = prepared.arrays["test"]
    got = Predictor(bundle).predict(prepared.parts["test"])
    np.testing.assert_allclose(got.probabilities, run.reports["test"].probabilities, atol=1e-6)
    check = export_onnx(bundle, tmp_path / "m.onnx", X)
    assert check.labels_equal and check.max_abs_diff < 1e-5
