"""AppTest of issue 12's app half: a workspace per browser (?ws=), reloads that bring back
the table, the choices and the model, the Runs page, and share links (?model=)."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from mlcore.sharing import SHARE_INVALID
from tests.test_app_data_train import APP, load_sample, new_app, texts, wait_for_job


def trained(at: AppTest, epochs: int = 4) -> AppTest:
    at.switch_page("views/train.py").run()
    at.number_input(key="setting_epochs").set_value(epochs).run()
    next(b for b in at.button if b.label == "Train").click().run()
    wait_for_job(at)
    return at.run()


def reloaded(ws: str | None, page: str | None = None, **query: str) -> AppTest:
    """A new browser session on the same server, opened at ?ws=... (a reload)."""
    at = AppTest.from_file(APP, default_timeout=60)
    if ws:
        at.query_params["ws"] = ws
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception
    return at


def test_a_reload_brings_back_the_table_the_choices_and_the_model():
    at = trained(load_sample(new_app(), "people"), epochs=3)
    ws = at.session_state["workspace"]
    assert at.query_params["ws"] in (ws, [ws])
    first = at.session_state["model"]
    assert first.run_id is not None
    again = reloaded(ws)
    data = again.session_state["dataset"]
    assert data.name == "people_train.tsv" and data.schema.label == "sex"
    model = again.session_state["model"]
    assert model.run_id == first.run_id
    assert model.bundle.state_dict.keys() == first.bundle.state_dict.keys()
    assert all((model.bundle.state_dict[k] == first.bundle.state_dict[k]).all()
               for k in first.bundle.state_dict)
    stranger = reloaded(None)
    assert "dataset" not in stranger.session_state and "model" not in stranger.session_state
    assert reloaded("not-a-token").session_state["workspace"] != ws


def test_runs_page_lists_and_compares_and_reopens():
    at = load_sample(new_app(), "students")
    for epochs in (2, 3, 4):
        at = trained(at, epochs)
    at.switch_page("views/runs.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 3 and table["epochs"].tolist() == [4, 3, 2]
    at.multiselect(key="compare_runs").set_value(table["run"].tolist()).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 2
    oldest = int(table["run"].iloc[-1])
    at.selectbox(key="run_actions").set_value(oldest).run()
    next(b for b in at.button if b.label == "Open as the current model").click().run()
    assert at.session_state["model"].run_id == oldest
    assert any(f"Run #{oldest} is the current model" in s.value for s in at.success)


def test_share_link_opens_a_read_only_page_and_revoke_closes_it():
    at = trained(load_sample(new_app(), "people"), epochs=3)
    at.switch_page("views/export.py").run()
    next(b for b in at.button if b.label == "Share").click().run()
    link = next(c.value for c in at.code if "?model=" in c.value)
    token = link.split("?model=")[1]
    shared = reloaded(None, model=token)
    body = texts(shared)
    assert "a shared classifier" in body and "people_train.tsv" in body
    assert "dataset" not in shared.session_state  # never the training table
    assert any(b.label == "Predict" for b in shared.button)
    next(b for b in at.button if b.label == "Revoke").click().run()
    gone = reloaded(None, model=token)
    assert [e.value for e in gone.error] == [SHARE_INVALID]
    assert not any(b.label == "Predict" for b in gone.button)


def test_a_full_quota_says_the_model_is_not_kept_and_keeps_it_usable(monkeypatch):
    monkeypatch.setenv("STUDIO_QUOTA_RUNS", "1")  # read when the workspace is created
    at = trained(load_sample(new_app(), "people"), epochs=2)
    assert at.session_state["model"].run_id is not None and not at.warning
    next(b for b in at.button if b.label == "Train").click().run()
    wait_for_job(at)
    at.run()
    model = at.session_state["model"]
    assert model.run_id is None and model.bundle is not None  # the second model is in use
    said = [w.value for w in at.warning]
    assert len(said) == 1 and "is not kept in your runs" in said[0], said


def test_a_resumed_run_names_the_run_it_continues():
    at = load_sample(new_app(), "students")
    at.switch_page("views/train.py").run()
    at.number_input(key="setting_every").set_value(1).run()
    at = trained(at, 4)
    first = at.session_state["model"].run_id
    at.number_input(key="setting_epochs").set_value(6).run()
    at.selectbox[-1].set_value(3).run()  # Resume from: epoch 3
    next(b for b in at.button if b.label == "Resume from this checkpoint").click().run()
    wait_for_job(at)
    at.run()
    assert not at.exception
    second = at.session_state["model"].run_id
    assert second != first
    at.switch_page("views/runs.py").run()
    table = at.dataframe[0].value
    assert table.set_index("run")["continues"].to_dict() == {second: f"#{first}", first: ""}
