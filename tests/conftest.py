"""Shared fixtures for the engine tests: the sample files and one tiny students model
trained once per session."""
from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import pytest

os.environ.setdefault("STUDIO_DEBUG", "1")  # pages' unexpected errors raise in tests
STORE_DIR = tempfile.mkdtemp(prefix="studio-test-store-")  # never the repo's studio.db
atexit.register(shutil.rmtree, STORE_DIR, True)
os.environ.setdefault("STUDIO_STORE", "sqlite:///" + os.path.join(STORE_DIR, "studio.db"))

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def zip_of(members: dict[str, bytes]) -> bytes:
    """A deflated zip holding `members` (name -> bytes), e.g. a doctored bundle."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def members_of(bundle) -> dict[str, bytes]:
    """A bundle's zip members (bundle.json, model.pt) as bytes, to doctor and re-zip."""
    from mlcore.bundle import bundle_to_zip

    with zipfile.ZipFile(io.BytesIO(bundle_to_zip(bundle))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="session")
def students_prepared():
    """The students demo split as the articles do it: the 200-row train file, the 40-row
    test file, no header (columns col0..col4, label col4)."""
    from mlcore.schema import infer_schema
    from mlcore.table import read_table
    from mlcore.workflow import prepare

    train = read_table(DATA / "students_train.tsv")
    test = read_table(DATA / "students_test.tsv", names=list(train.frame.columns))
    return prepare(train.frame, infer_schema(train.frame), test.frame, source=train.name)


@pytest.fixture(scope="session")
def students_run(students_prepared):
    """A 6-(10-10)-3 tanh network trained for 40 epochs with Adam: enough to learn a bit."""
    from mlcore.model import ModelConfig
    from mlcore.training import TrainConfig
    from mlcore.workflow import fit

    return fit(students_prepared, ModelConfig(hidden=(10, 10)),
               TrainConfig(optimizer="adam", lr=0.01, batch_size=10, epochs=40, device="cpu"))


@pytest.fixture(scope="session")
def students_bundle(students_run):
    return students_run.bundle


@pytest.fixture(scope="session")
def people_run():
    """The people sample (binary: sex from age, state, income, politics) with a sigmoid
    head, 30 epochs, test file as the per-epoch eval set."""
    from mlcore.model import ModelConfig
    from mlcore.samples import SAMPLES
    from mlcore.schema import infer_schema
    from mlcore.table import read_table
    from mlcore.training import TrainConfig
    from mlcore.workflow import fit, prepare

    sample = SAMPLES["people"]
    train = read_table(sample.train_path(), names=list(sample.columns)).frame
    test = read_table(sample.test_path(), names=list(sample.columns)).frame
    prepared = prepare(train, infer_schema(train, sample.label), test)
    return fit(prepared, ModelConfig(hidden=(8,), binary_head="sigmoid"),
               TrainConfig(epochs=30, device="cpu"))


@pytest.fixture(scope="session")
def people_bundle(people_run):
    return people_run.bundle
