"""`veredicto gate`: evaluate a release policy on a checkpoint and exit 0 (all pass), 1 (a gate fails) or 2 (bad input)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from models.errors import DataError, VeredictoError


def add_data_arguments(parser, *, required: bool = True, scoring: bool = True) -> None:
    parser.add_argument("--data", required=required, type=Path, help="Labelled evaluation file (CSV, TSV, JSONL or Parquet).")
    parser.add_argument("--text-col", default=None, help="Text column (default: guessed from names like 'text').")
    parser.add_argument("--label-col", default=None, help="Label column (default: guessed from names like 'label').")
    parser.add_argument("--label-map", default=None, help="Rename data labels to checkpoint labels, e.g. pos=positive,neg=negative.")
    if scoring:
        parser.add_argument("--batch-size", type=int, default=32, help="Texts per forward pass.")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="Check a checkpoint against a release policy (exit 0 pass, 1 fail, 2 bad input).",
        description="Evaluate every gate of a policy file and print a table. Exit status: 0 every gate passes, "
        "1 at least one gate fails, 2 bad input (including a gate that cannot be evaluated, e.g. a drop gate without --baseline).",
    )
    parser.add_argument("--model", required=True, type=Path, help="Candidate checkpoint directory.")
    parser.add_argument("--policy", required=True, type=Path, help="Policy file (.yaml/.yml or .toml); see policies/example.yaml.")
    parser.add_argument("--baseline", type=Path, default=None, help="Baseline ('before') checkpoint for the drop gates.")
    parser.add_argument(
        "--store",
        default=None,
        help="Audit store (SQLAlchemy URL or directory) for the approvals gate; default $VEREDICTO_STORE_URL, else store/veredicto.db in the Veredicto home.",
    )
    parser.add_argument("--json", dest="json_out", type=Path, default=None, help="Also write the gate results as JSON to this file.")
    parser.add_argument(
        "--cache-dir", default=None, help="Attribution cache for the faithfulness gate (default: $VEREDICTO_CACHE_DIR, else cache/ in the Veredicto home)."
    )
    add_data_arguments(parser)
    parser.set_defaults(func=run)


def score(model: Path, evalset, mapping, batch_size: int, label: str):
    """Predictor and prediction table for one checkpoint, with a progress bar on stderr."""
    from tqdm import tqdm

    from analysis.predictions import predict_table
    from evaldata.loading import align_labels
    from models.inference import Predictor

    predictor = Predictor(model, batch_size=batch_size)
    align_labels(evalset, predictor.labels, mapping)  # fail on unknown labels before any scoring
    with tqdm(total=len(evalset), desc=f"Scoring {label} {predictor.ref.name}", unit="text", file=sys.stderr, disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        table = predict_table(predictor, evalset, label_mapping=mapping, progress=progress)
    return predictor, table


def load_labelled(args):
    from evaldata.loading import load_eval_data, parse_mapping

    if args.label_col == "":
        raise DataError("Gates need gold labels: --label-col cannot be empty.")
    evalset = load_eval_data(args.data, text_col=args.text_col, label_col=args.label_col)
    for warning in evalset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return evalset, parse_mapping(args.label_map)


def run(args) -> int:
    from store.gates import evaluate_gates, format_table
    from store.policy import load_policy

    policy = load_policy(args.policy)  # cheapest check first
    evalset, mapping = load_labelled(args)
    predictor, table = score(args.model, evalset, mapping, args.batch_size, "candidate")
    baseline = None
    if args.baseline is not None:
        _, baseline = score(args.baseline, evalset, mapping, args.batch_size, "baseline")
    store = None
    if "approvals_required" in policy.gates:
        from store.audit import open_store

        store = open_store(args.store)
    print(
        f"Policy {policy.name or Path(policy.source).name} (sha256 {policy.sha256[:12]}) on {predictor.ref.name} "
        f"({predictor.ref.short_fingerprint}), {evalset.name} ({len(evalset)} examples)"
        + (f", baseline {baseline.checkpoint_name} ({baseline.fingerprint[:12]})" if baseline is not None else "")
    )
    cache = None
    if "min_faithfulness" in policy.gates:
        from explain.cache import AttributionCache

        cache = AttributionCache(args.cache_dir)
    from tqdm import tqdm

    with tqdm(desc="Explaining a sample for the faithfulness gate", unit="text", file=sys.stderr, disable=None if cache else True) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = evaluate_gates(
            policy, table, baseline=baseline, predictor=predictor, store=store, checkpoint_path=str(predictor.ref.path), cache=cache, progress=progress
        )
    print(format_table(report))
    print(f"\nVerdict: {report.verdict}.")
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"verdict": report.verdict, "passed": report.passed, **report.signoff_fields()}, indent=2, ensure_ascii=False))
    if report.not_evaluated:
        missing = "; ".join(f"{r.title}: {r.detail}" for r in report.not_evaluated)
        raise VeredictoError(f"{len(report.not_evaluated)} gate(s) could not be evaluated, so the result is not a pass: {missing}")
    return 0 if report.passed else 1
