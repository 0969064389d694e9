"""The Overview's data path after an app restart, with and without the results store, on the demo.

Each measurement runs in a fresh Python process (what an app restart starts with): load both sentiment checkpoints, then
time `predict_table` for both on the demo test set (2 x 1,282 texts). Three modes, alternated so machine load hits them alike:
- `none`: no results store (scores everything, as before the store existed);
- `write`: an empty store (scores everything and writes each batch: the store's write overhead);
- `read`: the store `write` filled (reads everything, forwards nothing).
Prints seconds per run, the ratios none/read and write/none, the load average beside each, and the store's size on disk.
Run: .venv/bin/python benchmarks/results_store.py [--repeats 2] [--data FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from analysis.predictions import predict_table
from evaldata.loading import load_eval_data
from models.checkpoints import inspect_checkpoint
from models.inference import Predictor
from store.results import ResultsStore
from training.demo import default_demo_dir, demo_paths

paths = demo_paths(default_demo_dir())
evalset = load_eval_data({data!r} or paths.test_data)
store = ResultsStore({store!r}) if {store!r} else None
predictors = [Predictor(inspect_checkpoint(p), device="cpu", store=store) for p in (paths.before, paths.after)]
start = time.perf_counter()
tables = [predict_table(p, evalset) for p in predictors]
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "texts": len(evalset), "forwarded": sum(p.stats.texts_forwarded for p in predictors),
                  "from_store": sum(p.stats.texts_from_store for p in predictors), "accuracy": [float(t.frame["correct"].mean()) for t in tables]}}))
"""


def run(mode: str, store: str, data: str) -> dict:
    code = CHILD.format(root=str(ROOT), data=data, store=store if mode != "none" else "")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", default="", help="Evaluation file (default: the demo test split).")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"none": [], "write": [], "read": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            store = str(Path(tmp) / f"store-{r}")
            for mode in ("none", "write", "read"):  # write fills store-r, read reads it
                result = run(mode, store, args.data)
                results[mode].append(result)
                print(
                    f"{mode:5s} run {r + 1}: {result['seconds']:7.2f} s  forwarded {result['forwarded']:,}  from store {result['from_store']:,}  load {result['load']}",
                    flush=True,
                )
            size = sum(p.stat().st_size for p in Path(store).glob("results.sqlite*"))
        accuracies = {json.dumps(r["accuracy"]) for rs in results.values() for r in rs}
        assert len(accuracies) == 1, f"the modes disagree: {accuracies}"
    best = {mode: min(r["seconds"] for r in rs) for mode, rs in results.items()}
    print(f"best of {args.repeats}: none {best['none']:.2f} s, write {best['write']:.2f} s, read {best['read']:.3f} s")
    print(f"cold (no store) / from store: {best['none'] / best['read']:.0f}x; write overhead (write / none): {best['write'] / best['none']:.3f}")
    print(f"store on disk (probabilities of 2 checkpoints): {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
