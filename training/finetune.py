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

The code lives in the one training stack every training path shares: `training.data` (reading and
splitting), `training.model` (base checkpoints, loading, quieting), `training.run` (the fine-tune
loop), `training.checkpoint` (saving, provenance of a single run) and `training.search` (the Optuna
search and its study storage). This module gathers what `veredicto finetune` and its callers use.

Nothing here is downloaded: the base is a local checkpoint directory, loaded with
`local_files_only=True`, `trust_remote_code=False` and safetensors only.
"""

from __future__ import annotations

from training.checkpoint import save_checkpoint, single_run_record, versions
from training.data import MIN_PER_CLASS, TrainingData, prepare_data
from training.model import DEFAULT_MAX_LENGTH, Base, load_model, resolve_base
from training.run import (
    DEFAULT_HYPERPARAMETERS,
    DEFAULT_METRIC,
    METRIC_NAMES,
    METRICS,
    Encoded,
    RunResult,
    SingleRunResult,
    encode,
    train_run,
    train_single,
)
from training.search import (
    OPTUNA_DB,
    PRUNERS,
    STORE_DIR_ENV,
    STORE_URL_ENV,
    SearchConfig,
    SearchResult,
    SearchSpace,
    default_storage_url,
    resolve_storage,
    run_search,
)

__all__ = [
    "DEFAULT_HYPERPARAMETERS",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_METRIC",
    "METRICS",
    "METRIC_NAMES",
    "MIN_PER_CLASS",
    "OPTUNA_DB",
    "PRUNERS",
    "STORE_DIR_ENV",
    "STORE_URL_ENV",
    "Base",
    "Encoded",
    "RunResult",
    "SearchConfig",
    "SearchResult",
    "SearchSpace",
    "SingleRunResult",
    "TrainingData",
    "default_storage_url",
    "encode",
    "load_model",
    "prepare_data",
    "resolve_base",
    "resolve_storage",
    "run_search",
    "save_checkpoint",
    "single_run_record",
    "train_run",
    "train_single",
    "versions",
]
