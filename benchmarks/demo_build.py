"""How long does `veredicto demo` take here? Budget: 10 minutes on 2 CPU cores.

    python benchmarks/demo_build.py            # full build into a temporary directory
    python benchmarks/demo_build.py --quick    # time a sample, extrapolate to the full build

Prints the time of each step and the ratio to the budget. Timings are only
meaningful on an otherwise idle machine; `--threads 2` mimics CI on a bigger one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BUDGET_S = 600.0


def quick(threads: int) -> None:
    import torch

    from training import demo
    from training.demo_data import LABELS, SEED, load_corpus, split_corpus
    from training.model import load_base_model
    from training.run import fine_tune, pooled_features

    torch.set_num_threads(threads)
    train = split_corpus(load_corpus())["train"]
    texts, labels = train["text"].tolist(), train["label"].tolist()
    n_feat, n_steps = 1024, 24
    model, tok = load_base_model(demo.base_model_dir(), LABELS, seed=SEED)
    t = time.perf_counter()
    pooled_features(model, tok, texts[:n_feat], max_length=demo.MAX_LENGTH)
    feat_s = (time.perf_counter() - t) * len(texts) / n_feat
    model, tok = load_base_model(demo.base_model_dir(), LABELS, seed=SEED)
    n = n_steps * demo.BATCH_SIZE
    t = time.perf_counter()
    fine_tune(model, tok, texts[:n], labels[:n], demo.after_params(), max_length=demo.MAX_LENGTH, seed=SEED)
    tune_s = (time.perf_counter() - t) * demo.EPOCHS * len(texts) / n
    total = feat_s + tune_s + 30  # data, loading, saving, testing: ~30 s
    print(f"threads={threads}  features ~{feat_s:.0f} s  fine-tune ~{tune_s:.0f} s  build ~{total:.0f} s  = {total / BUDGET_S:.2f} x budget")


def full(threads: int) -> None:
    from training import demo

    demo.NUM_THREADS = threads
    with tempfile.TemporaryDirectory(prefix="veredicto-demo-bench-") as out:
        start = time.perf_counter()
        manifest = demo.build_demo(Path(out), log=lambda m: print(m, flush=True))
        total = time.perf_counter() - start
    steps = "  ".join(f"{k} {v:.0f} s" for k, v in manifest["seconds_by_step"].items())
    acc = manifest["test_accuracy"]
    print(f"threads={threads}  {steps}  total {total:.0f} s = {total / BUDGET_S:.2f} x budget")
    print(f"test accuracy: before {acc['before']:.3f}, after {acc['after']:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="time a sample and extrapolate")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    (quick if args.quick else full)(args.threads)
