"""`veredicto probe`: behavioural and bias probes of one checkpoint (or two, before/after) from the shell.

Prints what the run will cost first (model calls and time, from throughput measured here), then
runs with a progress bar, then one line per test. `--out report.json` keeps everything (failing
pairs included); `--out failures.csv` keeps the failing pairs only. `--fail-above RATE` exits 1
when any test fails more often than RATE, so a CI job can block a brittle checkpoint.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from cli.common import add_data_arguments
from models.errors import VeredictoError


def register(subparsers) -> None:
    from probes.perturb import KINDS, LANGUAGES, TESTS
    from probes.run import DEFAULT_SEGMENT, SEGMENTS

    parser = subparsers.add_parser(
        "probe",
        help="Run behavioural and bias probes (typos, casing, names, gender, negation, ...) on a checkpoint.",
        description="CheckList-style probes: perturb the evaluation texts in ways that should not change the "
        "prediction (typos, casing, punctuation, whitespace, a neutral clause; names, gendered words, nationalities) "
        "or should move it a known way (negation, intensifier), and report how often the model breaks. "
        "Give --model twice to compare a baseline (first) with a fine-tuned checkpoint.",
    )
    parser.add_argument("--model", required=True, type=Path, action="append", help="Checkpoint directory; give it twice for before/after (baseline first).")
    add_data_arguments(
        parser,
        data_help="CSV, TSV, JSONL or Parquet file with a text column.",
        label_help="Label column, shown next to failures (default: guessed; use '' for none).",
    )
    parser.add_argument(
        "--perturb",
        choices=SEGMENTS,
        default=DEFAULT_SEGMENT,
        help=f"Sentence pairs (--pair-col): which text the probes change, the other staying as it is (default {DEFAULT_SEGMENT}).",
    )
    parser.add_argument(
        "--tests",
        nargs="+",
        default=None,
        metavar="TEST",
        help=f"Tests or kinds to run (default: all that apply). Tests: {', '.join(TESTS)}. Kinds: {', '.join(KINDS)}.",
    )
    parser.add_argument("--limit", type=int, default=None, help="At most N examples per test (a seeded sample of those the test applies to).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the sample and of the random perturbations (default 0).")
    parser.add_argument("--variants", type=int, default=3, help="Perturbed versions per example where a test can make several (default 3).")
    parser.add_argument("--language", choices=("auto", *LANGUAGES), default="auto", help="Word lists to use (default: detected per text).")
    parser.add_argument("--positive-label", default=None, help="Class that negation should lower and intensifiers should not (turns on directional tests).")
    parser.add_argument("--negative-label", default=None, help="Class whose probability intensifiers should not lower either.")
    parser.add_argument("--no-directional", action="store_true", help="Skip negation/intensifier tests even when the labels look like sentiment.")
    parser.add_argument("--out", type=Path, default=None, help="Write the full report (.json) or the failing pairs (.csv).")
    parser.add_argument("--fail-above", type=float, default=None, metavar="RATE", help="Exit 1 when a test's failure rate is above RATE (0..1).")
    parser.add_argument("--examples", type=int, default=2, help="Failing pairs to print per test (default 2; 0 for none).")
    parser.set_defaults(func=run)


def _directions(args, labels):
    from probes.perturb import DirectionConfig, guess_directions

    if args.no_directional:
        return None, "off (--no-directional)"
    if args.positive_label:
        config = DirectionConfig.sentiment(args.positive_label, args.negative_label).validate(labels)
        return config, config.describe()
    guessed = guess_directions(labels)
    if guessed is None:
        return None, f"off (labels {', '.join(labels)} do not look like sentiment; give --positive-label to turn them on)"
    return guessed, guessed.describe() + " (guessed from the labels; --positive-label to choose, --no-directional to skip)"


def _rate(value: float) -> str:
    return "  n/a" if math.isnan(value) else f"{value:5.1%}"


def _print_report(report, examples: int) -> None:
    print(
        f"\n{report.checkpoint_name} ({report.fingerprint[:12]}) on {report.data_name}: {report.n_examples:,} examples, "
        f"{report.n_model_calls:,} model calls, {report.seconds:.1f} s"
    )
    width = max(len(r.title) for r in report.results)
    for r in report.results:
        low, high = r.interval
        ci = "" if math.isnan(low) else f"  95% CI {low:.0%}–{high:.0%}"
        print(
            f"  {r.title:<{width}}  {_rate(r.failure_rate)}  {r.n_failed:>5}/{r.n_tried:<5} failed{ci}  · applies to {r.applies_to}"
            + (f"  · {r.note}" if r.note and not r.n_tried else "")
        )
        if r.label_flips:
            print("      label flips: " + ", ".join(f"{label} {n}" for label, n in r.label_flips.items()))
        for f in r.failures[:examples]:
            print(
                f"      {f.original!r}\n   -> {f.perturbed!r}\n      {f.pred_before} ({f.p_before:.2f}) -> {f.pred_after}; P({f.watched}) {f.p_before:.2f} -> {f.p_after:.2f}"
            )


def run_with_bar(predictor, evalset, estimate, tests: list[str], **kwargs):
    """One checkpoint's probe run (`probes.run.run_probes` with `kwargs`) with a progress bar on stderr, then how its cost
    `estimate` compared with the run. Shared by `veredicto probe` and `veredicto precompute --what probes`."""
    from tqdm import tqdm

    from probes import cost
    from probes.run import run_probes

    with tqdm(total=max(estimate.n_requested, 1), desc=predictor.ref.name, unit="text", file=sys.stderr, dynamic_ncols=True) as bar:

        def progress(done, total, label):
            if total != bar.total:
                bar.total = total
            bar.set_postfix_str(label, refresh=False)
            bar.update(done - bar.n)

        started = time.perf_counter()
        report = run_probes(predictor, evalset, tests, progress=progress, **kwargs)
    print(cost.check(estimate, time.perf_counter() - started, report.n_model_calls).describe(), file=sys.stderr)
    return report


def run(args) -> int:
    from cli.common import check_pairs, checkpoint, open_predictor, read_data, thresholds_for
    from evaldata.loading import parse_mapping
    from probes import cost
    from probes.perturb import resolve_tests
    from probes.run import compare_reports, plan_probes

    if len(args.model) > 2:
        raise VeredictoError("Give --model once (one checkpoint) or twice (baseline first, then the fine-tuned one).")
    if args.limit is not None and args.limit < 1:
        raise VeredictoError(f"--limit must be at least 1 (got {args.limit}).")
    if args.variants < 1:
        raise VeredictoError(f"--variants must be at least 1 (got {args.variants}).")
    if args.fail_above is not None and not 0 <= args.fail_above <= 1:
        raise VeredictoError(f"--fail-above is a failure rate between 0 and 1 (got {args.fail_above}).")
    if args.out is not None and args.out.suffix.lower() not in (".json", ".csv"):
        raise VeredictoError(f"--out must end in .json (full report) or .csv (failing pairs), got '{args.out.name}'.")
    refs = [checkpoint(path, args) for path in args.model]
    evalset = read_data(args, refs[0])
    mapping = parse_mapping(args.label_map)
    if len(refs) == 2 and (refs[1].labels, refs[1].task) != (refs[0].labels, refs[0].task):
        raise VeredictoError(
            f"The two checkpoints have different labels or tasks ({', '.join(refs[0].labels)}, {refs[0].task} vs "
            f"{', '.join(refs[1].labels)}, {refs[1].task}); probe results can only be compared between checkpoints of the same task."
        )
    predictors = [open_predictor(ref, args, batch_size=args.batch_size) for ref in refs]
    labels = predictors[0].labels
    for predictor in predictors:
        check_pairs(predictor, evalset)
    thresholds = [thresholds_for(args, predictor, evalset, mapping) for predictor in predictors]
    if evalset.pair:
        print(f"Sentence pairs: perturbing the {'two segments' if args.perturb == 'both' else args.perturb + ' segment'}.", file=sys.stderr)
    directions, said = _directions(args, labels)
    tests = resolve_tests(args.tests, directional=directions is not None)
    print(f"Directional probes: {said}", file=sys.stderr)
    plans = plan_probes(evalset.inputs, tests, limit=args.limit, seed=args.seed, n_variants=args.variants, language=args.language, segment=args.perturb)
    estimates = []
    for predictor in predictors:
        estimate = cost.estimate_probes(predictor, evalset, directions=directions, limit=args.limit, plans=plans)
        estimates.append(estimate)
        print(f"Cost of {predictor.ref.name}: {estimate.describe()}", file=sys.stderr)

    reports = [
        run_with_bar(
            predictor,
            evalset,
            estimate,
            [t.name for t in tests],
            directions=directions,
            limit=args.limit,
            seed=args.seed,
            n_variants=args.variants,
            language=args.language,
            segment=args.perturb,
            thresholds=cuts,
        )
        for predictor, estimate, cuts in zip(predictors, estimates, thresholds)
    ]

    for report in reports:
        _print_report(report, max(args.examples, 0))
    comparison = None
    if len(reports) == 2:
        comparison = compare_reports(*reports)
        print(f"\nBefore ({reports[0].checkpoint_name}) -> after ({reports[1].checkpoint_name}):")
        for row in comparison.itertuples():
            p = "" if math.isnan(row.p_value) else f"  p={row.p_value:.3f}"
            print(f"  {row.title:<18} {_rate(row.before)} -> {_rate(row.after)}  {row.verdict}{p}")

    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix.lower() == ".json":
            payload = {"reports": [r.to_dict() for r in reports]}
            if comparison is not None:
                payload["comparison"] = json.loads(comparison.to_json(orient="records"))
            args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
        else:
            import pandas as pd

            frames = []
            for report in reports:
                frame = report.failures_frame()
                frame.insert(0, "checkpoint", report.checkpoint_name)
                frames.append(frame)
            from runtime.escaping import csv_bytes

            # formula-looking cells neutralised, as every CSV export is: the failing pairs are opened in spreadsheets
            args.out.write_bytes(csv_bytes(pd.concat(frames, ignore_index=True), bom=False))
        print(f"Wrote {args.out}", file=sys.stderr)

    if args.fail_above is not None:
        report = reports[-1]
        over = [r for r in report.results if r.n_tried and r.failure_rate > args.fail_above]
        if over:
            print(
                f"FAIL: {', '.join(f'{r.test} {r.failure_rate:.1%}' for r in over)} above {args.fail_above:.1%} ({report.checkpoint_name}).",
                file=sys.stderr,
            )
            return 1
    return 0
