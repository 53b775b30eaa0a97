"""Issue 2, items 8 and 12: the overfit-first sanity check and the verified ONNX export."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import onnxruntime
import pytest

from mlcore.bundle import Bundle
from mlcore.metrics import predict_probabilities
from mlcore.model import ModelConfig, build_model
from mlcore.onnx_export import TOLERANCE, ExportError, export_onnx
from mlcore.sanity import overfit_check

# ---- overfit check


def test_overfit_check_passes_on_a_sample(students_prepared):
    X, y = students_prepared.arrays["train"]
    result = overfit_check(X, y, 3, ModelConfig(hidden=(32, 32), dropout=0.5), rows=32,
                           epochs=300, device="cpu")
    assert result.passed and result.rows == 32 and result.epochs == 300
    assert result.accuracy >= 0.95 and result.correct >= 31
    assert result.message.startswith("Yes: it fits") and "of 32 rows" in result.message
    assert result.final_loss < 0.3


def test_overfit_check_fails_on_random_labels_with_a_tiny_network():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    result = overfit_check(X, y, 3, ModelConfig(hidden=(1,)), rows=32, epochs=20, device="cpu")
    assert not result.passed and result.accuracy < 0.95
    assert result.message.startswith("No: it fits only")


# ---- ONNX export


def _bundle(students_bundle: Bundle, config: ModelConfig, n_classes: int = 3,
            seed: int = 3) -> Bundle:
    """The students bundle with another (untrained, seeded) network: parity needs no training."""
    encoder = students_bundle.encoder
    if n_classes == 2:
        encoder = replace(encoder, class_names=encoder.class_names[:2])
    model = build_model(encoder.n_features, n_classes, config, seed=seed)
    return replace(students_bundle, encoder=encoder, model_config=config,
                   state_dict=model.state_dict())


@pytest.mark.parametrize("config, n_classes", [
    (ModelConfig(hidden=(10, 10), activation="tanh"), 3),
    (ModelConfig(hidden=(16, 8), activation="relu"), 3),
    (ModelConfig(hidden=(12,), activation="gelu"), 3),
    (ModelConfig(hidden=(12, 12), activation="silu"), 3),
    (ModelConfig(hidden=(6,), activation="leaky_relu", dropout=0.3), 3),
    (ModelConfig(hidden=(10, 10), activation="sigmoid"), 3),
    (ModelConfig(hidden=(10, 10), activation="tanh", binary_head="sigmoid"), 2),
    (ModelConfig(hidden=(10, 10), activation="relu", binary_head="softmax"), 2),
], ids=lambda v: v if isinstance(v, int) else f"{v.activation}-{v.binary_head}")
def test_export_matches_pytorch(students_bundle, tmp_path, config, n_classes):
    bundle = _bundle(students_bundle, config, n_classes)
    rng = np.random.default_rng(1)
    X = rng.normal(scale=2.0, size=(64, 6)).astype(np.float32)
    path = tmp_path / "model.onnx"
    check = export_onnx(bundle, path, X)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # one file
    assert check.rows == 64 and check.max_abs_diff <= TOLERANCE and check.labels_equal
    assert "matches PyTorch on 64 rows" in check.summary()

    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "features" and out.name == "probabilities"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    batch = inp.type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value  # dynamic batch
    assert inp.type.tensor_type.shape.dim[1].dim_value == 6
    props = {p.key: p.value for p in model.metadata_props}
    assert props["class_names"] == ",".join(bundle.class_names)

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    torch_model = bundle.build_model()
    for rows in (1, 7):
        got = session.run(["probabilities"], {"features": X[:rows]})[0]
        want = predict_probabilities(torch_model, X[:rows])
        assert got.shape == (rows, n_classes) and got.dtype == np.float32
        assert np.abs(got - want).max() <= TOLERANCE
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)


def test_trained_students_export(students_bundle, students_prepared, tmp_path):
    X, _ = students_prepared.arrays["test"]
    check = export_onnx(students_bundle, tmp_path / "students.onnx", X)
    assert check.rows == 40 and check.max_abs_diff <= TOLERANCE
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "students.onnx")).metadata_props}
    assert props["architecture"] == "6-(10-10)-3"


def test_export_fails_above_the_tolerance_and_leaves_no_file(students_bundle, tmp_path):
    path = tmp_path / "model.onnx"
    X = np.ones((4, 6), dtype=np.float32)
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_onnx(students_bundle, path, X, tolerance=-1.0)
    assert not path.exists()
