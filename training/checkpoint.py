"""Checkpoint I/O: the one way a trained model is saved (atomically, with provenance, with the right file modes),
and the provenance record of a single training run.

Every training path (`veredicto finetune`, the sentiment and news demos) saves through `save_checkpoint`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.checkpoints import checkpoint_fingerprint
from training.provenance import PROVENANCE_FORMAT, write_provenance

if TYPE_CHECKING:
    from training.data import TrainingData


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


def save_checkpoint(model, tokenizer, dest: str | os.PathLike, provenance: Mapping[str, Any] | None = None, max_length: int | None = None) -> str:
    """Write model (safetensors), tokenizer and, given a record, provenance.json to `dest` atomically; return the checkpoint fingerprint.

    Everything is written to a hidden sibling directory first and renamed into place, so `dest` is
    either the old checkpoint or the complete new one. Every file gets the mode the umask gives a plain
    file (transformers writes the weights through a private 0600 temporary file). With `max_length` the
    tokenizer is saved with `model_max_length = max_length`, so the dashboard truncates exactly as
    training did. The provenance record gains a `checkpoint` entry (name, fingerprint, labels, max_length).
    Ctrl-C during the save takes effect once it is complete.
    """
    with _deferred_interrupt():
        return _save_checkpoint(model, tokenizer, Path(dest), provenance, max_length)


def _save_checkpoint(model, tokenizer, dest: Path, provenance: Mapping[str, Any] | None, max_length: int | None) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    if max_length is not None:
        tokenizer.model_max_length = max_length
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    fingerprint = checkpoint_fingerprint(tmp)  # weights, config and tokenizer files by name: unchanged by the rename
    if provenance is not None:
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        write_provenance(tmp, {**provenance, "checkpoint": {"name": dest.name, "fingerprint": fingerprint, "labels": labels, "max_length": max_length}})
    _plain_file_modes(tmp)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return fingerprint


def _plain_file_modes(directory: Path) -> None:
    """Give every file in `directory` the mode the umask gives a plain file (that of config.json, written with open())."""
    mode = (directory / "config.json").stat().st_mode & 0o777
    for file in directory.iterdir():
        if file.is_file():
            file.chmod(mode)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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


def _plain(params: Mapping[str, Any]) -> dict:
    out = {}
    for k, v in params.items():
        out[k] = v.item() if hasattr(v, "item") else v
    return out


def single_run_record(
    *,
    method: str,
    base: dict,
    data: TrainingData,
    tokenization: dict,
    hyperparameters: dict,
    validation: dict,
    curves: dict,
    seconds: float,
    seed: int,
    metric: str = "accuracy",
    **extra: Any,
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
