"""Throughput of the shared inference layer against `transformers.pipeline` on the demo test split.

Prints examples/second for both, measured in one run on the same model and texts, and the ratio.
Run: .venv/bin/python benchmarks/inference.py [--model DIR] [--data FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaldata.loading import load_eval_data
from models.inference import Predictor, ProbabilityCache
from training.demo import default_demo_dir, demo_paths


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    paths = demo_paths(default_demo_dir())
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=paths.after)
    parser.add_argument("--data", type=Path, default=paths.test_data)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    texts = load_eval_data(args.data).texts
    ours = Predictor(args.model, device="cpu")
    pipe = pipeline(
        "text-classification",
        model=ours.model,
        tokenizer=ours.tokenizer,
        batch_size=32,
        top_k=None,
        device=-1,
        truncation=True,
        max_length=ours.max_length,
    )
    print(f"{len(texts):,} texts, model {ours.ref.name} ({ours.ref.short_fingerprint}), {torch.get_num_threads()} threads")

    def run_ours():
        ours.cache = ProbabilityCache()  # cold cache: measure forward passes, not cache hits
        ours.predict_proba(texts)

    def run_pipeline():
        list(pipe(texts))

    run_ours()  # warm-up (allocator, kernels)
    t_ours = best_of(args.repeats, run_ours)
    t_pipe = best_of(args.repeats, run_pipeline)
    t_cached = best_of(args.repeats, lambda: ours.predict_proba(texts))
    print(f"veredicto Predictor : {len(texts) / t_ours:8.1f} examples/s ({t_ours:.2f} s)")
    print(f"transformers pipeline(batch_size=32): {len(texts) / t_pipe:8.1f} examples/s ({t_pipe:.2f} s)")
    print(f"ratio (ours / pipeline): {t_pipe / t_ours:.2f}x")
    print(f"second request, cached: {len(texts) / t_cached:,.0f} examples/s ({t_pipe / t_cached:,.0f}x the pipeline)")


if __name__ == "__main__":
    main()
