"""AppTest: the app shell, the Data page (samples, upload, bad files) and the Train page."""
from __future__ import annotations

import time

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mlcore.samples import SAMPLES

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ["views/data.py", "views/train.py", "views/evaluate.py", "views/predict.py",
         "views/export.py"]


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def load_sample(at: AppTest, name: str) -> AppTest:
    at.selectbox[0].select(name).run()
    at.button[0].click().run()
    assert not at.exception
    return at


def texts(at: AppTest) -> str:
    """All the words on the page and in the sidebar."""
    parts = []
    for area in (at.main, at.sidebar):
        for kind in ("markdown", "caption", "info", "error", "success", "warning", "title",
                     "subheader"):
            parts += [str(e.value) for e in getattr(area, kind)]
    return "\n".join(parts)


def test_every_page_renders_without_data():
    at = new_app()
    assert "None yet: pick a sample" in texts(at)  # the sidebar
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page


@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_sample_loads_and_every_page_renders(name):
    at = load_sample(new_app(), name)
    sample = SAMPLES[name]
    assert at.session_state["dataset"].schema.label == sample.label
    label_box = next(b for b in at.selectbox if b.label.startswith("Column to predict"))
    assert label_box.value == sample.label
    assert "rows ×" in texts(at) and "How each column becomes numbers" in texts(at)
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page


def upload_page(page: str) -> None:
    """Runs views/data.py with st.file_uploader answering from session_state['uploads']
    (AppTest has no uploader element); the page's own upload path runs unchanged."""
    import runpy

    import streamlit as st

    class Uploaded:
        def __init__(self, name: str, data: bytes) -> None:
            self.name, self.data, self.file_id = name, data, f"{name}-{len(data)}-{hash(data)}"

        def getvalue(self) -> bytes:
            return self.data

    from streamlit.delta_generator import DeltaGenerator

    files = st.session_state.get("uploads", {})
    real_uploader, real_link = DeltaGenerator.file_uploader, st.page_link
    DeltaGenerator.file_uploader = lambda self, label, **kw: (
        Uploaded(*files[kw["key"]]) if kw.get("key") in files else None)
    st.page_link = lambda *a, **kw: None  # no st.navigation outside app.py
    try:
        runpy.run_path(page)
    finally:
        DeltaGenerator.file_uploader, st.page_link = real_uploader, real_link


def test_upload_then_bad_file_keeps_previous_dataset():
    at = AppTest.from_function(upload_page, args=(str(ROOT / "views" / "data.py"),),
                               default_timeout=60)
    at.session_state["data_source"] = "My own file"
    good = b"sex\tunits\tmajor\nM\t30\tgeology\nF\t20\thistory\nM\t25\tgeology\n" \
           b"F\t28\thistory\nM\t31\tgeology\nF\t22\thistory\n"
    at.session_state["uploads"] = {"upload_train": ("mine.tsv", good)}
    at.run()
    assert not at.exception
    assert at.session_state["dataset"].name == "mine.tsv"
    assert at.session_state["dataset"].schema.label == "major"
    assert any("6 rows" in c.value for c in at.caption)
    bad = b"a\tb\tc\n1\t2\tx\n3\t4\n"
    at.session_state["uploads"] = {"upload_train": ("broken.tsv", bad)}
    at.run()
    assert not at.exception
    assert "broken.tsv, line 3: expected 3 fields" in at.error[0].value
    assert at.session_state["dataset"].name == "mine.tsv"


def app_job(at: AppTest, slot: str = "job"):
    """The session's job in the app's (server-wide) job manager."""
    from ui import state
    return state.manager().get(at.session_state[slot])


def wait_for_job(at: AppTest, timeout: float = 60, slot: str = "job") -> None:
    job = app_job(at, slot)
    deadline = time.monotonic() + timeout
    while job.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not job.active, job.state


def test_short_training_then_every_page_renders():
    at = load_sample(new_app(), "students")
    at.switch_page("views/train.py").run()
    at.number_input(key="setting_epochs").set_value(5).run()
    assert "6-(64-64)-3 ×16" in texts(at)  # the default recipe
    train = next(b for b in at.button if b.label == "Train")
    train.click().run()
    wait_for_job(at)
    at.run()
    assert not at.exception
    body = texts(at)
    assert "Finished after 5 epochs" in body and "of 200 correct" in body
    assert at.session_state["model"].bundle.architecture == "6-(64-64)-3 ×16"
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page


def test_overfit_button_gives_a_verdict():
    at = load_sample(new_app(), "students")
    at.switch_page("views/train.py").run()
    next(b for b in at.button if b.label.startswith("Can it overfit")).click().run()
    assert app_job(at, "check").task == "overfit"  # a job: the server never trains
    wait_for_job(at, slot="check")
    at.run()
    assert not at.exception
    assert any("Yes: it fits" in s.value for s in at.success), texts(at)


def test_continue_training_an_imported_model():
    from mlcore.model import ModelConfig
    from mlcore.schema import infer_schema
    from mlcore.table import read_table
    from mlcore.training import TrainConfig
    from mlcore.workflow import fit, prepare
    from ui.state import ModelState

    at = load_sample(new_app(), "students")
    sample = SAMPLES["students"]
    frame = read_table(sample.train_path(), names=list(sample.columns)).frame
    saved = fit(prepare(frame, infer_schema(frame, "major")), ModelConfig(hidden=(7,)),
                TrainConfig(epochs=2, device="cpu")).bundle
    at.session_state["model"] = ModelState(saved, "imported from saved.zip")
    at.switch_page("views/train.py").run()
    at.toggle(key="continue_imported").set_value(True).run()
    assert "come from the imported model: 6-(7)-3" in texts(at)
    at.number_input(key="setting_epochs").set_value(3).run()
    next(b for b in at.button if b.label == "Train").click().run()
    wait_for_job(at)
    at.run()
    assert not at.exception
    job = app_job(at)
    assert job.state == "finished", job.message
    assert job.result.bundle.architecture == "6-(7)-3"
    assert job.result.bundle.encoder.to_dict() == saved.encoder.to_dict()
    assert job.args["initial_state"] is saved.state_dict
