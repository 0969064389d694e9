"""Throughput of the shared inference layer against `transformers.pipeline` on the demo test split.

Three cases, each measured in one run on the same model and inputs, printing examples/second for both and the ratio:
- single-label: the demo model on the test texts, `pipeline(batch_size=32, top_k=None)`;
- multi-label: the same weights re-headed as a two-tag multi-label classifier (config.json's `problem_type` set to
  `multi_label_classification` in a temporary copy), against the pipeline with `function_to_apply="sigmoid"`;
- pair: the test texts paired with the next one, (text, text_pair), against the pipeline fed
  `{"text": ..., "text_pair": ...}` dicts.
Each case also checks the two give the same probabilities, so the ratio compares equal work.
Run: .venv/bin/python benchmarks/inference.py [--model DIR] [--data FILE] [--cases single-label,multi-label,pair] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

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


CASES = ("single-label", "multi-label", "pair")


def multi_label_copy(model_dir: Path, work: Path) -> Path:
    """A copy of `model_dir` whose config.json says multi-label: the same weights, one sigmoid per label."""
    dest = work / f"{model_dir.name}-multi-label"
    shutil.copytree(model_dir, dest)
    config = json.loads((dest / "config.json").read_text(encoding="utf-8"))
    (dest / "config.json").write_text(json.dumps({**config, "problem_type": "multi_label_classification"}, indent=2), encoding="utf-8")
    return dest


def run_case(case: str, model_dir: Path, texts: list[str], repeats: int) -> None:
    from transformers import pipeline

    from models.checkpoints import inspect_checkpoint

    ours = Predictor(inspect_checkpoint(model_dir), device="cpu")
    kwargs = {"function_to_apply": "sigmoid"} if case == "multi-label" else {}
    pipe = pipeline(
        "text-classification",
        model=ours.model,
        tokenizer=ours.tokenizer,
        batch_size=32,
        top_k=None,
        device=-1,
        truncation=True,
        max_length=ours.max_length,
        **kwargs,
    )
    inputs: list = list(zip(texts, texts[1:] + texts[:1])) if case == "pair" else list(texts)
    pipe_inputs = [{"text": a, "text_pair": b} for a, b in inputs] if case == "pair" else inputs
    print(f"\n[{case}] {len(inputs):,} {'pairs' if case == 'pair' else 'texts'}, model {ours.ref.name} ({ours.ref.task}, {ours.ref.short_fingerprint})")

    def run_ours():
        ours.cache = ProbabilityCache()  # cold cache: measure forward passes, not cache hits
        return ours.predict_proba(inputs)

    def run_pipeline():
        return list(pipe(pipe_inputs))

    proba = run_ours()  # warm-up (allocator, kernels)
    index = {label: i for i, label in enumerate(ours.labels)}
    theirs = np.zeros_like(proba)
    for row, scores in enumerate(run_pipeline()):
        for score in scores:
            theirs[row, index[score["label"]]] = score["score"]
    print(f"largest probability difference to the pipeline: {np.abs(proba - theirs).max():.2e}; rows summing to 1: {np.isclose(proba.sum(1), 1).mean():.0%}")
    t_ours = best_of(repeats, run_ours)
    t_pipe = best_of(repeats, run_pipeline)
    t_cached = best_of(repeats, lambda: ours.predict_proba(inputs))
    n = len(inputs)
    print(f"veredicto Predictor : {n / t_ours:8.1f} examples/s ({t_ours:.2f} s)")
    print(f"transformers pipeline(batch_size=32{', function_to_apply=sigmoid' if kwargs else ''}): {n / t_pipe:8.1f} examples/s ({t_pipe:.2f} s)")
    print(f"ratio (ours / pipeline): {t_pipe / t_ours:.2f}x")
    print(f"second request, cached: {n / t_cached:,.0f} examples/s ({t_pipe / t_cached:,.0f}x the pipeline)")


def main() -> None:
    paths = demo_paths(default_demo_dir())
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=paths.after)
    parser.add_argument("--data", type=Path, default=paths.test_data)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="Use only the first N texts (default: all).")
    parser.add_argument("--cases", default=",".join(CASES), help=f"Comma-separated cases among {', '.join(CASES)} (default: all).")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose among {', '.join(CASES)}")

    import torch

    texts = load_eval_data(args.data).texts[: args.limit]
    print(f"{len(texts):,} texts from {args.data.name}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory(prefix="veredicto-bench-") as work:
        for case in cases:
            model_dir = multi_label_copy(args.model, Path(work)) if case == "multi-label" else args.model
            run_case(case, model_dir, texts, args.repeats)


if __name__ == "__main__":
    main()
