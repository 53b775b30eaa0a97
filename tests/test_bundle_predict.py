"""Issue 2, items 10 and 11: bundles that travel without pickle, and the Predictor."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import members_of, zip_of
from mlcore.bundle import bundle_from_zip, bundle_to_zip, load_bundle, save_bundle
from mlcore.errors import BundleError, InputError, TableError
from mlcore.predict import Predictor

STUDENT = {"col0": "M", "col1": "39.5", "col2": "oklahoma", "col3": "512"}


class Payload:
    """Unpickling this would create a file: the proof that a bundle never runs it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))




@pytest.fixture(scope="module")
def test_rows(students_prepared) -> pd.DataFrame:
    return students_prepared.parts["test"]


@pytest.fixture(scope="module")
def predictor(students_bundle) -> Predictor:
    return Predictor(students_bundle)


# ---- save and load


def test_directory_round_trip(students_bundle, test_rows, tmp_path):
    save_bundle(students_bundle, tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["bundle.json", "model.pt"]
    loaded = load_bundle(tmp_path / "b")
    want = Predictor(students_bundle).predict(test_rows).probabilities
    assert np.array_equal(Predictor(loaded).predict(test_rows).probabilities, want)
    assert loaded.architecture == "6-(10-10)-3" == students_bundle.architecture
    assert loaded.schema == students_bundle.schema and loaded.encoder == students_bundle.encoder
    assert loaded.model_config == students_bundle.model_config
    assert loaded.train_config == students_bundle.train_config


def test_zip_round_trip(students_bundle, test_rows, tmp_path):
    data = bundle_to_zip(students_bundle)
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == ["README.md", "bundle.json",
                                                                    "model.pt"]
    want = Predictor(students_bundle).predict(test_rows).probabilities
    assert np.array_equal(Predictor(bundle_from_zip(data)).predict(test_rows).probabilities, want)
    (tmp_path / "b.zip").write_bytes(data)
    assert np.array_equal(Predictor(load_bundle(tmp_path / "b.zip")).predict(test_rows)
                          .probabilities, want)


def test_zip_with_a_top_folder_loads(students_bundle):
    members = members_of(students_bundle)
    bundle = bundle_from_zip(zip_of({f"my-model/{k}": v for k, v in members.items()}))
    assert bundle.class_names == students_bundle.class_names


def test_model_pt_is_a_plain_state_dict(students_bundle, tmp_path):
    save_bundle(students_bundle, tmp_path)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(state) == set(students_bundle.state_dict)
    assert all(torch.equal(state[k], v) for k, v in students_bundle.state_dict.items())


def test_bundle_json_holds_everything(students_bundle, tmp_path):
    save_bundle(students_bundle, tmp_path)
    meta = json.loads((tmp_path / "bundle.json").read_text())
    assert meta["format"] == "classifier-studio-bundle/1"
    assert meta["class_names"] == ["finance", "geology", "history"]
    assert meta["architecture"] == "6-(10-10)-3" and meta["seed"] == 1
    assert [c["name"] for c in meta["schema"]["columns"]] == ["col0", "col1", "col2", "col3",
                                                              "col4"]
    assert meta["encoder"]["label"] == "col4" and len(meta["encoder"]["columns"]) == 4
    assert {k: meta["model_config"][k] for k in ("hidden", "activation", "binary_head")} == {
        "hidden": [10, 10], "activation": "tanh", "binary_head": "softmax"}
    assert meta["train_config"]["epochs"] == 40 and meta["train_config"]["optimizer"] == "adam"
    assert set(meta["metrics"]) == {"train", "test"}
    assert meta["metrics"]["test"]["n"] == 40
    assert 0 < meta["metrics"]["test"]["accuracy"] <= 1
    assert set(meta["versions"]) >= {"mlcore", "torch", "numpy", "pandas", "python"}
    assert meta["versions"]["torch"] == torch.__version__
    assert len(meta["history"]["epochs"]) == 40


def test_rebuilds_with_no_user_code(students_bundle, tmp_path):
    save_bundle(students_bundle, tmp_path)
    model = load_bundle(tmp_path).build_model()
    assert not model.training
    x = torch.zeros(2, 6)
    with torch.inference_mode():
        assert model(x).shape == (2, 3)


# ---- refused bundles


def test_missing_or_incomplete_directory(tmp_path):
    with pytest.raises(BundleError, match="no bundle here"):
        load_bundle(tmp_path)
    (tmp_path / "bundle.json").write_text("{}")
    with pytest.raises(BundleError, match="no bundle here"):
        load_bundle(tmp_path)


def test_damaged_zips(students_bundle):
    data = bundle_to_zip(students_bundle)
    with pytest.raises(BundleError, match="not a zip file"):
        bundle_from_zip(data[: len(data) // 2])
    with pytest.raises(BundleError, match="not a zip file"):
        bundle_from_zip(b"PK\x03\x04 garbage")
    corrupt = data[:200] + bytes(60) + data[260:]   # inside bundle.json's deflated bytes
    with pytest.raises(BundleError):
        bundle_from_zip(corrupt)


def test_foreign_zip_and_wrong_json(students_bundle):
    with pytest.raises(BundleError, match="the zip has no bundle.json or model.pt"):
        bundle_from_zip(zip_of({"readme.txt": b"hello"}))
    members = members_of(students_bundle)
    with pytest.raises(BundleError, match="not valid JSON"):
        bundle_from_zip(zip_of({**members, "bundle.json": b"{not json"}))
    with pytest.raises(BundleError, match="not a Classifier Studio bundle"):
        bundle_from_zip(zip_of({**members, "bundle.json": b'{"format": "other/1"}'}))
    with pytest.raises(BundleError, match="not a Classifier Studio bundle"):
        bundle_from_zip(zip_of({**members, "bundle.json": b"[1, 2]"}))
    meta = json.loads(members["bundle.json"])
    del meta["encoder"]
    with pytest.raises(BundleError, match="incomplete or damaged"):
        bundle_from_zip(zip_of({**members, "bundle.json": json.dumps(meta).encode()}))
    meta = json.loads(members["bundle.json"])
    meta["model_config"]["hidden"] = [7]
    with pytest.raises(BundleError, match="does not fit the network"):
        bundle_from_zip(zip_of({**members, "bundle.json": json.dumps(meta).encode()}))


def test_pickle_bearing_model_pt_is_refused_and_never_run(students_bundle, tmp_path):
    marker = tmp_path / "pwned"
    weights = io.BytesIO()
    torch.save({"0.weight": Payload(str(marker))}, weights)
    members = {**members_of(students_bundle), "model.pt": weights.getvalue()}
    with pytest.raises(BundleError, match="model.pt is not a readable state_dict"):
        bundle_from_zip(zip_of(members))
    directory = tmp_path / "b"
    save_bundle(students_bundle, directory)
    (directory / "model.pt").write_bytes(weights.getvalue())
    with pytest.raises(BundleError, match="model.pt is not a readable state_dict"):
        load_bundle(directory)
    assert not marker.exists()


def test_model_pt_without_tensors_is_refused(students_bundle):
    weights = io.BytesIO()
    torch.save({"0.weight": [1, 2, 3]}, weights)
    with pytest.raises(BundleError, match="state_dict of tensors"):
        bundle_from_zip(zip_of({**members_of(students_bundle), "model.pt": weights.getvalue()}))


# ---- Predictor


def test_predict_from_a_dict(predictor):
    result = predictor.predict(STUDENT)
    assert len(result.labels) == 1 and result.labels[0] in predictor.encoder.class_names
    assert result.probabilities.shape == (1, 3)
    assert result.probabilities.sum() == pytest.approx(1.0)
    assert result.labels[0] == result.class_names[result.probabilities[0].argmax()]
    numbers = predictor.predict({**STUDENT, "col1": 39.5, "col3": 512})
    assert np.allclose(numbers.probabilities, result.probabilities)


def test_predict_from_rows_and_a_frame_agree(predictor, test_rows):
    frame = test_rows.head(5)
    by_frame = predictor.predict(frame)
    features = frame.drop(columns=["col4"]).values.tolist()
    by_lists = predictor.predict(features)
    with_label = predictor.predict(frame.values.tolist())
    by_dicts = predictor.predict(frame.drop(columns=["col4"]).to_dict("records"))
    for other in (by_lists, with_label, by_dicts):
        assert np.allclose(other.probabilities, by_frame.probabilities)
        assert other.labels == by_frame.labels
    assert by_frame.index == frame.index.tolist()
    table = by_frame.frame()
    assert list(table.columns) == ["predicted", "P(finance)", "P(geology)", "P(history)"]
    with pytest.raises(InputError, match="each row needs 4 values"):
        predictor.predict([["M", "39.5", "oklahoma"]])


@pytest.mark.parametrize("index", [["alice", "bob", "carol"], [0, 0, 1]])
def test_frame_with_a_text_or_repeated_index(predictor, index):
    frame = pd.DataFrame([STUDENT, {**STUDENT, "col1": "lots"}, {**STUDENT, "col0": "F"}],
                         index=index)
    result = predictor.predict(frame, strict=False)
    assert result.index == [1, 2, 3]
    assert result.labels[1] is None and None not in (result.labels[0], result.labels[2])
    assert [str(p) for p in result.problems] == ["row 2, column 'col1': 'lots' is not a number"]


def test_rows_with_an_ignored_column(students_prepared, tmp_path):
    from mlcore.model import ModelConfig
    from mlcore.training import TrainConfig
    from mlcore.workflow import fit, prepare, read_like

    schema = students_prepared.schema.with_column("col2", role="ignore")
    frame = pd.concat([students_prepared.parts["train"], students_prepared.parts["test"]])
    bundle = fit(prepare(frame, schema), ModelConfig(hidden=(4,)),
                 TrainConfig(epochs=1, device="cpu")).bundle
    predictor = Predictor(bundle)
    assert predictor.features == ["col0", "col1", "col3"]
    want = predictor.predict([["M", "39.5", "512"]]).probabilities
    for row in (["M", "39.5", "oklahoma", "512"], ["M", "39.5", "oklahoma", "512", "finance"]):
        assert np.array_equal(predictor.predict([row]).probabilities, want)
    for text in (b"M,39.5,512\n", b"M,39.5,oklahoma,512\n", b"M,39.5,oklahoma,512,finance\n"):
        table = read_like(text, schema, "rows.csv", header=False)
        assert np.array_equal(predictor.predict(table.frame).probabilities, want)
    with pytest.raises(TableError, match="found 2 columns; expected 5 .* or 4 without the "
                                        "label 'col4' or the 3 feature columns"):
        read_like(b"M,39.5\n", schema, "rows.csv", header=False)


def test_predictions_match_the_bundle_metrics(predictor, students_bundle, test_rows):
    result = predictor.predict(test_rows)
    correct = sum(a == b for a, b in zip(result.labels, test_rows["col4"]))
    assert correct == students_bundle.metrics["test"]["n_correct"]


def test_missing_column(predictor):
    with pytest.raises(InputError, match="column 'col3': the column is missing"):
        predictor.predict({k: v for k, v in STUDENT.items() if k != "col3"})
    with pytest.raises(InputError, match="the column is missing"):
        predictor.predict({k: v for k, v in STUDENT.items() if k != "col3"}, strict=False)


def test_unseen_category(predictor):
    with pytest.raises(InputError, match="row 1, column 'col2': 'texas' was not seen in "
                                         "training"):
        predictor.predict({**STUDENT, "col2": "texas"})
    result = predictor.predict({**STUDENT, "col2": "texas"}, unknown="zeros")
    assert result.labels[0] is not None
    assert [(p.column, p.severity) for p in result.problems] == [("col2", "warning")]


def test_non_numeric_value(predictor):
    with pytest.raises(InputError, match="row 1, column 'col1': 'lots' is not a number"):
        predictor.predict({**STUDENT, "col1": "lots"})


def test_far_out_of_range_is_reported_but_predicted(predictor):
    result = predictor.predict({**STUDENT, "col3": "90000"})
    assert result.labels[0] is not None
    (problem,) = result.problems
    assert problem.severity == "warning" and problem.column == "col3"
    assert "far outside the training range" in str(problem)


def test_non_strict_predicts_good_rows_and_reports_bad_ones(predictor):
    rows = [STUDENT, {**STUDENT, "col1": "lots"}, {**STUDENT, "col2": "texas"},
            {**STUDENT, "col0": "F"}]
    with pytest.raises(InputError, match="2 more problems|1 more problem"):
        predictor.predict(rows)
    result = predictor.predict(rows, strict=False)
    assert result.labels[0] is not None and result.labels[3] is not None
    assert result.labels[1] is None and result.labels[2] is None
    assert np.isnan(result.probabilities[1]).all() and np.isnan(result.probabilities[2]).all()
    assert np.allclose(result.probabilities[0], predictor.predict(STUDENT).probabilities[0])
    assert sorted((p.row, p.column) for p in result.problems) == [(2, "col1"), (3, "col2")]


def test_decision_grid(predictor, test_rows):
    grid = predictor.decision_grid(test_rows, "col1", "col3", steps=12)
    assert len(grid["xs"]) == 12 and len(grid["ys"]) == 12
    assert np.array(grid["predicted"]).shape == (12, 12)
    assert np.array(grid["confidence"]).shape == (12, 12)
    assert set(np.unique(grid["predicted"])) <= {0, 1, 2}
    assert ((np.array(grid["confidence"]) >= 1 / 3 - 1e-9) & (np.array(grid["confidence"]) <= 1)).all()
    low, high = predictor.encoder.columns[1].low, predictor.encoder.columns[1].high
    assert grid["xs"][0] < low and grid["xs"][-1] > high
    with pytest.raises(InputError, match="not a numeric feature"):
        predictor.decision_grid(test_rows, "col2", "col3")


def test_a_one_feature_model_predicts_from_every_kind_of_input(tmp_path, capsys):
    from mlcore.bundle import save_bundle
    from mlcore.cli import main
    from mlcore.model import ModelConfig
    from mlcore.schema import infer_schema
    from mlcore.training import TrainConfig
    from mlcore.workflow import fit, prepare

    x = np.linspace(-3, 3, 120)
    frame = pd.DataFrame({"x": [f"{v:.3f}" for v in x], "y": np.where(x > 0, "pos", "neg")},
                         dtype=object)
    bundle = fit(prepare(frame, infer_schema(frame, "y")), ModelConfig(hidden=(4,)),
                 TrainConfig(epochs=40, device="cpu")).bundle
    predictor = Predictor(bundle)
    want = predictor.predict([{"x": "2.5"}, {"x": "-2.5"}]).labels
    assert want == ["pos", "neg"]
    assert predictor.predict([["2.5"], ["-2.5"]]).labels == want
    assert predictor.predict({"x": 2.5}).labels == ["pos"]
    save_bundle(bundle, tmp_path / "one")
    (tmp_path / "rows.csv").write_text("x\n2.5\n-2.5\n")
    (tmp_path / "bare.csv").write_text("2.5\n-2.5\n")
    for args in (["--row", "2.5", "--row", "-2.5"], ["--input", tmp_path / "rows.csv"],
                 ["--input", tmp_path / "bare.csv"]):
        capsys.readouterr()
        assert main(["predict", str(tmp_path / "one"), *map(str, args), "--json"]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert [p["label"] for p in result["predictions"]] == want
