"""Shared set-up for the pages' AppTest tests: two tiny checkpoints, a small CSV with metadata, opening a page."""

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


SMALL_BUDGET = {"VEREDICTO_SHAP_MAX_EVALS": "64", "VEREDICTO_LIME_SAMPLES": "100"}  # layout and data, not explanation quality


def demo_env(cache: Path) -> dict:
    """The bundled sentiment demo as an `app_test` env, attributions cached under `cache`; skips when it is not built."""
    import pytest

    from training.demo import default_demo_dir, demo_paths

    paths = demo_paths(default_demo_dir())
    if not (paths.manifest.is_file() and paths.before.is_dir() and paths.after.is_dir() and paths.test_data.is_file()):
        pytest.skip("the demo is not built; run `veredicto demo` first")
    return {"checkpoints": paths.checkpoints, "data": paths.test_data, "cache": cache}


def app_test(
    env: dict,
    monkeypatch,
    page: str,
    *,
    checkpoints: str = "checkpoints",
    budget: dict | None = None,
    query: dict | None = None,
    timeout: float = 300,
    state: dict | None = None,
    opened_first: bool = False,
):
    """AppTest on app.py pointed at the fixture `env`, switched to `page` with `query` as the URL's query string; after
    a first run of the Overview, or with `opened_first` as the visit's first page (a link, or a reload after a restart).

    `checkpoints` names the folder in `env` to load ("single": only the baseline). After `switch_page`, AppTest
    no longer exposes the sidebar's widgets, so the number of checkpoints is chosen through the folder, and the
    sidebar's switches through `state` (session state set before the first run, e.g. {"redact_personal_data": True}).
    """
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VEREDICTO_CHECKPOINTS", str(env[checkpoints]))
    monkeypatch.setenv("VEREDICTO_DATA", str(env["data"]))
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(env.get("cache") or Path(env["data"]).parent / "attribution-cache"))
    for name, value in {**SMALL_BUDGET, **(budget or {})}.items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    for name, value in (state or {}).items():
        at.session_state[name] = value
    if not opened_first:
        at.run()
    at.switch_page(page)
    at.query_params.update(query or {})
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


def restart() -> None:
    """What a new app process starts with: empty in-memory caches and tables, no loaded predictor, no open store, no probe
    runs, nothing in Streamlit's caches (the Sign-off page's gate evaluations live there)."""
    import streamlit as st

    from dashboard import state
    from probes.views import PROBE_RESULTS
    from runtime import current

    current().clear()
    state._predictor.clear()
    PROBE_RESULTS.clear()
    st.cache_resource.clear()
    st.cache_data.clear()
