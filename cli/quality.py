"""`veredicto quality`: train–evaluation leakage, drift and label issues of an evaluation set, in plain sentences or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cli.common import add_data_arguments, chunk_progress, load_labelled, score
from evaldata.streaming import DEFAULT_CHUNK_ROWS
from quality.drift import DEFAULT_CAP


def add_training_arguments(parser) -> None:
    parser.add_argument(
        "--train-data",
        type=Path,
        default=None,
        help="Training file for the leakage and drift checks (default: the file the checkpoint's provenance.json names, when readable).",
    )
    parser.add_argument("--train-text-col", default=None, help="Text column of the training file (default: guessed, or as recorded in the provenance).")
    parser.add_argument("--train-label-col", default=None, help="Label column of the training file (default: guessed; none is fine).")
    parser.add_argument(
        "--train-pair-col",
        default=None,
        metavar="COL",
        help="Second text column of the training file, for sentence pairs (default: the evaluation file's --pair-col, or as recorded in the provenance).",
    )
    parser.add_argument(
        "--train-chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help=f"Read the training file this many rows at a time, never whole (default {DEFAULT_CHUNK_ROWS:,}): memory stays bounded for any file size.",
    )


def training_from_args(args, checkpoint_dir):
    """The training data for `args` (explicit --train-data first, then the checkpoint's provenance), read in chunks of
    --train-chunk-rows rows with a progress bar per pass; see quality.training."""
    from quality.training import training_data

    pair_col = args.train_pair_col or getattr(args, "pair_col", None)  # a training file of pairs usually names its columns as the evaluation file does
    return training_data(
        checkpoint_dir,
        args.train_data,
        text_col=args.train_text_col,
        label_col=args.train_label_col,
        pair_col=pair_col,
        chunk_rows=args.train_chunk_rows,
        wrap=lambda chunks: chunk_progress(chunks, "Reading the training data"),
    )


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "quality",
        help="Check the data: train–evaluation leakage, drift and probably wrong gold labels.",
        description="Print train–evaluation leakage (exact and near-duplicates), drift (length, vocabulary, truncation, label balance, "
        "a domain classifier on the model's embeddings) and label issues (confident learning + embedding neighbours). "
        "Leakage and drift need the training data: --train-data FILE, or a checkpoint whose provenance.json names a readable file.",
    )
    parser.add_argument("--model", required=True, type=Path, help="Checkpoint directory.")
    add_training_arguments(parser)
    parser.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity of word 3-grams at which two texts are near-duplicates (default 0.8).")
    parser.add_argument(
        "--drift-sample", type=int, default=DEFAULT_CAP, help=f"At most this many texts per side for the drift checks (seeded sample; default {DEFAULT_CAP})."
    )
    parser.add_argument("--top", type=int, default=10, help="How many leaked texts, label issues and unlike texts to list (default 10).")
    parser.add_argument("--json", dest="as_json", action="store_true", help="Print the results as JSON instead of sentences.")
    parser.add_argument(
        "--redact",
        action="store_true",
        help="Mask personal data in the texts listed (leaked, label issues, unlike) with typed placeholders (<EMAIL>, <NAME>, …).",
    )
    add_data_arguments(parser)
    parser.set_defaults(func=run)


def _lines(frame, columns: list[str], top: int) -> list[str]:
    shown = frame.head(top)
    columns = [*columns, *(["text_pair"] if "text_pair" in frame else [])]  # sentence pairs: the second text last, after the first
    return [
        "  " + " | ".join(f"{c}={shown[c].iat[i]:.3f}" if isinstance(shown[c].iat[i], float) else f"{c}={shown[c].iat[i]}" for c in columns)
        for i in range(len(shown))
    ]


def _shown(frame, args):
    """The first --top rows of a result frame as printed: with --redact, personal data masked in its text columns."""
    from privacy.redact import redact_frame

    top = frame.head(args.top)
    return redact_frame(top, ["text", "text_pair", "train_text", "train_text_pair"]) if args.redact else top


def run(args) -> int:
    from quality.assess import assess

    evalset, mapping = load_labelled(args, args.model)
    predictor, table = score(args.model, args, evalset, mapping, "with")
    training = training_from_args(args, args.model)
    for warning in training.evalset.warnings if training.evalset is not None else ():
        print(f"warning: training data: {warning}", file=sys.stderr)
    quality = assess(predictor, table, training, label_mapping=mapping, threshold=args.threshold, drift_cap=args.drift_sample, neighbours=True)
    leaked = None if quality.leakage is None else _shown(quality.leakage.matches, args)
    issues = None if quality.label_issues is None else _shown(quality.label_issues.frame, args)
    unlike = None if quality.drift is None else _shown(quality.drift.most_unlike, args)
    if args.as_json:
        out = quality.as_dict()
        for key, frame in (("leaked_examples", leaked), ("label_issue_examples", issues), ("most_unlike_training", unlike)):
            if frame is not None:
                out[key] = frame.to_dict(orient="records")
        print(json.dumps(out, indent=2, ensure_ascii=False, default=float))
        return 0
    print(f"Data quality of {evalset.name} ({len(evalset)} examples) for {predictor.ref.name} ({predictor.ref.short_fingerprint})")
    for line in quality.lines():
        print("- " + line)
    if leaked is not None and len(leaked):
        print("\nLeaked evaluation rows (0-based row, training row):")
        print("\n".join(_lines(leaked, ["row", "train_row", "similarity", "kind", "text"], args.top)))
    if issues is not None and len(issues):
        print("\nProbably wrong gold labels, most likely first:")
        print("\n".join(_lines(issues, ["row", "gold", "suggested", "gold_probability", "flagged_by", "text"], args.top)))
    if unlike is not None and len(unlike):
        print("\nEvaluation texts most unlike the training data:")
        print("\n".join(_lines(unlike, ["row", "p_eval", "text"], args.top)))
    return 0
