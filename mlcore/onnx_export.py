"""ONNX export of the network (encoded features in, probabilities out), built node by node
from the bundle's weights and checked against PyTorch with onnxruntime before it is offered.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from .bundle import Bundle
from .ensemble import EnsembleLinear, EnsembleMLP
from .errors import StudioError
from .metrics import predict_probabilities

OPSET = 17        # loads in every onnxruntime release since 1.14
IR_VERSION = 8
TOLERANCE = 1e-4
Check = TypeVar("Check")


class ExportError(StudioError):
    """The exported graph does not agree with PyTorch, or could not be written."""


@dataclass
class ParityCheck:
    """How far onnxruntime's probabilities are from PyTorch's on the check rows."""

    rows: int
    max_abs_diff: float
    labels_equal: bool
    onnxruntime_version: str
    opset: int

    def summary(self) -> str:
        return (f"onnxruntime {self.onnxruntime_version} matches PyTorch on {self.rows} rows: "
                f"max |difference| {self.max_abs_diff:.2e}, labels "
                f"{'identical' if self.labels_equal else 'DIFFERENT'} (opset {self.opset})")


def mlp_graph_parts(model: nn.Module, x: str, prefix: str = "mlp"
                    ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """Nodes and weights computing class probabilities from the float tensor named `x`
    (an ensemble's: the mean of its members' probabilities)."""
    if isinstance(model, EnsembleMLP):
        return _ensemble_graph_parts(model, x, prefix)
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    current = x
    for i, layer in enumerate(model):
        out = f"{prefix}_{i}"
        if isinstance(layer, nn.Linear):
            w, b = f"{out}_weight", f"{out}_bias"
            weights += [numpy_helper.from_array(layer.weight.detach().cpu().numpy(), w),
                        numpy_helper.from_array(layer.bias.detach().cpu().numpy(), b)]
            nodes.append(helper.make_node("Gemm", [current, w, b], [out], transB=1))
        elif not _activation(layer, current, out, nodes, weights):
            continue  # dropout is the identity at inference
        current = out
    probabilities = f"{prefix}_probabilities"
    nodes += _head(model[-1].out_features == 1, current, probabilities, prefix, weights)
    return nodes, weights, probabilities


def _ensemble_graph_parts(model: EnsembleMLP, x: str, prefix: str
                          ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """An ensemble's graph: each layer one batched MatMul over the members ([batch, in]
    broadcast to [K, batch, out] at the first), the head per member, then ReduceMean."""
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    current = x
    for i, layer in enumerate(model.body):
        out = f"{prefix}_{i}"
        if isinstance(layer, EnsembleLinear):
            w, b = f"{out}_weight", f"{out}_bias"
            weight = layer.weight.detach().cpu().numpy().transpose(0, 2, 1)  # [K, in, out]
            bias = layer.bias.detach().cpu().numpy()[:, None, :]             # [K, 1, out]
            weights += [numpy_helper.from_array(np.ascontiguousarray(weight), w),
                        numpy_helper.from_array(bias, b)]
            nodes += [helper.make_node("MatMul", [current, w], [f"{out}_mm"]),
                      helper.make_node("Add", [f"{out}_mm", b], [out])]
        elif not _activation(layer, current, out, nodes, weights):
            continue
        current = out
    members = f"{prefix}_member_probabilities"
    sigmoid = model.body[-1].out_features == 1
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", [current], [f"{prefix}_members_p1"]))
    else:
        nodes.append(helper.make_node("Softmax", [current], [members], axis=-1))
    mean = f"{prefix}_p1" if sigmoid else f"{prefix}_probabilities"
    nodes.append(helper.make_node("ReduceMean", [f"{prefix}_members_p1" if sigmoid
                                                 else members], [mean], axes=[0], keepdims=0))
    if not sigmoid:
        return nodes, weights, mean
    probabilities = f"{prefix}_probabilities"
    weights.append(numpy_helper.from_array(np.array(1.0, np.float32), f"{prefix}_one"))
    nodes += [helper.make_node("Sub", [f"{prefix}_one", mean], [f"{prefix}_p0"]),
              helper.make_node("Concat", [f"{prefix}_p0", mean], [probabilities], axis=1)]
    return nodes, weights, probabilities


def _activation(layer: nn.Module, current: str, out: str, nodes: list[onnx.NodeProto],
                weights: list[onnx.TensorProto]) -> bool:
    """Append the nodes of an activation layer (False, nothing appended, for any other)."""
    if isinstance(layer, nn.Tanh):
        nodes.append(helper.make_node("Tanh", [current], [out]))
    elif isinstance(layer, nn.ReLU):
        nodes.append(helper.make_node("Relu", [current], [out]))
    elif isinstance(layer, nn.Sigmoid):
        nodes.append(helper.make_node("Sigmoid", [current], [out]))
    elif isinstance(layer, nn.LeakyReLU):
        nodes.append(helper.make_node("LeakyRelu", [current], [out],
                                      alpha=layer.negative_slope))
    elif isinstance(layer, nn.SiLU):
        nodes += [helper.make_node("Sigmoid", [current], [f"{out}_s"]),
                  helper.make_node("Mul", [current, f"{out}_s"], [out])]
    elif isinstance(layer, nn.GELU):  # exact GELU: x/2 * (1 + erf(x / sqrt 2))
        weights += [numpy_helper.from_array(np.array(2 ** -0.5, np.float32), f"{out}_c"),
                    numpy_helper.from_array(np.array(0.5, np.float32), f"{out}_h"),
                    numpy_helper.from_array(np.array(1.0, np.float32), f"{out}_one")]
        nodes += [helper.make_node("Mul", [current, f"{out}_c"], [f"{out}_a"]),
                  helper.make_node("Erf", [f"{out}_a"], [f"{out}_e"]),
                  helper.make_node("Add", [f"{out}_e", f"{out}_one"], [f"{out}_p"]),
                  helper.make_node("Mul", [current, f"{out}_h"], [f"{out}_x"]),
                  helper.make_node("Mul", [f"{out}_x", f"{out}_p"], [out])]
    else:
        return False
    return True


def _head(sigmoid: bool, current: str, probabilities: str, prefix: str,
          weights: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    """Probabilities from one network's logits: [1 - p, p] for a sigmoid head, else softmax."""
    if not sigmoid:
        return [helper.make_node("Softmax", [current], [probabilities], axis=1)]
    weights.append(numpy_helper.from_array(np.array(1.0, np.float32), f"{prefix}_one"))
    return [helper.make_node("Sigmoid", [current], [f"{prefix}_p1"]),
            helper.make_node("Sub", [f"{prefix}_one", f"{prefix}_p1"], [f"{prefix}_p0"]),
            helper.make_node("Concat", [f"{prefix}_p0", f"{prefix}_p1"], [probabilities],
                             axis=1)]


def metadata(bundle: Bundle) -> dict[str, str]:
    """What a reader of the file should know without our code."""
    test = bundle.metrics.get("test", {})
    return {"class_names": ",".join(bundle.class_names),
            "feature_names": ",".join(bundle.encoder.feature_names),
            "architecture": bundle.architecture,
            "test_accuracy": f"{test.get('accuracy', float('nan')):.4f}",
            "producer": "Classifier Studio mlcore " + bundle.versions.get("mlcore", "")}


def features_model(bundle: Bundle) -> onnx.ModelProto:
    """Graph: input `features` float32 [batch, n_features] -> `probabilities` [batch, k]."""
    nodes, weights, out = mlp_graph_parts(bundle.build_model(), "features")
    nodes.append(helper.make_node("Identity", [out], ["probabilities"]))
    graph = helper.make_graph(
        nodes, "classifier", [helper.make_tensor_value_info(
            "features", TensorProto.FLOAT, ["batch", bundle.encoder.n_features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       ["batch", len(bundle.class_names)])], weights)
    return finalize(graph, bundle, [("", OPSET)])


def finalize(graph: onnx.GraphProto, bundle: Bundle,
             opsets: list[tuple[str, int]]) -> onnx.ModelProto:
    """Wrap a graph as a checked model with our IR version, opsets and metadata."""
    model = helper.make_model(graph, producer_name="classifier-studio",
                              opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    model.ir_version = IR_VERSION
    helper.set_model_props(model, metadata(bundle))
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(bundle: Bundle, path: Path | str, X_check: np.ndarray,
                tolerance: float = TOLERANCE) -> ParityCheck:
    """Write model.onnx (one file, no external data) and verify it with onnxruntime on
    X_check; remove the file and raise ExportError if it differs by more than `tolerance`."""
    import onnxruntime

    path = Path(path)
    model = features_model(bundle)
    path.write_bytes(model.SerializeToString())
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    X_check = np.asarray(X_check, dtype=np.float32)
    got = session.run(["probabilities"], {"features": X_check})[0]
    want = predict_probabilities(bundle.build_model(), X_check)
    check = ParityCheck(len(X_check), float(np.abs(got - want).max()) if len(X_check) else 0.0,
                        bool((got.argmax(1) == want.argmax(1)).all()),
                        onnxruntime.__version__, OPSET)
    if check.max_abs_diff > tolerance:
        path.unlink(missing_ok=True)
        raise ExportError(f"the ONNX graph differs from PyTorch by {check.max_abs_diff:.2e} "
                          f"(limit {tolerance:.0e}); not exported")
    return check


def as_bytes(export: Callable[[Bundle, Path, Any], Check], bundle: Bundle,
             check_data: Any) -> tuple[bytes, Check]:
    """Run an export into a temporary file and return its bytes with its check, e.g. for a
    download; the export's own error (ExportError) passes through."""
    with tempfile.TemporaryDirectory(prefix="studio-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        check = export(bundle, path, check_data)
        return path.read_bytes(), check


def onnx_bytes(bundle: Bundle, X_check: np.ndarray) -> tuple[bytes, ParityCheck]:
    """The features-in ONNX file as bytes, checked on X_check."""
    return as_bytes(export_onnx, bundle, X_check)
