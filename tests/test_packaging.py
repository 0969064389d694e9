"""`pip install .` (not editable) gives a working `veredicto` CLI and `veredicto app`, found from the installed copy.

The wheel is built from a copy of the checkout and installed with `--target` into a temporary folder; dependencies
come from the running virtual environment. Every command runs from a folder outside the checkout, and each one
checks that the modules it imported lie under the install folder, so the source tree cannot stand in for the package.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser import free_port

from dashboard.state import PAGES

ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".veredicto", "test-output", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache")

pytestmark = pytest.mark.packaging


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site, env, cwd): the package installed under `site`, an environment that imports from it, a folder to run in."""
    base = tmp_path_factory.mktemp("packaging")
    source, wheels, site, cwd = base / "source", base / "wheels", base / "site", base / "elsewhere"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)  # build from a copy: nothing is written into the checkout
    cwd.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "--no-cache-dir"]
    offline = {**os.environ, "PIP_NO_INDEX": "1"}
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], capture_output=True, text=True, env=offline, timeout=600
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = wheels.glob("veredicto-*.whl")
    install = subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], capture_output=True, text=True, env=offline, timeout=600)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEREDICTO_")}
    # its own cache and audit store: opening a store upgrades its schema, which would lock older checkouts out of a shared one
    env.update(
        PYTHONPATH=str(site), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VEREDICTO_CACHE_DIR=str(base / "cache"), VEREDICTO_STORE_DIR=str(base / "store")
    )
    return site, env, cwd


def python(installed, code: str, timeout: float = 300) -> dict:
    """Run `code` with the installed package, outside the checkout; it prints one JSON object as its last line."""
    _site, env, cwd = installed
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def assert_installed(site: Path, files: dict[str, str]) -> None:
    for name, file in files.items():
        assert Path(file).resolve().is_relative_to(site.resolve()), f"{name} came from {file}, not from the installed copy"


def test_the_wheel_ships_the_app_its_pages_and_the_example_policy(installed):
    site, _env, _cwd = installed
    assert (site / "app.py").is_file()
    assert {p.name for p in (ROOT / "pages").glob("*.py")} <= {p.name for p in (site / "pages").glob("*.py")}
    assert (site / "policies" / "example.yaml").read_bytes() == (ROOT / "policies" / "example.yaml").read_bytes()
    assert (site / "bin" / "veredicto").is_file()


def test_the_cli_runs_from_the_installed_copy(installed):
    site, env, cwd = installed
    out = subprocess.run([str(site / "bin" / "veredicto"), "--help"], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for command in ("app", "report", "precompute"):
        assert command in out.stdout
    files = python(installed, "import json, cli.main, cli.app; print(json.dumps({'cli.main': cli.main.__file__, 'cli.app': cli.app.__file__}))")
    assert_installed(site, files)


def test_the_report_loads_the_bundled_example_policy(installed):
    site, _env, _cwd = installed
    code = """
import json
import cli.report, policies
from store.policy import load_policy
policy = load_policy(cli.report.DEFAULT_POLICY)  # what `veredicto report` loads without --policy
print(json.dumps({'policy': str(cli.report.DEFAULT_POLICY), 'policies': policies.__file__, 'cli.report': cli.report.__file__, 'gates': len(policy.gates)}))
"""
    result = python(installed, code)
    assert result.pop("gates") > 0
    assert_installed(site, result)


def test_the_installed_app_and_every_page_run(installed):
    """AppTest on the installed app.py: st.Page resolves pages/ beside it, and each page's imports work."""
    site, _env, _cwd = installed
    code = f"""
import json
from streamlit.testing.v1 import AppTest
from dashboard.state import PAGES
runs = {{}}
at = AppTest.from_file({str(site / "app.py")!r}, default_timeout=240).run()
runs["app.py"] = [str(e.value) for e in at.exception]
for file, _title, _icon in PAGES:
    at.switch_page(f"pages/{{file}}").run()
    runs[file] = [str(e.value) for e in at.exception]
import dashboard.state, app
print(json.dumps({{'runs': runs, 'files': {{'app': app.__file__, 'dashboard.state': dashboard.state.__file__}}}}))
"""
    result = python(installed, code, timeout=600)
    assert set(result["runs"]) == {"app.py"} | {file for file, _title, _icon in PAGES}
    assert all(not errors for errors in result["runs"].values()), result["runs"]
    assert_installed(site, result["files"])


def test_veredicto_app_serves_from_the_installed_copy(installed):
    site, env, cwd = installed
    port = free_port()
    log = cwd / f"app-{port}.log"
    with open(log, "w") as out:
        # its own process group: `veredicto app` runs streamlit as a child, and both must go at the end
        proc = subprocess.Popen(
            [str(site / "bin" / "veredicto"), "app", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    try:
        deadline, status = time.monotonic() + 180, None
        while status != 200:
            assert proc.poll() is None, f"veredicto app exited with {proc.returncode}: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no answer on /_stcore/health: {log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as response:
                    status = response.status
                    assert response.read() == b"ok"
            except OSError:
                time.sleep(0.25)  # not listening yet
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]


def test_the_installed_app_gets_the_checkouts_streamlit_settings():
    """An installed copy has no .streamlit/config.toml beside app.py; `veredicto app` passes the same settings as flags."""
    from cli.app import STREAMLIT_SETTINGS

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    flat = {
        f"{section}.{key}": str(value).lower() if isinstance(value, bool) else str(value)
        for section, options in config.items()
        for key, value in options.items()
    }
    assert flat == STREAMLIT_SETTINGS
