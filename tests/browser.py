"""Run the real app in a subprocess and drive it with Debian's Chromium through Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium via executable_path.
Screenshots go to test-output/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    return os.environ.get("VEREDICTO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(checkpoints: Path, data: Path, timeout: float = 120):
    """Start `streamlit run app.py` on a free port; yield its URL once /_stcore/health answers."""
    port = free_port()
    env = dict(os.environ, VEREDICTO_CHECKPOINTS=str(checkpoints), VEREDICTO_DATA=str(data), HF_HUB_OFFLINE="1")
    log = open(ROOT / "test-output" / f"streamlit-{port}.log", "w")  # noqa: SIM115 - the app writes to it until it stops; closed in the finally below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the app did not start; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def browser_page(width: int = 1280, height: int = 800):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(300_000)
        try:
            yield page
        finally:
            browser.close()


SCRIPT_DONE = """() => { const app = document.querySelector('[data-testid="stApp"]');
                          return app && app.getAttribute('data-test-script-state') === 'notRunning'
                              && !document.querySelector('[data-testid="stStatusWidget"]'); }"""
# Streamlit loads most element components (st.metric, st.radio, st.dataframe, charts…) as separate JavaScript chunks,
# on first use, and shows a placeholder with data-testid="stSkeleton" until the chunk has loaded and rendered. The
# script can be long finished by then, so 'done' means: the script finished AND no element is still a placeholder.
IDLE = """() => { const app = document.querySelector('[data-testid="stApp"]');
                   return app && app.getAttribute('data-test-script-state') === 'notRunning'
                       && !document.querySelector('[data-testid="stStatusWidget"]')
                       && !document.querySelector('[data-testid="stSkeleton"]'); }"""


def wait_for_app(page, timeout: float = 900_000) -> None:
    """Wait until Streamlit has run the script to the end, every element is drawn, and it stays so.

    'notRunning' only: before the first run the state is 'initial', which is not 'running' either, and a page read
    then is half drawn. No skeleton: an element whose component is still loading in the browser is a placeholder
    without its text (see IDLE). Idle must hold across a short pause, as a rerun (a fragment, a query-param write)
    can follow.
    """
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    while True:
        page.wait_for_function(IDLE, timeout=timeout)
        page.wait_for_timeout(500)
        if page.evaluate(IDLE):
            return


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    # Streamlit scrolls inside its main section, so grow the viewport to the content to capture all of it.
    size = page.viewport_size
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 0; }")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), 8000))})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def page_has_no_error(page) -> None:
    text = page.inner_text("body")
    assert "Traceback" not in text, text[:2000]
    assert not page.query_selector('[data-testid="stException"]'), "an exception box is shown"
