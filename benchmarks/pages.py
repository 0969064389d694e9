"""Render time of every dashboard page from warm caches, measured with Streamlit's AppTest.

For each page: the first run (scores the data, computes what the page needs) and then the
median of the next runs, which read only caches, the way a person switching pages or views
sees it. Prints seconds and the warm/first ratio. Uses the demo unless --checkpoints/--data.
Explainer budgets are lowered (VEREDICTO_SHAP_MAX_EVALS / VEREDICTO_LIME_SAMPLES) so the first
run stays short; the warm runs are what this measures.

Run: .venv/bin/python benchmarks/pages.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from streamlit.testing.v1 import AppTest

    from dashboard.state import PAGES  # the list app.py registers
    from training.demo import default_demo_dir, demo_paths

    paths = demo_paths(default_demo_dir())
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoints", type=Path, default=paths.checkpoints)
    parser.add_argument("--data", type=Path, default=paths.test_data)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(
        VEREDICTO_CHECKPOINTS=str(args.checkpoints),
        VEREDICTO_DATA=str(args.data),
        VEREDICTO_CACHE_DIR=tempfile.mkdtemp(prefix="veredicto-bench-"),
        VEREDICTO_SHAP_MAX_EVALS=os.environ.get("VEREDICTO_SHAP_MAX_EVALS", "60"),
        VEREDICTO_LIME_SAMPLES=os.environ.get("VEREDICTO_LIME_SAMPLES", "60"),
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
    print(f"{'page':<14}{'first run (s)':>15}{'warm (s)':>10}{'warm/first':>12}")
    for file, title, _ in PAGES:
        if not (ROOT / "pages" / file).is_file():
            continue
        start = time.perf_counter()
        at.switch_page(f"pages/{file}").run()
        first = time.perf_counter() - start
        warm = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - start)
        errors = [e.message for e in at.exception]
        median = statistics.median(warm)
        note = f"  EXCEPTION: {errors[0][:80]}" if errors else ""
        print(f"{title:<14}{first:>15.2f}{median:>10.2f}{median / first:>12.2f}{note}")


if __name__ == "__main__":
    main()
