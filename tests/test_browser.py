"""End to end in a real browser: `streamlit run app.py` driven by Debian's Chromium through
Playwright. Upload a TSV, pick the label, train a few epochs, read the results, and visit
every page; screenshots of each page are saved in test-artifacts/ ."""
from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium", pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)",
                allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=30_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("server") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 90 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page(server, request):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 2400}, accept_downloads=True)
        tab.set_default_timeout(60_000)
        tab.goto(server)
        yield tab
        tab.screenshot(path=str(ARTIFACTS / "last.png"), full_page=True)
        browser.close()


def shot(page: Page, name: str) -> None:
    page.wait_for_timeout(800)  # let charts finish drawing
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def go(page: Page, name: str) -> None:
    page.get_by_role("link", name=name, exact=True).first.click()


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


def test_upload_pick_label_train_and_visit_every_page(page: Page, tmp_path):
    expect(page.get_by_text("Load this sample")).to_be_visible()
    shot(page, "1-data-empty")

    page.get_by_text("My own file").click()
    page.locator("input[type=file]").first.set_input_files(str(students_with_header(tmp_path)))
    expect(page.get_by_text("200 rows × 5 columns")).to_be_visible()
    choose(page, "Column to predict (the label)", "major")
    expect(page.get_by_text("label becomes a class index: finance = 0")).to_be_visible()
    shot(page, "2-data-loaded")

    go(page, "Train")
    expect(page.get_by_role("button", name="Can it overfit 32 rows?")).to_be_visible()
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("15")
    epochs.press("Enter")
    expect(page.get_by_text("435 trainable parameters")).to_be_visible()
    assert "6-(16-16)-3" in page.get_by_text("435 trainable parameters").inner_text()
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Finished after 15 epochs")).to_be_visible(timeout=180_000)
    expect(page.get_by_text("Train: ").first).to_contain_text(
        re.compile(r"Train: \d+ of 161 correct, [\d.]+% · Test: \d+ of 39 correct"))
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    expect(page.get_by_text("Checkpoints")).to_be_visible()
    shot(page, "3-train-done")
    sidebar = page.locator("[data-testid=stSidebar]")
    expect(sidebar.get_by_text("test accuracy")).to_be_visible()

    for name in ("Evaluate", "Predict", "Export"):
        go(page, name)
        expect(page.get_by_role("heading", name=name).first).to_be_visible()
        expect(page.get_by_text("Traceback")).to_have_count(0)
        shot(page, f"4-{name.lower()}")
