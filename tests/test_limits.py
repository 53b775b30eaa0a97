"""Declared sizes are checked before anything is allocated: the parameter budget, bounded
bundle.json / model.pt / zip reading, shapes against the declared network, the Train page."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import members_of, zip_of
from mlcore import bundle as bundle_module
from mlcore.bundle import bundle_from_zip, load_bundle, save_bundle
from mlcore.errors import BundleError, LimitError
from mlcore.model import (MAX_HIDDEN_LAYERS, ModelConfig, build_model, count_parameters,
                          planned_parameters, planned_shapes)

ROOT = Path(__file__).resolve().parent.parent




def _with_meta(bundle, **changes) -> dict[str, bytes]:
    """The bundle's members with bundle.json's model_config changed."""
    members = members_of(bundle)
    meta = json.loads(members["bundle.json"])
    meta["model_config"].update(changes)
    return {**members, "bundle.json": json.dumps(meta).encode()}


def _weights(state: dict) -> bytes:
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


# ---- the parameter budget

@pytest.mark.parametrize("n_features, n_classes, config", [
    (6, 3, ModelConfig(hidden=(10,))),
    (6, 3, ModelConfig(hidden=())),
    (7, 4, ModelConfig(hidden=(8, 5, 3), dropout=0.2)),
    (5, 2, ModelConfig(hidden=(9,), binary_head="sigmoid")),
    (5, 2, ModelConfig(hidden=(), binary_head="sigmoid")),
    (3, 2, ModelConfig(hidden=(4, 4), activation="relu")),
])
def test_planned_parameters_and_shapes_match_the_built_network(n_features, n_classes, config):
    model = build_model(n_features, n_classes, config)
    assert planned_parameters(n_features, n_classes, config) == count_parameters(model)
    assert planned_shapes(n_features, n_classes, config) == {
        key: tuple(value.shape) for key, value in model.state_dict().items()}


def test_budget_from_the_environment_stops_build_model(monkeypatch):
    monkeypatch.setenv("STUDIO_MAX_PARAMETERS", "100")
    with pytest.raises(LimitError, match=r"hidden \[16, 16\] with 6 inputs and 3 outputs "
                                         r"makes 435 parameters, over the limit of 100 "
                                         r"\(STUDIO_MAX_PARAMETERS\)"):
        build_model(6, 3, ModelConfig())
    assert count_parameters(build_model(6, 3, ModelConfig(hidden=(4,)))) == 43
    monkeypatch.setenv("STUDIO_MAX_PARAMETERS", "lots")
    with pytest.raises(LimitError, match="STUDIO_MAX_PARAMETERS must be a whole number"):
        build_model(6, 3, ModelConfig(hidden=(4,)))


def test_default_budget_refuses_huge_and_very_deep_networks():
    with pytest.raises(LimitError, match="2,500,550,003 parameters, over the limit of "
                                         "50,000,000"):
        build_model(6, 3, ModelConfig(hidden=(50000, 50000)))
    with pytest.raises(LimitError, match=f"over the limit of {MAX_HIDDEN_LAYERS}"):
        build_model(6, 3, ModelConfig(hidden=(1,) * (MAX_HIDDEN_LAYERS + 1)))


# ---- a hostile network in bundle.json

def _run_predict(bundle_path: Path, tmp_path: Path) -> tuple[int, str, int]:
    """Exit code, stderr and peak RSS (bytes) of `python -m mlcore predict` on a bundle;
    the peak comes from wait4, i.e. this child's own ru_maxrss."""
    err = tmp_path / "stderr.txt"
    with err.open("wb") as stderr:
        child = subprocess.Popen([sys.executable, "-m", "mlcore", "predict", str(bundle_path),
                                  "--row", "M,30.5,oklahoma,543"], cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, err.read_text(), usage.ru_maxrss * 1024


def test_cli_refuses_a_huge_declared_network_without_building_it(students_bundle, tmp_path):
    hostile = tmp_path / "hostile.zip"
    hostile.write_bytes(zip_of(_with_meta(students_bundle, hidden=[50000, 50000])))
    code, stderr, peak = _run_predict(hostile, tmp_path)
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "hostile.zip: bundle.json model_config: hidden [50000, 50000]" in lines[0]
    assert "STUDIO_MAX_PARAMETERS" in lines[0]
    assert peak < 1024**3, f"peak RSS {peak / 1e6:.0f} MB"  # was 9.8 GB


# ---- zips

def _bytes_read(monkeypatch) -> list[int]:
    """Counts the bytes every zip member read hands out (what was inflated)."""
    seen: list[int] = []
    real = zipfile.ZipExtFile.read

    def read(self, n=-1):
        data = real(self, n)
        seen.append(len(data))
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    return seen


def _claim_size(data: bytes, size: int) -> bytes:
    """The zip with its first member's uncompressed size replaced by `size` in both its
    local header and its central-directory entry: a header that lies."""
    out = bytearray(data)
    end = data.rfind(b"PK\x05\x06")
    central = int.from_bytes(data[end + 16:end + 20], "little")
    assert data[:4] == b"PK\x03\x04" and data[central:central + 4] == b"PK\x01\x02"
    out[22:26] = out[central + 24:central + 28] = size.to_bytes(4, "little")
    return bytes(out)


def test_zip_bomb_is_refused_without_inflating_past_the_cap(students_bundle, monkeypatch):
    weights = members_of(students_bundle)["model.pt"]
    bomb = zip_of({"bundle.json": bytes(64 * 1024 * 1024), "model.pt": weights})
    assert len(bomb) < 200_000
    seen = _bytes_read(monkeypatch)
    with pytest.raises(LimitError, match="bomb.zip: bundle.json inflates over 200 times"):
        bundle_from_zip(bomb, "bomb.zip")
    assert sum(seen) <= bundle_module.MAX_JSON_BYTES
    for claimed in (1000, 2**31):  # the header lies small, then claims 2 GB
        seen.clear()
        with pytest.raises((LimitError, BundleError), match="bomb.zip"):
            bundle_from_zip(_claim_size(bomb, claimed), "bomb.zip")
        assert sum(seen) <= bundle_module.MAX_JSON_BYTES


def test_member_over_its_cap_is_refused_while_streaming(students_bundle, monkeypatch):
    monkeypatch.setattr(bundle_module, "MAX_JSON_BYTES", 256 * 1024)
    members = {**members_of(students_bundle), "bundle.json": os.urandom(300 * 1024).hex().encode()}
    seen = _bytes_read(monkeypatch)
    with pytest.raises(LimitError, match="b.zip: bundle.json unpacks to more than 0.3 MB"):
        bundle_from_zip(zip_of(members), "b.zip")
    assert sum(seen) <= 256 * 1024 + bundle_module.CHUNK_BYTES


def test_too_many_entries_or_a_huge_directory(students_bundle):
    members = members_of(students_bundle)
    crowded = {**members, **{f"readme{i}.txt": b"hi" for i in range(20)}}
    with pytest.raises(LimitError, match="b.zip: the zip has 23 entries, over the limit of 16"):
        bundle_from_zip(zip_of(crowded), "b.zip")
    data = bytearray(zip_of(members))
    end = data.rfind(b"PK\x05\x06")
    data[end + 12:end + 16] = (100 * 1024 * 1024).to_bytes(4, "little")
    with pytest.raises(LimitError, match="b.zip: the zip directory is 104.9 MB"):
        bundle_from_zip(bytes(data), "b.zip")


def test_model_pt_with_compressed_records_is_refused(students_bundle):
    """torch.load would inflate a deflated record inside model.pt, whatever its size."""
    members = members_of(students_bundle)
    with zipfile.ZipFile(io.BytesIO(members["model.pt"])) as inner:
        records = {info.filename: inner.read(info) for info in inner.infolist()}
    members["model.pt"] = zip_of(records)
    with pytest.raises(LimitError, match="b.zip: model.pt has compressed records"):
        bundle_from_zip(zip_of(members), "b.zip")


# ---- bundle.json

def test_deeply_nested_bundle_json_is_refused_before_parsing(students_bundle, tmp_path):
    members = members_of(students_bundle)
    with pytest.raises(LimitError, match="b.zip: bundle.json nests 100,000 levels deep, over "
                                         "the limit of 32"):
        bundle_from_zip(zip_of({**members, "bundle.json": b"[" * 100_000}), "b.zip")
    save_bundle(students_bundle, tmp_path)  # 10 MB would trip the zip's ratio bound first
    for text in (b'{"a": ' * 1_000_000, b"[" * 10_000_000):
        (tmp_path / "bundle.json").write_bytes(text)
        with pytest.raises(LimitError, match=r"bundle.json nests [\d,]+ levels deep"):
            load_bundle(tmp_path)


def test_brackets_and_escapes_inside_strings_do_not_count(students_bundle):
    members = members_of(students_bundle)
    meta = json.loads(members["bundle.json"])
    meta["created"] = '[[{\\"[[' * 40 + "\\"   # escaped quotes and a trailing backslash
    bundle = bundle_from_zip(zip_of({**members, "bundle.json": json.dumps(meta).encode()}))
    assert bundle.created == meta["created"]


def test_oversize_bundle_json_in_a_directory_is_not_read(students_bundle, tmp_path):
    save_bundle(students_bundle, tmp_path)
    os.truncate(tmp_path / "bundle.json", 190_000_000)  # sparse: costs no disk
    tracemalloc.start()
    try:
        with pytest.raises(LimitError, match="bundle.json is 190.0 MB, over the 16.8 MB"):
            load_bundle(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def test_oversize_model_pt_in_a_directory_is_refused(students_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_MAX_PARAMETERS", "1000")
    save_bundle(students_bundle, tmp_path)
    os.truncate(tmp_path / "model.pt", 5_000_000)
    with pytest.raises(LimitError, match="model.pt is 5.0 MB, over the 1.1 MB limit"):
        load_bundle(tmp_path)


# ---- model.pt against the declared network

def test_shape_mismatch_names_the_tensor(students_bundle):
    members = members_of(students_bundle)
    state = dict(students_bundle.state_dict)
    state["0.weight"] = torch.zeros(10, 7)
    members["model.pt"] = _weights(state)
    with pytest.raises(BundleError, match=r"b.zip: model.pt does not fit the network "
                                          r"bundle.json describes: tensor '0.weight' has "
                                          r"shape \[10, 7\] but the network needs \[10, 6\]"):
        bundle_from_zip(zip_of(members), "b.zip")
    del state["0.weight"]
    members["model.pt"] = _weights(state)
    with pytest.raises(BundleError, match="it has no tensor '0.weight'"):
        bundle_from_zip(zip_of(members), "b.zip")
    members["model.pt"] = _weights({**students_bundle.state_dict, "9.weight": torch.zeros(1)})
    with pytest.raises(BundleError, match="it has an unexpected tensor '9.weight'"):
        bundle_from_zip(zip_of(members), "b.zip")


# ---- the Train page

def test_train_page_refuses_an_over_budget_network_without_building_it():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.selectbox[0].select("students").run()
    at.button[0].click().run()
    at.switch_page("views/train.py").run()
    at.text_input(key="setting_hidden").set_value("20000,20000").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("This network: hidden [20000, 20000] with 6 inputs and 3 outputs, 16 "
               "members, makes 6,403,520,048 parameters, over the limit of 50,000,000" in e
               for e in errors), errors  # the default recipe: 16 members
    assert not [b for b in at.button if b.label == "Train"]
    at.text_input(key="setting_hidden").set_value("10,10").run()
    assert not at.exception and not at.error
    assert any(b.label == "Train" for b in at.button)
