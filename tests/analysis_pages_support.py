"""Shared set-up for the Errors and Compare AppTest tests: two tiny checkpoints and a small CSV with metadata."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from tiny import CORPUS, make_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("negative", "positive")


def build_fixture(root: Path) -> dict:
    """tiny-before / tiny-after (same labels, different seeds) and data.csv: 60 texts, labels, source, n_words."""
    ckpts = root / "ckpts"
    make_tiny_checkpoint(ckpts / "tiny-before", "bert", seed=0)
    make_tiny_checkpoint(ckpts / "tiny-after", "bert", seed=3)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        text = CORPUS[i % 7] + " extra words here" * (i % 4)
        rows.append({"text": f"{text} #{i}", "label": LABELS[int(rng.random() < 0.5)], "source": ("web", "app", "mail")[i % 3], "n_words": len(text.split())})
    data = root / "data.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    single = root / "single"
    shutil.copytree(ckpts / "tiny-before", single / "tiny-before")
    return {"checkpoints": ckpts, "single": single, "data": data, "frame": pd.DataFrame(rows)}


def app_test(env: dict, monkeypatch, page: str, single: bool = False):
    """AppTest on app.py pointed at the fixture, switched to `page`; `single`: a folder with only the baseline checkpoint.

    (After `switch_page`, AppTest no longer exposes the sidebar's widgets, so the number of checkpoints
    is chosen through the folder rather than the multiselect.)
    """
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VEREDICTO_CHECKPOINTS", str(env["single" if single else "checkpoints"]))
    monkeypatch.setenv("VEREDICTO_DATA", str(env["data"]))
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(env.get("cache") or Path(env["data"]).parent / "attribution-cache"))
    monkeypatch.setenv("VEREDICTO_SHAP_MAX_EVALS", "64")  # small budgets: these tests check layout and data, not explanation quality
    monkeypatch.setenv("VEREDICTO_LIME_SAMPLES", "100")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def predictions(env: dict, name: str):
    """Independent ground truth: the checkpoint's predicted labels on the fixture texts, straight from the Predictor."""
    from models import Predictor

    predictor = Predictor(str(env["checkpoints"] / name), device="cpu")
    probs = predictor.predict_proba(env["frame"]["text"].tolist())
    return probs, np.array([predictor.labels[i] for i in probs.argmax(axis=1)])


def dataframe(at, prefix: str):
    found = [d for d in at.dataframe if d.key and d.key.startswith(prefix)]
    assert found, f"no dataframe with key {prefix}…; keys: {[d.key for d in at.dataframe]}"
    return found[0]


def select_row(at, frame_element, row: int):
    at.session_state[frame_element.key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at
