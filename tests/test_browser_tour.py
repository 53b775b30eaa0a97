"""A first-time user's tour in a real browser (issue 14): every page on a wide table (65
columns with long names) and on a table with missing values (empty cells, 'NA' tokens, a
datetime column, three classes), at 1280×800 and at phone width (390×844).

Each table gets one browser session: it is uploaded and trained at one width, every page is
visited (Data, Train, Evaluate, Predict with the one-row form, Export), then the window is
narrowed (or widened) and the same session tours every page again, navigating the way a user
at that width would (on a phone the page list sits in the collapsed sidebar). The wide table
starts at 1280×800 and the one with missing values on the phone, so upload and training are
driven at both widths while each table is trained once.

A full-page screenshot of every page at every width is saved as
test-artifacts/tour/{table}-{viewport}-{page}.png, to be looked at."""
from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from browser_kit import CHROMIUM, FLAGS, ROOT, server, settle  # noqa: F401 (server: the app)

from playwright.sync_api import Error as PlaywrightError  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

TOUR = ROOT / "test-artifacts" / "tour"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
EPOCHS = 8
QUICK = 5_000  # ms: what a page that has finished running shows must be there already


# ----------------------------------------------------------------------------- the tables

def wide_table(path: Path, rows: int = 500, seed: int = 14) -> dict:
    """40 numeric and 24 categorical columns with long names, then a yes/no label that
    depends on a few of them: 65 columns."""
    rng = np.random.RandomState(seed)
    numeric = [f"sensor_reading_channel_{i:02d}_average_millivolts_last_30_days"
               for i in range(40)]
    categorical = [f"customer_segment_attribute_{i:02d}_as_reported_by_sales_team"
                   for i in range(24)]
    label = "will_renew_subscription_next_quarter"
    values = rng.normal(0, 1, (rows, len(numeric)))
    levels = [[f"level_{chr(97 + j)}_{i}" for j in range(3 + i % 4)]
              for i in range(len(categorical))]
    picks = [rng.randint(0, len(lv), rows) for lv in levels]
    score = values[:, 0] - values[:, 3] + 0.8 * (picks[0] == 0) + rng.normal(0, 0.5, rows)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(numeric + categorical + [label])
        for r in range(rows):
            out.writerow([f"{v:.3f}" for v in values[r]]
                         + [levels[i][picks[i][r]] for i in range(len(categorical))]
                         + ["yes" if score[r] > 0 else "no"])
    return {"rows": rows, "columns": len(numeric) + len(categorical) + 1, "label": label,
            "classes": ["no", "yes"], "categorical": categorical[0], "missing": False}


def missing_table(path: Path, rows: int = 400, seed: int = 15) -> dict:
    """Mixed kinds with about 15% of cells empty in several columns, some written 'NA', a
    datetime column and a three-class label."""
    rng = np.random.RandomState(seed)
    cities = ["Lisbon", "Porto", "Braga", "Faro", "Coimbra"]
    plans = ["basic", "plus", "premium"]
    header = ["age", "yearly_income_eur", "city", "plan", "signup_date", "visits_per_month",
              "smoker", "tier"]
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        for _ in range(rows):
            age = rng.randint(18, 80)
            income = rng.normal(30000 + 400 * age, 8000)
            visits = rng.poisson(4)
            plan = plans[rng.randint(3)]
            points = income / 10000 + visits / 2 + plans.index(plan) + rng.normal(0, 1)
            tier = "bronze" if points < 7.5 else "silver" if points < 9.5 else "gold"
            day = np.datetime64("2021-01-01") + rng.randint(0, 1000)
            row = [str(age), f"{income:.0f}", cities[rng.randint(5)], plan, str(day),
                   str(visits), "yes" if rng.rand() < 0.3 else "no", tier]
            for i, empty in ((0, ""), (1, "NA"), (2, ""), (3, "NA"), (4, ""), (6, "")):
                if rng.rand() < 0.15:
                    row[i] = empty
            out.writerow(row)
    return {"rows": rows, "columns": len(header), "label": "tier",
            "classes": ["bronze", "gold", "silver"], "categorical": "city", "missing": True}


# ----------------------------------------------------------------------------- the browser

@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Screenshots are taken here and copied to test-artifacts/tour/ at the end: other
    browser tests empty test-artifacts/ when they start, maybe while this one runs."""
    folder = tmp_path_factory.mktemp("tour")
    yield folder
    TOUR.mkdir(parents=True, exist_ok=True)
    for old in TOUR.glob("*.png"):
        old.unlink()
    for png in sorted(folder.glob("*.png")):
        shutil.copy(png, TOUR / png.name)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(server, browser):  # noqa: F811 (server is the imported fixture)
    context = browser.new_context(viewport=VIEWPORTS["desktop"], accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    tab.goto(server)
    yield tab
    context.close()


def width_of(page: Page) -> str:
    return "phone" if page.viewport_size["width"] < 700 else "desktop"


def shot(page: Page, path: Path) -> None:
    """A full-page screenshot at the current width: the app scrolls inside its main area,
    so the window is made as tall as that area's content first, then put back."""
    settle(page)
    viewport = VIEWPORTS[width_of(page)]
    page.mouse.move(1, 1)  # no hover labels in the picture
    page.wait_for_timeout(800)  # let charts finish drawing
    height = page.evaluate("() => Math.max(...Array.from(document.querySelectorAll("
                           "'[data-testid=stMain], [data-testid=stMainBlockContainer]'), "
                           "e => e.scrollHeight))")
    page.set_viewport_size({"width": viewport["width"],
                            "height": max(viewport["height"], min(height + 40, 16000))})
    page.wait_for_timeout(600)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(viewport)
    page.wait_for_timeout(300)


def go(page: Page, name: str) -> None:
    """Open a page from the navigation, as a user at this width would: on a phone the page
    list sits in the collapsed sidebar, opened with its button and closed again after."""
    sidebar = page.get_by_test_id("stSidebar")
    link = sidebar.get_by_role("link", name=name, exact=True)
    if sidebar.get_attribute("data-collapsed") == "true":
        page.get_by_test_id("stExpandSidebarButton").click()
        expect(sidebar).to_have_attribute("data-collapsed", "false")
        page.wait_for_timeout(400)  # the sidebar slides in
    link.click()
    expect(page.get_by_role("heading", name=name, exact=True).first).to_be_visible()
    settle(page)
    if width_of(page) == "phone":
        if sidebar.get_attribute("data-collapsed") == "false":
            sidebar.get_by_test_id("stSidebarCollapseButton").click()
            expect(sidebar).to_have_attribute("data-collapsed", "true")
        page.wait_for_timeout(400)


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label`, scrolled into view first: a
    selectbox's list closes again when the page scrolls as it opens (far down a long form)."""
    box = page.get_by_role("combobox", name=label)
    box.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


# ----------------------------------------------------------------------------- the pages

ODD_MISSING = ("None", "nan", "NaN", "<NA>", "NaT", "null")  # what "NA" must not look like


class Tour:
    """One table's session: what each page should show is checked softly, so one broken
    page still leaves every other page visited and photographed; the test fails at the end
    with the list."""

    def __init__(self, page: Page, path: Path, table: dict, name: str, shots: Path):
        self.page, self.path, self.table, self.name, self.shots = page, path, table, name, shots
        self.problems: list[str] = []

    @property
    def width(self) -> str:
        return width_of(self.page)

    def check(self, what: str, test) -> None:
        try:
            test()
        except (AssertionError, PlaywrightError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            self.problems.append(f"{self.name} at {self.width}, {what}: {first[:300]}")

    def page_done(self, number: int, title: str) -> None:
        page = self.page
        for what, found in (("traceback", page.get_by_text("Traceback")),
                            ("exception", page.get_by_test_id("stException")),
                            ("error box", page.get_by_text("This app has encountered an error")),
                            ("page error", page.get_by_text("Something went wrong on"))):
            self.check(f"{title}: no {what}", lambda found=found: expect(found).to_have_count(
                0, timeout=1000))
        shot(self.page, self.shots / f"{self.name}-{self.width}-{number}-{title.lower()}.png")

    def missing_shown_as_na(self, where: str, grid) -> None:
        """No missing cell of a table drawn by the app reads None, nan or <NA>. (The grid
        paints 'NA' on its canvas; its accessible copy, read here, leaves the cell empty, so
        the 'NA' itself is judged on the screenshots.)"""
        if not self.table["missing"]:
            return
        cells = grid.get_by_role("gridcell", include_hidden=True)
        self.check(f"{where}: cells drawn", lambda: expect(cells).not_to_have_count(0))
        for odd in ODD_MISSING:
            self.check(f"{where}: no cell reads {odd!r}", lambda odd=odd: expect(cells.filter(
                has_text=re.compile(rf"^{re.escape(odd)}$"))).to_have_count(0, timeout=1000))

    # -------------------------------------------------------------------------- pages
    def upload(self) -> None:
        page = self.page
        expect(page.get_by_role("button", name="Load this sample")).to_be_visible()
        page.get_by_text("My own file").click()
        page.locator("input[type=file]").first.set_input_files(str(self.path))
        expect(page.get_by_role("heading", name=self.path.name)).to_be_visible()

    def data(self) -> None:
        page, table = self.page, self.table
        settle(page)
        main = page.get_by_test_id("stMain")
        self.check("Data: the caption", lambda: expect(main.get_by_text(
            f"{table['rows']:,} rows × {table['columns']} columns · comma-separated")
        ).to_be_visible(timeout=QUICK))
        classes = ", ".join(f"{c} = {i}" for i, c in enumerate(table["classes"]))
        self.check("Data: the label's classes", lambda: expect(page.get_by_text(
            f"label becomes a class index: {classes}")).to_be_visible(timeout=QUICK))
        raw = page.get_by_test_id("stDataFrame").first
        self.check("Data: the raw rows", lambda: expect(raw).to_be_visible(timeout=QUICK))
        if table["columns"] > 12:
            note = page.get_by_text(f"{table['columns']} columns: scroll sideways").first
            self.check("Data: wide-table note",
                       lambda: expect(note).to_be_visible(timeout=QUICK))
        self.missing_shown_as_na("Data raw rows", raw)
        self.page_done(1, "Data")
        if table["columns"] > 12:
            self.check("Data: the last column reached", lambda: self.last_column(raw))

    def last_column(self, grid) -> None:
        """Scroll the raw rows sideways to the end: the label's header is there, and hovering
        it names it in full with its position."""
        page, table = self.page, self.table
        grid.scroll_into_view_if_needed()
        grid.hover()
        for _ in range(40):
            page.mouse.wheel(2000, 0)
        page.wait_for_timeout(500)
        header = grid.get_by_role("columnheader", name=table["label"], exact=True,
                                  include_hidden=True)
        expect(header).to_have_count(1)
        box = grid.bounding_box()
        # the header row is the grid's top 35 px; the last column sits at its right edge
        page.mouse.move(box["x"] + box["width"] - 40, box["y"] + 17)
        tip = page.get_by_text(f"{table['label']} (column {table['columns']} of "
                               f"{table['columns']})")
        expect(tip).to_be_visible(timeout=5000)
        page.screenshot(path=str(self.shots / f"{self.name}-{self.width}-1-data-last-column.png"))
        page.mouse.move(1, 1)

    def train(self) -> None:
        page = self.page
        epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
        epochs.fill(str(EPOCHS))
        epochs.press("Enter")
        settle(page)
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.get_by_text(f"Finished after {EPOCHS} epochs on")).to_be_visible(
            timeout=180_000)
        settle(page)

    def train_page(self) -> None:
        page = self.page
        settle(page)
        self.check("Train: finished", lambda: expect(page.get_by_text(
            f"Finished after {EPOCHS} epochs on")).to_be_visible(timeout=QUICK))
        self.check("Train: curves", lambda: expect(
            page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=QUICK))
        self.page_done(2, "Train")

    def evaluate(self) -> None:
        page = self.page
        settle(page)
        self.check("Evaluate: feature importance", lambda: expect(page.get_by_role(
            "heading", name="Feature importance")).to_be_visible(timeout=120_000))
        self.check("Evaluate: importance caption", lambda: expect(page.get_by_text(
            "How many points of accuracy the model loses")).to_be_visible(timeout=QUICK))
        self.check("Evaluate: confusion matrix", lambda: expect(page.get_by_test_id(
            "stPlotlyChart").filter(has_text="Confusion matrix,")).to_be_visible(timeout=QUICK))
        behind = page.get_by_test_id("stDataFrame").filter(has=page.get_by_role(
            "columnheader", name="predicted", exact=True, include_hidden=True))
        if behind.count():
            self.missing_shown_as_na("Evaluate rows behind a cell", behind)
        self.page_done(3, "Evaluate")

    def predict(self) -> None:
        page, table = self.page, self.table
        label = table["label"]
        verdict = page.get_by_text(re.compile(
            rf"Predicted {re.escape(label)}: \w+ \(probability [\d.]+%\)"))

        def one_row() -> None:
            expect(page.get_by_test_id("stForm")).to_be_visible()
            # a categorical field offers '(missing)' after the categories seen in training
            choose(page, table["categorical"], "(missing)")
            page.get_by_role("button", name="Predict", exact=True).click()
            expect(verdict).to_be_visible()
            assert verdict.inner_text().split(": ")[1].split(" ")[0] in table["classes"]
            expect(page.get_by_role("heading", name="Why this prediction")).to_be_visible()
            expect(page.get_by_test_id("stPlotlyChart").filter(
                has_text="Prediction:")).to_be_visible()

        self.check("Predict: the one-row form", one_row)
        self.page_done(4, "Predict")

    def export(self) -> None:
        page = self.page
        button = page.get_by_role("button", name="Download the bundle")
        broken = page.get_by_test_id("stException").or_(page.get_by_text(
            "This app has encountered an error")).or_(page.get_by_text("Something went wrong"))
        # the ONNX check runs first: wait for the buttons, or for the page to give up
        expect(button.or_(broken).first).to_be_visible(timeout=120_000)
        self.check("Export: bundle download", lambda: expect(button).to_be_visible(
            timeout=QUICK))
        self.check("Export: snippets", lambda: expect(page.get_by_role(
            "heading", name="Use the files in Python")).to_be_visible(timeout=1000))
        self.page_done(5, "Export")

    def every_page(self, first: bool) -> None:
        """Data, Train (training once, on the first visit), Evaluate, Predict, Export."""
        if first:
            self.upload()
        else:
            go(self.page, "Data")
        self.data()
        go(self.page, "Train")
        if first:
            self.train()
        self.train_page()
        go(self.page, "Evaluate")
        self.evaluate()
        go(self.page, "Predict")
        self.predict()
        go(self.page, "Export")
        self.export()


@pytest.mark.parametrize("name, make, first", [("wide", wide_table, "desktop"),
                                               ("missing", missing_table, "phone")])
def test_tour_every_page(page: Page, shots: Path, tmp_path, name, make, first):
    path = tmp_path / f"{name}_table.csv"
    tour = Tour(page, path, make(path), name, shots)
    try:
        page.set_viewport_size(VIEWPORTS[first])
        tour.every_page(first=True)
        page.set_viewport_size(VIEWPORTS["phone" if first == "desktop" else "desktop"])
        page.wait_for_timeout(500)
        tour.every_page(first=False)
    except Exception:
        page.screenshot(path=str(shots / f"failed-{name}.png"), full_page=True)
        raise
    assert not tour.problems, "\n".join(tour.problems)
