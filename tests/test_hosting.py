"""The hosting recipe, tested: `streamlit run app.py` on loopback behind nginx with
deploy/nginx.conf, both on free loopback ports, nginx as an ordinary user (as root, the
test runs it as `nobody`) with its pid, logs and temp folders in one prefix folder.

Checked: the security headers on the page, a static file, the health check and an error;
nginx's 413 for a body over Streamlit's own upload limit (and none at the limit); the
websocket handshake through the proxy under a public host name and port, a foreign Origin
still refused; the app in headless Chromium through the proxy (an upload, its table and
Plotly chart, every page) with no Content-Security-Policy violation at all; the request-rate limits. A screenshot: test-artifacts/hosting-proxy.png.

Skipped when nginx is missing, unless CI is set (then it fails: CI installs nginx)."""
from __future__ import annotations

import base64
import hashlib
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)

if NGINX is None:
    if os.environ.get("CI"):
        pytest.fail("nginx is missing: CI must install Debian's nginx (scripts/test.sh)",
                    pytrace=False)
    pytest.skip("nginx is not installed (apt-get install -y nginx; scripts/test.sh does)",
                allow_module_level=True)

HEADERS = {  # name -> a pattern its one value must match
    "X-Frame-Options": r"DENY|SAMEORIGIN",
    "X-Content-Type-Options": r"nosniff",
    "Referrer-Policy": r"strict-origin-when-cross-origin",
    "Content-Security-Policy": r"default-src 'self'; .*frame-ancestors 'none'",
}
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(template: str, **values: str) -> str:
    """Fill the template's ${NAME} placeholders, nothing else (nginx's own $variables stay)."""
    text = re.sub(r"\$\{([A-Z_]+)\}", lambda m: values[m.group(1)], template)
    assert "${" not in text
    return text


def upload_limit_bytes() -> int:
    """Streamlit's server.maxUploadSize from the app's config file, in bytes as Streamlit
    counts it (MiB)."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    return config["server"]["maxUploadSize"] * MIB


def wait_for(url: str, what: str, proc: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"{what} did not answer {url} within {seconds:.0f} s:\n"
                f"{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def streamlit_server(tmp_path_factory):
    port = free_port()
    folder = tmp_path_factory.mktemp("streamlit")
    log = folder / "streamlit.log"
    # saved models and the run store in this test's folder, not the checkout's
    env = dict(os.environ, STUDIO_SAVE_DIR=str(folder / "models"),
               STUDIO_STORE=f"sqlite:///{folder / 'studio.db'}")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", "streamlit", proc, log, 60)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


class Proxy:
    def __init__(self, port: int, prefix: Path):
        self.port, self.prefix = port, prefix
        self.url = f"http://127.0.0.1:{port}"

    def log(self, name: str) -> str:
        path = self.prefix / name
        return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module")
def proxy(streamlit_server):
    """nginx from deploy/nginx.conf in a fresh prefix folder, run as a non-root user."""
    port = free_port()
    prefix = Path(tempfile.mkdtemp(prefix="studio-nginx-"))
    conf = prefix / "nginx.conf"
    conf.write_text(render(TEMPLATE.read_text(), LISTEN=f"127.0.0.1:{port}",
                           UPSTREAM=streamlit_server))
    as_user = {}
    if os.geteuid() == 0:  # show that the recipe needs no root: run it as nobody
        nobody = pwd.getpwnam("nobody")
        os.chown(prefix, nobody.pw_uid, nobody.pw_gid)
        as_user = dict(user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
    command = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", "error.log"]
    check = subprocess.run(command + ["-t"], capture_output=True, text=True, **as_user)
    assert check.returncode == 0, check.stderr
    with (prefix / "stdout.log").open("w") as out:
        proc = subprocess.Popen(command + ["-g", "daemon off;"], stdout=out,
                                stderr=subprocess.STDOUT, **as_user)
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", "nginx", proc,
                 prefix / "error.log", 20)
        yield Proxy(port, prefix)
    finally:
        stop(proc)
        shutil.rmtree(prefix, ignore_errors=True)


def get(proxy: Proxy, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def raw_request(proxy: Proxy, head: str, body: bytes = b"") -> tuple[int, str]:
    """Send a request's head (and the start of a body) on a bare socket; the status and
    the response's head."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
    text = received.decode("latin-1")
    match = re.match(r"HTTP/1\.1 (\d{3})", text)
    assert match, text
    return int(match.group(1)), text


def test_config_agrees_with_streamlit_and_app(proxy):
    conf = (proxy.prefix / "nginx.conf").read_text()
    # the body limit is Streamlit's own upload limit, in the same unit (nginx's m is MiB)
    (size,) = re.findall(r"^\s*client_max_body_size\s+(\d+)m;", conf, re.M)
    assert int(size) * MIB == upload_limit_bytes()
    # (that the app's own limit, ui/state.py's UPLOAD_LIMITS, says the same: in the browser)
    # loopback only
    assert re.findall(r"^\s*listen\s+(\S+)", conf, re.M) == [f"127.0.0.1:{proxy.port}"]
    # every inline script of the page Streamlit serves is allowed by its hash, and only those
    _, headers, page = get(proxy, "/")
    inline = re.findall(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, re.S)
    assert inline, "Streamlit's index.html has no inline script now: drop its hash"
    wanted = {"sha256-" + base64.b64encode(hashlib.sha256(s).digest()).decode()
              for s in inline}
    allowed = set(re.findall(r"'(sha256-[^']+)'", headers["Content-Security-Policy"]))
    assert allowed == wanted, (f"update the script hash in {TEMPLATE}: {sorted(wanted)}")


def test_security_headers_on_every_kind_of_response(proxy):
    status, _, page = get(proxy, "/")
    assert status == 200
    script = re.search(rb'<script type="module" crossorigin src="\./([^"]+)"', page).group(1)
    for path, expected in [("/", 200), ("/" + script.decode(), 200),
                           ("/_stcore/health", 200), ("/media/no-such-file.png", 404)]:
        status, headers, _ = get(proxy, path)
        assert status == expected, path
        for name, pattern in HEADERS.items():
            values = headers.get_all(name) or []
            assert len(values) == 1 and re.fullmatch(pattern, values[0]), (path, name, values)
        assert headers["Server"] == "nginx", headers["Server"]  # no version number
    _, headers, _ = get(proxy, "/" + script.decode())
    assert headers["Content-Type"].startswith(("application/javascript", "text/javascript"))
    assert "immutable" in headers["Cache-Control"]  # Streamlit's caching passes through


def test_body_over_the_upload_limit_gets_413_from_nginx(proxy):
    limit = upload_limit_bytes()
    head = ("PUT /_stcore/upload_file/no-session/no-file HTTP/1.1\n"
            f"Host: 127.0.0.1:{proxy.port}\n"
            "Content-Type: multipart/form-data; boundary=x\n"
            "Content-Length: {}\nConnection: close\n")
    status, text = raw_request(proxy, head.format(limit + 1))
    assert status == 413, text
    assert "nginx" in text and "X-Frame-Options: DENY" in text  # nginx's page, our headers
    # at the limit nginx lets it through: Streamlit answers (here 403, no XSRF token)
    status, text = raw_request(proxy, head.format(limit), b"--x\r\n")
    assert status == 403, text


def handshake(proxy: Proxy, host: str, origin: str) -> tuple[int, str]:
    key = base64.b64encode(os.urandom(16)).decode()
    return raw_request(proxy, "GET /_stcore/stream HTTP/1.1\n"
                              f"Host: {host}\nOrigin: {origin}\n"
                              "Upgrade: websocket\nConnection: Upgrade\n"
                              f"Sec-WebSocket-Key: {key}\nSec-WebSocket-Version: 13\n"
                              "Sec-WebSocket-Protocol: streamlit\n")


def test_websocket_upgrade_under_a_public_host_name(proxy):
    # as the world would reach it: Streamlit compares the Origin with the Host nginx passes
    # on, port included ($http_host; $host would drop the port and refuse this)
    host = f"studio.example.org:{proxy.port}"
    status, text = handshake(proxy, host, f"http://{host}")
    assert status == 101, text
    assert re.search(r"^Upgrade: websocket", text, re.M | re.I), text
    status, text = handshake(proxy, host, "http://evil.example.com")
    assert status != 101, text  # a foreign page still cannot open the app's websocket


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(
    `${e.effectiveDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`));
"""


def test_app_in_a_browser_through_the_proxy(proxy, browser):
    from playwright.sync_api import expect
    expect.set_options(timeout=30_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(60_000)
    console, sockets = [], []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("websocket", lambda ws: sockets.append(ws))
    try:
        page.goto(proxy.url + "/")
        expect(page.get_by_role("heading", name="Data", exact=True).first).to_be_visible(
            timeout=60_000)
        expect(page).to_have_title(re.compile("Classifier Studio"))
        assert [ws.url for ws in sockets] == [f"ws://127.0.0.1:{proxy.port}/_stcore/stream"]
        # styles applied (Emotion's inline <style> elements were allowed)
        font = page.evaluate("getComputedStyle(document.body).fontFamily")
        assert "Source Sans" in font, font

        # the upload limit, said the same way by the app's caption and Streamlit's uploader
        page.get_by_text("My own file").click()
        caption = page.get_by_text(re.compile(r"Up to \d+ MB")).first.inner_text()
        uploader = page.get_by_test_id("stFileUploaderDropzoneInstructions").first.inner_text()
        limit_mb = upload_limit_bytes() // MIB
        assert re.search(r"Up to (\d+) MB", caption).group(1) == str(limit_mb), caption
        assert re.match(r"(\d+)MB per file", uploader).group(1) == str(limit_mb), uploader

        # an upload through the proxy (XSRF cookie and header pass): the table (a canvas
        # data grid) and a Plotly chart; then every page
        page.locator("input[type=file]").first.set_input_files(
            str(ROOT / "data" / "students_train.tsv"))
        expect(page.get_by_text("200 rows × 5 columns · tab-separated")).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
        for name in ("Train", "Evaluate", "Predict", "Export", "Data"):
            page.get_by_role("link", name=name, exact=True).first.click()
            expect(page.get_by_role("heading", name=name, exact=True).first).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
        expect(page.get_by_test_id("stApp")).to_have_attribute(
            "data-test-script-state", "notRunning", timeout=60_000)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        page.wait_for_timeout(1000)  # let the chart finish drawing
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "hosting-proxy.png"), full_page=True)

        violations = page.evaluate("window.__cspViolations")
        assert violations == [], violations
        csp_messages = [m for m in console if "Content Security Policy" in m]
        assert csp_messages == [], csp_messages
        assert len(sockets) == 1 and not sockets[0].is_closed()  # one websocket, still open
    finally:
        context.close()


def test_request_rate_limits(proxy):
    """Last in this file: it spends this address's allowance (back within seconds)."""
    def statuses(method: str, path: str, n: int) -> list[int]:
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        out = []
        try:
            for _ in range(n):
                connection.request(method, path, body=b"" if method == "PUT" else None)
                response = connection.getresponse()
                response.read()
                out.append(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", proxy.port,
                                                            timeout=10)
        finally:
            connection.close()
        return out

    # uploads: a burst of 10 beyond the rate of one every 2 s, then 429
    uploads = statuses("PUT", "/_stcore/upload_file/no-session/no-file", 20)
    assert 429 in uploads and uploads[:10] == [403] * 10, uploads
    # everything else: 20 a second with a burst of 200 (a cold page load is 100-150);
    # from 16 connections at once, as a browser would (each request takes some 40 ms)
    with ThreadPoolExecutor(16) as pool:
        health = sum(pool.map(lambda _: statuses("GET", "/_stcore/health", 25), range(16)),
                     [])
    assert set(health) == {200, 429}, set(health)
    assert health.count(200) >= 150 and health.count(429) >= 100, health.count(429)
    assert "limiting requests" in proxy.log("error.log")
