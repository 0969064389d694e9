"""`veredicto predict`: one row per example with the probabilities and the predicted label."""

from __future__ import annotations

import sys
from pathlib import Path

from models.errors import DataError


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="Score an evaluation file with a checkpoint and write a Parquet table.")
    parser.add_argument("--model", required=True, type=Path, help="Checkpoint directory (config.json, tokenizer, model.safetensors).")
    parser.add_argument("--data", required=True, type=Path, help="CSV, JSONL or Parquet file.")
    parser.add_argument("--out", required=True, type=Path, help="Output .parquet file.")
    parser.add_argument("--text-col", default=None, help="Text column (default: guessed from names like 'text').")
    parser.add_argument("--label-col", default=None, help="Label column (default: guessed; pass '' for unlabelled data).")
    parser.add_argument("--label-map", default=None, help="Rename data labels to checkpoint labels, e.g. pos=positive,neg=negative.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from analysis.predictions import predict_table
    from evaldata.loading import align_labels, load_eval_data, parse_mapping
    from models.inference import Predictor

    if args.out.suffix.lower() != ".parquet":
        raise DataError(f"--out must end in .parquet (got '{args.out}').")
    evalset = load_eval_data(args.data, text_col=args.text_col, label_col=args.label_col)
    for warning in evalset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    predictor = Predictor(args.model, batch_size=args.batch_size)
    mapping = parse_mapping(args.label_map)
    if "label" in evalset.frame:
        align_labels(evalset, predictor.labels, mapping)  # fail on unknown labels before any scoring
    with tqdm(total=len(evalset), desc=f"Scoring with {predictor.ref.name}", unit="text", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total  # duplicates are scored once, so the count of texts to score can be lower
            bar.update(done - bar.n)

        if "label" in evalset.frame:
            frame = predict_table(predictor, evalset, label_mapping=mapping, progress=progress).frame
        else:
            probs = predictor.predict_proba(evalset.texts, progress=progress)
            frame = evalset.frame.copy()
            frame["pred"] = [predictor.labels[i] for i in probs.argmax(axis=1)]
            frame["confidence"] = probs.max(axis=1)
            for c, label in enumerate(predictor.labels):
                frame[f"p_{label}"] = probs[:, c]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out, index=False)
    summary = f"Wrote {len(frame):,} rows to {args.out}"
    if "correct" in frame:
        summary += f" (accuracy {frame['correct'].mean():.1%})"
    truncated = int(predictor.truncated(evalset.texts).sum())
    if truncated:
        summary += f"; {truncated:,} text(s) were longer than {predictor.max_length} tokens and were truncated"
    print(summary + ".", file=sys.stderr)
    return 0
