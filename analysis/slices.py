"""Slices of an evaluation set — where the model does better or worse than overall.

A `Slice` is a named boolean mask over the examples. Slices come from metadata columns
(categorical: the most frequent values; numeric: quantile bins), text length, the model's
confidence, or a keyword. `slice_table` turns a list of slices and a correctness vector
into size / accuracy / gap-to-overall rows, with a 95% Wilson interval so small slices
are not over-read.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.predictions import PredictionTable, join_tags, set_probability
from analysis.stats import wilson_interval

SLICE_COLUMNS = ("feature", "slice", "size", "share", "correct", "errors", "accuracy", "gap", "ci_low", "ci_high")
CONFIDENCE_EDGES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MISSING = "(missing)"


@dataclass(frozen=True, eq=False)
class Slice:
    """Examples where `mask` is True. `feature` says what was sliced on, `name` which part of it."""

    feature: str
    name: str
    mask: np.ndarray

    @property
    def size(self) -> int:
        return int(self.mask.sum())

    @property
    def indices(self) -> np.ndarray:
        return np.flatnonzero(self.mask)

    @property
    def title(self) -> str:
        return f"{self.feature}: {self.name}"


# --- building slices ---------------------------------------------------------------------------------


def _fmt(x: float, integer: bool) -> str:
    if integer:
        return f"{int(round(x)):,}"
    return f"{x:.3g}"


def _as_numbers(values: pd.Series) -> pd.Series | None:
    """The column as floats if (nearly) every non-empty value is a number, else None."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    as_text = values.astype("string").str.strip()
    present = values.notna() & (as_text != "")
    if not present.any():
        return None
    # Parse each distinct value once: a metadata column of 100k rows has a few hundred values (dates, channels).
    codes, distinct = pd.factorize(as_text.where(present))
    parsed = pd.to_numeric(pd.Series(distinct, dtype="string"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    numbers = pd.Series(np.where(codes >= 0, parsed[codes], np.nan), index=values.index)
    if numbers[present].notna().mean() < 0.95:
        return None
    return numbers


def column_kind(frame: pd.DataFrame, column: str, top: int = 8) -> str:
    """'numeric' (sliced into quantile bins), 'categorical' (top values), or 'id' (every value unique)."""
    values = frame[column]
    numbers = _as_numbers(values)
    distinct = values.nunique(dropna=True)
    if numbers is not None and numbers.nunique(dropna=True) > top:
        return "numeric"
    if len(values) > 20 and distinct >= 0.9 * len(values):
        return "id"
    return "categorical"


def numeric_slices(values, feature: str, bins: int = 4, unit: str = "") -> list[Slice]:
    """Quantile bins (about equal sizes; ties never split), named by the smallest and largest value inside."""
    numbers = pd.Series(np.asarray(values, dtype=float))
    present = numbers.notna().to_numpy()
    slices: list[Slice] = []
    if present.any():
        valid = numbers[present]
        integer = bool(np.all(np.equal(np.mod(valid, 1), 0)))
        codes = pd.qcut(valid, q=min(bins, valid.nunique()), labels=False, duplicates="drop")
        full = np.full(len(numbers), -1)
        full[present] = codes.to_numpy()
        suffix = f" {unit}" if unit else ""
        for code in sorted(set(codes.tolist())):
            mask = full == code
            inside = numbers[mask]
            lo, hi = inside.min(), inside.max()
            name = _fmt(lo, integer) if lo == hi else f"{_fmt(lo, integer)}–{_fmt(hi, integer)}"
            slices.append(Slice(feature, name + suffix, mask))
    if not present.all():
        slices.append(Slice(feature, MISSING, ~present))
    return slices


def categorical_slices(values, feature: str, top: int = 8) -> list[Slice]:
    """One slice per frequent value (most frequent first), the rest pooled as 'other (k values)'."""
    series = pd.Series(values).reset_index(drop=True)
    missing = series.isna() | (series.astype("string").str.strip() == "")
    keys = series.astype("string").str.strip().where(~missing)
    counts = keys.value_counts(dropna=True)
    numbers = pd.to_numeric(pd.Series(counts.index), errors="coerce")
    if len(counts) and numbers.notna().all() and len(counts) <= top:
        counts = counts.iloc[np.argsort(numbers.to_numpy(), kind="stable")]  # ratings 1..5 read in order
    shown = list(counts.index[:top])
    slices = [Slice(feature, str(value), (keys == value).fillna(False).to_numpy(dtype=bool)) for value in shown]
    rest = ~missing.to_numpy() & ~keys.isin(shown).fillna(False).to_numpy(dtype=bool)
    if rest.any():
        slices.append(Slice(feature, f"other ({len(counts) - len(shown)} values)", rest))
    if missing.any():
        slices.append(Slice(feature, MISSING, missing.to_numpy(dtype=bool)))
    return slices


def metadata_slices(frame: pd.DataFrame, column: str, *, top: int = 8, bins: int = 4) -> list[Slice]:
    """Slices of any column: numeric columns by quantile bins, everything else by its most frequent values."""
    if column not in frame.columns:
        raise KeyError(f"No column '{column}'. Columns: {', '.join(map(str, frame.columns))}")
    if column_kind(frame, column, top) == "numeric":
        return numeric_slices(_as_numbers(frame[column]), column, bins)
    return categorical_slices(frame[column], column, top)


_WORD_BLOCK = 1 << 18  # bytes counted at once: the temporaries stay in the CPU's cache (100k texts: 0.04 s, a whole column at once 0.08-0.29 s)


def _ascii_word_counts(chunk) -> np.ndarray:
    """Words per text of an Arrow string array, counted on its UTF-8 bytes; -1 for a text with a non-ASCII byte."""
    import pyarrow as pa

    _, offsets_buffer, data_buffer = chunk.buffers()
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    counts = np.zeros(len(chunk), dtype=np.int64)
    cuts = np.unique(np.concatenate(([0], np.searchsorted(offsets, np.arange(offsets[0], offsets[-1], _WORD_BLOCK)), [len(chunk)])))
    for first, last in itertools.pairwise(cuts):
        edges = offsets[first : last + 1]
        block = data[edges[0] : edges[-1]]
        edges = edges - edges[0]
        # what str.split() splits on in ASCII: space, \t \n \v \f \r (9-13) and \x1c-\x1f (uint8 wraps below 9 and 28)
        space = (block == 32) | (block - np.uint8(9) <= 4) | (block - np.uint8(28) <= 3)
        starts = ~space  # a word starts at a byte that is no space, after a space or at its text's first byte
        starts[1:] &= space[:-1]
        firsts = edges[:-1][edges[:-1] < edges[1:]]
        starts[firsts] = ~space[firsts]
        part = np.diff(np.searchsorted(np.flatnonzero(starts), edges))
        part[np.diff(np.searchsorted(np.flatnonzero(block >= 0x80), edges)) > 0] = -1
        counts[first:last] = part
    return counts


def word_counts(texts) -> np.ndarray:
    """Whitespace-separated words per text, as `len(str(t).split())` counts them.

    A column of strings is counted on its UTF-8 bytes (100k texts: 0.08 s, against 0.27 s splitting each); the texts with
    a non-ASCII byte (Unicode has more spaces) and anything that is not a column of strings are split one by one."""
    import pyarrow as pa

    try:
        array = pa.array(texts.array if isinstance(texts, pd.Series) else texts, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = None
    if array is None or array.null_count or not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return np.array([len(str(t).split()) for t in texts], dtype=int)
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    counts = np.concatenate([np.zeros(0, np.int64), *(_ascii_word_counts(chunk) for chunk in chunks)])
    unicode = np.flatnonzero(counts < 0)
    counts[unicode] = [len(text.split()) for text in array.take(unicode).to_pylist()]
    return counts.astype(int)


def searchable_texts(frame: pd.DataFrame) -> list[str]:
    """What a keyword is looked for in: the text, or for sentence pairs both texts (one per line)."""
    if "text_pair" not in frame:
        return frame["text"].tolist()
    return [f"{a}\n{b}" for a, b in zip(frame["text"].tolist(), frame["text_pair"].tolist())]


def length_slices(frame: pd.DataFrame, bins: int = 4, unit: str = "words") -> list[Slice]:
    """Quantile bins of text length, in words (whitespace-separated) or model tokens (`unit='tokens'`).

    Sentence pairs count both texts (the model reads both)."""
    if unit == "tokens":
        lengths = frame["n_tokens"].to_numpy()
    elif unit == "words":
        lengths = word_counts(frame["text"]) + (word_counts(frame["text_pair"]) if "text_pair" in frame else 0)
    else:
        raise ValueError("unit must be 'words' or 'tokens'")
    return numeric_slices(lengths, f"text length ({unit})", bins, unit)


def confidence_slices(confidence, edges: Sequence[float] = CONFIDENCE_EDGES) -> list[Slice]:
    """Fixed bins of the predicted label's probability, (lower, upper], the first also holding `edges[0]`; empty bins dropped."""
    confidence = np.asarray(confidence, dtype=float)
    bounds = np.asarray(edges, dtype=float)
    which = np.clip(np.searchsorted(bounds, np.round(confidence, 6), side="left") - 1, 0, len(bounds) - 2)
    slices = []
    for b in range(len(bounds) - 1):
        mask = which == b
        if mask.any():
            name = f"≤ {bounds[1]:.2f}" if b == 0 else f"{bounds[b]:.2f}–{bounds[b + 1]:.2f}"
            slices.append(Slice("confidence", name, mask))
    return slices


def parse_keywords(text: str) -> list[str]:
    """'refund, late delivery' -> ['refund', 'late delivery'] (comma-separated, blanks and duplicates dropped)."""
    seen: list[str] = []
    for part in str(text or "").split(","):
        part = part.strip()
        if part and part.lower() not in (s.lower() for s in seen):
            seen.append(part)
    return seen


def keyword_mask(texts, keyword: str, *, whole_word: bool = True, case_sensitive: bool = False) -> np.ndarray:
    """Texts containing `keyword` (a word or phrase; `whole_word` avoids 'bad' matching 'badge')."""
    pattern = re.escape(keyword.strip())
    if whole_word:
        pattern = rf"(?<!\w){pattern}(?!\w)"
    regex = re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    return np.array([bool(regex.search(str(t))) for t in texts], dtype=bool)


def keyword_slices(frame: pd.DataFrame, keywords: str | Sequence[str], *, whole_word: bool = True, case_sensitive: bool = False) -> list[Slice]:
    """One slice per keyword ('contains "x"'; they may overlap) plus the texts that contain none of them."""
    if isinstance(keywords, str):
        keywords = parse_keywords(keywords)
    texts = searchable_texts(frame)
    slices = [Slice("keyword", f'contains "{k}"', keyword_mask(texts, k, whole_word=whole_word, case_sensitive=case_sensitive)) for k in keywords]
    if slices:
        any_hit = np.logical_or.reduce([s.mask for s in slices])
        label = "contains none of them" if len(slices) > 1 else f'does not contain "{keywords[0]}"'
        slices.append(Slice("keyword", label, ~any_hit))
    return slices


def gold_slices(table: PredictionTable) -> list[Slice]:
    return [Slice("gold label", label, table.gold_matrix[:, c]) for c, label in enumerate(table.labels)]  # both kinds: the rows with that gold label


def data_slices(frame: pd.DataFrame, metadata: Sequence[str], *, top: int = 8, bins: int = 4) -> list[Slice]:
    """Slices that depend only on the data (not on a model): every non-ID metadata column and text length.

    These are the slices two checkpoints can be compared on.
    """
    slices: list[Slice] = []
    for column in metadata:
        if column in frame.columns and column_kind(frame, column, top) != "id":
            slices.extend(metadata_slices(frame, column, top=top, bins=bins))
    slices.extend(length_slices(frame, bins=bins))
    return slices


# --- measuring slices ---------------------------------------------------------------------------------


def slice_table(slices: Sequence[Slice], correct, *, gold=None, pred=None) -> pd.DataFrame:
    """One row per slice (same order): size, share of all examples, accuracy, gap = slice − overall accuracy, 95% interval.

    Multi-label: `correct` is the exact-set match (so `accuracy` is the slice's subset accuracy), and the indicator
    arrays `gold` / `pred` (rows x labels) add a `micro_f1` column: the slice's micro-F1 (0 when it has no gold or
    predicted label at all).
    """
    correct = np.asarray(correct, dtype=bool)
    n = len(correct)
    overall = float(correct.mean()) if n else float("nan")
    sizes = np.array([s.size for s in slices], dtype=int)
    hits = np.array([int(correct[s.mask].sum()) for s in slices], dtype=int)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(sizes > 0, hits / np.maximum(sizes, 1), np.nan)
    low, high = wilson_interval(hits, sizes)
    table = pd.DataFrame(
        {
            "feature": [s.feature for s in slices],
            "slice": [s.name for s in slices],
            "size": sizes,
            "share": sizes / n if n else np.zeros(len(slices)),
            "correct": hits,
            "errors": sizes - hits,
            "accuracy": accuracy,
            "gap": accuracy - overall,
            "ci_low": low,
            "ci_high": high,
        },
        columns=list(SLICE_COLUMNS),
    )
    if gold is not None and pred is not None:
        gold, pred = np.asarray(gold, dtype=bool), np.asarray(pred, dtype=bool)
        tp = np.array([int((gold[s.mask] & pred[s.mask]).sum()) for s in slices])
        decided = np.array([int(gold[s.mask].sum() + pred[s.mask].sum()) for s in slices])
        table["micro_f1"] = np.where(decided > 0, 2 * tp / np.maximum(decided, 1), 0.0)
    return table


def worst_slices(table: pd.DataFrame, min_size: int = 10, limit: int = 5) -> pd.DataFrame:
    """Slices with at least `min_size` examples, lowest accuracy first."""
    big = table[table["size"] >= min_size]
    return big.sort_values(["gap", "size"], ascending=[True, False]).head(limit)


def describe_slice(row) -> str:
    """'movie_name = Inception: 12 examples, accuracy 58% (8 points below overall).'

    A multi-label slice (a row with `micro_f1`) reads 'subset accuracy 58%, micro-F1 0.71 (8 points below overall)'."""
    gap = row["gap"] * 100
    if np.isnan(gap):
        where = "no examples"
    elif abs(gap) < 0.5:
        where = "same as overall"
    else:
        where = f"{abs(gap):.0f} points {'below' if gap < 0 else 'above'} overall"
    uncertain = ""
    overall = row["accuracy"] - row["gap"]
    if row["size"] and row["ci_low"] <= overall <= row["ci_high"]:
        uncertain = "; too few examples to call it a real difference"
    measure = f"accuracy {row['accuracy']:.0%}"
    if "micro_f1" in row:
        measure = f"subset accuracy {row['accuracy']:.0%}, micro-F1 {row['micro_f1']:.2f}"
    return f"{row['feature']} = {row['slice']}: {int(row['size'])} examples, {measure} ({where}{uncertain})."


# --- mistakes ------------------------------------------------------------------------------------------


def mistake_columns(table: PredictionTable, rows: np.ndarray) -> dict[str, np.ndarray | list[str]]:
    """What an example list adds after `confidence` for `rows`: p_gold, the probability the model gave the gold label
    (multi-label: the probability of the whole gold set, the product over labels of p or 1 − p); multi-label also
    `missed` (gold tags not predicted) and `false_positive` (predicted tags not gold), joined by " | "."""
    if not table.multi_label:
        return {"p_gold": table.probs[rows, table.gold_idx[rows]].astype(float)}
    gold, pred = table.gold_matrix[rows], table.pred_matrix[rows]
    return {
        "p_gold": set_probability(table.probs[rows].astype(np.float64), gold),
        "missed": join_tags(gold & ~pred, table.labels),
        "false_positive": join_tags(pred & ~gold, table.labels),
    }


def confident_mistakes(table: PredictionTable, limit: int | None = None) -> pd.DataFrame:
    """Mistakes, most confident first (often mislabelled data: check the gold label).

    Single-label: misclassified rows by the probability of the predicted label. Multi-label: rows whose predicted set
    is not exactly the gold set, by the probability of the predicted set (`confidence`) — a row-level view; the
    per-label false positives and negatives are in `missed` / `false_positive` (and the Errors page's per-label 2x2).

    Index: example position in the evaluation set. Columns: text (and text_pair for pairs), gold, pred, confidence,
    `mistake_columns` (p_gold, …), then metadata.
    """
    frame = table.frame
    wrong = np.flatnonzero(~table.correct)
    texts = ["text", "text_pair"] if table.pair else ["text"]
    out = pd.DataFrame(
        {
            **{column: frame[column].array.take(wrong) for column in [*texts, "gold", "pred", "confidence"]},  # no 100k-row copies
            **mistake_columns(table, wrong),
        },
        index=pd.Index(wrong, name="example"),
    )
    for column in table.metadata:
        out[column] = frame[column].array.take(wrong)
    out = out.sort_values("confidence", ascending=False, kind="stable")
    return out if limit is None else out.head(limit)
