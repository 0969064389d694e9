"""`veredicto gate`: evaluate a release policy on a checkpoint and exit 0 (all pass), 1 (a gate fails) or 2 (bad input).

The evaluation is read from and kept in the results store (`store.gates.stored_evaluation`, the key the Sign-off page
uses), so a second run on the same checkpoint, data and policy, or one after the page evaluated them, runs nothing;
approvals are counted afresh every time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cli.common import add_data_arguments, load_labelled, score, thresholds_json
from models.errors import VeredictoError


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
        "--cache-dir",
        default=None,
        help="Results store (predictions, gate evaluations) and attribution cache (faithfulness gate); default: $VEREDICTO_CACHE_DIR, else cache/ "
        "in the Veredicto home, which the app reads. A gate evaluation stored there by an earlier run or the Sign-off page is read, not redone.",
    )
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="Evaluate the gates again instead of reading the evaluation stored for this checkpoint, data and policy; the new one replaces it "
        "(predictions are still read from the results store).",
    )
    add_data_arguments(parser, data_help="Labelled evaluation file (CSV, TSV, JSONL or Parquet).")
    from cli.quality import add_training_arguments

    add_training_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from explain.cache import page_explain_params
    from store.gates import format_table, refresh_approvals, stored_or_evaluated
    from store.policy import load_policy
    from store.results import shared_store

    policy = load_policy(args.policy)  # cheapest check first
    evalset, mapping = load_labelled(args, args.model)
    predictor, table = score(args.model, args, evalset, mapping, "candidate")
    baseline = None
    if args.baseline is not None:
        _, baseline = score(args.baseline, args, evalset, mapping, "baseline")
    store = None
    if "approvals_required" in policy.gates:
        from store.audit import open_store

        store = open_store(args.store)
    print(
        f"Policy {policy.name or Path(policy.source).name} (sha256 {policy.sha256[:12]}) on {predictor.ref.name} "
        f"({predictor.ref.short_fingerprint}, {predictor.ref.task_description}), {evalset.name} ({len(evalset)} examples"
        + (", sentence pairs" if evalset.pair else "")
        + ")"
        + (f"; thresholds {table.thresholds.describe()}" if table.thresholds is not None else "")
        + (f", baseline {baseline.checkpoint_name} ({baseline.fingerprint[:12]})" if baseline is not None else "")
    )
    training = None
    if {"max_leakage_rate", "max_drift_auc"} & set(policy.gates):
        from cli.quality import training_from_args

        training = training_from_args(args, args.model)
    cache = None
    if "min_faithfulness" in policy.gates:
        from explain.cache import AttributionCache

        cache = AttributionCache(args.cache_dir)
    from tqdm import tqdm

    with tqdm(desc="Explaining a sample for the faithfulness gate", unit="text", file=sys.stderr, disable=None if cache else True) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        results = shared_store(args.cache_dir).store  # None when unusable (already warned): evaluated, not stored
        report, stored = stored_or_evaluated(
            policy,
            table,
            results=results,
            recompute=args.recompute,
            baseline=baseline,
            predictor=predictor,
            checkpoint_path=str(predictor.ref.path),
            cache=cache,
            explain_params=page_explain_params(),  # the Sign-off page's budgets: the page and this command share one stored evaluation
            progress=progress,
            training=training,
            label_mapping=mapping,
        )
    if stored and results is not None:
        print(
            f"Gates read from the results store {results.directory} (evaluated before on this checkpoint, data and policy); --recompute evaluates them again.",
            file=sys.stderr,
        )
    if store is not None:  # approvals are never stored: counted now
        report = refresh_approvals(report, store)
    print(format_table(report))
    print(f"\nVerdict: {report.verdict}.")
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(
            json.dumps(
                {
                    "verdict": report.verdict,
                    "passed": report.passed,
                    "task": table.task,
                    "task_source": predictor.ref.task_source,
                    "pair": table.pair,
                    "thresholds": thresholds_json(table),
                    **report.signoff_fields(),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    if report.not_evaluated:
        missing = "; ".join(f"{r.title}: {r.detail}" for r in report.not_evaluated)
        raise VeredictoError(f"{len(report.not_evaluated)} gate(s) could not be evaluated, so the result is not a pass: {missing}")
    return 0 if report.passed else 1
