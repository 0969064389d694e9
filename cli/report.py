"""`veredicto report`: one self-contained HTML file (opens offline, prints to PDF) for stakeholders."""

from __future__ import annotations

import sys
from pathlib import Path

from cli.common import add_data_arguments, load_labelled, score
from models.errors import VeredictoError
from policies import example_policy

DEFAULT_POLICY = example_policy()


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="Write a self-contained HTML report: gates, metrics with intervals, before/after, worst slices, explanations, sign-offs.",
    )
    parser.add_argument("--model", required=True, type=Path, help="Candidate checkpoint directory.")
    parser.add_argument("--baseline", type=Path, default=None, help="Baseline ('before') checkpoint for the before/after section.")
    parser.add_argument("--out", required=True, type=Path, help="Output .html file.")
    parser.add_argument("--policy", type=Path, default=None, help=f"Policy file for the gates (default: {DEFAULT_POLICY.name}, the documented example).")
    parser.add_argument(
        "--store",
        default=None,
        help="Audit store for the sign-off history (default: $VEREDICTO_STORE_URL, else store/veredicto.db in the Veredicto home; see runtime/settings.py).",
    )
    parser.add_argument("--examples", type=int, default=3, help="How many examples to explain with SHAP and LIME (0 = none).")
    parser.add_argument("--cache-dir", default=None, help="Attribution cache directory (default: $VEREDICTO_CACHE_DIR, else cache/ in the Veredicto home).")
    parser.add_argument("--title", default=None, help="Report title.")
    parser.add_argument(
        "--redact",
        action="store_true",
        help="Mask personal data (emails, phones, IBANs, cards, national IDs, IPs, URLs, names) in every text the report shows; models still score the original.",
    )
    add_data_arguments(parser, data_help="Labelled evaluation file (CSV, TSV, JSONL or Parquet).")
    from cli.quality import add_training_arguments

    add_training_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from explain.cache import AttributionCache
    from store.audit import open_store
    from store.gates import evaluate_gates
    from store.policy import load_policy
    from store.report import make_report

    if args.out.suffix.lower() not in (".html", ".htm"):
        raise VeredictoError(f"--out must end in .html (got '{args.out}').")
    if args.examples < 0:
        raise VeredictoError("--examples must be 0 or more.")
    policy = load_policy(args.policy or DEFAULT_POLICY)
    evalset, mapping = load_labelled(args, args.model)
    predictor, table = score(args.model, args, evalset, mapping, "candidate")
    baseline = None
    if args.baseline is not None:
        _, baseline = score(args.baseline, args, evalset, mapping, "baseline")
    store = open_store(args.store)
    cache = AttributionCache(args.cache_dir)
    from cli.quality import training_from_args

    training = training_from_args(args, args.model) if {"max_leakage_rate", "max_drift_auc"} & set(policy.gates) else None
    with tqdm(desc="Gates and explanations", unit="step", file=sys.stderr, disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        gates = evaluate_gates(
            policy,
            table,
            baseline=baseline,
            predictor=predictor,
            store=store,
            checkpoint_path=str(predictor.ref.path),
            cache=cache,
            progress=progress,
            training=training,
            label_mapping=mapping,
        )
        bar.reset()
        html = make_report(
            gates,
            table,
            baseline=baseline,
            predictor=predictor,
            store=store,
            cache=cache,
            n_examples=args.examples,
            progress=progress,
            title=args.title,
            redact=args.redact,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(html, encoding="utf-8")
    print(f"Wrote {args.out} ({len(html.encode('utf-8')) / 1e6:.1f} MB, opens offline). Gates: {gates.verdict}.", file=sys.stderr)
    return 0
