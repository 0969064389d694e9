"""`veredicto predict`: one row per example with the probabilities and the prediction (a label, or a multi-label set)."""

from __future__ import annotations

import sys
from pathlib import Path

from cli.common import add_data_arguments
from models.errors import DataError

SHOWN_ROWS = 20  # multi-label: predicted sets printed per row (the whole table is in --out)


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="Score an evaluation file with a checkpoint and write a Parquet table.")
    parser.add_argument("--model", required=True, type=Path, help="Checkpoint directory (config.json, tokenizer, model.safetensors).")
    parser.add_argument("--out", required=True, type=Path, help="Output .parquet file.")
    add_data_arguments(parser, data_help="CSV, TSV, JSONL or Parquet file.", label_help="Label column (default: guessed; pass '' for unlabelled data).")
    parser.set_defaults(func=run)


def _unlabelled_frame(predictor, evalset, thresholds, progress):
    from analysis.predictions import join_tags, predicted_sets, set_probability

    probs = predictor.predict_proba(evalset.inputs, progress=progress)
    frame = evalset.frame.copy()
    if thresholds is not None:
        predicted = predicted_sets(probs, thresholds)
        frame["pred"] = join_tags(predicted, predictor.labels)
        frame["confidence"] = set_probability(probs.astype(float), predicted)
    else:
        frame["pred"] = [predictor.labels[i] for i in probs.argmax(axis=1)]
        frame["confidence"] = probs.max(axis=1)
    for c, label in enumerate(predictor.labels):
        frame[f"p_{label}"] = probs[:, c]
    return frame


def multi_label_summary(table) -> list[str]:
    """Multi-label headline metrics and each label's precision/recall/F1 and threshold (what `analysis.metrics.table_metrics` gives a multi-label table)."""
    from analysis.metrics import multi_label_metrics

    m = multi_label_metrics(table.gold_matrix, table.pred_matrix, table.labels)
    lines = [
        f"Subset accuracy (exact set) {m.accuracy:.1%} · Hamming loss {m.hamming_loss:.4f} · "
        f"F1 micro {m.micro_f1:.3f}, macro {m.macro_f1:.3f}, samples {m.samples_f1:.3f}"
    ]
    width = max(len(label) for label in table.labels)
    for c, (label, row) in enumerate(m.per_class.iterrows()):
        lines.append(
            f"  {label:<{width}}  precision {row['precision']:.3f}  recall {row['recall']:.3f}  F1 {row['f1']:.3f}  support {int(row['support'])}"
            f"  threshold {table.thresholds.values[c]:.3g}"
        )
    return lines


def run(args) -> int:
    from tqdm import tqdm

    from cli.common import check_pairs, checkpoint, open_predictor, read_data, thresholds_for, warn_store
    from evaldata.loading import align_labels, parse_mapping

    if args.out.suffix.lower() != ".parquet":
        raise DataError(f"--out must end in .parquet (got '{args.out}').")
    ref = checkpoint(args.model, args)
    evalset = read_data(args, ref)
    predictor = open_predictor(ref, args, batch_size=args.batch_size)
    check_pairs(predictor, evalset)
    mapping = parse_mapping(args.label_map)
    labelled = "label" in evalset.frame
    if labelled:
        align_labels(evalset, predictor.labels, mapping, multi_label=ref.multi_label)  # fail on unknown labels before any scoring
    thresholds = thresholds_for(args, predictor, evalset, mapping)
    table = None
    with tqdm(total=len(evalset), desc=f"Scoring with {predictor.ref.name}", unit="text", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total  # duplicates are scored once, so the count of texts to score can be lower
            bar.update(done - bar.n)

        if labelled:
            from analysis.predictions import predict_table

            table = predict_table(predictor, evalset, label_mapping=mapping, thresholds=thresholds, progress=progress)
            frame = table.frame
        else:
            frame = _unlabelled_frame(predictor, evalset, thresholds, progress)
    warn_store(predictor, args=args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out, index=False)
    if ref.multi_label:
        print(f"Task: {ref.task_description}" + ("; sentence pairs" if evalset.pair else ""))
        if table is not None:
            print("\n".join(multi_label_summary(table)))
        for i, tags in enumerate(frame["pred"].head(SHOWN_ROWS), 1):
            print(f"row {i}: {{{', '.join(t for t in tags.split(' | ') if t)}}}")
        if len(frame) > SHOWN_ROWS:
            print(f"… {len(frame) - SHOWN_ROWS:,} more row(s) in {args.out}")
    summary = f"Wrote {len(frame):,} rows to {args.out}"
    if "correct" in frame:
        summary += f" ({'exact-set accuracy' if ref.multi_label else 'accuracy'} {frame['correct'].mean():.1%})"
    truncated = int(predictor.truncated(evalset.inputs).sum())
    if truncated:
        summary += f"; {truncated:,} text(s) were longer than {predictor.max_length} tokens and were truncated"
    print(summary + ".", file=sys.stderr)
    return 0
