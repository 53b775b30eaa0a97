"""What the browser tests share: Debian's Chromium (its path and flags; missing, it fails
the run on CI and skips the module elsewhere), the app started on loopback for a module,
and the Playwright steps every page needs (settle, a full-page shot, pick, fill, go)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bench.load_probes import free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 2400}

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium", pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)",
                allow_module_level=True)

from playwright.sync_api import Locator, Page, expect  # noqa: E402


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


def settle(page: Page) -> None:
    """Wait until the script run the last action started has finished."""
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=120_000)


def shot(page: Page, name: str) -> None:
    """A screenshot of the whole page: the app scrolls inside its main area, so the window
    is made as tall as that area's content first."""
    settle(page)
    page.mouse.move(1, 1)  # no hover labels in the picture
    page.wait_for_timeout(800)  # let charts finish drawing
    height = page.evaluate("() => Math.max(...Array.from(document.querySelectorAll("
                           "'[data-testid=stMain], [data-testid=stSidebar] > div'), "
                           "e => e.scrollHeight))")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"],
                                                                      min(height, 8000))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(VIEWPORT)


def choose(page: Page | Locator, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def fill_form(page: Page, row: dict) -> None:
    """Fill the Predict form: text values in their selectbox, numbers in their spinbutton."""
    for name, value in row.items():
        if isinstance(value, str):
            choose(page, name, value)
        else:
            box = page.get_by_role("spinbutton", name=name, exact=True)
            box.fill(f"{value:g}")
            box.press("Tab")


def go(page: Page, name: str) -> None:
    page.get_by_role("link", name=name, exact=True).first.click()
    expect(page.get_by_role("heading", name=name, exact=True).first).to_be_visible()


def no_traceback(page: Page) -> None:
    expect(page.get_by_text("Traceback")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def center(locator: Locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, locator
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def table_with_column(page: Page, header: str) -> Locator:
    """The st.dataframe that has a column headed `header`."""
    return page.get_by_test_id("stDataFrame").filter(has=page.get_by_role(
        "columnheader", name=header, exact=True, include_hidden=True))


def cell(table: Locator, text: str) -> Locator:
    return table.get_by_role("gridcell", name=text, exact=True, include_hidden=True)
