"""Robustness (with the probes run) and Sign-off after an app restart, with and without probe runs and gate evaluations in
the results store, on the demo, measured with Streamlit's AppTest in one process.

A restart is simulated as the page tests do (`tests/analysis_pages_support.restart`: empty in-memory caches, probe runs and
Streamlit caches). First one fill pass from an empty store (scores the data, runs the page's default probes, evaluates the
gates with the example policy). Then, alternated so machine load hits both alike, per round:
- `memory` (before this change: probe runs and gate evaluations only in memory; predictions still come from the store):
  Robustness = open the page and click "Run probes" again; Sign-off = open it (the gates are evaluated);
- `store`: Robustness = open the page (the stored run is shown); Sign-off = open it (the stored evaluation is read).
Prints seconds, memory/store ratios and the load average beside each figure.

Run: .venv/bin/python benchmarks/restart_pages.py [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def open_page(page: str, run_probes: bool = False) -> tuple[float, object]:
    from streamlit.testing.v1 import AppTest

    start = time.perf_counter()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=3600)
    at.switch_page(page).run()
    if run_probes:
        next(b for b in at.button if b.key == "robustness_run").click().run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise SystemExit(f"{page}: {at.exception[0].message[:300]}")
    return seconds, at


def shown(at, page: str):
    """What the page shows that the two modes must agree on: the probe rates chart, or the gates table."""
    if page.endswith("robustness.py"):
        return [c.proto.spec for c in at.get("plotly_chart") if "robustness-rates" in c.proto.id]
    return [d.value.to_dict("records") for d in at.dataframe if "Gate" in d.value.columns]


def main() -> None:
    from analysis_pages_support import restart

    import store.gates as gates
    from probes import views
    from training.demo import default_demo_dir, demo_paths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    paths = demo_paths(default_demo_dir())
    os.environ.update(
        VEREDICTO_CHECKPOINTS=str(paths.checkpoints),
        VEREDICTO_DATA=str(paths.test_data),
        VEREDICTO_CACHE_DIR=tempfile.mkdtemp(prefix="veredicto-restart-"),
        VEREDICTO_SHAP_MAX_EVALS=os.environ.get("VEREDICTO_SHAP_MAX_EVALS", "60"),
        VEREDICTO_LIME_SAMPLES=os.environ.get("VEREDICTO_LIME_SAMPLES", "60"),
    )
    real_stored, real_store_of = gates.stored_evaluation, views._results_store

    def memory_only(on: bool) -> None:
        """Before this change: probe runs and gate evaluations are not read from or written to the results store."""
        if on:
            gates.stored_evaluation = lambda policy, table, *, results=None, corrections=0, **kw: gates.evaluate_gates(policy, table, **kw)
            views._results_store = lambda store=None: None
        else:
            gates.stored_evaluation, views._results_store = real_stored, real_store_of

    pages = {"robustness": "pages/robustness.py", "signoff": "pages/signoff.py"}
    print(f"demo: {paths.test_data.name}; store {os.environ['VEREDICTO_CACHE_DIR']}", flush=True)
    reference = {}
    for name, page in pages.items():  # the fill pass: an empty store
        restart()
        seconds, at = open_page(page, run_probes=name == "robustness")
        reference[name] = shown(at, page)
        print(f"fill   {name:<10} {seconds:8.2f} s  load {load()}", flush=True)
    times: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for r in range(args.repeats):
        for mode in ("memory", "store"):
            memory_only(mode == "memory")
            for name, page in pages.items():
                restart()
                seconds, at = open_page(page, run_probes=name == "robustness" and mode == "memory")
                if shown(at, page) != reference[name]:
                    print(f"  MISMATCH: {mode} {name} shows something else than the fill pass", flush=True)
                times.setdefault((name, mode), []).append((seconds, load()))
                print(f"{mode:<6} {name:<10} {seconds:8.2f} s  load {times[(name, mode)][-1][1]}  (round {r + 1})", flush=True)
        memory_only(False)
    for name in pages:
        memory = min(s for s, _ in times[(name, "memory")])
        stored = min(s for s, _ in times[(name, "store")])
        print(f"{name}: before (memory only) {memory:.2f} s, after (from the store) {stored:.2f} s: {memory / stored:.1f}x")


if __name__ == "__main__":
    main()
