"""Base models: validate a local base checkpoint, decide its head, and load it as a seeded sequence classifier.

Also the small process settings every training path shares: quieting transformers/Optuna chatter, seeding,
and running torch on every CPU core while a demo builds. Nothing is downloaded: bases are local directories,
loaded with `local_files_only=True`, `trust_remote_code=False` and safetensors only.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from models.checkpoints import CheckpointRef, inspect_checkpoint
from models.errors import CheckpointError, VeredictoError
from models.task import _PROBLEM_TYPES, SINGLE_LABEL

DEFAULT_MAX_LENGTH = 256  # tokens; capped by what the base model supports
PROBLEM_TYPES = {task: problem_type for problem_type, task in _PROBLEM_TYPES.items()}  # config.json's `problem_type` for each task


@dataclass(frozen=True)
class Base:
    """A validated base checkpoint and how its classification head relates to the task's labels."""

    ref: CheckpointRef
    labels: tuple[str, ...]  # label order of the fine-tuned model
    head: str  # "reused" | "new" | "reinitialised"
    max_length: int
    task: str = SINGLE_LABEL  # of the model being trained (the base's own head is replaced or reused)

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


def resolve_base(base_dir: str | os.PathLike, labels: Sequence[str], max_length: int | None = None, *, task: str = SINGLE_LABEL, pairs: bool = False) -> Base:
    """Validate the base directory (unknown or unsafe ones raise `CheckpointError`) and decide the head.

    `pairs`: the training data are sentence pairs, so the base's tokenizer must mark where the second text starts.
    """
    path = Path(base_dir).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"Base model directory '{path}' does not exist. --base must be a local Hugging Face checkpoint directory "
            "(config.json, tokenizer files, model.safetensors); nothing is downloaded."
        )
    ref = inspect_checkpoint(path, base=True)
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
    if pairs:
        check_takes_pairs(path, ref.name)
    return Base(ref=ref, labels=tuple(order), head=head, max_length=int(max_length), task=task)


def check_takes_pairs(path: str | os.PathLike, name: str) -> None:
    """Refuse (CheckpointError) a base whose tokenizer cannot mark a sentence pair's second text, as `models.inference` does."""
    from transformers import AutoTokenizer

    from models.inference import tokenizer_takes_pairs

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    if not tokenizer_takes_pairs(tokenizer):
        raise CheckpointError(
            f"The tokenizer of the base '{name}' cannot take sentence pairs: it adds no separator between the two texts, so the "
            "model would learn from one run-on text. Fine-tune a BERT- or RoBERTa-style base on pairs, or drop --pair-col."
        )


@contextlib.contextmanager
def quiet_transformers():
    """Silence expected load/training chatter from transformers (e.g. 'classifier weights newly initialized')."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


@contextlib.contextmanager
def quiet():
    """`quiet_transformers`, and also no loading bars, no Optuna per-trial INFO lines, no Future/User warnings."""
    import optuna
    from transformers.utils import logging as hf_logging

    optuna_level = optuna.logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with quiet_transformers(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", module="optuna")
            yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        optuna.logging.set_verbosity(optuna_level)


@contextlib.contextmanager
def all_threads(threads: int | None = None):
    """torch on `threads` CPU threads (None: every core) inside the block; the previous setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads or os.cpu_count() or 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)  # python random, numpy, torch (and cuda)


def load_classifier(path: str | os.PathLike, labels: Sequence[str], *, seed: int, fresh_head: bool = False, name: str | None = None, task: str = SINGLE_LABEL):
    """(model, tokenizer): the checkpoint in `path` as a sequence classifier for `labels`, seeded before the head is made.

    A missing or wrongly sized head is created afresh (seeded); `fresh_head` also re-initialises a head of the
    right size that was trained for other labels. A tokenizer without a pad token pads with EOS (or UNK).
    The config's `problem_type` says the `task`, so transformers trains a multi-label model with
    `BCEWithLogitsLoss` (cross-entropy otherwise) and the saved checkpoint is read back as that task.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    seed_everything(seed)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={label: i for i, label in enumerate(labels)},
                problem_type=PROBLEM_TYPES[task],
                ignore_mismatched_sizes=True,
                output_loading_info=True,
                local_files_only=True,
                trust_remote_code=False,
                use_safetensors=True,
            )
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"The base '{name or Path(path).name}' could not be loaded as a sequence classifier: {exc}") from None
    if fresh_head and not (info.get("missing_keys") or info.get("mismatched_keys")):
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


def load_model(base: Base, *, seed: int):
    """(model, tokenizer): the base with a seeded head for `base.labels` (kept if `base.head == 'reused'`)."""
    return load_classifier(base.ref.path, base.labels, seed=seed, fresh_head=base.head == "new", name=base.ref.name, task=base.task)


def load_base_model(base_dir: str | os.PathLike, labels: Sequence[str], *, seed: int):
    """(model, tokenizer): the encoder in `base_dir` with a fresh, seeded classification head for `labels` (the demos' bases)."""
    return load_classifier(base_dir, labels, seed=seed)
