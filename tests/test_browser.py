"""End to end in a real browser: `streamlit run app.py` driven by Debian's Chromium through
Playwright. Upload a TSV, pick the label, train a few epochs, read the results, then use
Evaluate (confusion matrix, a clicked cell's rows), Predict (the one-row form) and Export
(download the bundle .zip and check it with mlcore); and a bad upload keeps the old dataset.
Full-page screenshots of each step are saved in test-artifacts/ (what the browser tests
share: tests/browser_kit.py)."""
from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from browser_kit import (ARTIFACTS, CHROMIUM, FLAGS, ROOT, VIEWPORT, cell, center, choose,
                         fill_form, go, no_traceback, server, settle,  # noqa: F401 (server:
                         shot, table_with_column)                      # the app's fixture)
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def browser():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(server, browser, request):
    """A fresh browser session (its own Streamlit session state) on the app's front page."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    tab.goto(server)
    yield tab
    tab.screenshot(path=str(ARTIFACTS / f"last-{request.node.name[5:40]}.png"), full_page=True)
    context.close()


def students_with_header(tmp_path: Path) -> Path:
    """The students sample with a header line and the label moved first, so the user must
    pick it (the default label is the last column)."""
    sample = (ROOT / "data" / "students_train.tsv").read_text().splitlines()
    out = io.StringIO()
    out.write("major\tsex\tunits\tstate\tscore\n")
    for line in sample:
        sex, units, state, score, major = line.split("\t")
        out.write(f"{major}\t{sex}\t{units}\t{state}\t{score}\n")
    path = tmp_path / "my_students.tsv"
    path.write_text(out.getvalue())
    return path


def test_upload_train_evaluate_predict_export(page: Page, tmp_path):
    # ------------------------------------------------------------------ Data
    expect(page.get_by_role("button", name="Load this sample")).to_be_visible()
    shot(page, "1-data-empty")

    page.get_by_text("My own file").click()
    page.locator("input[type=file]").first.set_input_files(str(students_with_header(tmp_path)))
    expect(page.get_by_text("200 rows × 5 columns · tab-separated")).to_be_visible()
    choose(page, "Column to predict (the label)", "major")
    expect(page.get_by_text("label becomes a class index: finance = 0")).to_be_visible()
    shot(page, "2-data-loaded")

    # ------------------------------------------------------------------ Train
    go(page, "Train")
    expect(page.get_by_role("button", name="Can it overfit 32 rows?")).to_be_visible()
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("15")
    epochs.press("Enter")
    expect(page.get_by_text("76,848 trainable parameters")).to_be_visible()  # the default
    assert "6-(64-64)-3 ×16" in page.get_by_text("76,848 trainable parameters").inner_text()
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Finished after 15 epochs on")).to_be_visible(timeout=180_000)
    expect(page.get_by_text("Train: ").first).to_contain_text(
        re.compile(r"Train: \d+ of 161 correct, [\d.]+% · Test: \d+ of 39 correct"))
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    expect(page.get_by_text("Checkpoints")).to_be_visible()
    shot(page, "3-train-done")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("test accuracy")).to_be_visible()

    # ------------------------------------------------------------------ Evaluate
    go(page, "Evaluate")
    no_traceback(page)
    expect(page.get_by_text(re.compile(r"^\d+ of 39 correct · log-loss"))).to_be_visible()
    # the per-class table: a row per class and the two averages
    expect(page.get_by_role("heading", name="Per class (test rows)")).to_be_visible()
    # (a dataframe draws on a canvas; its cells are the canvas's accessible fallback table)
    per_class = table_with_column(page, "precision")
    for name in ("finance", "geology", "history", "macro average", "weighted average"):
        expect(cell(per_class, name)).to_have_count(1)
    # the confusion matrix: a plotly heatmap with both axes named by the classes
    heatmap = page.get_by_test_id("stPlotlyChart").filter(
        has_text="Confusion matrix, test rows")
    expect(heatmap).to_be_visible()
    expect(heatmap.get_by_text("Predicted class")).to_be_visible()
    expect(heatmap.get_by_text("Actual class")).to_be_visible()
    # click the finance/finance cell: x of the 'finance' column tick, y of the 'finance' row
    ticks = heatmap.get_by_text("finance", exact=True)
    expect(ticks).to_have_count(2)
    (x1, y1), (x2, y2) = center(ticks.nth(0)), center(ticks.nth(1))
    column_x = x1 if y1 > y2 else x2    # the column tick sits under the plot
    row_y = y1 if x1 < x2 else y2       # the row tick sits left of it
    page.mouse.move(column_x, row_y)
    page.wait_for_timeout(300)
    page.mouse.click(column_x, row_y)
    rows_note = page.get_by_text(re.compile(r"test rows? of class finance correctly predicted"))
    expect(rows_note).to_be_visible()
    diagonal = int(rows_note.inner_text().split()[0])
    assert diagonal > 0
    expect(page.get_by_text("Rows of class finance predicted as finance")).to_be_visible()
    behind = table_with_column(page, "P(finance)")
    expect(behind.get_by_role("grid", include_hidden=True)).to_have_attribute(
        "aria-rowcount", str(diagonal + 1))  # the header and one row per listed row
    expect(cell(behind, "finance")).not_to_have_count(0)
    expect(cell(behind, "geology")).to_have_count(0)  # all of class finance, predicted finance
    expect(page.get_by_role("heading", name="Decision regions")).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart").filter(has_text="units")).not_to_have_count(0)
    shot(page, "4-evaluate")
    no_traceback(page)

    # ------------------------------------------------------------------ Predict
    go(page, "Predict")
    no_traceback(page)
    row = {"sex": "F", "units": 30.0, "state": "nebraska", "score": 600.0}
    fill_form(page, row)
    expect(page.get_by_text("training range").first).to_be_visible()
    page.get_by_role("button", name="Predict", exact=True).click()
    verdict = page.get_by_text(re.compile(r"Predicted major: \w+ \(probability [\d.]+%\)"))
    expect(verdict).to_be_visible()
    shown_label, shown_p = re.search(r"Predicted major: (\w+) \(probability ([\d.]+)%\)",
                                     verdict.inner_text()).groups()
    assert shown_label in ("finance", "geology", "history")
    chart = page.get_by_test_id("stPlotlyChart").filter(
        has_text=f"Prediction: {shown_label} ({shown_p}%)")
    expect(chart).to_be_visible()
    for name in ("finance", "geology", "history"):
        expect(chart.get_by_text(name, exact=True)).to_be_visible()
    shot(page, "5-predict")

    # ------------------------------------------------------------------ Export
    go(page, "Export")
    no_traceback(page)
    button = page.get_by_role("button", name="Download the bundle")
    expect(button).to_be_visible(timeout=120_000)  # the ONNX check runs first
    # ONNX is offered only after the onnxruntime parity check, whose version is shown
    expect(page.get_by_text(re.compile(r"onnxruntime \d+\.\d+")).first).to_be_visible()
    shot(page, "6-export")
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.suggested_filename == "major-classifier.zip"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    from mlcore.bundle import bundle_from_zip
    from mlcore.predict import Predictor

    bundle = bundle_from_zip(saved.read_bytes(), saved.name)
    assert bundle.architecture == "6-(64-64)-3 ×16"
    assert list(bundle.class_names) == ["finance", "geology", "history"]
    result = Predictor(bundle).predict([row])
    assert result.labels[0] == shown_label, (result.labels, shown_label)
    p = float(result.probabilities[0][result.class_names.index(shown_label)])
    assert abs(100 * p - float(shown_p)) <= 0.051, (p, shown_p)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def test_bad_upload_shows_the_line_and_keeps_the_dataset(page: Page, tmp_path):
    page.get_by_role("button", name="Load this sample").click()
    expect(page.get_by_role("heading", name="students_train.tsv")).to_be_visible()
    # The sidebar is drawn before the page runs, so it shows a dataset loaded by a click only
    # from the next run on (reported); visiting Train is that next run.
    go(page, "Train")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("students_train.tsv")).to_be_visible()
    go(page, "Data")

    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("a\tb\tc\n1\t2\tx\n3\t4\ty\n5\t6\t7\tz\n8\t9\tx\n")
    page.get_by_text("My own file").click()
    page.locator("input[type=file]").first.set_input_files(str(ragged))
    error = page.get_by_test_id("stAlert").filter(has_text="Could not read the file")
    expect(error).to_be_visible()
    expect(error).to_contain_text("ragged.tsv, line 4")
    expect(error).to_contain_text("your previous dataset is kept")
    expect(page.get_by_role("heading", name="students_train.tsv")).to_be_visible()
    no_traceback(page)
    shot(page, "7-data-bad-upload")
    go(page, "Train")  # a fresh run of the sidebar: still the old dataset
    expect(sidebar.get_by_text("students_train.tsv")).to_be_visible()
    expect(sidebar.get_by_text("ragged.tsv")).to_have_count(0)


def test_saved_threshold_reaches_predict_and_the_downloaded_onnx(page: Page, tmp_path):
    """Evaluate → "Save this threshold" → Predict decides with it → the downloaded raw ONNX
    file gives the same label for the same row."""
    choose(page, "Sample", "People: predict sex")
    page.get_by_role("button", name="Load this sample").click()
    expect(page.get_by_role("heading", name="people_train.tsv")).to_be_visible()
    go(page, "Train")
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("20")
    epochs.press("Enter")
    settle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Finished after 20 epochs on")).to_be_visible(timeout=180_000)

    go(page, "Evaluate")
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("End")  # 0.99: nearly every row becomes F
    save = page.get_by_role("button", name=re.compile(r"Save this threshold \(0\.99\)"))
    expect(save).to_be_visible()
    save.click()
    expect(page.get_by_text("Saved: the model now predicts M when P(M) ≥ 0.99")).to_be_visible()
    shot(page, "8-evaluate-threshold-saved")
    no_traceback(page)

    go(page, "Predict")
    expect(page.get_by_text("Predicts M when P(M) ≥ 0.99")).to_be_visible()
    row = {"age": 30.0, "state": "michigan", "income": 40000.0, "politics": "liberal"}
    fill_form(page, row)
    page.get_by_role("button", name="Predict", exact=True).click()
    verdict = page.get_by_text(re.compile(r"Predicted sex: \w \(probability [\d.]+%\)"))
    expect(verdict).to_be_visible()
    label, shown = re.search(r"Predicted sex: (\w) \(probability ([\d.]+)%\)",
                             verdict.inner_text()).groups()
    p_male = float(shown) / 100 if label == "M" else 1 - float(shown) / 100
    assert label == ("M" if p_male >= 0.99 else "F"), (label, shown)
    shot(page, "9-predict-threshold")

    go(page, "Export")
    button = page.get_by_role("button", name="Download model.onnx")
    expect(button).to_be_visible(timeout=120_000)
    expect(page.get_by_text("M when probabilities[:, 1] >= 0.99, else F")).to_be_visible()
    with page.expect_download() as info:
        button.click()
    path = tmp_path / "model.onnx"
    info.value.save_as(path)

    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"age": np.array([[row["age"]]], np.float32),
             "state": np.array([[row["state"]]], object),
             "income": np.array([[row["income"]]], np.float32),
             "politics": np.array([[row["politics"]]], object)}
    labels, probabilities, _ = session.run(None, feeds)
    assert str(labels[0]) == label
    assert abs(100 * float(probabilities[0][["F", "M"].index(label)]) - float(shown)) <= 0.051


def test_real_shaped_uploads_on_the_data_page(page: Page, tmp_path):
    from bench.tables import GENERATORS

    messy = tmp_path / "orders.csv"
    GENERATORS["messy"](messy, 5000)
    page.get_by_text("My own file").click()
    page.locator("input[type=file]").first.set_input_files(str(messy))
    expect(page.get_by_text("5,000 rows × 9 columns · comma-separated")).to_be_visible()
    expect(page.get_by_text("200 of 5,000 rows, sampled at random")).to_be_visible()
    expect(page.get_by_text("numbers per row go into the network")).to_be_visible()
    no_traceback(page)
    shot(page, "8-data-messy")

    price = tmp_path / "diamonds.csv"
    GENERATORS["price"](price, 5000)
    page.locator("input[type=file]").first.set_input_files(str(price))
    expect(page.get_by_text("5,000 rows × 11 columns · comma-separated")).to_be_visible()
    choose(page, "Column to predict (the label)", "price")
    expect(page.get_by_text("it looks like a number to predict, not a class")).to_be_visible()
    shot(page, "9-data-price-refused")
    box = page.get_by_role("spinbutton", name="Bin into classes", exact=True)
    box.fill("4")
    box.press("Enter")
    expect(page.get_by_text("label becomes a class index")).to_be_visible()
    no_traceback(page)
    shot(page, "10-data-price-binned")


def predicted_label(page: Page) -> str:
    verdict = page.get_by_text(re.compile(r"Predicted sex: \w \(probability [\d.]+%\)"))
    expect(verdict).to_be_visible()
    return re.search(r"Predicted sex: (\w) ", verdict.inner_text()).group(1)


def train_people(page: Page, epochs: int) -> None:
    go(page, "Train")
    box = page.get_by_role("spinbutton", name="Epochs", exact=True)
    box.fill(str(epochs))
    box.press("Enter")
    settle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text(f"Finished after {epochs} epochs on")).to_be_visible(
        timeout=180_000)


def test_reload_keeps_the_work_and_a_share_link_predicts_the_same(page: Page, browser):
    """Issue 12: train, reload (same table, same model); Share; the link in another browser
    predicts the same label for the same row; revoked, it says so in one sentence; the Runs
    page compares three runs."""
    choose(page, "Sample", "People: predict sex")
    page.get_by_role("button", name="Load this sample").click()
    expect(page.get_by_role("heading", name="people_train.tsv")).to_be_visible()
    train_people(page, 12)
    assert "ws=" in page.url
    page.reload()  # on the Train page, with ?ws= in the address
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("people_train.tsv")).to_be_visible()
    expect(sidebar.get_by_text("12 epochs, trained here")).to_be_visible()
    go(page, "Data")
    expect(page.get_by_role("heading", name="people_train.tsv")).to_be_visible()
    row = {"age": 41.0, "state": "nebraska", "income": 52000.0, "politics": "moderate"}
    go(page, "Predict")
    fill_form(page, row)
    page.get_by_role("button", name="Predict", exact=True).click()
    mine = predicted_label(page)

    go(page, "Export")
    page.get_by_role("button", name="Share", exact=True).click()
    code = page.get_by_test_id("stCode").filter(has_text="?model=")
    expect(code).to_be_visible()
    link = code.inner_text().strip()
    shot(page, "11-export-shared")
    other = browser.new_context(viewport=VIEWPORT)
    theirs = other.new_page()
    theirs.goto(link)
    expect(theirs.get_by_role("heading", name="sex: a shared classifier")).to_be_visible()
    expect(theirs.get_by_text("people_train.tsv").first).to_be_visible()
    no_traceback(theirs)
    shot(theirs, "12-shared-model")
    theirs.get_by_role("tab", name="Predict").click()
    fill_form(theirs, row)
    theirs.get_by_role("button", name="Predict", exact=True).click()
    assert predicted_label(theirs) == mine
    page.get_by_role("button", name="Revoke").click()
    settle(page)
    theirs.goto(link)
    expect(theirs.get_by_text("This share link is not valid: it was revoked, has expired or "
                              "never existed.")).to_be_visible()
    expect(theirs.get_by_role("button", name="Predict")).to_have_count(0)
    other.close()

    for epochs in (6, 20):
        train_people(page, epochs)
    go(page, "Runs")
    picker = page.get_by_role("combobox", name="Runs to compare (two or more)")
    picker.click()
    page.get_by_role("option").first.click()
    page.keyboard.press("Escape")
    expect(page.get_by_text("Accuracy per epoch, run by run").first).to_be_visible()
    no_traceback(page)
    shot(page, "13-runs-compare-three")
