"""AppTest: the Train page's recipes (default at first, classic on demand, each field still
editable), the validation split behind the curves, the refit, and the Search mode."""
from test_app_data_train import app_job, load_sample, new_app, texts, wait_for_job


def train_page(sample: str = "students"):
    at = load_sample(new_app(), sample)
    at.switch_page("views/train.py").run()
    assert not at.exception
    return at


def click(at, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()


def test_the_default_recipe_is_the_page_default():
    at = train_page()
    assert at.selectbox(key="setting_recipe").value == "default"
    body = texts(at)
    assert "6-(64-64)-3 ×16" in body and "76,848 trainable parameters" in body
    assert "The default recipe's settings, unchanged." in body
    assert at.number_input(key="setting_val_fraction").value == 0.2
    assert at.checkbox(key="setting_refit").value is True


def test_classic_fills_every_field_and_the_scaling_and_edits_are_named():
    at = train_page()
    at.selectbox(key="setting_recipe").select("classic").run()
    assert not at.exception and not at.warning  # no "value set via Session State" warning
    assert at.text_input(key="setting_hidden").value == "10,10"
    assert at.selectbox(key="setting_activation").value == "tanh"
    assert at.selectbox(key="setting_optimizer").value == "sgd"
    assert at.selectbox(key="setting_init").value == "xavier"
    assert at.number_input(key="setting_batch").value == 10
    assert at.number_input(key="setting_members").value == 1
    assert at.session_state["dataset"].scaling == "divisor"
    assert "6-(10-10)-3" in texts(at)
    assert "With no validation set the curves show the test set" in texts(at)
    at.number_input(key="setting_lr").set_value(0.05).run()
    assert "Changed from the classic recipe: learning rate." in texts(at)
    at.switch_page("views/data.py").run()
    at.switch_page("views/train.py").run()  # the recipe and the edit survive the trip
    assert at.selectbox(key="setting_recipe").value == "classic"
    assert at.number_input(key="setting_lr").value == 0.05
    at.selectbox(key="setting_recipe").select("default").run()
    assert at.number_input(key="setting_lr").value == 0.001
    assert at.session_state["dataset"].scaling == "zscore"


def test_early_stopping_without_validation_is_refused():
    at = train_page()
    at.number_input(key="setting_val_fraction").set_value(0.0).run()
    assert ("Early stopping watches the validation set: set a validation fraction above 0, "
            "or patience 0.") in [e.value for e in at.error]
    assert not [b for b in at.button if b.label == "Train"]


def test_default_recipe_trains_on_validation_curves_then_refits():
    at = train_page()
    at.number_input(key="setting_epochs").set_value(6).run()
    click(at, "Train")
    job = app_job(at)
    assert job.args["refit"] is True and job.args["model_config"].ensemble == 16
    assert job.prepared.eval_name == "validation"  # the curves never see the test rows
    wait_for_job(at)
    at.run()
    assert not at.exception
    assert job.state == "finished", job.message
    assert job.result.history.refit_epochs >= 1
    assert "then refitted on the training + validation rows" in texts(at)
    assert at.session_state["model"].bundle.architecture == "6-(64-64)-3 ×16"


def test_search_mode_runs_three_trials_and_keeps_the_best():
    at = train_page()
    at.radio(key="setting_mode").set_value("search").run()
    at.number_input(key="setting_trials").set_value(3).run()
    at.number_input(key="setting_epochs").set_value(4).run()
    at.number_input(key="setting_members").set_value(2).run()
    assert "Up to 3 trials, each at most 4 epochs (fewer if it stops early)" in texts(at)
    click(at, "Run the search")
    job = app_job(at)
    assert job.task == "search" and job.total_trials == 3
    wait_for_job(at, timeout=120)
    at.run()
    assert not at.exception
    assert job.state == "finished", job.message
    table = next(d.value for d in at.dataframe if "recipe" in d.value.columns)
    assert len(table) == 3 and set(table["state"]) <= {"complete", "pruned"}
    assert "Search: 3 trials; the best, trial" in texts(at)
    found = at.session_state["model"].bundle.metrics["search"]
    assert len(found["trials"]) == 3
    assert found["best"]["validation_accuracy"] == table["validation accuracy"].max()
    kept = sum(t["kept"] for t in found["trials"])
    assert kept == sum(t["state"] == "complete" for t in found["trials"]) >= 1
    assert job.result.trials == []  # recorded, then forgotten by the job
    at.switch_page("views/evaluate.py").run()  # the search that chose the model
    assert not at.exception
    shown = next(d.value for d in at.dataframe if "kept as a run" in d.value.columns)
    assert len(shown) == 3 and shown["state"].str.endswith("· the model").sum() == 1
    at.switch_page("views/runs.py").run()  # every kept trial is a run, the best one too
    assert not at.exception
    assert len(at.dataframe[0].value) == kept


def test_remembered_numbers_outside_the_bounds_are_drawn_within_them():
    at = train_page()
    at.radio(key="setting_mode").set_value("search").run()
    at.switch_page("views/data.py").run()
    at.session_state["settings"]["search_minutes"] = 10_000  # restored under a longer limit
    at.session_state["settings"]["members"] = 0
    at.switch_page("views/train.py").run()
    assert not at.exception
    assert at.number_input(key="setting_search_minutes").value == 30  # the job's limit
    assert at.number_input(key="setting_members").value == 1
