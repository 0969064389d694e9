"""Probe throughput and the error of the cost estimates, measured in one run on this machine.

    python benchmarks/probes.py                 # the demo checkpoint if built, else a tiny model
    python benchmarks/probes.py --model DIR --data FILE --limit 100

Prints:
1. perturbation: texts perturbed per second per test (pure Python, no model);
2. scoring: perturbed texts per second through `run_probes` (cold cache), next to the same
   perturbed texts scored the way the transformers docs show a pipeline being used
   (`pipeline("text-classification", top_k=None)` called on the list), and the ratio;
3. cost estimates vs measured time for probes, scoring, embeddings, SHAP and LIME: estimated
   seconds, measured seconds, relative error, and model calls estimated vs made.
Timings are only meaningful on an otherwise idle machine; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _inputs(args):
    from evaldata.loading import load_eval_data

    if args.model and args.data:
        return Path(args.model), load_eval_data(args.data), "given"
    from training.demo import default_demo_dir, demo_paths

    paths = demo_paths(default_demo_dir())
    if paths.manifest.is_file():
        return paths.after, load_eval_data(paths.test_data), "demo (sentiment-after, test split)"
    import pandas as pd
    from tiny import CORPUS, make_tiny_checkpoint

    root = Path(tempfile.mkdtemp(prefix="veredicto-bench-"))
    model = make_tiny_checkpoint(root / "tiny", "bert")
    names = ["John", "Maria", "Carlos", "Emma", "he", "she"]
    rows = [{"text": f"{CORPUS[i % 7]} — {names[i % 6]} said so ({i})", "label": ("negative", "positive")[i % 2]} for i in range(400)]
    pd.DataFrame(rows).to_csv(root / "data.csv", index=False)
    return model, load_eval_data(root / "data.csv"), "tiny BERT (demo not built)"


def _line(name: str, estimate, seconds: float, calls: int | None) -> str:
    err = (estimate.seconds - seconds) / seconds if seconds > 0 else float("nan")
    made = "" if calls is None else f"  calls est {estimate.n_model_calls:>6,} made {calls:>6,}"
    return f"  {name:<22} est {estimate.seconds:8.2f} s  measured {seconds:8.2f} s  error {err:+7.0%}{made}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--limit", type=int, default=100, help="examples per test (default 100)")
    parser.add_argument("--explain", type=int, default=3, help="texts to explain with SHAP and with LIME (default 3)")
    args = parser.parse_args()

    from models.inference import Predictor, ProbabilityCache
    from probes import cost
    from probes.perturb import guess_directions, resolve_tests
    from probes.run import plan_probes, run_probes

    model, evalset, what = _inputs(args)
    texts = evalset.texts
    print(f"Model: {what} ({model})  ·  data: {evalset.name}, {len(texts):,} texts  ·  limit {args.limit} per test")

    predictor = Predictor(model, cache=ProbabilityCache())  # a private cache: every measurement starts cold
    directions = guess_directions(predictor.labels)
    tests = resolve_tests("all", directional=directions is not None)

    print("\n1. Perturbation (no model): texts perturbed per second")
    for test in tests:
        t0 = time.perf_counter()
        plan_probes(texts, [test], limit=args.limit)
        dt = time.perf_counter() - t0
        print(f"  {test.title:<18} {len(texts) / dt:10,.0f} texts/s")

    throughput = cost.calibrate(predictor, texts)
    print(f"\nCalibration: {throughput.describe()} (took {throughput.seconds:.1f} s)")

    print("\n2. Scoring perturbed texts (cold cache)")
    plans = plan_probes(texts, tests, limit=args.limit)
    estimate = cost.estimate_probes(predictor, evalset, directions=directions, limit=args.limit, plans=plans)
    t0 = time.perf_counter()
    report = run_probes(predictor, evalset, [t.name for t in tests], directions=directions, limit=args.limit)
    probe_s = time.perf_counter() - t0
    n_scored = sum(r.n_perturbed for r in report.results)
    print(
        f"  run_probes: {n_scored:,} perturbed texts (+ originals) in {probe_s:.2f} s = {n_scored / probe_s:,.0f} perturbed texts/s, "
        f"{report.n_model_calls:,} model calls"
    )

    perturbed = [v for plan in plans if plan.test.kind != "directional" for r in plan.rows for v in plan.variants[r]]
    sample = perturbed[: min(len(perturbed), 1000)]
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(model), top_k=None, device=-1, truncation=True)
    pipe(sample[:8])  # warm-up
    t0 = time.perf_counter()
    pipe(sample)
    pipe_s = time.perf_counter() - t0
    fresh = Predictor(model, cache=ProbabilityCache())
    fresh.predict_proba(sample[:8])
    t0 = time.perf_counter()
    fresh.predict_proba(sample)
    ours_s = time.perf_counter() - t0
    print(
        f"  same {len(sample):,} perturbed texts: transformers pipeline {len(sample) / pipe_s:,.0f} texts/s, "
        f"Predictor.predict_proba {len(sample) / ours_s:,.0f} texts/s  ->  {pipe_s / ours_s:.1f}x"
    )

    print("\n3. Cost estimate vs measured (estimate made before the run; negative error = underestimate)")
    print(_line("probes (all tests)", estimate, probe_s, report.n_model_calls))
    subset = texts[: min(len(texts), 500)]
    scorer = Predictor(model, cache=ProbabilityCache())
    scorer.predict_proba(["warm up", "the model"])
    est = cost.estimate_predict(scorer, subset, throughput=throughput)
    before = scorer.stats.texts_forwarded
    t0 = time.perf_counter()
    scorer.predict_proba(subset)
    print(_line(f"scoring {len(subset)} texts", est, time.perf_counter() - t0, scorer.stats.texts_forwarded - before))
    from models.embeddings import embed_texts

    est = cost.estimate_embed(scorer, subset, throughput=throughput)
    t0 = time.perf_counter()
    embed_texts(scorer, subset, cache=ProbabilityCache())
    print(_line(f"embedding {len(subset)} texts", est, time.perf_counter() - t0, None))
    from explain.api import explain_text

    chosen = [t for t in texts if 6 <= len(t.split()) <= 40][: args.explain]
    explain_text(scorer, chosen[0], "shap", max_evals=20)  # import and warm-up outside the timing
    for method, estimator in (("shap", cost.estimate_shap), ("lime", cost.estimate_lime)):
        explainer_predictor = Predictor(model, cache=ProbabilityCache())
        explainer_predictor.predict_proba(["warm up"])
        est = estimator(explainer_predictor, chosen, throughput=throughput)
        before = explainer_predictor.stats.texts_forwarded
        t0 = time.perf_counter()
        for text in chosen:
            explain_text(explainer_predictor, text, method)
        print(_line(f"{method.upper()} on {len(chosen)} texts", est, time.perf_counter() - t0, explainer_predictor.stats.texts_forwarded - before))


if __name__ == "__main__":
    main()
