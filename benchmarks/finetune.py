"""What does a small hyperparameter search cost, and what does it buy, over one run with the defaults?

    python benchmarks/finetune.py                      # 6 TPE trials on 3,000 demo reviews vs one default run
    python benchmarks/finetune.py --train 1000 --validation 300 --threads 1   # a busy shared machine

Both sides fine-tune the demo's base encoder (all-MiniLM-L6-v2) on the same stratified
subsample of the demo's training split and score the same validation subsample, through the
same `training.finetune` code (transformers.Trainer):

- baseline: one run with `transformers.TrainingArguments`' own defaults
  (lr 5e-5, 3 epochs, batch 8, no weight decay, no warm-up), as the Trainer docs use it;
- search: `run_search` with Optuna's TPE sampler and the median pruner, starting from scratch
  (the library-default trial is switched off so the search stands on its own).

Prints seconds per trial (completed and pruned separately), the best validation macro-F1,
and both ratios measured in this one run. Timings depend on the machine and its load.
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
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _pairs(kind):
    return lambda text: tuple(kind(p) for p in text.split(","))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=3000, help="Training reviews (stratified subsample of the demo train split).")
    parser.add_argument("--validation", type=int, default=500, help="Validation reviews (stratified subsample of the demo validation split).")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--max-length", type=int, default=64, help="Tokens per review (the demo's setting; snippets are short).")
    parser.add_argument("--epochs", type=_pairs(int), default=(1, 3), help="Epochs range searched (default 1,3).")
    parser.add_argument("--batch-sizes", type=_pairs(int), default=(8, 16, 32))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice). On an oversubscribed machine 1 is much faster.")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args(argv)

    import pandas as pd
    import torch
    from sklearn.model_selection import train_test_split

    from training.demo import base_model_dir, default_demo_dir, demo_paths
    from training.finetune import DEFAULT_HYPERPARAMETERS, SearchConfig, SearchSpace, prepare_data, run_search, train_single

    if args.threads:
        torch.set_num_threads(args.threads)
    paths = demo_paths(default_demo_dir())
    if not paths.train_data.is_file():
        print("The demo data is missing: run `veredicto demo` first.", file=sys.stderr)
        return 2
    base = base_model_dir()
    with tempfile.TemporaryDirectory(prefix="veredicto-bench-finetune-") as tmp_name:
        tmp = Path(tmp_name)
        files = {}
        for name, source, n in (("train", paths.train_data, args.train), ("validation", paths.validation_data, args.validation)):
            frame = pd.read_csv(source, dtype=str, keep_default_na=False)[["text", "label"]]
            if n < len(frame):
                keep, _ = train_test_split(range(len(frame)), train_size=n, stratify=frame["label"], random_state=args.seed)
                frame = frame.iloc[sorted(keep)]
            files[name] = tmp / f"{name}.csv"
            frame.to_csv(files[name], index=False)
        data = prepare_data(files["train"], validation=files["validation"], seed=args.seed)
        print(
            f"Data: {len(data.train_texts):,} training / {len(data.val_texts):,} validation reviews; base {base.name}; "
            f"{torch.get_num_threads()} torch thread(s), {os.cpu_count()} CPU(s); max {args.max_length} tokens.",
            flush=True,
        )

        baseline = None
        if not args.skip_baseline:
            t = time.perf_counter()
            baseline = train_single(
                base, data, tmp / "baseline", DEFAULT_HYPERPARAMETERS, max_length=args.max_length, seed=args.seed, log=lambda m: None, progress=False
            )
            baseline_s = time.perf_counter() - t
            print(
                f"Baseline (Trainer defaults {DEFAULT_HYPERPARAMETERS}): {baseline_s:.0f} s, validation macro-F1 {baseline.metrics['macro_f1']:.4f}, accuracy {baseline.metrics['accuracy']:.4f}",
                flush=True,
            )

        space = SearchSpace(learning_rate=(1e-5, 2e-4), epochs=args.epochs, batch_sizes=args.batch_sizes)
        config = SearchConfig(
            base=base,
            data=files["train"],
            validation=files["validation"],
            out=tmp / "searched",
            trials=args.trials,
            max_length=args.max_length,
            seed=args.seed,
            space=space,
            storage=f"sqlite:///{tmp / 'optuna.db'}",
            default_trial=False,
        )
        t = time.perf_counter()
        result = run_search(config, log=lambda m: print(m, flush=True), progress=False)
        search_s = time.perf_counter() - t
        if result.provenance is None or result.best_trial is None or result.best_value is None:
            print("The search finished no trial, so there is nothing to compare.", file=sys.stderr)
            return 1
        trials, best_trial, best_value = result.provenance["trials"], result.best_trial, result.best_value

    done = [t for t in trials if t["state"] == "COMPLETE"]
    pruned = [t for t in trials if t["state"] == "PRUNED"]
    per_trial = search_s / max(len(trials), 1)
    print()
    print(f"{'':34}{'seconds':>10}{'macro-F1':>10}")
    if baseline is not None:
        print(f"{'one run, Trainer defaults':34}{baseline_s:>10.0f}{baseline.metrics['macro_f1']:>10.4f}")
    print(f"{f'TPE search, {len(trials)} trials (best)':34}{search_s:>10.0f}{best_value:>10.4f}")
    print(f"  seconds per trial: {per_trial:.0f} overall; completed {_mean(done):.0f} (n={len(done)}), pruned {_mean(pruned):.0f} (n={len(pruned)})")
    print(f"  best trial {best_trial + 1}: {result.best_params}")
    if baseline is not None:
        print(f"  search / baseline time: {search_s / baseline_s:.2f}x; per trial / baseline: {per_trial / baseline_s:.2f}x")
        print(f"  macro-F1 gain of the search over the defaults: {result.best_value - baseline.metrics['macro_f1']:+.4f}")
    return 0


def _mean(trials) -> float:
    seconds = [t["seconds"] for t in trials if t.get("seconds") is not None]
    return sum(seconds) / len(seconds) if seconds else float("nan")


if __name__ == "__main__":
    sys.exit(main())
