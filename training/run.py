"""Training runs: tokenise, fine-tune with `transformers.Trainer` (the one fine-tune loop), train a head on a
frozen encoder, and `train_single` (one run with fixed hyperparameters, saved with provenance).

`veredicto finetune`'s trials (`train_run`), the sentiment demo's full fine-tune (`fine_tune`) and the news
demo's (`train_single`) all train through `trainer_run`; both demos' head-only checkpoints through `train_head`.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import VeredictoError
from models.task import MULTI_LABEL
from training.checkpoint import _plain, save_checkpoint, single_run_record
from training.data import TrainingData, label_ids
from training.model import Base, load_model, quiet, quiet_transformers, resolve_base
from training.provenance import PROVENANCE_FILE

Log = Callable[[str], None]

METRICS = ("macro_f1", "accuracy", "micro_f1")
DEFAULT_METRIC = "macro_f1"
MULTI_LABEL_METRIC = "micro_f1"  # multi-label validation: micro-F1 over every (row, tag) decision at the 0.5 threshold
# transformers.TrainingArguments' own defaults: what "no search" means.
DEFAULT_HYPERPARAMETERS = {"learning_rate": 5e-5, "epochs": 3, "batch_size": 8, "weight_decay": 0.0, "warmup_ratio": 0.0}
METRIC_NAMES = {"macro_f1": "macro-F1", "accuracy": "accuracy", "micro_f1": "micro-F1"}
# Head only (the demos' "before" checkpoints), trained on frozen pooled features computed once.
HEAD_EPOCHS = 20
HEAD_BATCH_SIZE = 64
HEAD_LEARNING_RATE = 3e-3
HEAD_WEIGHT_DECAY = 0.01
FEATURE_BATCH_SIZE = 64


# --------------------------------------------------------------------------- one training run


@dataclass
class Encoded:
    train: list
    validation: list
    truncation: dict


def default_metric(task: str | None) -> str:
    """The validation metric maximised when none is chosen: micro-F1 for multi-label, macro-F1 otherwise."""
    return MULTI_LABEL_METRIC if task == MULTI_LABEL else DEFAULT_METRIC


def encode(tokenizer, data: TrainingData, labels: Sequence[str], max_length: int) -> Encoded:
    """Tokenise once for every trial; count texts longer than `max_length` (they are truncated, not dropped).

    Sentence pairs are tokenised as (text, text_pair), so the tokenizer puts its separator and token types
    between them; multi-label gold becomes float indicator vectors (transformers' BCE loss wants floats).
    """

    def part(texts, pairs, gold):
        args = (list(texts),) if pairs is None else (list(texts), list(pairs))
        full = tokenizer(*args, truncation=False, verbose=False)["input_ids"]
        too_long = sum(len(ids) > max_length for ids in full)
        enc = tokenizer(*args, truncation=True, max_length=max_length)
        y = data.gold_matrix(gold, labels).tolist() if data.multi_label else label_ids(gold, labels)
        rows = [{**{k: enc[k][i] for k in enc}, "labels": y[i]} for i in range(len(texts))]
        return rows, int(too_long)

    train, train_cut = part(data.train_texts, data.train_pairs, data.train_labels)
    val, val_cut = part(data.val_texts, data.val_pairs, data.val_labels)
    truncation = {
        "max_length": max_length,
        "train_truncated": train_cut,
        "validation_truncated": val_cut,
        "train_texts": len(train),
        "validation_texts": len(val),
    }
    return Encoded(train, val, truncation)


def _metrics(n_labels: int, multi_label: bool = False):
    from sklearn.metrics import accuracy_score, f1_score

    def compute(prediction) -> dict:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        gold = np.asarray(prediction.label_ids)
        if multi_label:  # sigmoid >= 0.5, i.e. logit >= 0, per tag; accuracy = exact tag set (subset accuracy)
            pred = np.asarray(logits) >= 0
            gold = gold >= 0.5
            return {
                "accuracy": float(accuracy_score(gold, pred)),
                "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
                "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
            }
        pred = np.asarray(logits).argmax(-1)
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


def _step_bar(desc: str, *, leave: bool = False, show_loss: bool = False):
    """A TrainerCallback drawing one tqdm bar of optimizer steps on stderr (with the last logged loss if `show_loss`)."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class StepBar(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True, leave=leave)

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if show_loss and self.bar is not None and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.3f}")

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
            train.append(
                {
                    "step": int(entry.get("step", 0)),
                    "epoch": round(float(entry.get("epoch", 0)), 4),
                    "loss": float(entry["loss"]),
                    "learning_rate": float(entry.get("learning_rate", 0.0)),
                }
            )
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


def trainer_run(
    model,
    tokenizer,
    train_rows: list,
    *,
    learning_rate: float,
    epochs: float,
    batch_size: int,
    weight_decay: float,
    warmup_ratio: float,
    seed: int,
    logging_steps: int,
    callbacks: Sequence = (),
    eval_rows: list | None = None,
    compute_metrics=None,
    pin_memory: bool = True,
    work_prefix: str = "veredicto-finetune-",
):
    """The one fine-tune loop: `transformers.Trainer` over all weights of `model` in place (AdamW, linear warm-up/decay,
    length-grouped, seeded batches), evaluating on `eval_rows` after every epoch when given; (TrainOutput, log history)."""
    from transformers import DataCollatorWithPadding, PrinterCallback, ProgressCallback, Trainer, TrainingArguments

    with tempfile.TemporaryDirectory(prefix=work_prefix) as work, quiet_transformers():
        args = TrainingArguments(
            output_dir=work,
            learning_rate=float(learning_rate),
            num_train_epochs=epochs,
            per_device_train_batch_size=int(batch_size),
            per_device_eval_batch_size=64,
            weight_decay=float(weight_decay),
            warmup_steps=float(warmup_ratio),  # < 1: a fraction of all steps
            lr_scheduler_type="linear",
            train_sampling_strategy="group_by_length",
            eval_strategy="epoch" if eval_rows is not None else "no",
            save_strategy="no",
            logging_strategy="steps",
            logging_steps=logging_steps,
            seed=seed,
            data_seed=seed,
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=pin_memory,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_rows,
            eval_dataset=eval_rows,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            compute_metrics=compute_metrics,
            callbacks=list(callbacks),
        )
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        result = trainer.train()
        history = trainer.state.log_history
        del trainer
    model.eval()
    return result, history


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
    start = time.perf_counter()
    model, tokenizer = load_model(base, seed=seed)
    steps_per_epoch = max(1, math.ceil(len(encoded.train) / int(params["batch_size"])))
    callback = _trial_callback(trial, metric, on_epoch)
    _, history = trainer_run(
        model,
        tokenizer,
        encoded.train,
        eval_rows=encoded.validation,
        compute_metrics=_metrics(len(base.labels), base.task == MULTI_LABEL),
        learning_rate=float(params["learning_rate"]),
        epochs=int(params["epochs"]),
        batch_size=int(params["batch_size"]),
        weight_decay=float(params["weight_decay"]),
        warmup_ratio=float(params["warmup_ratio"]),
        seed=seed,
        logging_steps=max(1, steps_per_epoch // 5),
        callbacks=[callback] + ([_step_bar(desc)] if progress else []),
    )
    curves = _curves(history)
    final = curves["validation"][-1] if curves["validation"] else {}
    metrics = {k: final[k] for k in ("loss", *METRICS) if k in final}
    gc.collect()
    return RunResult(model, tokenizer, dict(params), metrics, curves, time.perf_counter() - start, callback.pruned_at)


def fine_tune(model, tokenizer, texts: Sequence[str], labels: Sequence[str], params: Mapping[str, Any], *, max_length: int, seed: int) -> dict:
    """Fine-tune all weights of `model` in place on `texts` (no validation), a loss logged every 20 steps; what it did."""
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    y = label_ids(labels, names)
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    dataset = [{**{k: enc[k][i] for k in enc}, "labels": y[i]} for i in range(len(y))]
    result, history = trainer_run(
        model,
        tokenizer,
        dataset,
        learning_rate=params["learning_rate"],
        epochs=params["epochs"],
        batch_size=params["batch_size"],
        weight_decay=params["weight_decay"],
        warmup_ratio=params["warmup_ratio"],
        seed=seed,
        logging_steps=20,
        callbacks=[_step_bar("Fine-tuning", leave=True, show_loss=True)],
        pin_memory=False,
        work_prefix="veredicto-train-",
    )
    return {
        "epochs": params["epochs"],
        "steps": result.global_step,
        "batch_size": params["batch_size"],
        "learning_rate": params["learning_rate"],
        "warmup_ratio": params["warmup_ratio"],
        "max_length": max_length,
        "train_loss": result.training_loss,
        "curves": _curves(history),
    }


# --------------------------------------------------------------------------- head only (frozen encoder)


def _head_parts(model):
    encoder = getattr(model, model.base_model_prefix, None)
    if encoder is None or not hasattr(model, "classifier") or not hasattr(model, "dropout"):
        raise VeredictoError(
            f"Head-only training expects a BERT-style classifier (encoder -> pooled output -> dropout -> classifier); got {type(model).__name__}."
        )
    return encoder, model.dropout, model.classifier


def pooled_features(model, tokenizer, texts: Sequence[str], *, max_length: int, batch_size: int = FEATURE_BATCH_SIZE, desc: str = "Encoding"):
    """The frozen encoder's pooled output for each text, shape (n, hidden); batches sorted by length."""
    import torch
    from tqdm.auto import tqdm

    encoder, _, _ = _head_parts(model)
    device = next(model.parameters()).device
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    features = None
    model.eval()
    with torch.inference_mode(), tqdm(total=len(texts), desc=desc, unit="text", file=sys.stderr, dynamic_ncols=True) as bar:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer.pad([{k: enc[k][i] for k in enc} for i in idx], return_tensors="pt").to(device)
            pooled = encoder(**batch).pooler_output
            if pooled is None:
                raise VeredictoError(f"{type(encoder).__name__} has no pooler, so its head cannot be trained on pooled features.")
            if features is None:
                features = torch.empty(len(texts), pooled.shape[-1], dtype=pooled.dtype, device=device)
            features[torch.as_tensor(idx, device=device)] = pooled
            bar.update(len(idx))
    if features is None:
        raise VeredictoError("No texts to encode.")
    return features.clone()  # a normal tensor (inference-mode tensors cannot take part in autograd)


def train_head(
    model,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    max_length: int,
    seed: int,
    epochs: int = HEAD_EPOCHS,
    batch_size: int = HEAD_BATCH_SIZE,
    learning_rate: float = HEAD_LEARNING_RATE,
    weight_decay: float = HEAD_WEIGHT_DECAY,
) -> dict:
    """Train only the classification head of `model` in place, the encoder frozen: features once, then `epochs` passes."""
    import torch
    from tqdm.auto import tqdm

    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    y = torch.tensor(label_ids(labels, names))
    features = pooled_features(model, tokenizer, texts, max_length=max_length, desc="Encoding (frozen)")
    _, dropout, classifier = _head_parts(model)
    y = y.to(features.device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=learning_rate, weight_decay=weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    dropout.train()
    classifier.train()
    losses = []
    for _ in tqdm(range(epochs), desc="Training head", unit="epoch", file=sys.stderr, dynamic_ncols=True):
        total = 0.0
        for batch in torch.randperm(len(y), generator=generator).split(batch_size):
            batch = batch.to(features.device)
            loss = loss_fn(classifier(dropout(features[batch])), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / len(y))
    model.eval()
    with torch.no_grad():
        train_acc = (classifier(features).argmax(-1) == y).float().mean().item()
    return {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "max_length": max_length,
        "final_loss": losses[-1],
        "train_accuracy": train_acc,
    }


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
    metric: str | None = None,
    seed: int = 0,
    log: Log = print,
    progress: bool = True,
    method: str = "full fine-tune, fixed hyperparameters",
    base_name: str | None = None,
) -> SingleRunResult:
    """Fine-tune once with fixed hyperparameters (default: `DEFAULT_HYPERPARAMETERS`) and save with provenance.

    The task (single- or multi-label) and the sentence pairs come with `data`; `metric` defaults to `default_metric(data.task)`.
    """
    metric = metric or default_metric(data.task)
    if metric not in METRICS:
        raise VeredictoError(f"Unknown metric '{metric}'. Choose one of: {', '.join(METRICS)}.")
    params = {**DEFAULT_HYPERPARAMETERS, **(params or {})}
    base = resolve_base(base_dir, data.labels, max_length, task=data.task, pairs=data.train_pairs is not None)
    start = time.perf_counter()
    with quiet():
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
    with quiet():
        fingerprint = save_checkpoint(run.model, run.tokenizer, Path(out), provenance, base.max_length)
    provenance = json.loads((Path(out) / PROVENANCE_FILE).read_text(encoding="utf-8"))
    log(f"Saved {Path(out)} after {seconds:.0f} s: validation {METRIC_NAMES[metric]} {run.metrics.get(metric, float('nan')):.3f}.")
    return SingleRunResult(Path(out), run.params, run.metrics, seconds, fingerprint, provenance)


def _log_truncation(encoded: Encoded, log: Log) -> None:
    t = encoded.truncation
    cut = t["train_truncated"] + t["validation_truncated"]
    total = t["train_texts"] + t["validation_texts"]
    if cut:
        log(
            f"Truncation: {cut:,} of {total:,} texts ({cut / max(total, 1):.0%}) are longer than {t['max_length']} tokens; "
            f"only their first {t['max_length']} tokens are used (training {t['train_truncated']:,}, validation {t['validation_truncated']:,})."
        )
