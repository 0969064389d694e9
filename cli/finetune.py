"""`veredicto finetune`: fine-tune a local encoder with an Optuna (TPE) search and write a checkpoint with provenance."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.errors import VeredictoError


def _range(kind):
    def parse(text: str):
        parts = text.replace(":", ",").split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected LOW,HIGH (e.g. 1e-5,1e-4); got '{text}'")
        try:
            return tuple(kind(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not two numbers separated by a comma") from None

    return parse


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas (e.g. 8,16,32); got '{text}'") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one batch size")
    return values


def _names(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    if len(names) < 2:
        raise argparse.ArgumentTypeError(f"expected two or more column names separated by commas (e.g. sports,politics); got '{text}'")
    return names


def register(subparsers) -> None:
    from evaldata.loading import DEFAULT_LABEL_SEP
    from models.task import TASKS

    parser = subparsers.add_parser(
        "finetune",
        help="Fine-tune a checkpoint with a Bayesian (Optuna TPE) hyperparameter search; writes a checkpoint and provenance.json.",
        description=(
            "Fine-tunes a local Hugging Face encoder for text classification with transformers.Trainer, searching learning rate, "
            "epochs, batch size, weight decay and warm-up with Optuna's TPE sampler; poor trials are pruned after an epoch. "
            "The best model so far is always in --out (Ctrl-C keeps it); the study is stored so --resume continues it."
        ),
    )
    parser.add_argument(
        "--base", required=True, type=Path, help="Base checkpoint directory (config.json, tokenizer, model.safetensors). Nothing is downloaded."
    )
    parser.add_argument("--data", required=True, type=Path, help="Training data: CSV, TSV, JSONL or Parquet with a text and a label column.")
    parser.add_argument("--out", required=True, type=Path, help="Directory for the fine-tuned checkpoint (created; never overwrites unrelated files).")
    parser.add_argument("--trials", type=int, default=10, help="Trials in the whole search, earlier ones included when resuming (default 10).")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="Start no new trial after this many seconds (the running one finishes).")
    parser.add_argument("--text-col", default=None, help="Text column (default: guessed from names like 'text').")
    parser.add_argument("--label-col", default=None, help="Label column (default: guessed from names like 'label').")
    # The same meaning as the data options of predict/gate/report (part W's cli/common.py); finetune reads no
    # checkpoint task from config.json (its base is an encoder), so --task says what to train.
    parser.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="Train a single-label (softmax, cross-entropy) or multi-label (sigmoid per tag, BCE) classifier; written to config.json as "
        "problem_type (default: multi-label when --label-sep or --label-cols is given, else single-label).",
    )
    parser.add_argument("--pair-col", default=None, metavar="COL", help="Second text column: train on sentence pairs (text, COL).")
    parser.add_argument(
        "--label-sep",
        default=None,
        metavar="SEP",
        help=f"Multi-label: tags joined by SEP in the label column, an empty cell meaning no tag (default '{DEFAULT_LABEL_SEP}').",
    )
    parser.add_argument("--label-cols", type=_names, default=None, metavar="A,B,C", help="Multi-label: one 0/1 column per tag, named like the tag.")
    parser.add_argument("--validation", type=Path, default=None, help="Separate validation file (default: hold out a stratified part of --data).")
    parser.add_argument("--validation-fraction", type=float, default=0.2, help="Share of --data held out for validation (default 0.2).")
    parser.add_argument("--limit", type=int, default=None, help="Train on a stratified, seeded subsample of this many examples.")
    parser.add_argument(
        "--metric",
        choices=["macro_f1", "micro_f1", "accuracy"],
        default=None,
        help="Validation metric to maximise (default macro_f1; micro_f1 for multi-label, where accuracy means the exact tag set).",
    )
    parser.add_argument(
        "--max-length", type=int, default=None, help="Tokens per text; longer texts are truncated and counted (default: min(model limit, 256))."
    )
    parser.add_argument("--pruner", choices=["median", "hyperband", "none"], default="median", help="How poor trials are stopped early (default median).")
    parser.add_argument("--lr", type=_range(float), default=None, metavar="LOW,HIGH", help="Learning-rate range, searched on a log scale (default 1e-5,2e-4).")
    parser.add_argument("--epochs", type=_range(int), default=None, metavar="LOW,HIGH", help="Epochs range (default 1,4).")
    parser.add_argument("--batch-sizes", type=_ints, default=None, metavar="B1,B2,..", help="Batch sizes to choose from (default 8,16,32).")
    parser.add_argument("--no-default-trial", action="store_true", help="Do not start with the library-default hyperparameters as trial 1.")
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="SQLAlchemy URL or SQLite path of the study database (default: $VEREDICTO_STORE_URL or .veredicto/store/optuna.db).",
    )
    parser.add_argument("--study", default=None, help="Study name (default: derived from --out, base, data and settings).")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="Continue the stored search for the same base, data, settings and --out.")
    group.add_argument("--restart", action="store_true", help="Discard the stored search (and its --out) and start over.")
    parser.add_argument("--seed", type=int, default=0, help="Seed for the split, the sampler and training (default 0).")
    parser.add_argument("--quiet", action="store_true", help="No per-step progress bars (per-trial lines are still printed).")
    parser.set_defaults(func=run)


def run(args) -> int:
    from training.finetune import SearchConfig, SearchSpace, run_search

    defaults = SearchSpace()
    space = SearchSpace(
        learning_rate=args.lr or defaults.learning_rate,
        epochs=args.epochs or defaults.epochs,
        batch_sizes=args.batch_sizes or defaults.batch_sizes,
        weight_decay=defaults.weight_decay,
        warmup_ratio=defaults.warmup_ratio,
    )
    config = SearchConfig(
        base=args.base,
        data=args.data,
        out=args.out,
        trials=args.trials,
        timeout=args.timeout,
        text_col=args.text_col,
        label_col=args.label_col,
        validation=args.validation,
        validation_fraction=args.validation_fraction,
        limit=args.limit,
        metric=args.metric,
        max_length=args.max_length,
        seed=args.seed,
        pruner=args.pruner,
        space=space,
        storage=args.store,
        study_name=args.study,
        resume=args.resume,
        restart=args.restart,
        default_trial=not args.no_default_trial,
        task=args.task,
        pair_col=args.pair_col,
        label_sep=args.label_sep,
        label_cols=args.label_cols,
    )
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    result = run_search(config, log=log, progress=not args.quiet)
    if result.interrupted:
        where = f"The best checkpoint so far is in {result.out}." if result.out else "No trial had finished, so nothing was saved."
        print(f"veredicto finetune: interrupted. {where} Continue with the same command plus --resume.", file=sys.stderr)
        return 130
    if result.out is None:
        raise VeredictoError("The search finished without a usable trial.")
    print(result.out)
    return 0
