"""`veredicto app`: start the Streamlit dashboard."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def register(subparsers) -> None:
    parser = subparsers.add_parser("app", help="Start the dashboard in the browser.")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--checkpoints", type=Path, default=None, help="Checkpoints directory to open (default: the demo).")
    parser.add_argument("--data", type=Path, default=None, help="Evaluation file to open (default: the demo test split).")
    parser.set_defaults(func=run)


def run(args) -> int:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if args.checkpoints:
        env["VEREDICTO_CHECKPOINTS"] = str(args.checkpoints.resolve())
    if args.data:
        env["VEREDICTO_DATA"] = str(args.data.resolve())
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(args.port)]
    return subprocess.call(command, cwd=ROOT, env=env)
