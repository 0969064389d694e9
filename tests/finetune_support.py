"""Helpers for the fine-tuning and demo tests: a small labelled data set the tiny BERT vocabulary covers, a fast search space,
a umask context, file modes, and accuracy recomputed with plain transformers."""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import pandas as pd

POSITIVE = ["good", "great", "wonderful", "brilliant", "fun", "funny", "best", "loved", "enjoyed"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "dull", "sad", "worst", "hated", "never"]
NEUTRAL = ["film", "movie", "story", "plot", "actor", "acting", "script", "scene", "the", "was", "and", "this", "it", "very", "really"]


def make_texts(n_per_class: int = 24, seed: int = 0, classes=("negative", "positive")) -> pd.DataFrame:
    """Distinct short sentences whose label follows from their sentiment words (learnable in seconds)."""
    rng = random.Random(seed)
    words = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for label in classes:
        while sum(r[1] == label for r in rows) < n_per_class:
            cue = words[label]
            tokens = rng.sample(NEUTRAL, 4) + rng.sample(cue, 2)
            rng.shuffle(tokens)
            text = " ".join(tokens)
            if text not in seen:
                seen.add(text)
                rows.append((text, label))
    rng.shuffle(rows)
    return pd.DataFrame(rows, columns=["review", "sentiment"])


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def fast_space():
    from training.finetune import SearchSpace

    return SearchSpace(learning_rate=(1e-4, 3e-3), epochs=(1, 3), batch_sizes=(4, 8), weight_decay=(0.0, 0.1), warmup_ratio=(0.0, 0.2))


def make_tiny_encoder(path: Path, seed: int = 0) -> Path:
    """A tiny BERT *encoder* without a classification head, like the demo's base (config, tokenizer, safetensors)."""
    from tiny import make_tiny_checkpoint
    from transformers import AutoTokenizer, BertModel

    path = Path(path)
    full = make_tiny_checkpoint(path.with_name(path.name + "-with-head"), "bert", labels=None, seed=seed)
    BertModel.from_pretrained(full).save_pretrained(path, safe_serialization=True)
    AutoTokenizer.from_pretrained(full).save_pretrained(path)
    return path


@contextlib.contextmanager
def umask(mask: int):
    """Run the block with the process umask set to `mask` (the previous one restored afterwards)."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def file_modes(directory: Path) -> dict[str, int]:
    """Permission bits of each plain file directly in `directory`, by name."""
    return {p.name: p.stat().st_mode & 0o777 for p in Path(directory).iterdir() if p.is_file()}


def accuracy_by_hand(checkpoint: Path, frame: pd.DataFrame) -> float:
    """Accuracy of a saved checkpoint on `frame` (text, label), computed with plain transformers, one text at a time
    (not through models.inference, so a wrong recorded accuracy cannot be reproduced by the same code)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, local_files_only=True, use_safetensors=True).eval()
    right = 0
    with torch.no_grad():
        for text, label in zip(frame["text"], frame["label"]):
            logits = model(**tokenizer(text, truncation=True, return_tensors="pt")).logits[0]
            right += model.config.id2label[int(logits.argmax())] == label
    return right / len(frame)


def tagged_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Reviews tagged 'praise' (two positive words), 'gripe' (two negative words), both, or neither ('' = no tag)."""
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(rows) < n:
        tags = [tag for tag in ("praise", "gripe") if rng.random() < 0.5]
        words = rng.sample(NEUTRAL, 4) + (rng.sample(POSITIVE, 2) if "praise" in tags else []) + (rng.sample(NEGATIVE, 2) if "gripe" in tags else [])
        rng.shuffle(words)
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            rows.append((text, "|".join(tags)))
    return pd.DataFrame(rows, columns=["review", "tags"])


def pair_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """(premise, hypothesis, label): the label follows from the *second* text only; the first is neutral filler."""
    rng = random.Random(seed)
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    while len(rows) < n:
        label = rng.choice(["negative", "positive"])
        first = " ".join(rng.sample(NEUTRAL, 4))
        second = " ".join(rng.sample(NEUTRAL, 2) + rng.sample(POSITIVE if label == "positive" else NEGATIVE, 2))
        if (first, second) not in seen:
            seen.add((first, second))
            rows.append((first, second, label))
    return pd.DataFrame(rows, columns=["premise", "hypothesis", "label"])
