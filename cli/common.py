"""What every data-reading command shares: the data options and the "checkpoint + data + thresholds" step.

One place decides, for predict, gate, report, probe and precompute alike, how a checkpoint is read (`--task`
overrides config.json), how the evaluation file is read (text, sentence-pair and label columns; multi-label gold as
tags joined by `--label-sep` or one 0/1 column per label, detected when columns are named like the labels), and
which per-label thresholds a multi-label checkpoint uses (0.5, `--thresholds FILE`, or `--tune-thresholds
VALIDATION_FILE`). Every bad input is refused before any scoring, so nothing cached or written is lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

from models.errors import DataError


def add_data_arguments(
    parser,
    *,
    data_help: str = "Labelled evaluation file (CSV, TSV, JSONL or Parquet).",
    label_help: str | None = None,
    gold: bool = True,
    thresholds: bool = True,
    required: bool = True,
    scoring: bool = True,
) -> None:
    """The data options of a command that reads an evaluation file.

    `gold`: the command reads gold labels (label mapping, multi-label gold formats); `thresholds`: it decides
    multi-label predictions (per-label threshold options); `scoring=False`: it runs no checkpoint (`veredicto labels`),
    so only the file, its columns and the label mapping.
    """
    from evaldata.loading import DEFAULT_LABEL_SEP
    from models.task import TASKS

    parser.add_argument("--data", required=required, type=Path, help=data_help)
    parser.add_argument("--text-col", default=None, help="Text column (default: guessed from names like 'text').")
    parser.add_argument("--pair-col", default=None, metavar="COL", help="Second text column: score each row as a sentence pair (text, COL).")
    parser.add_argument("--label-col", default=None, help=label_help or "Label column (default: guessed from names like 'label').")
    if not scoring:
        parser.add_argument("--label-map", default=None, help="Rename data labels to checkpoint labels, e.g. pos=positive,neg=negative.")
        return
    parser.add_argument("--task", choices=TASKS, default=None, help="Read the checkpoint as this task (default: what config.json's problem_type says).")
    if gold:
        parser.add_argument(
            "--label-map", default=None, help="Rename data labels to checkpoint labels, e.g. pos=positive,neg=negative (tag by tag for multi-label)."
        )
        parser.add_argument(
            "--label-sep",
            default=None,
            metavar="SEP",
            help=f"Multi-label gold: tags joined by SEP in the label column, an empty cell meaning no tag (default '{DEFAULT_LABEL_SEP}').",
        )
        parser.add_argument(
            "--label-cols",
            default=None,
            metavar="A,B,C",
            help="Multi-label gold: one 0/1 column per label (default: detected when columns are named like the checkpoint's labels).",
        )
    if thresholds:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--thresholds", type=Path, default=None, metavar="FILE", help="Multi-label: per-label thresholds, YAML/JSON `label: threshold`.")
        group.add_argument(
            "--tune-thresholds",
            type=Path,
            default=None,
            metavar="VALIDATION_FILE",
            help="Multi-label: each label's F1-best threshold on this labelled validation file (never the evaluation data), read with the same columns.",
        )
    parser.add_argument("--batch-size", type=int, default=32, help="Texts per forward pass.")


def _label_cols(spec: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in (spec or "").split(",") if c.strip())


def checkpoint(path: Path, args):
    """The checkpoint reference as this command reads it (`--task` overrides config.json)."""
    from models.checkpoints import inspect_checkpoint

    return inspect_checkpoint(path, task=getattr(args, "task", None))


def read_data(args, ref, source: Path | None = None, *, labelled: bool | None = None):
    """The evaluation file (or `source`, e.g. a validation file) read with the command's column options for checkpoint `ref`.

    `labelled`: True needs gold labels, False reads none, None takes them when there are some. For a multi-label
    checkpoint, gold is tags joined by `--label-sep` ('|' by default), or 0/1 columns: `--label-cols`, else the
    columns named like its labels when there is no label column.
    """
    from evaldata.loading import DEFAULT_LABEL_SEP, detect_label_columns, guess_column, load_eval_data, read_file

    source = args.data if source is None else source
    label_col = args.label_col
    label_cols = _label_cols(getattr(args, "label_cols", None))
    if label_cols and label_col:
        raise DataError("Give the multi-label gold either as one column (--label-col, with --label-sep) or as 0/1 columns (--label-cols), not both.")
    if label_cols and not ref.multi_label:
        raise DataError(
            f"--label-cols gives one 0/1 column per label, which only multi-label checkpoints read; '{ref.name}' is {ref.task_description}. "
            "Pass --task multi-label if it is a multi-label classifier, or give its label column with --label-col."
        )
    if labelled is False:
        label_col, label_cols = "", ()
    elif ref.multi_label and not label_cols and label_col is None:
        columns = list(read_file(source)[0].columns)
        if guess_column(columns, "label") is None:
            label_cols = detect_label_columns(columns, ref.labels)
            if not label_cols and labelled is None:
                label_col = ""  # unlabelled data: predictions only
    sep_given = getattr(args, "label_sep", None)
    label_sep = sep_given if sep_given is not None else (DEFAULT_LABEL_SEP if ref.multi_label else None)
    if label_sep == "":
        raise DataError("--label-sep cannot be empty: give the character that joins the tags of a row, e.g. '|' or ';'.")
    if labelled and label_col == "":
        raise DataError("This command needs gold labels: --label-col cannot be empty.")
    evalset = load_eval_data(source, text_col=args.text_col, label_col=label_col, pair_col=args.pair_col, label_sep=label_sep, label_cols=label_cols or None)
    for warning in evalset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return evalset


def check_pairs(predictor, evalset) -> None:
    """Refuse sentence pairs the tokenizer cannot mark before any scoring (the inference layer's own message)."""
    if evalset.pair:
        predictor.token_counts(evalset.inputs[:1])


def thresholds_for(args, predictor, evalset, mapping):
    """The multi-label thresholds the command's options ask for (None for a single-label checkpoint), said on stderr."""
    from analysis.thresholds import Thresholds, load_thresholds, tune_thresholds

    file, validation = getattr(args, "thresholds", None), getattr(args, "tune_thresholds", None)
    if not predictor.ref.multi_label:
        if file is not None or validation is not None:
            option = "--thresholds" if file is not None else "--tune-thresholds"
            raise DataError(
                f"{option} sets per-label thresholds of a multi-label checkpoint; '{predictor.ref.name}' is {predictor.ref.task_description}, "
                "whose prediction is its most probable label. Pass --task multi-label if it is a multi-label classifier."
            )
        return None
    if file is not None:
        thresholds = load_thresholds(file, predictor.labels)
    elif validation is not None:
        thresholds = tune_thresholds(predictor, read_data(args, predictor.ref, validation, labelled=True), label_mapping=mapping, evaluation=evalset)
    else:
        thresholds = Thresholds.default(predictor.labels)
    print(f"Thresholds: {thresholds.describe()}", file=sys.stderr)
    return thresholds


def thresholds_json(table) -> dict | None:
    """The task and thresholds of a table for JSON outputs (None for single-label)."""
    if table.thresholds is None:
        return None
    return {"source": table.thresholds.source, "values": table.thresholds.as_dict()}


def open_predictor(ref, args, **kwargs):
    """The command's Predictor: it reads and fills the results store (`--cache-dir` where the command has it, else
    $VEREDICTO_CACHE_DIR), so a second command on the same data scores nothing; store warnings go to stderr once."""
    from store.results import open_predictor as open_with_store

    predictor = open_with_store(ref, directory=getattr(args, "cache_dir", None), **kwargs)
    warn_store(predictor, args=args)
    return predictor


_WARNED: set[str] = set()


def warn_store(*predictors, args=None) -> None:
    """Print each results-store warning (a file moved aside, a folder that cannot be written) once per process, to stderr."""
    from store.results import store_warnings

    for warning in store_warnings(*predictors, directory=getattr(args, "cache_dir", None)):
        if warning not in _WARNED:
            _WARNED.add(warning)
            print(f"warning: {warning}", file=sys.stderr)


def score(model: Path, args, evalset, mapping, label: str, *, thresholds=None):
    """Load `model` (with `--task`), check the data fits it, pick its thresholds, and score the evaluation set with a progress bar.

    Returns (predictor, table). Gold labels are aligned before any model call, so an unknown tag fails in seconds.
    """
    from tqdm import tqdm

    from analysis.predictions import predict_table
    from evaldata.loading import align_labels

    predictor = open_predictor(checkpoint(model, args), args, batch_size=args.batch_size)
    check_pairs(predictor, evalset)
    align_labels(evalset, predictor.labels, mapping, multi_label=predictor.ref.multi_label)  # fail on unknown labels before any scoring
    if thresholds is None:
        thresholds = thresholds_for(args, predictor, evalset, mapping)
    with tqdm(total=len(evalset), desc=f"Scoring {label} {predictor.ref.name}", unit="text", file=sys.stderr, disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        table = predict_table(predictor, evalset, label_mapping=mapping, thresholds=thresholds, progress=progress)
    warn_store(predictor, args=args)
    return predictor, table


def load_labelled(args, model: Path | None = None):
    """The labelled evaluation set as `model` reads it, and the label mapping (gates and reports need gold labels).

    Without a model (`veredicto labels`): the file as single-label gold, with its text, pair and label columns."""
    from evaldata.loading import load_eval_data, parse_mapping

    if model is not None:
        return read_data(args, checkpoint(model, args), labelled=True), parse_mapping(args.label_map)
    if args.label_col == "":
        raise DataError("This command needs gold labels: --label-col cannot be empty.")
    evalset = load_eval_data(args.data, text_col=args.text_col, label_col=args.label_col, pair_col=args.pair_col)
    for warning in evalset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return evalset, parse_mapping(args.label_map)


def add_chunk_argument(parser, what: str) -> None:
    from evaldata.streaming import DEFAULT_CHUNK_ROWS

    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help=f"Read {what} this many rows at a time (default {DEFAULT_CHUNK_ROWS:,}): memory stays bounded for files larger than it.",
    )


def chunk_progress(chunks, desc: str, *, file=None, disable: bool | None = None):
    """Pass `evaldata.streaming.Chunk`s through, drawing a bar on stderr: rows done, rows/s, and an ETA from the share of
    the file read so far (`Chunk.done`); off when stderr is not a terminal unless `disable=False`."""
    from tqdm import tqdm

    with tqdm(desc=desc, unit=" rows", file=file or sys.stderr, disable=disable, dynamic_ncols=True) as bar:
        for chunk in chunks:
            rows = chunk.start + len(chunk.frame)
            bar.total = max(rows, round(rows / chunk.done)) if chunk.done > 0 else None
            bar.update(rows - bar.n)
            yield chunk
