"""The hyperparameter search `veredicto finetune` runs: Optuna (TPE sampler, median/Hyperband pruner) over
`training.run.train_run`, the study kept in an SQLAlchemy database so a search can resume, the best model so far
always saved (with provenance) through `training.checkpoint.save_checkpoint`. See `training.finetune` for the steps.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from models.checkpoints import inspect_checkpoint
from models.errors import CheckpointError, VeredictoError
from runtime import settings
from training.checkpoint import _now, _plain, save_checkpoint, versions
from training.data import TrainingData, prepare_data
from training.model import Base, load_model, quiet, resolve_base
from training.provenance import PROVENANCE_FILE, PROVENANCE_FORMAT, write_provenance
from training.run import DEFAULT_HYPERPARAMETERS, METRIC_NAMES, METRICS, Encoded, Log, RunResult, _log_truncation, default_metric, encode, train_run

PRUNERS = ("median", "hyperband", "none")
STORE_DIR_ENV = settings.STORE_DIR_ENV
STORE_URL_ENV = settings.STORE_URL_ENV
OPTUNA_DB = settings.OPTUNA_DB


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

        def floats(pair, **kw) -> FloatDistribution:
            return FloatDistribution(float(pair[0]), float(pair[1]), **kw)

        return {
            "learning_rate": floats(self.learning_rate, log=True),
            "epochs": IntDistribution(int(self.epochs[0]), int(self.epochs[1])),
            "batch_size": CategoricalDistribution([int(b) for b in self.batch_sizes]),
            "weight_decay": floats(self.weight_decay),
            "warmup_ratio": floats(self.warmup_ratio),
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


# --------------------------------------------------------------------------- storage


def default_storage_url() -> str:
    """`$VEREDICTO_STORE_URL` if set (the project's shared store), else SQLite `optuna.db` in the store directory."""
    return resolve_storage(None)


def resolve_storage(value: str | os.PathLike | None) -> str:
    """An SQLAlchemy URL as is; a plain path as a SQLite file (a directory gets optuna.db inside it); nothing as the default."""
    try:
        return settings.store_url(value, default_file=OPTUNA_DB)
    except settings.StoreURLError as exc:
        raise VeredictoError(f"{exc}. Example: sqlite:///path/to/optuna.db or postgresql://user@host/db.") from None


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
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
    except Exception as exc:  # noqa: BLE001 - drivers, network and schema problems each raise their own types
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
    metric: str | None = None  # None: micro-F1 for multi-label, macro-F1 otherwise (`training.run.default_metric`)
    max_length: int | None = None
    seed: int = 0
    pruner: str = "median"
    space: SearchSpace = field(default_factory=SearchSpace)
    storage: str | None = None
    study_name: str | None = None
    resume: bool = False
    restart: bool = False
    default_trial: bool = True  # trial 0 tries DEFAULT_HYPERPARAMETERS (clipped to the space)
    task: str | None = None  # "single-label" | "multi-label" (None: multi-label when label_sep or label_cols is given)
    pair_col: str | None = None  # second text of sentence pairs
    label_sep: str | None = None  # multi-label tags joined in one column
    label_cols: tuple[str, ...] | None = None  # multi-label: one 0/1 column per tag

    def validate(self) -> None:
        if self.trials < 1:
            raise VeredictoError(f"--trials must be at least 1; got {self.trials}.")
        if self.timeout is not None and self.timeout <= 0:
            raise VeredictoError(f"--timeout must be a positive number of seconds; got {self.timeout}.")
        if self.metric is not None and self.metric not in METRICS:
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
        **({"task": data.task} if data.multi_label else {}),  # single-label studies keep their names
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
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0), {
            "name": "MedianPruner",
            "n_startup_trials": 2,
            "n_warmup_steps": 0,
            "step": "epoch",
        }
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
    """Run (or resume) the search described by `config`; see `training.finetune`'s docstring."""
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
        task=config.task,
        pair_col=config.pair_col,
        label_sep=config.label_sep,
        label_cols=config.label_cols,
    )
    metric = config.metric or default_metric(data.task)
    config = dataclasses.replace(config, metric=metric)
    base = resolve_base(config.base, data.labels, config.max_length, task=data.task, pairs=data.train_pairs is not None)
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
    with quiet():
        study = optuna.create_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner, direction="maximize", load_if_exists=True)
    if not study.user_attrs.get("config"):
        study.set_user_attr("config", {"base": base.ref.fingerprint, "data": data.fingerprint, "out": str(out), "metric": config.metric, "seed": config.seed})
        if config.default_trial:
            study.enqueue_trial(config.space.clip(DEFAULT_HYPERPARAMETERS), user_attrs={"default_trial": True})

    finished = [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]
    remaining = max(0, config.trials - len(finished))
    metric_name = METRIC_NAMES[metric]
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

    with quiet():
        _, tokenizer = load_model(base, seed=config.seed)
        encoded = encode(tokenizer, data, base.labels, base.max_length)
    del tokenizer
    _log_truncation(encoded, log)
    counts = data.info["split"]
    log(
        f"Search '{study_name}': {remaining} trial(s) to run ({len(finished)} already finished) on {counts['train_rows']:,} training / "
        f"{counts['validation_rows_count']:,} validation {'pairs' if data.train_pairs is not None else 'texts'}, {len(base.labels)} {'tags (multi-label)' if data.multi_label else 'classes'}, maximising validation {metric_name}. "
        f"Study stored in {safe_url}."
    )

    search = _Search(config, study, base, data, encoded, out, search_info, remaining, start, log, progress, saved=_saved_trial(out, study_name))
    interrupted = False
    if remaining:
        try:
            with quiet():
                study.optimize(search.objective, n_trials=remaining, timeout=config.timeout, catch=(), gc_after_trial=True)
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
    best_value = max(c.value for c in complete if c.value is not None)  # a COMPLETE trial always has its value
    best = min((t for t in complete if t.value == best_value), key=lambda t: t.number)
    if search.saved != best.number and not interrupted:
        log(f"The weights of the best trial ({best.number + 1}) are not in {out}; training them again with its hyperparameters.")
        search.refit(best)
    status = "interrupted" if interrupted else "complete"
    record = search.provenance(status)
    if search.saved is not None and (out / "config.json").is_file():
        previous = _read_json(out / PROVENANCE_FILE) or {}
        record["checkpoint"] = previous.get("checkpoint")
        record["saved_trial"] = search.saved
        if previous.get("refit"):
            record["refit"] = previous["refit"]
        if search.saved != best.number:  # interrupted on resume before the best trial's lost weights were re-trained
            record["note"] = f"The saved weights are those of trial {search.saved}, not of the best trial {best.number}; resume to re-train it."
        write_provenance(out, record)
    seconds = time.perf_counter() - start
    saved = out if (out / "config.json").is_file() and search.saved is not None else None
    log(
        f"{'Stopped' if interrupted else 'Done'}: {len(complete)} complete, {states.get('PRUNED', 0)} pruned, {states.get('FAIL', 0)} failed trial(s). "
        f"Best: trial {best.number + 1}, validation {metric_name} {best.value:.4f} with {_describe(best.params)}. Checkpoint: {out}."
    )
    return SearchResult(saved, study_name, safe_url, best.number, best.value, _plain(best.params), states, interrupted, seconds, record)


class _Search:
    """One `run_search` call in progress: the Optuna objective, the provenance of the study so far, and which
    trial's weights `out` holds (`saved`) and how many trials this call has run (`ran`)."""

    def __init__(
        self,
        config: SearchConfig,
        study,
        base: Base,
        data: TrainingData,
        encoded: Encoded,
        out: Path,
        search_info: dict,
        remaining: int,
        start: float,
        log: Log,
        progress: bool,
        *,
        saved: int | None,
    ):
        self.config, self.study, self.base, self.data, self.encoded = config, study, base, data, encoded
        self.out, self.search_info, self.remaining, self.start, self.log, self.progress = out, search_info, remaining, start, log, progress
        self.metric: str = config.metric or default_metric(data.task)
        self.metric_name = METRIC_NAMES[self.metric]
        self.saved = saved
        self.ran = 0

    def provenance(self, status: str) -> dict:
        """The search's provenance record as the study stands now (`status`: running, complete or interrupted)."""
        config, base = self.config, self.base
        trials = self.study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        best = max(complete, key=lambda t: t.value) if complete else None
        if best is not None and any(t.value == best.value and t.number < best.number for t in complete):
            best = min((t for t in complete if t.value == best.value), key=lambda t: t.number)
        records = [_trial_record(t, self.metric) for t in trials]
        search_seconds = sum(r["seconds"] or 0 for r in records)
        return {
            "format": PROVENANCE_FORMAT,
            "kind": "search",
            "status": status,
            "created_at": _now(),
            "method": "full fine-tune, Optuna TPE search",
            "base": base.to_dict(),
            "data": self.data.info["data"],
            "split": self.data.info["split"],
            "tokenization": self.encoded.truncation,
            "metric": self.metric,
            "seed": config.seed,
            "hyperparameters": {**_plain(best.params), "max_length": base.max_length, "seed": config.seed, "trainable": "all weights"} if best else {},
            "validation": best.user_attrs.get("metrics", {}) if best else {},
            "search": self.search_info,
            "best": {"trial": best.number, "value": best.value, "params": _plain(best.params)} if best else None,
            "trials": records,
            "curves": best.user_attrs.get("curves", {}) if best else {},
            "wall_seconds": round(time.perf_counter() - self.start, 2),
            "search_seconds": round(search_seconds, 2),
            "versions": versions(),
        }

    def best_value(self) -> float | None:
        values = [t.value for t in self.study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        return max(values) if values else None

    def objective(self, trial) -> float:
        import optuna

        config, log, metric_name = self.config, self.log, self.metric_name
        params = config.space.suggest(trial)
        self.ran += 1
        tag = f"Trial {trial.number + 1} ({self.ran}/{self.remaining} of this run)"
        log(
            f"{tag}: lr={params['learning_rate']:.2e} epochs={params['epochs']} batch={params['batch_size']} "
            f"weight_decay={params['weight_decay']:.3f} warmup={params['warmup_ratio']:.2f}"
            + (" (the library defaults)" if trial.user_attrs.get("default_trial") else "")
        )

        def on_epoch(epoch: int, metrics: dict) -> None:
            log(
                f"  epoch {epoch}: validation {metric_name} {metrics.get(f'eval_{self.metric}', float('nan')):.4f}, loss {metrics.get('eval_loss', float('nan')):.4f}"
            )

        with quiet():
            run = train_run(
                self.base, self.encoded, params, seed=config.seed, metric=self.metric, trial=trial, desc=tag, progress=self.progress, on_epoch=on_epoch
            )
        trial.set_user_attr("curves", run.curves)
        trial.set_user_attr("metrics", run.metrics)
        trial.set_user_attr("seconds", round(run.seconds, 2))
        if run.pruned_at is not None:
            trial.set_user_attr("pruned_at_epoch", run.pruned_at)
            log(f"  pruned after epoch {run.pruned_at} ({run.seconds:.0f} s): trailing the median of earlier trials.")
            raise optuna.TrialPruned(f"pruned after epoch {run.pruned_at}")
        value = float(run.metrics[self.metric])
        previous = self.best_value()
        if previous is None or value > previous:
            # Record the trial as complete first, so the provenance written with the weights lists it.
            trial.set_user_attr("saved", True)
            self.save_best(run, trial.number, value)
            log(f"  {metric_name} {value:.4f} in {run.seconds:.0f} s: best so far, saved to {self.out}.")
        else:
            log(f"  {metric_name} {value:.4f} in {run.seconds:.0f} s (best so far {previous:.4f}).")
        del run
        gc.collect()
        return value

    def save_best(self, run: RunResult, number: int, value: float) -> None:
        """Save `run` (trial `number`, still RUNNING in storage) to `out`, its provenance describing it as the best."""
        record = self.provenance("running")
        record["best"] = {"trial": number, "value": value, "params": _plain(run.params)}
        record["hyperparameters"] = {**_plain(run.params), "max_length": self.base.max_length, "seed": self.config.seed, "trainable": "all weights"}
        record["validation"] = run.metrics
        record["curves"] = run.curves
        record["saved_trial"] = number
        for entry in record["trials"]:
            if entry["number"] == number:
                entry.update(state="COMPLETE", value=value, metrics=run.metrics, curves=run.curves, seconds=round(run.seconds, 2))
        with quiet():
            save_checkpoint(run.model, run.tokenizer, self.out, record, self.base.max_length)
        self.saved = number

    def refit(self, best) -> None:
        """Train the best trial again (its weights are not in `out`, e.g. lost before a resume) and save it."""
        config = self.config
        with quiet():
            run = train_run(self.base, self.encoded, best.params, seed=config.seed, metric=self.metric, desc="Re-training best", progress=self.progress)
        record = self.provenance("complete")
        record["refit"] = {"trial": best.number, "value": float(run.metrics[self.metric])}
        record["saved_trial"] = best.number
        with quiet():
            save_checkpoint(run.model, run.tokenizer, self.out, record, self.base.max_length)
        self.saved = best.number


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
