"""Fine-tune an encoder for text classification with a Bayesian hyperparameter search, and record how.

`run_search` is what `veredicto finetune` runs:

1. `prepare_data` reads the training file (any format `evaldata` reads), drops repeated
   texts, checks there are at least two classes with enough examples each, and makes a
   seeded, stratified train/validation split (or takes a separate validation file).
2. Each Optuna trial fine-tunes a fresh copy of the base with `transformers.Trainer`, with
   learning rate (log scale), epochs, batch size, weight decay and warm-up ratio drawn by the
   TPE sampler (Bayesian optimisation, seeded). The validation metric (macro-F1 by default)
   is reported after every epoch through a `TrainerCallback`, so the pruner (median rule by
   default, or Hyperband) stops trials that trail the others early.
3. The study lives in an SQLAlchemy database (SQLite file in the project store by default),
   so an interrupted search continues with `resume=True`. Whenever a trial beats the best so
   far, its model is written to `out` at once (atomically, with `provenance.json`): Ctrl-C
   at any moment leaves the best checkpoint found so far.
4. At the end `out` holds a normal Hugging Face directory (safetensors) of the best trial and
   `provenance.json` (see `training.provenance`): base and data fingerprints, the split, the
   chosen hyperparameters, every trial with its curves, wall time and library versions.

`train_single` trains once with fixed hyperparameters and writes the same provenance (no
search); the news demo and the benchmark's baseline use it.

Nothing here is downloaded: the base is a local checkpoint directory, loaded with
`local_files_only=True`, `trust_remote_code=False` and safetensors only.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from models.checkpoints import CheckpointRef, fingerprint_files, inspect_checkpoint
from models.errors import CheckpointError, DataError, VeredictoError
from training.provenance import PROVENANCE_FILE, PROVENANCE_FORMAT, write_provenance

Log = Callable[[str], None]

METRICS = ("macro_f1", "accuracy")
PRUNERS = ("median", "hyperband", "none")
DEFAULT_METRIC = "macro_f1"
DEFAULT_MAX_LENGTH = 256  # tokens; capped by what the base model supports
MIN_PER_CLASS = 2  # a stratified split needs one example of each class on each side
STORE_DIR_ENV = "VEREDICTO_STORE_DIR"
STORE_URL_ENV = "VEREDICTO_STORE_URL"
OPTUNA_DB = "optuna.db"
# transformers.TrainingArguments' own defaults: what "no search" means.
DEFAULT_HYPERPARAMETERS = {"learning_rate": 5e-5, "epochs": 3, "batch_size": 8, "weight_decay": 0.0, "warmup_ratio": 0.0}
METRIC_NAMES = {"macro_f1": "macro-F1", "accuracy": "accuracy"}


# --------------------------------------------------------------------------- search space


@dataclass(frozen=True)
class SearchSpace:
    """The hyperparameters a search draws; learning rate on a log scale, epochs an integer range."""

    learning_rate: tuple[float, float] = (1e-5, 2e-4)
    epochs: tuple[int, int] = (1, 4)
    batch_sizes: tuple[int, ...] = (8, 16, 32)
    weight_decay: tuple[float, float] = (0.0, 0.1)
    warmup_ratio: tuple[float, float] = (0.0, 0.2)

    def __post_init__(self):
        lo, hi = self.learning_rate
        if not 0 < lo <= hi:
            raise VeredictoError(f"The learning-rate range must be positive and low <= high; got {lo}..{hi}.")
        if not 1 <= self.epochs[0] <= self.epochs[1]:
            raise VeredictoError(f"The epochs range must be whole numbers >= 1 with low <= high; got {self.epochs[0]}..{self.epochs[1]}.")
        if not self.batch_sizes or any(int(b) < 1 for b in self.batch_sizes):
            raise VeredictoError(f"Batch sizes must be positive whole numbers; got {self.batch_sizes}.")
        if not 0 <= self.weight_decay[0] <= self.weight_decay[1]:
            raise VeredictoError(f"The weight-decay range must be >= 0 with low <= high; got {self.weight_decay}.")
        if not 0 <= self.warmup_ratio[0] <= self.warmup_ratio[1] < 1:
            raise VeredictoError(f"The warm-up ratio range must lie in [0, 1) with low <= high; got {self.warmup_ratio}.")

    def distributions(self) -> dict:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        return {
            "learning_rate": FloatDistribution(*map(float, self.learning_rate), log=True),
            "epochs": IntDistribution(*map(int, self.epochs)),
            "batch_size": CategoricalDistribution([int(b) for b in self.batch_sizes]),
            "weight_decay": FloatDistribution(*map(float, self.weight_decay)),
            "warmup_ratio": FloatDistribution(*map(float, self.warmup_ratio)),
        }

    def suggest(self, trial) -> dict:
        """Draw one configuration from an Optuna trial (the names match `distributions`)."""
        return {name: _suggest(trial, name, dist) for name, dist in self.distributions().items()}

    def clip(self, params: Mapping[str, Any]) -> dict:
        """`params` moved inside this space (the nearest batch size, ranges clamped)."""
        out = {
            "learning_rate": min(max(float(params["learning_rate"]), self.learning_rate[0]), self.learning_rate[1]),
            "epochs": int(min(max(int(params["epochs"]), self.epochs[0]), self.epochs[1])),
            "batch_size": min(self.batch_sizes, key=lambda b: (abs(int(b) - int(params["batch_size"])), b)),
            "weight_decay": min(max(float(params["weight_decay"]), self.weight_decay[0]), self.weight_decay[1]),
            "warmup_ratio": min(max(float(params["warmup_ratio"]), self.warmup_ratio[0]), self.warmup_ratio[1]),
        }
        out["batch_size"] = int(out["batch_size"])
        return out

    def to_dict(self) -> dict:
        return {
            "learning_rate": {"low": self.learning_rate[0], "high": self.learning_rate[1], "log": True},
            "epochs": {"low": self.epochs[0], "high": self.epochs[1]},
            "batch_size": {"choices": [int(b) for b in self.batch_sizes]},
            "weight_decay": {"low": self.weight_decay[0], "high": self.weight_decay[1]},
            "warmup_ratio": {"low": self.warmup_ratio[0], "high": self.warmup_ratio[1]},
        }


def _suggest(trial, name: str, dist) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class TrainingData:
    """Texts and string labels of the train and validation parts, and where they came from."""

    labels: tuple[str, ...]  # sorted distinct labels
    train_texts: tuple[str, ...]
    train_labels: tuple[str, ...]
    val_texts: tuple[str, ...]
    val_labels: tuple[str, ...]
    info: dict  # {"data": ..., "split": ...} for provenance

    @property
    def fingerprint(self) -> str:
        return self.info["data"]["fingerprint"]


def _counts(labels: Sequence[str]) -> dict[str, int]:
    return {k: int(v) for k, v in sorted(pd.Series(list(labels), dtype=object).value_counts().items())}


def _read_labelled(source, *, text_col, label_col, role: str):
    from evaldata.loading import load_eval_data

    evalset = load_eval_data(source, text_col=text_col, label_col=label_col)
    if "label" not in evalset.frame:
        raise DataError(f"The {role} data '{evalset.name}' has no label column; fine-tuning needs one. Choose it with --label-col.")
    return evalset


def _dedupe(frame: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Keep the first row of each distinct text; (frame, rows dropped, texts that had conflicting labels)."""
    conflicting = int((frame.groupby("text")["label"].nunique() > 1).sum())
    deduped = frame.drop_duplicates("text", keep="first")
    return deduped, len(frame) - len(deduped), conflicting


def _stratified_subsample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    from sklearn.model_selection import train_test_split

    if limit >= len(frame):
        return frame
    keep, _ = train_test_split(np.arange(len(frame)), train_size=limit, stratify=frame["label"], random_state=seed)
    return frame.iloc[np.sort(keep)]


def prepare_data(
    data: str | os.PathLike,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    validation: str | os.PathLike | None = None,
    validation_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
) -> TrainingData:
    """Read and split the training data; every way it can be unusable raises `DataError` with advice.

    Without `validation`, a stratified `validation_fraction` of the distinct texts is held out
    (seeded). `limit` keeps a stratified, seeded subsample of that many training texts.
    """
    if not 0 < validation_fraction < 1:
        raise DataError(f"The validation fraction must lie strictly between 0 and 1; got {validation_fraction}.")
    if limit is not None and limit < 1:
        raise DataError(f"The training limit must be a positive number of examples; got {limit}.")
    evalset = _read_labelled(data, text_col=text_col, label_col=label_col, role="training")
    frame, dropped, conflicting = _dedupe(evalset.frame[["text", "label"]].reset_index(drop=True).rename_axis("row").reset_index())
    classes = _counts(frame["label"])
    label_name = label_col or "label"
    if len(classes) < 2:
        only = next(iter(classes), "?")
        raise DataError(
            f"The label column ('{label_name}') of '{evalset.name}' has a single class ('{only}', {len(frame)} example(s)); "
            "a classifier needs at least two. Check that --label-col names the column that holds the classes."
        )
    data_info = {
        "path": str(Path(data).expanduser().resolve()) if not isinstance(data, (bytes, bytearray)) else None,
        "name": evalset.name,
        "fingerprint": evalset.fingerprint,
        "text_col": text_col,
        "label_col": label_col,
        "rows": len(evalset),
        "duplicates_dropped": dropped,
        "conflicting_duplicates": conflicting,
        "label_counts": classes,
    }
    if validation is None:
        rare = {label: n for label, n in classes.items() if n < MIN_PER_CLASS}
        if rare:
            listed = ", ".join(f"'{k}': {v}" for k, v in rare.items())
            raise DataError(
                f"Too few examples per class in '{evalset.name}' to split it into training and validation: {listed} "
                f"(distinct texts; at least {MIN_PER_CLASS} per class are needed, and far more to learn anything). "
                "Add examples, merge or drop the rare classes, or pass a separate validation file with --validation."
            )
        n_val = max(len(classes), int(round(validation_fraction * len(frame))))
        if len(frame) - n_val < len(classes):
            raise DataError(
                f"'{evalset.name}' has {len(frame)} distinct texts for {len(classes)} classes: too few to hold out "
                f"{validation_fraction:.0%} for validation and still train on every class. Add examples or pass --validation."
            )
        from sklearn.model_selection import train_test_split

        train_idx, val_idx = train_test_split(np.arange(len(frame)), test_size=n_val, stratify=frame["label"], random_state=seed)
        train, val = frame.iloc[np.sort(train_idx)], frame.iloc[np.sort(val_idx)]
        missing = sorted(set(classes) - set(val["label"])) or sorted(set(classes) - set(train["label"]))
        if missing:
            raise DataError(
                f"After the stratified split of '{evalset.name}', class(es) {', '.join(map(repr, missing))} are missing from one side "
                f"(class counts: {classes}). Add examples of those classes, raise --validation-fraction, or pass --validation."
            )
        split = {
            "method": "stratified holdout",
            "validation_fraction": validation_fraction,
            "seed": seed,
            "validation_rows": [int(r) for r in val["row"]],  # 0-based data rows of the file, header excluded
        }
    else:
        val_set = _read_labelled(validation, text_col=text_col, label_col=label_col, role="validation")
        val, v_dropped, _ = _dedupe(val_set.frame[["text", "label"]].reset_index(drop=True).rename_axis("row").reset_index())
        unknown = sorted(set(val["label"]) - set(classes))
        if unknown:
            raise DataError(
                f"The validation data '{val_set.name}' has label(s) the training data lacks: {', '.join(map(repr, unknown))}. "
                f"Training labels: {', '.join(map(repr, classes))}."
            )
        overlap = set(val["text"]) & set(frame["text"])
        train = frame[~frame["text"].isin(overlap)]
        absent = sorted(set(classes) - set(train["label"]))
        if absent:
            raise DataError(f"After removing texts that also appear in the validation file, class(es) {absent} have no training example left.")
        split = {
            "method": "separate validation file",
            "validation_path": str(Path(validation).expanduser().resolve()),
            "validation_name": val_set.name,
            "validation_fingerprint": val_set.fingerprint,
            "validation_duplicates_dropped": v_dropped,
            "train_texts_also_in_validation_dropped": len(overlap),
        }
    if limit is not None and limit < len(train):
        if limit < len(classes):
            raise DataError(f"A training limit of {limit} cannot hold one example of each of the {len(classes)} classes.")
        train = _stratified_subsample(train, limit, seed)
        split["train_limit"] = int(limit)
        split["train_subsample_seed"] = seed
    split.update(
        train_rows=len(train),
        validation_rows_count=len(val),
        train_label_counts=_counts(train["label"]),
        validation_label_counts=_counts(val["label"]),
        train_sha256=hashlib.sha256("\0".join(train["text"]).encode()).hexdigest(),
        validation_sha256=hashlib.sha256("\0".join(val["text"]).encode()).hexdigest(),
    )
    return TrainingData(
        labels=tuple(classes),
        train_texts=tuple(train["text"]),
        train_labels=tuple(train["label"]),
        val_texts=tuple(val["text"]),
        val_labels=tuple(val["label"]),
        info={"data": data_info, "split": split},
    )


# --------------------------------------------------------------------------- base model


@dataclass(frozen=True)
class Base:
    """A validated base checkpoint and how its classification head relates to the task's labels."""

    ref: CheckpointRef
    labels: tuple[str, ...]  # label order of the fine-tuned model
    head: str  # "reused" | "new" | "reinitialised"
    max_length: int

    def to_dict(self) -> dict:
        return {
            "path": str(self.ref.path),
            "name": self.ref.name,
            "fingerprint": self.ref.fingerprint,
            "model_type": self.ref.model_type,
            "labels": list(self.ref.labels),
            "head": self.head,
            "max_length": self.ref.max_length,
        }


def resolve_base(base_dir: str | os.PathLike, labels: Sequence[str], max_length: int | None = None) -> Base:
    """Validate the base directory (unknown or unsafe ones raise `CheckpointError`) and decide the head."""
    path = Path(base_dir).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"Base model directory '{path}' does not exist. --base must be a local Hugging Face checkpoint directory "
            "(config.json, tokenizer files, model.safetensors); nothing is downloaded."
        )
    ref = inspect_checkpoint(path)
    generic = all(label.startswith("LABEL_") for label in ref.labels)
    if not generic and set(ref.labels) == set(labels):
        head, order = "reused", ref.labels
    else:
        head, order = "new", tuple(labels)
    if max_length is None:
        max_length = min(ref.max_length, DEFAULT_MAX_LENGTH)
    elif max_length < 8:
        raise VeredictoError(f"--max-length must be at least 8 tokens; got {max_length}.")
    elif max_length > ref.max_length:
        raise VeredictoError(f"--max-length {max_length} exceeds what '{ref.name}' supports ({ref.max_length} tokens). Use at most {ref.max_length}.")
    return Base(ref=ref, labels=tuple(order), head=head, max_length=int(max_length))


@contextlib.contextmanager
def _quiet():
    """Silence expected chatter: new-head load reports, loading bars, Optuna's per-trial INFO lines."""
    import optuna
    from transformers.utils import logging as hf_logging

    level, optuna_level = hf_logging.get_verbosity(), optuna.logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", module="optuna")
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
        optuna.logging.set_verbosity(optuna_level)


def load_model(base: Base, *, seed: int):
    """(model, tokenizer): the base with a seeded head for `base.labels` (kept if `base.head == 'reused'`)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

    set_seed(seed)
    labels = base.labels
    try:
        tokenizer = AutoTokenizer.from_pretrained(base.ref.path, local_files_only=True, trust_remote_code=False)
        model, info = AutoModelForSequenceClassification.from_pretrained(
            base.ref.path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            ignore_mismatched_sizes=True,
            output_loading_info=True,
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"The base '{base.ref.name}' could not be loaded as a sequence classifier: {exc}") from None
    if base.head == "new" and not (info.get("missing_keys") or info.get("mismatched_keys")):
        # The base has a head of the right size for *other* labels: start it afresh rather than inherit it.
        head = getattr(model, "classifier", None) or getattr(model, "score", None)
        std = getattr(model.config, "initializer_range", 0.02)
        for module in head.modules() if head is not None else ():
            if isinstance(module, torch.nn.Linear):
                torch.nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


# --------------------------------------------------------------------------- one training run


@dataclass
class Encoded:
    train: list
    validation: list
    truncation: dict


def encode(tokenizer, data: TrainingData, labels: Sequence[str], max_length: int) -> Encoded:
    """Tokenise once for every trial; count texts longer than `max_length` (they are truncated, not dropped)."""
    index = {label: i for i, label in enumerate(labels)}

    def part(texts, gold):
        full = tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]
        too_long = sum(len(ids) > max_length for ids in full)
        enc = tokenizer(list(texts), truncation=True, max_length=max_length)
        rows = [{**{k: enc[k][i] for k in enc.keys()}, "labels": index[gold[i]]} for i in range(len(texts))]
        return rows, int(too_long)

    train, train_cut = part(data.train_texts, data.train_labels)
    val, val_cut = part(data.val_texts, data.val_labels)
    truncation = {"max_length": max_length, "train_truncated": train_cut, "validation_truncated": val_cut, "train_texts": len(train), "validation_texts": len(val)}
    return Encoded(train, val, truncation)


def _metrics(n_labels: int):
    from sklearn.metrics import accuracy_score, f1_score

    def compute(prediction) -> dict:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        pred = np.asarray(logits).argmax(-1)
        gold = np.asarray(prediction.label_ids)
        return {
            "accuracy": float(accuracy_score(gold, pred)),
            "macro_f1": float(f1_score(gold, pred, average="macro", labels=list(range(n_labels)), zero_division=0)),
        }

    return compute


def _trial_callback(trial, metric: str, on_epoch: Callable[[int, dict], None] | None):
    """A TrainerCallback reporting the validation metric to `trial` after each epoch and stopping pruned trials."""
    from transformers import TrainerCallback

    class TrialCallback(TrainerCallback):
        def __init__(self):
            self.pruned_at: int | None = None
            self.reported: dict[int, float] = {}

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if not metrics or f"eval_{metric}" not in metrics:
                return
            epoch = int(round(state.epoch or 0))
            value = float(metrics[f"eval_{metric}"])
            self.reported[epoch] = value
            if on_epoch is not None:
                on_epoch(epoch, metrics)
            if trial is not None:
                trial.report(value, epoch)
                if trial.should_prune():
                    self.pruned_at = epoch
                    control.should_training_stop = True

    return TrialCallback()


def _step_bar(desc: str):
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class StepBar(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True, leave=False)

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(state.global_step - self.bar.n)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()

    return StepBar()


@dataclass
class RunResult:
    model: Any
    tokenizer: Any
    params: dict
    metrics: dict  # final validation metrics
    curves: dict  # {"train": [...], "validation": [...]}
    seconds: float
    pruned_at: int | None = None


def _curves(log_history: list[dict]) -> dict:
    train, val = [], []
    for entry in log_history:
        if "loss" in entry and "eval_loss" not in entry:
            train.append({"step": int(entry.get("step", 0)), "epoch": round(float(entry.get("epoch", 0)), 4), "loss": float(entry["loss"]), "learning_rate": float(entry.get("learning_rate", 0.0))})
        elif "eval_loss" in entry:
            val.append(
                {
                    "step": int(entry.get("step", 0)),
                    "epoch": round(float(entry.get("epoch", 0)), 4),
                    "loss": float(entry["eval_loss"]),
                    **{m: float(entry[f"eval_{m}"]) for m in METRICS if f"eval_{m}" in entry},
                }
            )
    return {"train": train, "validation": val}


def train_run(
    base: Base,
    encoded: Encoded,
    params: Mapping[str, Any],
    *,
    seed: int,
    metric: str = DEFAULT_METRIC,
    trial=None,
    desc: str = "Training",
    progress: bool = False,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> RunResult:
    """Fine-tune a fresh copy of the base once with `params`, evaluating on validation after every epoch."""
    from transformers import DataCollatorWithPadding, PrinterCallback, ProgressCallback, Trainer, TrainingArguments

    start = time.perf_counter()
    model, tokenizer = load_model(base, seed=seed)
    steps_per_epoch = max(1, math.ceil(len(encoded.train) / int(params["batch_size"])))
    callback = _trial_callback(trial, metric, on_epoch)
    with tempfile.TemporaryDirectory(prefix="veredicto-finetune-") as work:
        args = TrainingArguments(
            output_dir=work,
            learning_rate=float(params["learning_rate"]),
            num_train_epochs=int(params["epochs"]),
            per_device_train_batch_size=int(params["batch_size"]),
            per_device_eval_batch_size=64,
            weight_decay=float(params["weight_decay"]),
            warmup_steps=float(params["warmup_ratio"]),  # < 1: a fraction of all steps
            lr_scheduler_type="linear",
            train_sampling_strategy="group_by_length",
            eval_strategy="epoch",
            save_strategy="no",
            logging_strategy="steps",
            logging_steps=max(1, steps_per_epoch // 5),
            seed=seed,
            data_seed=seed,
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=encoded.train,
            eval_dataset=encoded.validation,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            compute_metrics=_metrics(len(base.labels)),
            callbacks=[callback] + ([_step_bar(desc)] if progress else []),
        )
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.train()
        curves = _curves(trainer.state.log_history)
        del trainer
    model.eval()
    final = curves["validation"][-1] if curves["validation"] else {}
    metrics = {k: final[k] for k in ("loss", *METRICS) if k in final}
    gc.collect()
    return RunResult(model, tokenizer, dict(params), metrics, curves, time.perf_counter() - start, callback.pruned_at)


# --------------------------------------------------------------------------- saving


@contextlib.contextmanager
def _deferred_interrupt():
    """Hold Ctrl-C until the block ends, so a checkpoint is never half-replaced (main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def save_checkpoint(model, tokenizer, dest: Path, provenance: dict, max_length: int) -> str:
    """Write model (safetensors), tokenizer and provenance.json to `dest` atomically; return the weights fingerprint.

    The tokenizer is saved with `model_max_length = max_length`, so the dashboard truncates
    exactly as training did. Ctrl-C during the save takes effect once it is complete.
    """
    with _deferred_interrupt():
        return _save_checkpoint(model, tokenizer, Path(dest), provenance, max_length)


def _save_checkpoint(model, tokenizer, dest: Path, provenance: dict, max_length: int) -> str:
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    tokenizer.model_max_length = max_length
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    weights = sorted(tmp.glob("model*.safetensors"))
    fingerprint = fingerprint_files([tmp / "config.json", *weights])  # names + bytes: unchanged by the rename
    provenance = {**provenance, "checkpoint": {"name": dest.name, "fingerprint": fingerprint, "labels": list(model.config.id2label[i] for i in range(model.config.num_labels)), "max_length": max_length}}
    write_provenance(tmp, provenance)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return fingerprint


def versions() -> dict:
    import optuna
    import sklearn
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "optuna": optuna.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "threads": torch.get_num_threads(),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- single run (no search)


@dataclass(frozen=True)
class SingleRunResult:
    out: Path
    params: dict
    metrics: dict
    seconds: float
    fingerprint: str
    provenance: dict


def train_single(
    base_dir: str | os.PathLike,
    data: TrainingData,
    out: str | os.PathLike,
    params: Mapping[str, Any] | None = None,
    *,
    max_length: int | None = None,
    metric: str = DEFAULT_METRIC,
    seed: int = 0,
    log: Log = print,
    progress: bool = True,
    method: str = "full fine-tune, fixed hyperparameters",
    base_name: str | None = None,
) -> SingleRunResult:
    """Fine-tune once with fixed hyperparameters (default: `DEFAULT_HYPERPARAMETERS`) and save with provenance."""
    if metric not in METRICS:
        raise VeredictoError(f"Unknown metric '{metric}'. Choose one of: {', '.join(METRICS)}.")
    params = {**DEFAULT_HYPERPARAMETERS, **(params or {})}
    base = resolve_base(base_dir, data.labels, max_length)
    start = time.perf_counter()
    with _quiet():
        _, tokenizer = load_model(base, seed=seed)
        encoded = encode(tokenizer, data, base.labels, base.max_length)
        _log_truncation(encoded, log)
        run = train_run(base, encoded, params, seed=seed, metric=metric, desc="Fine-tuning", progress=progress)
    seconds = time.perf_counter() - start
    provenance = single_run_record(
        method=method,
        base={**base.to_dict(), **({"name": base_name} if base_name else {})},
        data=data,
        tokenization=encoded.truncation,
        hyperparameters={**_plain(run.params), "max_length": base.max_length, "seed": seed, "trainable": "all weights"},
        validation=run.metrics,
        curves=run.curves,
        seconds=seconds,
        seed=seed,
        metric=metric,
    )
    with _quiet():
        fingerprint = save_checkpoint(run.model, run.tokenizer, Path(out), provenance, base.max_length)
    provenance = json.loads((Path(out) / PROVENANCE_FILE).read_text(encoding="utf-8"))
    log(f"Saved {Path(out)} after {seconds:.0f} s: validation {METRIC_NAMES[metric]} {run.metrics.get(metric, float('nan')):.3f}.")
    return SingleRunResult(Path(out), run.params, run.metrics, seconds, fingerprint, provenance)


def single_run_record(
    *, method: str, base: dict, data: TrainingData, tokenization: dict, hyperparameters: dict, validation: dict, curves: dict,
    seconds: float, seed: int, metric: str = "accuracy", **extra: Any,
) -> dict:
    """Provenance of one training run with fixed hyperparameters (no search); `extra` adds keys such as a training summary."""
    return {
        "format": PROVENANCE_FORMAT,
        "kind": "single run",
        "status": "complete",
        "created_at": _now(),
        "method": method,
        "base": base,
        "data": data.info["data"],
        "split": data.info["split"],
        "tokenization": tokenization,
        "metric": metric,
        "seed": seed,
        "hyperparameters": hyperparameters,
        "validation": validation,
        **extra,
        "search": None,
        "best": None,
        "trials": [],
        "curves": curves,
        "wall_seconds": round(seconds, 2),
        "versions": versions(),
    }


def _plain(params: Mapping[str, Any]) -> dict:
    out = {}
    for k, v in params.items():
        out[k] = v.item() if hasattr(v, "item") else v
    return out


def _log_truncation(encoded: Encoded, log: Log) -> None:
    t = encoded.truncation
    cut = t["train_truncated"] + t["validation_truncated"]
    total = t["train_texts"] + t["validation_texts"]
    if cut:
        log(
            f"Truncation: {cut:,} of {total:,} texts ({cut / max(total, 1):.0%}) are longer than {t['max_length']} tokens; "
            f"only their first {t['max_length']} tokens are used (training {t['train_truncated']:,}, validation {t['validation_truncated']:,})."
        )


# --------------------------------------------------------------------------- storage


def default_storage_url() -> str:
    """`$VEREDICTO_STORE_URL` if set (the project's shared store), else SQLite `optuna.db` in the store directory."""
    env = os.environ.get(STORE_URL_ENV)
    if env:
        return resolve_storage(env)
    store = os.environ.get(STORE_DIR_ENV)
    folder = Path(store).expanduser() if store else Path(__file__).resolve().parents[1] / ".veredicto" / "store"
    return f"sqlite:///{(folder / OPTUNA_DB).resolve()}"


def resolve_storage(value: str | os.PathLike | None) -> str:
    """An SQLAlchemy URL as is; a plain path as a SQLite file (a directory gets optuna.db inside it)."""
    if value is None or not str(value).strip():
        return default_storage_url()
    text = str(value).strip()
    if "://" in text:
        from sqlalchemy.engine import make_url

        try:
            make_url(text)
        except Exception as exc:  # sqlalchemy raises ArgumentError
            raise VeredictoError(f"'{text}' is not a valid database URL ({exc}). Example: sqlite:///path/to/optuna.db or postgresql://user@host/db.") from None
        return text
    path = Path(text).expanduser()
    if path.is_dir() or not path.suffix:
        path = path / OPTUNA_DB
    return f"sqlite:///{path.resolve()}"


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def _open_storage(url: str):
    import optuna
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VeredictoError(f"Cannot create the directory for the study database '{parsed.database}': {exc.strerror}. Choose another --store.") from None
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}} if parsed.get_backend_name() == "sqlite" else {})
    except Exception as exc:
        raise VeredictoError(f"Cannot open the study database {_safe_url(url)}: {str(exc).splitlines()[0]}. Check --store.") from None


# --------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search; its digest names the stored study."""

    base: Path
    data: Path
    out: Path
    trials: int = 10
    timeout: float | None = None
    text_col: str | None = None
    label_col: str | None = None
    validation: Path | None = None
    validation_fraction: float = 0.2
    limit: int | None = None
    metric: str = DEFAULT_METRIC
    max_length: int | None = None
    seed: int = 0
    pruner: str = "median"
    space: SearchSpace = field(default_factory=SearchSpace)
    storage: str | None = None
    study_name: str | None = None
    resume: bool = False
    restart: bool = False
    default_trial: bool = True  # trial 0 tries DEFAULT_HYPERPARAMETERS (clipped to the space)

    def validate(self) -> None:
        if self.trials < 1:
            raise VeredictoError(f"--trials must be at least 1; got {self.trials}.")
        if self.timeout is not None and self.timeout <= 0:
            raise VeredictoError(f"--timeout must be a positive number of seconds; got {self.timeout}.")
        if self.metric not in METRICS:
            raise VeredictoError(f"Unknown metric '{self.metric}'. Choose one of: {', '.join(METRICS)}.")
        if self.pruner not in PRUNERS:
            raise VeredictoError(f"Unknown pruner '{self.pruner}'. Choose one of: {', '.join(PRUNERS)}.")
        if self.resume and self.restart:
            raise VeredictoError("--resume continues a search and --restart discards it; pass only one of them.")


@dataclass(frozen=True)
class SearchResult:
    out: Path | None  # None when nothing was saved (interrupted before a trial completed)
    study_name: str
    storage: str  # password hidden
    best_trial: int | None
    best_value: float | None
    best_params: dict
    states: dict  # {"COMPLETE": n, "PRUNED": n, "FAIL": n, ...}
    interrupted: bool
    seconds: float
    provenance: dict | None


def _study_name(config: SearchConfig, base: Base, data: TrainingData) -> str:
    identity = {
        "base": base.ref.fingerprint,
        "data": data.fingerprint,
        "split": {k: v for k, v in data.info["split"].items() if k not in ("validation_rows",)},
        "metric": config.metric,
        "max_length": base.max_length,
        "seed": config.seed,
        "space": config.space.to_dict(),
        "labels": list(base.labels),
        "out": str(config.out.expanduser().resolve()),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return config.study_name or f"veredicto-finetune-{config.out.name}-{digest}"


def _check_out_path(out: Path, base: Base) -> None:
    if out == base.ref.path or base.ref.path in out.parents:
        raise VeredictoError(f"--out '{out}' is the base checkpoint or inside it. Write the fine-tuned model to a new directory.")
    if out.is_file():
        raise VeredictoError(f"--out '{out}' is a file. Give a directory path (it is created).")


def _check_out(out: Path, base: Base, study_name: str, allow_own: bool) -> None:
    _check_out_path(out, base)
    if out.is_dir() and any(out.iterdir()):
        own = _read_json(out / PROVENANCE_FILE)
        if own and own.get("search", {}) and (own.get("search") or {}).get("study_name") == study_name:
            if allow_own:
                return
            raise VeredictoError(
                f"--out '{out}' already holds the result of this search (study '{study_name}'). "
                "Add --resume to continue the search, or --restart to discard it and start over."
            )
        raise VeredictoError(
            f"--out '{out}' already exists and is not empty, and it is not the output of this search. "
            "Veredicto will not overwrite it: choose a new --out directory or remove this one."
        )


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _make_pruner(name: str, space: SearchSpace):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0), {"name": "MedianPruner", "n_startup_trials": 2, "n_warmup_steps": 0, "step": "epoch"}
    if name == "hyperband":
        return (
            optuna.pruners.HyperbandPruner(min_resource=1, max_resource=space.epochs[1], reduction_factor=3),
            {"name": "HyperbandPruner", "min_resource": 1, "max_resource": space.epochs[1], "reduction_factor": 3, "step": "epoch"},
        )
    return optuna.pruners.NopPruner(), {"name": "NopPruner"}


def _trial_record(trial, metric: str) -> dict:
    from optuna.distributions import distribution_to_json

    attrs = trial.user_attrs
    end = trial.datetime_complete
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value if trial.state.name == "COMPLETE" else None,
        "params": _plain(trial.params),
        "distributions": {k: json.loads(distribution_to_json(d)) for k, d in trial.distributions.items()},
        "intermediate": {str(k): v for k, v in sorted(trial.intermediate_values.items())},
        "pruned_at_epoch": attrs.get("pruned_at_epoch"),
        "metrics": attrs.get("metrics", {}),
        "curves": attrs.get("curves", {"train": [], "validation": []}),
        "seconds": attrs.get("seconds") or ((end - trial.datetime_start).total_seconds() if end and trial.datetime_start else None),
        "started_at": trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None,
        "completed_at": end.isoformat(timespec="seconds") if end else None,
        "default_trial": bool(attrs.get("default_trial", False)),
    }


def run_search(config: SearchConfig, *, log: Log = print, progress: bool = True) -> SearchResult:
    """Run (or resume) the search described by `config`; see the module docstring."""
    import optuna

    config.validate()
    start = time.perf_counter()
    data = prepare_data(
        config.data,
        text_col=config.text_col,
        label_col=config.label_col,
        validation=config.validation,
        validation_fraction=config.validation_fraction,
        seed=config.seed,
        limit=config.limit,
    )
    base = resolve_base(config.base, data.labels, config.max_length)
    study_name = _study_name(config, base, data)
    out = config.out.expanduser().resolve()
    _check_out_path(out, base)
    url = resolve_storage(config.storage)
    storage = _open_storage(url)
    safe_url = _safe_url(url)

    existing = next((s for s in optuna.get_all_study_summaries(storage, include_best_trial=False) if s.study_name == study_name), None)
    if existing is not None and existing.n_trials and not (config.resume or config.restart):
        raise VeredictoError(
            f"A search with the same base, data and settings already has {existing.n_trials} trial(s) in {safe_url} "
            f"(study '{study_name}'). Add --resume to continue it, or --restart to discard it and start over."
        )
    _check_out(out, base, study_name, allow_own=config.resume or config.restart)
    if existing is not None and config.restart:
        optuna.delete_study(study_name=study_name, storage=storage)
        shutil.rmtree(out, ignore_errors=True)
        log(f"Discarded the earlier search '{study_name}' ({existing.n_trials} trial(s)) and its output.")
        existing = None
    if config.resume and existing is None:
        log(f"No earlier search named '{study_name}' in {safe_url}; starting a new one.")

    n_before = existing.n_trials if existing is not None else 0
    n_startup = min(10, max(2, config.trials // 2))
    sampler = optuna.samplers.TPESampler(seed=config.seed + n_before, n_startup_trials=n_startup, multivariate=True)
    pruner, pruner_info = _make_pruner(config.pruner, config.space)
    with _quiet():
        study = optuna.create_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner, direction="maximize", load_if_exists=True)
    if not study.user_attrs.get("config"):
        study.set_user_attr("config", {"base": base.ref.fingerprint, "data": data.fingerprint, "out": str(out), "metric": config.metric, "seed": config.seed})
        if config.default_trial:
            study.enqueue_trial(config.space.clip(DEFAULT_HYPERPARAMETERS), user_attrs={"default_trial": True})

    finished = [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]
    remaining = max(0, config.trials - len(finished))
    metric_name = METRIC_NAMES[config.metric]
    search_info = {
        "study_name": study_name,
        "storage": safe_url,
        "sampler": {"name": "TPESampler", "seed": config.seed + n_before, "n_startup_trials": n_startup, "multivariate": True},
        "pruner": pruner_info,
        "direction": "maximize",
        "metric": config.metric,
        "space": config.space.to_dict(),
        "n_trials_requested": config.trials,
        "timeout_seconds": config.timeout,
        "default_trial": config.default_trial,
    }

    with _quiet():
        _, tokenizer = load_model(base, seed=config.seed)
        encoded = encode(tokenizer, data, base.labels, base.max_length)
    del tokenizer
    _log_truncation(encoded, log)
    counts = data.info["split"]
    log(
        f"Search '{study_name}': {remaining} trial(s) to run ({len(finished)} already finished) on {counts['train_rows']:,} training / "
        f"{counts['validation_rows_count']:,} validation texts, {len(base.labels)} classes, maximising validation {metric_name}. "
        f"Study stored in {safe_url}."
    )

    state = {"saved": _saved_trial(out, study_name), "run": 0}

    def provenance(status: str) -> dict:
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        best = max(complete, key=lambda t: t.value) if complete else None
        if best is not None and any(t.value == best.value and t.number < best.number for t in complete):
            best = min((t for t in complete if t.value == best.value), key=lambda t: t.number)
        records = [_trial_record(t, config.metric) for t in trials]
        search_seconds = sum(r["seconds"] or 0 for r in records)
        return {
            "format": PROVENANCE_FORMAT,
            "kind": "search",
            "status": status,
            "created_at": _now(),
            "method": "full fine-tune, Optuna TPE search",
            "base": base.to_dict(),
            "data": data.info["data"],
            "split": data.info["split"],
            "tokenization": encoded.truncation,
            "metric": config.metric,
            "seed": config.seed,
            "hyperparameters": {**_plain(best.params), "max_length": base.max_length, "seed": config.seed, "trainable": "all weights"} if best else {},
            "validation": best.user_attrs.get("metrics", {}) if best else {},
            "search": search_info,
            "best": {"trial": best.number, "value": best.value, "params": _plain(best.params)} if best else None,
            "trials": records,
            "curves": best.user_attrs.get("curves", {}) if best else {},
            "wall_seconds": round(time.perf_counter() - start, 2),
            "search_seconds": round(search_seconds, 2),
            "versions": versions(),
        }

    def best_value() -> float | None:
        values = [t.value for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        return max(values) if values else None

    def objective(trial) -> float:
        params = config.space.suggest(trial)
        state["run"] += 1
        tag = f"Trial {trial.number + 1} ({state['run']}/{remaining} of this run)"
        log(
            f"{tag}: lr={params['learning_rate']:.2e} epochs={params['epochs']} batch={params['batch_size']} "
            f"weight_decay={params['weight_decay']:.3f} warmup={params['warmup_ratio']:.2f}"
            + (" (the library defaults)" if trial.user_attrs.get("default_trial") else "")
        )

        def on_epoch(epoch: int, metrics: dict) -> None:
            log(f"  epoch {epoch}: validation {metric_name} {metrics.get(f'eval_{config.metric}', float('nan')):.4f}, loss {metrics.get('eval_loss', float('nan')):.4f}")

        with _quiet():
            run = train_run(base, encoded, params, seed=config.seed, metric=config.metric, trial=trial, desc=tag, progress=progress, on_epoch=on_epoch)
        trial.set_user_attr("curves", run.curves)
        trial.set_user_attr("metrics", run.metrics)
        trial.set_user_attr("seconds", round(run.seconds, 2))
        if run.pruned_at is not None:
            trial.set_user_attr("pruned_at_epoch", run.pruned_at)
            log(f"  pruned after epoch {run.pruned_at} ({run.seconds:.0f} s): trailing the median of earlier trials.")
            raise optuna.TrialPruned(f"pruned after epoch {run.pruned_at}")
        value = float(run.metrics[config.metric])
        previous = best_value()
        if previous is None or value > previous:
            # Record the trial as complete first, so the provenance written with the weights lists it.
            trial.set_user_attr("saved", True)
            _save_best(run, trial.number, value)
            log(f"  {metric_name} {value:.4f} in {run.seconds:.0f} s: best so far, saved to {out}.")
        else:
            log(f"  {metric_name} {value:.4f} in {run.seconds:.0f} s (best so far {previous:.4f}).")
        del run
        gc.collect()
        return value

    def _save_best(run: RunResult, number: int, value: float) -> None:
        record = provenance("running")
        # The current trial is still RUNNING in storage; describe it as the best.
        record["best"] = {"trial": number, "value": value, "params": _plain(run.params)}
        record["hyperparameters"] = {**_plain(run.params), "max_length": base.max_length, "seed": config.seed, "trainable": "all weights"}
        record["validation"] = run.metrics
        record["curves"] = run.curves
        record["saved_trial"] = number
        for entry in record["trials"]:
            if entry["number"] == number:
                entry.update(state="COMPLETE", value=value, metrics=run.metrics, curves=run.curves, seconds=round(run.seconds, 2))
        with _quiet():
            save_checkpoint(run.model, run.tokenizer, out, record, base.max_length)
        state["saved"] = number

    interrupted = False
    if remaining:
        try:
            with _quiet():
                study.optimize(objective, n_trials=remaining, timeout=config.timeout, catch=(), gc_after_trial=True)
        except KeyboardInterrupt:
            interrupted = True
            log("Interrupted: keeping the best checkpoint found so far.")

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    states = pd.Series([t.state.name for t in study.get_trials(deepcopy=False)], dtype=object).value_counts().to_dict()
    if not complete:
        if interrupted:
            log("No trial finished, so nothing was saved. Run again with --resume to continue.")
            return SearchResult(None, study_name, safe_url, None, None, {}, states, True, time.perf_counter() - start, None)
        raise VeredictoError(f"No trial of the search finished (states: {states}). Check the data and the search space.")
    best = min((t for t in complete if t.value == max(c.value for c in complete)), key=lambda t: t.number)
    if state["saved"] != best.number and not interrupted:
        log(f"The weights of the best trial ({best.number + 1}) are not in {out}; training them again with its hyperparameters.")
        with _quiet():
            run = train_run(base, encoded, best.params, seed=config.seed, metric=config.metric, desc="Re-training best", progress=progress)
        record = provenance("complete")
        record["refit"] = {"trial": best.number, "value": float(run.metrics[config.metric])}
        record["saved_trial"] = best.number
        with _quiet():
            save_checkpoint(run.model, run.tokenizer, out, record, base.max_length)
        state["saved"] = best.number
    status = "interrupted" if interrupted else "complete"
    record = provenance(status)
    if state["saved"] is not None and (out / "config.json").is_file():
        previous = _read_json(out / PROVENANCE_FILE) or {}
        record["checkpoint"] = previous.get("checkpoint")
        record["saved_trial"] = state["saved"]
        if previous.get("refit"):
            record["refit"] = previous["refit"]
        if state["saved"] != best.number:  # interrupted on resume before the best trial's lost weights were re-trained
            record["note"] = f"The saved weights are those of trial {state['saved']}, not of the best trial {best.number}; resume to re-train it."
        write_provenance(out, record)
    seconds = time.perf_counter() - start
    saved = out if (out / "config.json").is_file() and state["saved"] is not None else None
    log(
        f"{'Stopped' if interrupted else 'Done'}: {len(complete)} complete, {states.get('PRUNED', 0)} pruned, {states.get('FAIL', 0)} failed trial(s). "
        f"Best: trial {best.number + 1}, validation {metric_name} {best.value:.4f} with {_describe(best.params)}. Checkpoint: {out}."
    )
    return SearchResult(saved, study_name, safe_url, best.number, best.value, _plain(best.params), states, interrupted, seconds, record)


def _saved_trial(out: Path, study_name: str) -> int | None:
    """The trial whose weights `out` holds, when `out` is this search's output."""
    record = _read_json(out / PROVENANCE_FILE)
    if not record or (record.get("search") or {}).get("study_name") != study_name or not (out / "config.json").is_file():
        return None
    try:
        ref = inspect_checkpoint(out)
    except CheckpointError:
        return None
    if (record.get("checkpoint") or {}).get("fingerprint") != ref.fingerprint:
        return None
    return record.get("saved_trial")


def _describe(params: Mapping[str, Any]) -> str:
    return (
        f"lr={params['learning_rate']:.2e}, epochs={params['epochs']}, batch={params['batch_size']}, "
        f"weight_decay={params['weight_decay']:.3f}, warmup={params['warmup_ratio']:.2f}"
    )
