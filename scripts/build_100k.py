"""Build a 100k-row sentiment evaluation set offline, from the Rotten Tomatoes corpus the demo already ships.

Run: .venv/bin/python scripts/build_100k.py [--rows 100000] [--seed 13] [--out sentiment_100k.csv|.parquet]
(default output: `<demo dir>/data/sentiment_100k.csv`, beside the demo's splits).

How the rows are made (deterministic for a seed; the same seed gives byte-identical files):
1. Every real snippet of the corpus, as `training.demo_data.load_corpus` reads it (fresh/rotten only, duplicates
   dropped: 12,752 rows), with `source = original`.
2. Then recombinations until `--rows` rows: two different real snippets of the SAME label and the SAME demo split
   (the train/validation/test split `veredicto demo` trains and tests the sentiment checkpoints on), joined with one
   space, `source = recombined`. Pairs are drawn with a seeded generator, per label in the corpus's label
   proportions; a text already in the set (real or recombined) is drawn again, so there are NO exact duplicates
   and leakage numbers stay meaningful: `demo_split = test` rows contain only sentences the demo checkpoints
   never trained on, `demo_split = train` rows only sentences they did.
   With `--rows` below the corpus size, a seeded sample of half the rows comes from the corpus and the rest are
   recombinations of that sample (that is what the tests use).
Labels are `fresh` and `rotten`, the labels of the sentiment demo checkpoints. The news corpus of
`veredicto demo --task news` is not used: its labels are topics, which the sentiment checkpoints do not know.

Columns: text, label, source (original/recombined), demo_split (train/validation/test), movie_name (of the first
snippet), n_words, length_bucket (short: <= 20 words, medium: <= 36, long), channel (web/app/email/partner) and
date (a day of 2024-2025): the last two are synthetic, drawn per row from the seeded generator, for slicing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training.demo_data import LABELS, SEED, load_corpus, split_corpus  # noqa: E402

ROWS = 100_000
CHANNELS = ("web", "app", "email", "partner")
CHANNEL_WEIGHTS = (0.45, 0.30, 0.15, 0.10)
FIRST_DAY = np.datetime64("2024-01-01")
DAYS = 731  # 2024-01-01 .. 2025-12-31
LENGTH_EDGES = (20, 36)  # words: short <= 20 < medium <= 36 < long (a snippet has ~18 words, a recombination ~37)
COLUMNS = ("text", "label", "source", "demo_split", "movie_name", "n_words", "length_bucket", "channel", "date")


def _with_splits(corpus: pd.DataFrame) -> pd.DataFrame:
    """The corpus with the demo split each snippet belongs to (the same split `veredicto demo` makes)."""
    parts = [part.assign(demo_split=name) for name, part in split_corpus(corpus, seed=SEED).items()]
    return pd.concat(parts, ignore_index=True).sort_values(["label", "demo_split", "text"], kind="stable").reset_index(drop=True)


def _recombine(base: pd.DataFrame, n: int, seed: int, taken: set[str]) -> pd.DataFrame:
    """`n` new texts, each two different snippets of one (label, demo split) group joined by a space; none in `taken`."""
    rng = np.random.default_rng(seed)
    groups = dict(list(base.groupby(["label", "demo_split"], sort=True)))
    keys = list(groups)
    weights = np.array([len(groups[k]) for k in keys], dtype=float)
    weights /= weights.sum()
    rows: list[tuple[str, str, str, str]] = []
    while len(rows) < n:
        want, before = n - len(rows), len(rows)
        picks = rng.choice(len(keys), size=want, p=weights)
        for g, count in zip(*np.unique(picks, return_counts=True)):
            part = groups[keys[g]]
            if len(part) < 2:
                continue
            first = rng.integers(0, len(part), size=count)
            second = (first + rng.integers(1, len(part), size=count)) % len(part)  # never the same snippet twice
            texts, movies = part["text"].to_numpy(), part["movie_name"].to_numpy()
            for a, b in zip(first, second):
                text = f"{texts[a]} {texts[b]}"
                if text not in taken:
                    taken.add(text)
                    rows.append((text, keys[g][0], keys[g][1], movies[a]))
        if len(rows) == before:
            raise ValueError(f"Could not make {n:,} distinct recombinations from {len(base):,} snippets; ask for fewer rows.")
    return pd.DataFrame(rows[:n], columns=["text", "label", "demo_split", "movie_name"]).assign(source="recombined")


def build(rows: int = ROWS, seed: int = SEED, corpus: pd.DataFrame | None = None) -> pd.DataFrame:
    """The evaluation set as a frame with COLUMNS (see the module docstring for how rows are made)."""
    if rows < 2:
        raise ValueError(f"--rows must be at least 2, got {rows}")
    base = _with_splits(load_corpus() if corpus is None else corpus)
    if rows < len(base):
        base = base.sample(n=rows // 2, random_state=seed).sort_index()
    originals = base.loc[:, ["text", "label", "demo_split", "movie_name"]].assign(source="original")
    extra = _recombine(base, rows - len(originals), seed, set(originals["text"]))
    df = pd.concat([originals, extra], ignore_index=True)
    rng = np.random.default_rng([seed, 1])  # metadata drawn apart from the pairs, so changing one leaves the other
    n_words = df["text"].str.split().str.len().astype(int)
    df = df.assign(
        n_words=n_words,
        length_bucket=np.select([n_words <= LENGTH_EDGES[0], n_words <= LENGTH_EDGES[1]], ["short", "medium"], "long"),
        channel=np.asarray(CHANNELS)[rng.choice(len(CHANNELS), size=len(df), p=CHANNEL_WEIGHTS)],
        date=(FIRST_DAY + rng.integers(0, DAYS, size=len(df))).astype(str),
    )
    assert set(df["label"]) <= set(LABELS)
    return df.loc[:, list(COLUMNS)]


def write(df: pd.DataFrame, out: Path) -> Path:
    """CSV (UTF-8) or Parquet by the file's extension, via a temporary file and a rename."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if out.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(tmp, index=False)
    else:
        df.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    from runtime import settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=settings.demo_dir() / "data" / "sentiment_100k.csv", help="a .csv or .parquet file")
    args = parser.parse_args(argv)
    if args.out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        parser.error(f"--out must end in .csv or .parquet, got {args.out.name}")
    df = build(args.rows, args.seed)
    path = write(df, args.out)
    counts = df["source"].value_counts()
    print(f"Wrote {len(df):,} rows ({counts.get('original', 0):,} original, {counts.get('recombined', 0):,} recombined) to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
