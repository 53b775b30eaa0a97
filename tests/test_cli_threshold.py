"""The decision threshold on the command line: `evaluate --threshold T --save` stores it,
`predict` and `export --onnx-raw` then decide with it, `predict --threshold T` overrides it
for one call, and every misuse is one line on stderr. Runs `mlcore.cli.main` in-process on
the people bundle of conftest (binary) and the students bundle (three classes)."""
from __future__ import annotations

import json

import onnxruntime
import pytest

from conftest import DATA
from mlcore.bundle import load_bundle, save_bundle
from mlcore.cli import main
from mlcore.onnx_raw import raw_feeds
from mlcore.predict import Predictor
from mlcore.workflow import read_like

TEST = DATA / "people_test.tsv"


def run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_saved_threshold_is_used_by_predict_and_export(people_bundle, capsys, tmp_path):
    bundle = save_bundle(people_bundle, tmp_path / "people")
    code, out, err = run(capsys, "predict", bundle, "--input", TEST, "--json")
    plain = last_json(out)
    p_male = [p["probabilities"]["M"] for p in plain["predictions"]]
    assert code == 0 and plain["threshold"] == 0.5
    code, out, _ = run(capsys, "evaluate", bundle, TEST, "--threshold", "0.3", "--save",
                       "--json")
    saved = last_json(out)
    assert saved["threshold"] == 0.3 and saved["saved"] and saved["binary"]["threshold"] == 0.3
    assert "deciding M when P(M) >= 0.3" in out
    decided = ["M" if p >= 0.3 else "F" for p in p_male]
    after = last_json(run(capsys, "predict", bundle, "--input", TEST, "--json")[1])
    assert [p["label"] for p in after["predictions"]] == decided
    once = last_json(run(capsys, "predict", bundle, "--input", TEST, "--threshold", "0.9",
                         "--json")[1])
    assert [p["label"] for p in once["predictions"]] == ["M" if p >= 0.9 else "F"
                                                          for p in p_male]
    _, out, _ = run(capsys, "export", bundle, "--onnx-raw", tmp_path / "t.onnx")
    assert "label (string [batch], M when probabilities[:, 1] >= 0.3, else F)" in out
    loaded = load_bundle(bundle)
    rows = Predictor(loaded).to_frame(read_like(TEST, loaded.schema).frame)
    session = onnxruntime.InferenceSession(str(tmp_path / "t.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert [str(v) for v in session.run(["label"], raw_feeds(loaded, rows))[0]] == decided


MULTI = ("error: --threshold applies to two-class models only; this one has 3 classes and "
         "predicts the most probable one")


@pytest.mark.parametrize("which, args, message", [
    ("students", ["evaluate", "{b}", DATA / "students_test.tsv", "--threshold", "0.3"], MULTI),
    ("students", ["predict", "{b}", "--row", "M,30.5,oklahoma,543", "--threshold", "0.3"],
     MULTI),
    ("people", ["evaluate", "{b}", TEST, "--save"],
     "error: --save stores a threshold: give it with --threshold T"),
    ("people", ["evaluate", "{b}", TEST, "--threshold", "1.5"],
     "error: --threshold must be between 0 and 1 (exclusive), not 1.5"),
])
def test_threshold_refusals_are_one_line(request, capsys, tmp_path, which, args, message):
    bundle = save_bundle(request.getfixturevalue(f"{which}_bundle"), tmp_path / which)
    code, _, err = run(capsys, *[bundle if a == "{b}" else a for a in args])
    assert code == 1 and err.strip() == message
