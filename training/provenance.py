"""`provenance.json`: how a checkpoint was made, read back for the dashboard, and its figures.

`veredicto finetune` (and the news demo) write `provenance.json` next to the weights:

    format, kind ("search" | "single run"), status ("complete" | "interrupted" | "running"),
    created_at, method, base {path, name, fingerprint, model_type, labels, head, max_length},
    checkpoint {name, fingerprint, labels, max_length}, data {name, path, fingerprint, rows, task
    ("single-label" | "multi-label"), pair_col (second text of sentence pairs, or null), label_sep and
    label_cols (multi-label), label_counts (rows per tag for multi-label), duplicates_dropped, ...}, split {method, seed, train_rows, ...},
    tokenization {max_length, train_truncated, validation_truncated, ...}, metric, seed,
    hyperparameters {learning_rate, epochs, batch_size, weight_decay, warmup_ratio, max_length, seed},
    validation {loss, accuracy, macro_f1, micro_f1 (multi-label)}, search {study_name, storage, sampler, pruner, space, ...} | null,
    best {trial, value, params} | null, trials [{number, state, value, params, distributions,
    intermediate, pruned_at_epoch, metrics, curves, seconds, ...}], curves {train: [...], validation: [...]},
    wall_seconds, versions {python, torch, transformers, optuna, ...}

Everything here works from the file alone: Optuna's own figures need a study, so
`rebuild_study` recreates one in memory from the recorded trials (no database needed).
Figures are pure functions (provenance -> plotly Figure).

This module imports only the standard library, pandas and plotly at module level (Optuna
lazily), so the dashboard can read provenance without torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from models.cost import format_duration
from models.errors import VeredictoError

PROVENANCE_FILE = "provenance.json"
PROVENANCE_FORMAT = 1
PARAMS = ("learning_rate", "epochs", "batch_size", "weight_decay", "warmup_ratio")
PARAM_LABELS = {
    "learning_rate": "Learning rate",
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "weight_decay": "Weight decay",
    "warmup_ratio": "Warm-up ratio",
    "max_length": "Max tokens",
    "seed": "Seed",
}
METRIC_LABELS = {"macro_f1": "Macro-F1", "micro_f1": "Micro-F1", "accuracy": "Accuracy", "loss": "Loss"}
REQUIRED = ("format", "kind", "status", "base", "data", "hyperparameters", "trials", "curves", "versions")


class ProvenanceError(VeredictoError):
    """A provenance.json that exists but cannot be trusted or read."""


@dataclass(frozen=True, eq=False)
class Provenance:
    """A checkpoint's provenance.json, validated; `record` is the JSON object as written."""

    path: Path
    record: dict

    @property
    def kind(self) -> str:
        return self.record["kind"]

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def metric(self) -> str:
        return self.record.get("metric", "macro_f1")

    @property
    def metric_label(self) -> str:
        return METRIC_LABELS.get(self.metric, self.metric)

    @property
    def task(self) -> str:
        """What was trained: "single-label" or "multi-label" (files written before the task was recorded: single-label)."""
        return (self.record.get("data") or {}).get("task") or "single-label"

    @property
    def pair_col(self) -> str | None:
        """The training data's second text column when the model was trained on sentence pairs."""
        return (self.record.get("data") or {}).get("pair_col")

    @property
    def hyperparameters(self) -> dict:
        return dict(self.record.get("hyperparameters") or {})

    @property
    def trials(self) -> list[dict]:
        return list(self.record.get("trials") or [])

    @property
    def best(self) -> dict | None:
        return self.record.get("best")

    @property
    def is_search(self) -> bool:
        return self.record.get("search") is not None


def write_provenance(directory: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write `provenance.json` into `directory` atomically (temporary file, then rename)."""
    directory = Path(directory)
    dest = directory / PROVENANCE_FILE
    tmp = directory / f".{PROVENANCE_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, dest)
    return dest


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def validate_record(record: Any, where: str = "provenance.json") -> dict:
    """The record if it has the expected shape; otherwise `ProvenanceError` naming what is wrong."""
    if not isinstance(record, dict):
        raise ProvenanceError(f"{where} must hold a JSON object, not {type(record).__name__}.")
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise ProvenanceError(f"{where} lacks {', '.join(missing)}; it was not written by `veredicto finetune` (or is damaged).")
    if record["format"] != PROVENANCE_FORMAT:
        raise ProvenanceError(f"{where} has format {record['format']!r}; this Veredicto reads format {PROVENANCE_FORMAT}. Upgrade Veredicto.")
    if not isinstance(record["trials"], list) or not all(isinstance(t, dict) and "number" in t and "state" in t for t in record["trials"]):
        raise ProvenanceError(f"{where} has a malformed 'trials' list (each trial needs a number and a state).")
    if not isinstance(record["hyperparameters"], dict) or not isinstance(record["curves"], dict):
        raise ProvenanceError(f"{where}: 'hyperparameters' and 'curves' must be JSON objects.")
    return record


def load_provenance(checkpoint_dir: str | os.PathLike) -> Provenance | None:
    """The provenance of a checkpoint directory, or None when it has none; `ProvenanceError` when it is unreadable."""
    path = Path(checkpoint_dir) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ProvenanceError(f"{path} is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise ProvenanceError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    return Provenance(path, validate_record(record, str(path)))


def fingerprint_matches(provenance: Provenance, fingerprint: str) -> bool | None:
    """Whether the provenance describes these exact weights (None when it does not record them)."""
    recorded = (provenance.record.get("checkpoint") or {}).get("fingerprint")
    return None if not recorded else recorded == fingerprint


# --------------------------------------------------------------------------- tables


def trials_frame(provenance: Provenance) -> pd.DataFrame:
    """One row per trial: number (1-based, as shown), state, score, the five hyperparameters, epochs run, seconds."""
    metric = provenance.metric
    best = (provenance.best or {}).get("trial")
    rows = []
    for t in provenance.trials:
        params = t.get("params") or {}
        curves = (t.get("curves") or {}).get("validation") or []
        rows.append(
            {
                "trial": int(t["number"]) + 1,
                "state": str(t["state"]).lower() + (" ★ best" if t["number"] == best else ""),
                metric: t.get("value") if t.get("value") is not None else (curves[-1].get(metric) if curves else None),
                **{p: params.get(p) for p in PARAMS},
                "epochs run": len(curves),
                "seconds": t.get("seconds"),
            }
        )
    columns = ["trial", "state", metric, *PARAMS, "epochs run", "seconds"]
    return pd.DataFrame(rows, columns=columns)


def curves_frame(provenance: Provenance, trial: int | None = None) -> pd.DataFrame:
    """Long table of learning curves: split (train/validation), epoch, step, loss and validation metrics.

    `trial` is a 0-based trial number; None gives the saved model's curves.
    """
    if trial is None:
        curves = provenance.record.get("curves") or {}
    else:
        match = [t for t in provenance.trials if t["number"] == trial]
        if not match:
            raise ProvenanceError(f"Trial {trial + 1} is not recorded in {provenance.path}.")
        curves = match[0].get("curves") or {}
    rows = [{"split": "train", **point} for point in curves.get("train", [])]
    rows += [{"split": "validation", **point} for point in curves.get("validation", [])]
    frame = pd.DataFrame(rows)
    for column in ("split", "epoch", "step", "loss"):
        if column not in frame:
            frame[column] = pd.Series(dtype=object if column == "split" else float)
    return frame


def summary(provenance: Provenance) -> dict[str, str]:
    """Short human-readable facts for the page header."""
    r = provenance.record
    base, data, split = r.get("base") or {}, r.get("data") or {}, r.get("split") or {}
    tok = r.get("tokenization") or {}
    facts = {
        "How": r.get("method", r["kind"]),
        "Status": r["status"],
        "Base": f"{base.get('name', '?')} · {str(base.get('fingerprint', ''))[:12]} ({base.get('head', '?')} head)",
        "Training data": f"{data.get('name', '?')} · {str(data.get('fingerprint', ''))[:12]} · {data.get('rows', '?')} rows",
        "Task": provenance.task + (f", sentence pairs (second text: '{provenance.pair_col}')" if provenance.pair_col else ""),
        "Split": f"{split.get('method', '?')}: {split.get('train_rows', '?')} train / {split.get('validation_rows_count', '?')} validation (seed {split.get('seed', r.get('seed', '?'))})",
    }
    if tok:
        cut = int(tok.get("train_truncated", 0)) + int(tok.get("validation_truncated", 0))
        total = int(tok.get("train_texts", 0)) + int(tok.get("validation_texts", 0))
        facts["Truncation"] = f"{cut:,} of {total:,} texts longer than {tok.get('max_length')} tokens (cut)"
    if r.get("wall_seconds") is not None:
        facts["Wall time"] = format_duration(r["wall_seconds"]) + (f" (all trials: {format_duration(r['search_seconds'])})" if r.get("search_seconds") else "")
    versions = r.get("versions") or {}
    facts["Libraries"] = ", ".join(f"{k} {versions[k]}" for k in ("transformers", "torch", "optuna") if k in versions)
    return facts


# --------------------------------------------------------------------------- Optuna study from the file


def rebuild_study(provenance: Provenance):
    """An in-memory Optuna study holding the recorded trials, for Optuna's visualisation functions."""
    import optuna
    from optuna.distributions import json_to_distribution
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", study_name=(provenance.record.get("search") or {}).get("study_name"))
    trials = []
    for t in sorted(provenance.trials, key=lambda t: t["number"]):
        state = TrialState[t["state"]] if t["state"] in TrialState.__members__ else TrialState.FAIL
        if state == TrialState.RUNNING or state == TrialState.WAITING:
            state = TrialState.FAIL  # an interrupted trial
        distributions = {k: json_to_distribution(json.dumps(v)) for k, v in (t.get("distributions") or {}).items()}
        params = {k: v for k, v in (t.get("params") or {}).items() if k in distributions}
        intermediate = {int(k): float(v) for k, v in (t.get("intermediate") or {}).items()}
        try:
            trials.append(
                create_trial(
                    state=state,
                    value=float(t["value"]) if state == TrialState.COMPLETE else None,
                    params=params,
                    distributions=distributions,
                    intermediate_values=intermediate,
                    user_attrs={"number": t["number"]},
                )
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ProvenanceError(f"Trial {t['number'] + 1} in {provenance.path} cannot be rebuilt: {exc}") from None
    study.add_trials(trials)
    return study


def optimization_history_figure(provenance: Provenance) -> go.Figure | None:
    """Optuna's optimisation history (score per trial, best so far); None without a completed trial."""
    from optuna.visualization import plot_optimization_history

    if not any(t["state"] == "COMPLETE" for t in provenance.trials):
        return None
    fig = plot_optimization_history(rebuild_study(provenance), target_name=f"Validation {provenance.metric_label}")
    fig.update_layout(title="Optimisation history", xaxis_title="Trial (0-based, as Optuna counts)", height=380, margin=dict(t=50, b=40))
    return fig


def param_importance_figure(provenance: Provenance, seed: int = 0) -> tuple[go.Figure | None, str | None]:
    """(Optuna's hyperparameter-importance figure, None) or (None, why it cannot be drawn).

    Uses the fANOVA evaluator with a fixed seed so the same provenance always gives the same bars.
    """
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import plot_param_importances

    complete = [t for t in provenance.trials if t["state"] == "COMPLETE"]
    if len(complete) < 2:
        return None, f"Hyperparameter importance needs at least two completed trials; this search has {len(complete)}."
    if len({round(float(t["value"]), 12) for t in complete}) == 1:
        return None, f"Every completed trial scored the same validation {provenance.metric_label.lower()}, so no hyperparameter made a difference to measure."
    varied = [p for p in PARAMS if len({json.dumps((t.get("params") or {}).get(p)) for t in complete}) > 1]
    if not varied:
        return None, "Every completed trial used the same hyperparameters, so none can be more important than another."
    try:
        fig = plot_param_importances(
            rebuild_study(provenance), evaluator=FanovaImportanceEvaluator(seed=seed), target_name=f"Validation {provenance.metric_label}"
        )
    except (RuntimeError, ValueError) as exc:
        return None, f"Optuna could not estimate importances from these trials: {exc}"
    fig.update_layout(title="Hyperparameter importance (fANOVA)", height=380, margin=dict(t=50, b=40))
    return fig, None


# --------------------------------------------------------------------------- learning curves


def learning_curves_figure(provenance: Provenance, trial: int | None = None) -> go.Figure:
    """Training loss (per logging step) and validation loss and metric (per epoch) against epochs."""
    from plotly.subplots import make_subplots

    frame = curves_frame(provenance, trial)
    metric = provenance.metric
    train = frame[frame["split"] == "train"]
    val = frame[frame["split"] == "validation"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", f"Validation {provenance.metric_label}"), horizontal_spacing=0.12)
    fig.add_trace(
        go.Scatter(
            x=train["epoch"].tolist(), y=train["loss"].tolist(), mode="lines+markers", name="training loss", marker=dict(size=5), line=dict(color="#1f77b4")
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=val["epoch"].tolist(), y=val["loss"].tolist(), mode="lines+markers", name="validation loss", marker=dict(size=8), line=dict(color="#ff7f0e")
        ),
        row=1,
        col=1,
    )
    if metric in val:
        fig.add_trace(
            go.Scatter(
                x=val["epoch"].tolist(),
                y=val[metric].tolist(),
                mode="lines+markers",
                name=f"validation {METRIC_LABELS.get(metric, metric)}",
                marker=dict(size=8),
                line=dict(color="#2ca02c"),
            ),
            row=1,
            col=2,
        )
    other = "accuracy" if metric != "accuracy" else "macro_f1"
    if other in val:
        fig.add_trace(
            go.Scatter(
                x=val["epoch"].tolist(),
                y=val[other].tolist(),
                mode="lines+markers",
                name=f"validation {METRIC_LABELS[other]}",
                marker=dict(size=6),
                line=dict(color="#9467bd", dash="dot"),
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="Epoch")
    fig.update_yaxes(title_text="Cross-entropy", row=1, col=1)
    fig.update_yaxes(title_text="Score", range=[0, 1.02], row=1, col=2)
    label = "saved model" if trial is None else f"trial {trial + 1}"
    fig.update_layout(title=f"Learning curves ({label})", height=380, margin=dict(t=60, b=40), legend=dict(orientation="h", y=-0.2))
    return fig
