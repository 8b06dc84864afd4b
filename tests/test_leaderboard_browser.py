"""The HTML board in a real browser: headless Debian chromium driven over the DevTools protocol.

Chromium runs with ``--remote-debugging-pipe`` (DevTools messages over fds 3/4, NUL-separated JSON), so
no websocket client, playwright or selenium is needed. The test clicks a column header with real mouse
events, checks that the row order changed to the expected one, types into the filter, switches tabs,
and takes a screenshot (kept in ``$MSD_BENCH_SCREENSHOT_DIR`` when set); a second test checks, on a
board with the real key scores' long names and many pictures, that the board opens on the main
dataset and that its key columns fit a 1280 px window.

Skipped only when chromium is absent and ``CI`` is not set; in CI a missing chromium fails.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from msd_bench import PROTOCOL
from msd_bench.leaderboard import add_result, build_leaderboard
from msd_bench.testing import example_revisions, make_result

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail("CI is set but chromium is not installed (.ci/run installs Debian's chromium)", pytrace=False)
    pytestmark = pytest.mark.skip(reason="chromium not installed (apt-get install chromium); CI installs it")


class Chromium:
    """Minimal DevTools-protocol client over ``--remote-debugging-pipe``."""

    def __init__(self, user_dir: Path, timeout: float = 30.0):
        self.timeout = timeout
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def child_fds() -> None:
            # Move both ends above the target numbers first, then onto 3 and 4 (dup2 clears close-on-exec;
            # dup2(fd, fd) would not, and a direct dup2 could overwrite the other end).
            high_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--remote-debugging-pipe",
                f"--user-data-dir={user_dir}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,
            close_fds=False,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no DevTools message from chromium in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        while True:
            ev = self._read_message(deadline)
            if ev.get("method") == method:
                return ev
            self.events.append(ev)

    def js(self, expression: str):
        out = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in out:
            raise RuntimeError(f"JS error in {expression!r}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def click(self, selector: str) -> None:
        """A real left click (mouse press + release) at the centre of the element."""
        box = self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center', inline: 'center'});"
            " const r = e.getBoundingClientRect(); const x = r.x + r.width / 2, y = r.y + r.height / 2;"
            " const hit = document.elementFromPoint(x, y); return [x, y, hit === e || e.contains(hit)]; })()"
        )
        assert box[2], f"{selector} is not the element at its own centre (covered or off-screen)"
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            params = {"type": kind, "x": box[0], "y": box[1]}
            if kind != "mouseMoved":
                params.update(button="left", clickCount=1)
            self.send("Input.dispatchMouseEvent", params)

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)


@pytest.fixture()
def board(tmp_path) -> Path:
    """A store of 4 entries on sprites and 2 on a second dataset; returns the built index.html."""
    root = tmp_path / "store"
    rows = [  # name, acc, latency
        ("model-a", 0.90, 3.0),
        ("model-b", 0.80, 10.0),
        ("model-c", 0.95, 30.0),
        ("model-d", 0.70, 1.0),
    ]
    for name, acc, lat in rows:
        add_result(make_result(name, scores={"acc": acc}, latency_ms=lat), root)
    for name, acc in (("model-a", 0.6), ("model-b", 0.4)):
        add_result(make_result(name, dataset="shapes", scores={"acc": acc}), root)
    pics = root / "results" / PROTOCOL / "model-a" / "1.0" / "sprites"
    pics.mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (16, 16), (220, 40, 40)).save(pics / "swap.png")
    report = build_leaderboard(root, revisions=example_revisions(("sprites", "shapes")), formats=["html"])
    (html,) = report.written
    return html


def _open(browser: Chromium, page: Path, width: int = 1280, height: int = 900) -> None:
    target = browser.send("Target.createTarget", {"url": "about:blank"}, session=False)
    attached = browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, session=False)
    browser.session = attached["sessionId"]
    browser.send("Page.enable")
    browser.send("Runtime.enable")
    viewport = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.send("Emulation.setDeviceMetricsOverride", viewport)
    browser.send("Page.navigate", {"url": page.resolve().as_uri()})
    browser.wait_event("Page.loadEventFired")


def test_sort_filter_tabs_and_screenshot_in_headless_chromium(board, tmp_path):
    browser = Chromium(tmp_path / "profile")
    try:
        _open(browser, board)

        # The board opens on the protocol's main dataset (sprites, its tab first); a click switches tabs.
        hidden = "document.getElementById('panel-{}').hidden"
        assert browser.js("Array.from(document.querySelectorAll('.tab')).map(t => t.textContent)") == [
            "sprites", "shapes"]
        assert browser.js(hidden.format("sprites")) is False
        assert browser.js(hidden.format("shapes")) is True
        browser.click("#tab-shapes")
        assert browser.js(hidden.format("sprites")) is True
        assert browser.js(hidden.format("shapes")) is False
        browser.click("#tab-sprites")
        assert browser.js(hidden.format("shapes")) is True
        assert browser.js(hidden.format("sprites")) is False

        order = "Array.from(document.querySelectorAll('#table-sprites tbody tr')).map(r => r.dataset.id)"
        before = browser.js(order)
        # Ranked by acc (the only key score): c .95, a .90, b .80, d .70.
        assert before == ["model-c@1.0", "model-a@1.0", "model-b@1.0", "model-d@1.0"]

        # Click the latency header: ascending latency d 1, a 3, b 10, c 30.
        lat_col = browser.js(
            "Array.from(document.querySelectorAll('#table-sprites thead th')).findIndex(th =>"
            " th.textContent.startsWith('latency'))"
        )
        browser.click(f"#table-sprites thead th:nth-child({lat_col + 1})")
        after = browser.js(order)
        assert after != before
        assert after == ["model-d@1.0", "model-a@1.0", "model-b@1.0", "model-c@1.0"]
        assert browser.js(f"document.querySelectorAll('#table-sprites thead th')[{lat_col}].ariaSort") == "ascending"
        browser.click(f"#table-sprites thead th:nth-child({lat_col + 1})")
        assert browser.js(order) == ["model-c@1.0", "model-b@1.0", "model-a@1.0", "model-d@1.0"]

        # Typing into the filter hides the other rows.
        browser.click("#panel-sprites input.filter")
        browser.send("Input.insertText", {"text": "model-b"})
        visible = "Array.from(document.querySelectorAll('#table-sprites tbody tr')).filter(r => !r.hidden).length"
        assert browser.js(visible) == 1

        # The picture saved next to model-a's result is linked and loads from a relative path.
        assert browser.js(
            "(() => { const i = document.querySelector('#table-sprites img'); return i.complete && i.naturalWidth; })()"
        ) == 16

        # The Pareto plot: acc higher is better, latency lower: front = d (fastest), a, c (best acc).
        front = browser.js(
            "Array.from(document.querySelectorAll('#panel-sprites svg circle.front')).map(c => c.dataset.id).sort()"
        )
        assert front == ["model-a@1.0", "model-c@1.0", "model-d@1.0"]

        browser.js("window.scrollTo(0, 0)")
        png = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"})["data"])
        # Clearing the filter shows every row again.
        browser.js("(() => { const i = document.querySelector('#panel-sprites input.filter'); i.value = '';"
                   " i.dispatchEvent(new Event('input')); })()")
        assert browser.js(visible) == 4
        png2 = base64.b64decode(
            browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        )
    finally:
        browser.close()

    from PIL import Image

    img = Image.open(io.BytesIO(png))
    assert img.size == (1280, 900)
    assert sum(1 for c in img.convert("L").histogram() if c) > 10  # a rendered page, not a blank one
    keep = os.environ.get("MSD_BENCH_SCREENSHOT_DIR")
    out = Path(keep) if keep else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard_sorted.png").write_bytes(png)
    (out / "leaderboard_full.png").write_bytes(png2)


KEY_COLUMNS = ("rank", "submission", "static_dynamic_swap.accuracy.mean", "msd.multi_factor_swap",
               "reconstruction.judge_accuracy.mean", "judge ceiling", "latency p50 ms", "recon seq/s", "pictures")


@pytest.fixture()
def real_board(tmp_path) -> Path:
    """Seven entries with the default key scores (long names), wide intervals and eight pictures each."""
    root = tmp_path / "store"
    from PIL import Image

    for i in range(7):
        name = f"reference-method-{i}"
        scores = {"static_dynamic_swap.accuracy.mean": 0.5 + 0.05 * i, "msd.multi_factor_swap": 0.61 - 0.01 * i,
                  "reconstruction.judge_accuracy.mean": 0.9 + 0.01 * i, "mse": 0.01, "mig": 0.2}
        add_result(make_result(name, "2.0.0", scores=scores, latency_ms=1.5 + i, throughput=900.5 - i,
                               parameters=785_571, fmt="torch", static_dim=16, dynamic_dim=12), root)
        pics = root / "results" / PROTOCOL / name / "2.0.0" / "sprites"
        pics.mkdir(parents=True, exist_ok=True)
        for pic in ("reconstruction", "swap", "samples", "factor_swap"):
            Image.new("RGB", (512, 64), (40, 40 + 20 * i, 200)).save(pics / f"{pic}.png")
            Image.new("RGB", (64, 64), (200, 40, 40)).save(pics / f"{pic}.gif")
    add_result(make_result("reference-method-0", "2.0.0", dataset="dsprites-dynamic", scores={"mse": 0.1}), root)
    report = build_leaderboard(root, revisions=example_revisions(("sprites", "dsprites-dynamic")), formats=["html"])
    (html,) = report.written
    return html


def test_board_opens_on_the_main_dataset_with_key_columns_visible_at_1280px(real_board, tmp_path):
    browser = Chromium(tmp_path / "profile")
    try:
        _open(browser, real_board, 1280, 800)
        panel = browser.js("document.querySelector('section.panel:not([hidden])').dataset.dataset")
        assert panel == "sprites"
        edges = browser.js(
            "Array.from(document.querySelectorAll('#table-sprites thead th')).map(th => [th.textContent,"
            " Math.round(th.getBoundingClientRect().left), Math.round(th.getBoundingClientRect().right)])"
        )
        shown = {label.rstrip(" ↑↓"): (left, right) for label, left, right in edges}
        for col in KEY_COLUMNS:
            left, right = shown[col]
            assert 0 <= left < right <= 1280, f"column {col!r} spans {left}..{right} px, outside a 1280 px window"
        # every thumbnail of the first entry is inside the window as well
        pics = browser.js("Array.from(document.querySelectorAll('#table-sprites tbody tr:first-child td.pics img'))"
                          ".map(i => Math.round(i.getBoundingClientRect().right))")
        assert len(pics) == 8 and max(pics) <= 1280
        png = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"})["data"])
    finally:
        browser.close()
    from PIL import Image

    img = Image.open(io.BytesIO(png))
    assert img.size == (1280, 800) and sum(1 for c in img.convert("L").histogram() if c) > 10
    keep = os.environ.get("MSD_BENCH_SCREENSHOT_DIR")
    out = Path(keep) if keep else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard_1280.png").write_bytes(png)
