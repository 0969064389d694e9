"""Train–evaluation leakage: evaluation texts that are also in the training data, exactly or nearly.

    leak = find_leakage(train_texts, eval_texts, threshold=0.8)
    leak.rate, leak.matches        # leaked evaluation rows, each with its training row and similarity
    leak.within_eval               # evaluation rows that repeat an earlier evaluation row
    metrics_without_leaked(table, leak)   # headline metrics with and without the leaked rows

Texts are compared after `normalise_text` (Unicode NFKC, casefolded, punctuation stripped, whitespace collapsed).
Exact duplicates are equal normalised texts. Near-duplicates are pairs whose sets of word `shingle`-grams have a
Jaccard similarity of at least `threshold`: datasketch's MinHash LSH proposes candidate pairs (its bands set by
`lsh_params` so that a pair at the threshold is missed with probability at most 0.1%), and every candidate is checked
with the exact Jaccard, so no pair LSH proposes by chance is ever reported.
Texts with nothing left after normalising (empty, only punctuation) are never counted as duplicates.

Sentence pairs (each input a `(text, text_pair)` tuple, as the model reads them) are compared as pairs: a pair is
leaked exactly when the same normalised pair (both texts, in order) is in the training data, and nearly when the
shingles of the joined pair (first text, a `PAIR_MARK` word, second text) pass the threshold. The frames then carry
`text_pair` after `text` and `train_text_pair` / `first_text_pair` after the text they pair with.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics import Metrics, table_metrics
from analysis.predictions import PredictionTable, take_rows
from models.errors import VeredictoError
from models.protocol import TextInput

DEFAULT_THRESHOLD = 0.8
DEFAULT_SHINGLE = 3
DEFAULT_NUM_PERM = 64  # 16 bands of 4 rows at the 0.8 default (lsh_params): half the hashing and fewer buckets than 128
MINHASH_BATCH = 5000  # texts sketched at once (datasketch's MinHash.bulk); also the training texts held as shingle sets at once
MAX_MISS = 1e-3  # at most this chance that LSH misses a pair right at the threshold (more similar pairs: less)
MATCH_COLUMNS = ["row", "text", "train_row", "train_text", "similarity", "kind"]
WITHIN_COLUMNS = ["row", "text", "first_row", "first_text", "similarity", "kind"]

Progress = Callable[[int, int], None]
PAIR_MARK = "⟂"  # joins a pair's two normalised texts: not punctuation, not whitespace, so it survives `normalise_text`


class _PunctuationToSpace(dict):
    """str.translate table: a Unicode punctuation character (category P*) -> a space, any other -> itself; each
    character's category is looked up once, the first time it is seen (then the lookup stays in C)."""

    def __missing__(self, code: int) -> str | int:
        value: str | int = " " if unicodedata.category(chr(code)).startswith("P") else code
        self[code] = value
        return value


_PUNCTUATION = _PunctuationToSpace()


def normalise_text(text: str) -> str:
    """NFKC, casefold, punctuation (Unicode category P*) removed, whitespace collapsed: "Great  film!" -> "great film"."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    return " ".join(folded.translate(_PUNCTUATION).split())


def normalise_input(value: TextInput) -> str:
    """`normalise_text` of a text; of a sentence pair, both texts joined by `PAIR_MARK` ("" when both are empty)."""
    if not isinstance(value, tuple):
        return normalise_text(value)
    first, second = normalise_text(value[0]), normalise_text(value[1])
    return f"{first} {PAIR_MARK} {second}".strip() if first or second else ""


def pair_inputs(train: Sequence[TextInput], evals: Sequence[TextInput]) -> bool:
    """Whether both sides are sentence pairs; a refusal with what to do when only one side is."""
    is_pair = [bool(len(side)) and isinstance(side[0], tuple) for side in (train, evals)]
    if len(train) and len(evals) and is_pair[0] != is_pair[1]:
        raise VeredictoError(
            "The evaluation data is sentence pairs but the training data has one text per row. Give the training file's second text column (--train-pair-col)."
            if is_pair[1]
            else "The training data is sentence pairs but the evaluation data has one text per row. Give the evaluation file's second text column (--pair-col)."
        )
    return is_pair[1] if len(evals) else is_pair[0]


def _crc32(shingle: str) -> int:
    # MinHash's hash of a shingle: CRC-32 is 4-5x faster than datasketch's default SHA-1 and as deterministic;
    # datasketch's random affine permutations mix it before the minimum is taken.
    return zlib.crc32(shingle.encode("utf-8"))


def shingles(normalised: str, size: int = DEFAULT_SHINGLE) -> frozenset[str]:
    """The set of word `size`-grams of a normalised text (a shorter text is one shingle of all its words)."""
    words = normalised.split()
    if not words:
        return frozenset()
    if len(words) <= size:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True, eq=False)
class Leakage:
    """Leaked evaluation rows (`matches`: one row per leaked evaluation row, its best training match) and the
    duplicates within the evaluation data (`within_eval`: each later copy with the earliest row it repeats)."""

    matches: pd.DataFrame  # MATCH_COLUMNS (pairs: with text_pair, train_text_pair); kind "exact" | "near"; row/train_row 0-based
    within_eval: pd.DataFrame  # WITHIN_COLUMNS (pairs: with text_pair, first_text_pair)
    n_eval: int
    n_train: int
    threshold: float
    shingle: int
    num_perm: int

    @property
    def leaked_rows(self) -> np.ndarray:
        return self.matches["row"].to_numpy(dtype=int)

    @property
    def rate(self) -> float:
        """Share of evaluation rows that are also (nearly) in the training data."""
        return len(self.matches) / self.n_eval if self.n_eval else float("nan")

    @property
    def exact_count(self) -> int:
        return int((self.matches["kind"] == "exact").sum())

    @property
    def near_count(self) -> int:
        return int((self.matches["kind"] == "near").sum())

    def summary(self) -> str:
        """One plain sentence: how much of the evaluation set the model may have seen in training."""
        if not self.n_eval:
            return "The evaluation data is empty, so leakage cannot be measured."
        head = (
            f"{len(self.matches)} of {self.n_eval} evaluation texts ({self.rate:.1%}) also appear in the training data "
            f"({self.n_train} texts): {self.exact_count} exactly (ignoring case, spacing and punctuation) and {self.near_count} "
            f"as near-duplicates (Jaccard similarity ≥ {self.threshold:.2f} of word {self.shingle}-grams)."
        )
        return head + f" Within the evaluation data, {len(self.within_eval)} text(s) repeat an earlier one."

    def as_dict(self) -> dict:
        return {
            "n_eval": self.n_eval,
            "n_train": self.n_train,
            "rate": self.rate,
            "leaked": len(self.matches),
            "exact": self.exact_count,
            "near": self.near_count,
            "within_eval_duplicates": len(self.within_eval),
            "threshold": self.threshold,
            "shingle": self.shingle,
            "num_perm": self.num_perm,
        }


class _Corpus:
    """Distinct non-empty normalised texts of one side, with the rows that hold each and their shingles."""

    def __init__(self, texts: Sequence[TextInput], size: int):
        self.rows: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            norm = normalise_input(text)
            if norm:
                self.rows.setdefault(norm, []).append(row)
        self.keys = list(self.rows)
        self.sets = [shingles(k, size) for k in self.keys]


def _minhashes(sets: list[frozenset[str]], num_perm: int, progress: Progress | None, done: int, total: int) -> list:
    from datasketch import MinHash

    out: list = []
    step = MINHASH_BATCH
    for start in range(0, len(sets), step):
        chunk = sets[start : start + step]
        out.extend(MinHash.bulk(chunk, num_perm=num_perm, hashfunc=_crc32))
        if progress:
            progress(done + start + len(chunk), total)
    return out


def lsh_params(threshold: float, num_perm: int, max_miss: float = MAX_MISS) -> tuple[int, int]:
    """(bands, rows per band) for MinHash LSH: the most rows per band (fewest candidates to verify) such that a pair
    whose Jaccard similarity is exactly `threshold` is missed with probability (1 - threshold**r)**b at most `max_miss`.

    datasketch's own choice for a 0.8 threshold (weights 0.5/0.5) misses such a pair 60% of the time; since every
    candidate is verified with the exact Jaccard anyway, extra candidates cost only time, never a false report.
    """
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if (1.0 - threshold**rows) ** bands <= max_miss:
            return bands, rows
    return num_perm, 1


def split_pairs(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Each of `columns` (holding `(text, text_pair)` tuples) as two columns: the first text, then `<column>_pair`."""
    for column in columns:
        first, second = zip(*frame[column].tolist()) if len(frame) else ((), ())
        frame[column] = list(first)
        frame.insert(frame.columns.get_loc(column) + 1, f"{column}_pair", list(second))
    return frame


class LeakageScan:
    """`find_leakage` with the training texts given in parts (a training file read in chunks): memory holds the
    evaluation side and one part of the training side, never the whole training data.

        scan = LeakageScan(eval_texts, threshold=0.8)
        for chunk in chunks: scan.add_train(chunk_texts)
        leak = scan.result()

    The evaluation texts are indexed (MinHash LSH) once; each training text queries that index and every candidate is
    checked with the exact Jaccard. LSH proposes a pair when the two sketches agree on a whole band, which does not
    depend on which side is indexed, so the result equals indexing both sides at once.
    """

    def __init__(
        self,
        eval_texts: Sequence[TextInput],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        shingle: int = DEFAULT_SHINGLE,
        num_perm: int = DEFAULT_NUM_PERM,
        progress: Progress | None = None,
    ):
        if not 0 < threshold <= 1:
            raise VeredictoError(f"The near-duplicate threshold is a Jaccard similarity between 0 and 1, got {threshold}.")
        if shingle < 1:
            raise VeredictoError(f"Shingles are word n-grams of at least one word, got {shingle}.")
        from datasketch import MinHashLSH

        self.threshold, self.shingle, self.num_perm = float(threshold), int(shingle), int(num_perm)
        self.eval_texts = list(eval_texts)
        self.evals = _Corpus(self.eval_texts, shingle)
        self.eval_index = {k: e for e, k in enumerate(self.evals.keys)}
        self.eval_hashes = _minhashes(self.evals.sets, num_perm, progress, 0, len(self.evals.keys))
        self.lsh = MinHashLSH(num_perm=num_perm, params=lsh_params(threshold, num_perm))
        with self.lsh.insertion_session() as session:
            for e, mh in enumerate(self.eval_hashes):
                session.insert(e, mh, check_duplication=False)
        self.best: dict[int, tuple[int, TextInput, float, str]] = {}  # eval key index -> (training row, its text, similarity, kind)
        self.n_train = 0
        self.pairs = bool(self.eval_texts) and isinstance(self.eval_texts[0], tuple)  # sentence pairs (the evaluation side decides)

    def add_train(self, texts: Sequence[TextInput]) -> None:
        """The next training rows, in file order (an exact match wins, then the highest Jaccard, then the earliest row).
        Sentence pairs on one side only are refused (`pair_inputs`)."""
        if len(texts):
            self.pairs = pair_inputs(texts, self.eval_texts)
        first: dict[str, int] = {}  # distinct normalised texts (pairs: joined) of this part -> their first row in it
        for i, text in enumerate(texts):
            norm = normalise_input(text)
            if norm and norm not in first:
                first[norm] = i
        for norm, i in first.items():
            e = self.eval_index.get(norm)
            if e is not None and self.best.get(e, (0, "", 0.0, "near"))[3] != "exact":
                self.best[e] = (self.n_train + i, texts[i], 1.0, "exact")
        distinct = list(first.items())  # an exact copy of one evaluation text may be near another: every text is queried
        for start in range(0, len(distinct), MINHASH_BATCH):  # shingle sets and sketches of one batch at a time, whatever the part's size
            batch = distinct[start : start + MINHASH_BATCH]
            sets = [shingles(norm, self.shingle) for norm, _ in batch]
            for (_, i), train_set, mh in zip(batch, sets, _minhashes(sets, self.num_perm, None, 0, len(sets))):
                for e in self.lsh.query(mh):
                    sim = jaccard(self.evals.sets[e], train_set)
                    current = self.best.get(e)
                    if sim >= self.threshold - 1e-12 and (current is None or (current[3] == "near" and sim > current[2])):
                        self.best[e] = (self.n_train + i, texts[i], sim, "near")
        self.n_train += len(texts)

    def result(self) -> Leakage:
        evals, eval_texts = self.evals, self.eval_texts
        first_row = [evals.rows[k][0] for k in evals.keys]
        within: list[tuple[int, TextInput, int, TextInput, float, str]] = []
        for e, key in enumerate(evals.keys):
            rows = evals.rows[key]  # every later copy of the same text repeats its first row exactly
            within.extend((row, eval_texts[row], rows[0], eval_texts[rows[0]], 1.0, "exact") for row in rows[1:])
            earlier = [(jaccard(evals.sets[e], evals.sets[c]), -first_row[c], c) for c in self.lsh.query(self.eval_hashes[e]) if first_row[c] < first_row[e]]
            earlier = [x for x in earlier if x[0] >= self.threshold - 1e-12]
            if earlier:
                sim, _, o = max(earlier)  # later exact copies of this text are already listed against its first row
                within.append((first_row[e], eval_texts[first_row[e]], first_row[o], eval_texts[first_row[o]], sim, "near"))
        match_rows = [
            (row, eval_texts[row], train_row, train_text, sim, kind)
            for e, (train_row, train_text, sim, kind) in self.best.items()
            for row in evals.rows[evals.keys[e]]
        ]
        matches = pd.DataFrame(match_rows, columns=MATCH_COLUMNS).sort_values("row", kind="stable").reset_index(drop=True)
        within_frame = pd.DataFrame(within, columns=WITHIN_COLUMNS).sort_values("row", kind="stable").reset_index(drop=True)
        if self.pairs:
            matches, within_frame = split_pairs(matches, ["text", "train_text"]), split_pairs(within_frame, ["text", "first_text"])
        return Leakage(matches, within_frame, len(eval_texts), self.n_train, self.threshold, self.shingle, self.num_perm)


def find_leakage(
    train_texts: Sequence[TextInput],
    eval_texts: Sequence[TextInput],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    shingle: int = DEFAULT_SHINGLE,
    num_perm: int = DEFAULT_NUM_PERM,
    progress: Progress | None = None,
) -> Leakage:
    """Exact and near-duplicates between training and evaluation texts, and within the evaluation texts.

    Each leaked evaluation row is reported once, with its most similar training row (an exact match wins, then the
    highest Jaccard, then the earliest row). `threshold` is the Jaccard similarity of word `shingle`-gram sets at or
    above which two texts count as near-duplicates. Sentence pairs: see the module docstring. `LeakageScan` does the
    same with the training texts in parts.
    """
    train_texts = list(train_texts)
    n_train = len(train_texts)
    scan = LeakageScan(
        eval_texts,
        threshold=threshold,
        shingle=shingle,
        num_perm=num_perm,
        progress=(lambda done, total: progress(done, total + n_train)) if progress else None,
    )
    step = MINHASH_BATCH
    for start in range(0, n_train, step):
        scan.add_train(train_texts[start : start + step])
        if progress:
            progress(len(scan.evals.keys) + min(start + step, n_train), len(scan.evals.keys) + n_train)
    return scan.result()


@dataclass(frozen=True, eq=False)
class CleanMetrics:
    """Headline metrics on every evaluation row and on the rows not leaked from the training data, side by side."""

    all_rows: Metrics
    without_leaked: Metrics
    removed: int

    def table(self) -> pd.DataFrame:
        """Rows accuracy / macro-F1 / examples; columns: all rows, without leaked rows, change."""
        a, w = self.all_rows, self.without_leaked
        return pd.DataFrame(
            {
                "all rows": [a.accuracy, a.macro_f1, float(a.n)],
                "without leaked rows": [w.accuracy, w.macro_f1, float(w.n)],
                "change": [w.accuracy - a.accuracy, w.macro_f1 - a.macro_f1, float(w.n - a.n)],
            },
            index=pd.Index(["accuracy", "macro_f1", "examples"], name="metric"),
        )


def metrics_without_leaked(table: PredictionTable, leakage: Leakage) -> CleanMetrics:
    """`table_metrics` on the whole table and on the table without the leaked evaluation rows."""
    if leakage.n_eval != len(table):
        raise VeredictoError(f"The leakage scan covers {leakage.n_eval} evaluation rows but the table has {len(table)}; scan the same evaluation data.")
    keep = np.setdiff1d(np.arange(len(table)), leakage.leaked_rows)
    return CleanMetrics(table_metrics(table), table_metrics(take_rows(table, keep)), int(len(table) - len(keep)))
