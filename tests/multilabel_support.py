"""Small multi-label and sentence-pair prediction tables built from arrays (no model), for compare, gate, report and page tests."""

from __future__ import annotations

import hashlib

import numpy as np

from analysis.predictions import PredictionTable, build_table
from analysis.thresholds import Thresholds
from models.task import MULTI_LABEL

TAGS = ("toxic", "insult", "threat")


def ml_table(probs, gold, *, name: str = "model", labels=TAGS, thresholds: Thresholds | None = None, pairs=None, texts=None) -> PredictionTable:
    """A multi-label table: `probs` sigmoid per label, `gold` a 0/1 matrix; `pairs` adds a text_pair column."""
    probs = np.asarray(probs, dtype=np.float32)
    gold = np.asarray(gold, dtype=bool)
    n = len(gold)
    texts = list(texts) if texts is not None else [f"example {i}" for i in range(n)]
    return build_table(
        checkpoint_name=name,
        fingerprint=hashlib.sha256(name.encode() + probs.tobytes()).hexdigest(),
        data_name="tags.csv",
        data_fingerprint=hashlib.sha256("\0".join(texts).encode() + gold.tobytes()).hexdigest(),
        labels=labels,
        probs=probs,
        gold=gold,
        texts=texts,
        text_pairs=pairs,
        n_tokens=np.full(n, 3),
        truncated=np.zeros(n, dtype=bool),
        task=MULTI_LABEL,
        thresholds=thresholds,
    )


def random_pair(n: int = 120, seed: int = 0, labels=TAGS, pairs: bool = False) -> tuple[PredictionTable, PredictionTable]:
    """A baseline and a candidate on the same random multi-label data; the candidate is right more often."""
    rng = np.random.default_rng(seed)
    gold = rng.random((n, len(labels))) < 0.35
    noise_b, noise_a = rng.random(gold.shape) < 0.3, rng.random(gold.shape) < 0.15
    probs_b = np.where(gold ^ noise_b, 0.8, 0.2) + rng.uniform(-0.1, 0.1, gold.shape)
    probs_a = np.where(gold ^ noise_a, 0.85, 0.15) + rng.uniform(-0.1, 0.1, gold.shape)
    second = [f"second {i}" for i in range(n)] if pairs else None
    return ml_table(probs_b, gold, name="before", labels=labels, pairs=second), ml_table(probs_a, gold, name="after", labels=labels, pairs=second)


def build_multilabel_fixture(root):
    """Two tiny multi-label checkpoints (ml-before, ml-after: same tags, different seeds) and tags.csv: 40 texts, each with
    one to three tags joined by '|', and a source column; as an `analysis_pages_support.app_test` env."""
    import pandas as pd
    from tiny import CORPUS, make_tiny_checkpoint

    for name, seed in (("ml-before", 0), ("ml-after", 3)):
        make_tiny_checkpoint(root / "ckpts" / name, labels=TAGS, seed=seed, problem_type="multi_label_classification")
    rng = np.random.default_rng(0)
    rows = [
        {
            "text": f"{CORPUS[i % 7]} #{i}",
            "label": "|".join([TAGS[i % 3], *(t for t in TAGS if t != TAGS[i % 3] and rng.random() < 0.3)]),
            "source": ("web", "app")[i % 2],
        }
        for i in range(40)
    ]
    frame = pd.DataFrame(rows)
    frame.to_csv(root / "tags.csv", index=False)
    return {"checkpoints": root / "ckpts", "data": root / "tags.csv", "frame": frame}


def predicted_sets_of(env, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Independent ground truth: (gold, predicted) bool matrices, the checkpoint's sigmoid straight from the Predictor at 0.5."""
    from models import Predictor

    predictor = Predictor(str(env["checkpoints"] / name), device="cpu")
    probs = predictor.predict_proba(env["frame"]["text"].tolist())
    gold = np.array([[tag in cell.split("|") for tag in TAGS] for cell in env["frame"]["label"]])
    return gold, probs >= 0.5
