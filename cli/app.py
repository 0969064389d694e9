"""`veredicto app`: start the Streamlit dashboard.

It listens on 127.0.0.1 (this machine only) unless `--host` says otherwise: `--host 0.0.0.0` serves a team on every
interface, and should go with team mode (reviewer identity in secrets, or VEREDICTO_TEAM_MODE=1) and TLS in front.
Uploads are limited to `runtime.settings.MAX_UPLOAD_MB` (server.maxUploadSize), passed on every start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runtime.settings import MAX_UPLOAD_MB

DEFAULT_HOST = "127.0.0.1"

# app.py is a top-level module installed beside the cli package (py-modules in pyproject.toml), with the pages/ package
# next to it: the same layout in the checkout and in site-packages.
ROOT = Path(__file__).resolve().parents[1]
# .streamlit/config.toml of the checkout, for an installed copy, which has no such file beside app.py (kept equal by a test)
STREAMLIT_SETTINGS = {
    "client.showErrorDetails": "false",
    "client.toolbarMode": "minimal",
    "server.headless": "true",
    "server.maxUploadSize": str(MAX_UPLOAD_MB),
    "server.fileWatcherType": "none",  # a server, not a dev loop: watching the tree (.venv inside it) slowed the first scoring
    "server.runOnSave": "false",
    "browser.gatherUsageStats": "false",
    "theme.base": "light",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser("app", help="Start the dashboard in the browser.")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"Address to listen on (default {DEFAULT_HOST}: this machine only). Use --host 0.0.0.0 to serve a team; "
        "then configure reviewer identity (team mode: data and checkpoints only from allow-listed folders) and put TLS in front.",
    )
    parser.add_argument("--checkpoints", type=Path, default=None, help="Checkpoints directory to open (default: the demo).")
    parser.add_argument("--data", type=Path, default=None, help="Evaluation file to open (default: the demo test split).")
    parser.set_defaults(func=run)


def app_script() -> Path:
    """The dashboard's entry script."""
    return ROOT / "app.py"


def streamlit_command(port: int, host: str = DEFAULT_HOST) -> list[str]:
    """`streamlit run app.py` (through `cli.serve`, which imports the model libraries before the server starts) on
    `host:port` with the upload limit, plus the checkout's Streamlit settings where app.py has none beside it."""
    command = [sys.executable, "-m", "cli.serve", "run", str(app_script()), "--server.port", str(port), "--server.address", host]
    command += ["--server.maxUploadSize", str(MAX_UPLOAD_MB)]
    if not (ROOT / ".streamlit" / "config.toml").is_file():
        command += [arg for key, value in STREAMLIT_SETTINGS.items() if key != "server.maxUploadSize" for arg in (f"--{key}", value)]
    return command


def run(args) -> int:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if args.checkpoints:
        env["VEREDICTO_CHECKPOINTS"] = str(args.checkpoints.resolve())
    if args.data:
        env["VEREDICTO_DATA"] = str(args.data.resolve())
    return subprocess.call(streamlit_command(args.port, args.host), cwd=ROOT, env=env)
