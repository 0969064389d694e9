"""Drift between training and evaluation texts: does the evaluation set look like what the model was trained on?

    drift = measure_drift(predictor, train_texts, eval_texts, train_labels=..., eval_labels=...)
    drift.sentence()     # "a simple classifier tells training from evaluation texts apart 71% of the time"
    drift.lengths, drift.oov_rate, drift.truncation_rate, drift.label_balance, drift.most_unlike

- Length: tokens per text with special tokens (the inference layer's `token_counts`), per side.
- Out-of-vocabulary rate: the share of words (runs of letters and digits) that the model's tokenizer turns into
  its unknown token, even in part. Byte-level tokenizers (RoBERTa, GPT-2) have no unknown token: always 0.
- Truncation rate: the share of texts longer than the model reads (`token_counts > max_length`, the definition
  `InferenceLayer.truncated` uses; counted from the same token counts instead of tokenizing twice).
- Label balance: each label's share on each side; training labels the checkpoint does not have are listed.
- Domain classifier: a logistic regression on the checkpoint's own embeddings (`embed`), stratified k-fold
  cross-validated, telling training from evaluation texts apart. Its out-of-fold ROC AUC is 0.5 when the two sides
  are indistinguishable and 1.0 when every evaluation text is recognisably different; the evaluation texts with the
  highest out-of-fold "evaluation" probability are the ones most unlike the training data.

Each side is subsampled (seeded) to `cap` texts first, so the cost does not grow with the training set.

Sentence pairs (`(text, text_pair)` inputs) are measured as the model reads them: lengths and truncation count the
tokens of the encoded pair, the out-of-vocabulary rate the words of both texts, and the domain classifier works on
the embeddings of the pairs; `most_unlike` then has `text_pair` after `text`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.errors import VeredictoError
from models.protocol import InferenceLayer, Progress, TextInput
from quality.leakage import pair_inputs, split_pairs

DEFAULT_CAP = 1000
DEFAULT_FOLDS = 5
DOMAIN_C = 0.05  # strong L2: hundreds of embedding dimensions on ~2,000 texts; keeps the out-of-fold probabilities from saturating at 0 or 1
WORD = re.compile(r"\w+")
UNLIKE_COLUMNS = ["row", "text", "p_eval"]


@dataclass(frozen=True, eq=False)
class DomainClassifier:
    """Out-of-fold result of telling training (0) from evaluation (1) vectors apart."""

    auc: float
    folds: int
    p_eval: np.ndarray  # out-of-fold probability of "evaluation", for the evaluation vectors, in their order


def domain_classifier(train_vectors: np.ndarray, eval_vectors: np.ndarray, *, folds: int = DEFAULT_FOLDS, seed: int = 0) -> DomainClassifier:
    """Stratified k-fold logistic regression on [train; eval] vectors; ROC AUC of the out-of-fold probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_train, n_eval = len(train_vectors), len(eval_vectors)
    folds = min(int(folds), n_train, n_eval)
    if folds < 2:
        return DomainClassifier(float("nan"), 0, np.full(n_eval, np.nan))
    x = np.vstack([np.asarray(train_vectors, dtype=np.float64), np.asarray(eval_vectors, dtype=np.float64)])
    y = np.concatenate([np.zeros(n_train, dtype=int), np.ones(n_eval, dtype=int)])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=DOMAIN_C, max_iter=2000, class_weight="balanced"))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    oof = cross_val_predict(model, x, y, cv=splitter, method="predict_proba")[:, 1]
    return DomainClassifier(float(roc_auc_score(y, oof)), folds, oof[n_train:])


def _as_input(value: TextInput) -> TextInput:
    return (str(value[0]), str(value[1])) if isinstance(value, tuple) else str(value)


def oov_rate(predictor: InferenceLayer, texts: Sequence[TextInput]) -> float:
    """Share of word occurrences the tokenizer maps (even in part) to its unknown token (a pair: in both texts); NaN without words."""
    parts = [part for text in texts for part in (text if isinstance(text, tuple) else (text,))]
    counts = Counter(word for part in parts for word in WORD.findall(str(part)))
    total = sum(counts.values())
    if not total:
        return float("nan")
    words = list(counts)
    with predictor.exclusive():
        tokenizer = predictor.tokenizer
        unk = getattr(tokenizer, "unk_token_id", None)
        if unk is None:
            return 0.0
        ids = tokenizer(words, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    unknown = sum(counts[w] for w, pieces in zip(words, ids) if unk in pieces)
    return unknown / total


def sample_rows(n: int, cap: int, seed: int) -> np.ndarray:
    """The sorted rows of `n` texts that drift measures: all of them, or a seeded sample of `cap`."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def label_balance(train_labels: Sequence[str] | Mapping[str, int] | None, eval_labels: Sequence[str] | None, labels: Sequence[str]) -> pd.DataFrame:
    """Index label (the checkpoint's, then any other label found); columns train_share, eval_share, difference, in_checkpoint.

    `train_labels`: one label per text, or their counts (a training file read in chunks)."""
    train = Counter(train_labels) if isinstance(train_labels, Mapping) else Counter(map(str, train_labels or []))
    evals = Counter(map(str, eval_labels or []))
    n_train, n_eval = sum(train.values()), sum(evals.values())
    order = list(labels) + sorted((set(train) | set(evals)) - set(labels))
    frame = pd.DataFrame(
        {
            "train_share": [train[l] / n_train if n_train else float("nan") for l in order],
            "eval_share": [evals[l] / n_eval if n_eval else float("nan") for l in order],
        },
        index=pd.Index(order, name="label"),
    )
    frame["difference"] = frame["eval_share"] - frame["train_share"]
    frame["in_checkpoint"] = [l in labels for l in order]
    return frame


@dataclass(frozen=True, eq=False)
class Drift:
    """How the evaluation texts differ from the training texts (see the module docstring for each measure)."""

    n_train: int  # training texts measured (after the cap)
    n_train_total: int
    n_eval: int  # evaluation texts measured (after the cap)
    n_eval_total: int
    cap: int
    lengths: pd.DataFrame  # index train/eval; columns mean, median, p90, max (tokens)
    length_ks: float  # two-sample Kolmogorov–Smirnov statistic of the token counts (0 = same distribution)
    oov_rate: dict[str, float]  # side -> share of words that become the unknown token
    truncation_rate: dict[str, float]  # side -> share of texts longer than max_length tokens
    max_length: int
    label_balance: pd.DataFrame
    unknown_train_labels: tuple[str, ...]  # training labels the checkpoint does not have
    domain_auc: float
    folds: int
    most_unlike: pd.DataFrame  # UNLIKE_COLUMNS (pairs: with text_pair): evaluation rows most unlike the training data, most unlike first

    def sentence(self) -> str:
        """The domain classifier's AUC in plain words."""
        if math.isnan(self.domain_auc):
            return "Too few texts on one side to train a classifier telling training from evaluation texts apart."
        return f"a simple classifier tells training from evaluation texts apart {self.domain_auc:.0%} of the time"

    def summary(self) -> str:
        lengths = self.lengths
        parts = [
            self.sentence()[0].upper() + self.sentence()[1:] + f" (ROC AUC {self.domain_auc:.2f}; 50% = indistinguishable).",
            f"Median length {lengths.loc['train', 'median']:.0f} tokens in training vs {lengths.loc['eval', 'median']:.0f} in evaluation.",
            f"Out-of-vocabulary words: {self.oov_rate['train']:.1%} vs {self.oov_rate['eval']:.1%}; "
            f"truncated (over {self.max_length} tokens): {self.truncation_rate['train']:.1%} vs {self.truncation_rate['eval']:.1%}.",
        ]
        if self.n_train < self.n_train_total or self.n_eval < self.n_eval_total:
            parts.append(f"Measured on a seeded sample of at most {self.cap} texts per side ({self.n_train_total} training, {self.n_eval_total} evaluation).")
        if self.unknown_train_labels:
            parts.append(f"Training labels the checkpoint does not have: {', '.join(self.unknown_train_labels)}.")
        return " ".join(parts)

    def as_dict(self) -> dict:
        return {
            "domain_auc": self.domain_auc,
            "folds": self.folds,
            "sentence": self.sentence(),
            "n_train": self.n_train,
            "n_train_total": self.n_train_total,
            "n_eval": self.n_eval,
            "n_eval_total": self.n_eval_total,
            "lengths": {side: {k: float(v) for k, v in row.items()} for side, row in self.lengths.to_dict(orient="index").items()},
            "length_ks": self.length_ks,
            "oov_rate": dict(self.oov_rate),
            "truncation_rate": dict(self.truncation_rate),
            "label_balance": {
                label: {k: (bool(v) if k == "in_checkpoint" else float(v)) for k, v in row.items()}
                for label, row in self.label_balance.to_dict(orient="index").items()
            },
            "unknown_train_labels": list(self.unknown_train_labels),
        }


def measure_drift(
    predictor: InferenceLayer,
    train_texts: Sequence[TextInput],
    eval_texts: Sequence[TextInput],
    *,
    train_labels: Sequence[str] | Mapping[str, int] | None = None,
    eval_labels: Sequence[str] | None = None,
    cap: int = DEFAULT_CAP,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    top: int = 10,
    progress: Progress | None = None,
    train_total: int | None = None,
) -> Drift:
    """Length, vocabulary, truncation, label balance and domain-classifier drift (each side capped at `cap` texts).

    `train_total`: the training texts are already the sample (`sample_rows(train_total, cap, seed)`) of a file of
    `train_total` rows read in chunks, and `train_labels` its label counts."""
    from scipy.stats import ks_2samp

    if cap < 2:
        raise VeredictoError(f"The drift sample cap must be at least 2 texts per side, got {cap}.")
    train_texts, eval_texts = [_as_input(t) for t in train_texts], [_as_input(t) for t in eval_texts]
    if not train_texts or not eval_texts:
        raise VeredictoError("Drift needs texts on both sides; the training or the evaluation data is empty.")
    pairs = pair_inputs(train_texts, eval_texts)
    train_rows, eval_rows = (
        sample_rows(len(train_texts), cap, seed) if train_total is None else np.arange(len(train_texts)),
        sample_rows(len(eval_texts), cap, seed + 1),
    )
    train = [train_texts[i] for i in train_rows]
    evals = [eval_texts[i] for i in eval_rows]

    counts = {"train": predictor.token_counts(train), "eval": predictor.token_counts(evals)}
    lengths = pd.DataFrame(
        {side: {"mean": c.mean(), "median": np.median(c), "p90": np.percentile(c, 90), "max": c.max()} for side, c in counts.items()}
    ).T.astype(float)
    truncation = {side: float((c > predictor.max_length).mean()) for side, c in counts.items()}
    oov = {"train": oov_rate(predictor, train), "eval": oov_rate(predictor, evals)}

    labels = tuple(predictor.labels)
    balance = label_balance(train_labels, eval_labels, labels)
    unknown = tuple(sorted(set(map(str, train_labels or ())) - set(labels)))

    vectors_train = predictor.embed(train, progress=(lambda d, t: progress(d, t + len(evals))) if progress else None)
    vectors_eval = predictor.embed(evals, progress=(lambda d, t: progress(len(train) + d, len(train) + t)) if progress else None)
    domain = domain_classifier(vectors_train, vectors_eval, folds=folds, seed=seed)
    order = np.argsort(-np.nan_to_num(domain.p_eval, nan=-1.0), kind="stable")[:top]
    unlike = pd.DataFrame(
        {"row": eval_rows[order].astype(int), "text": [evals[i] for i in order], "p_eval": domain.p_eval[order].astype(float)}, columns=UNLIKE_COLUMNS
    )
    if pairs:
        unlike = split_pairs(unlike, ["text"])
    return Drift(
        n_train=len(train),
        n_train_total=len(train_texts) if train_total is None else int(train_total),
        n_eval=len(evals),
        n_eval_total=len(eval_texts),
        cap=int(cap),
        lengths=lengths,
        length_ks=float(ks_2samp(counts["train"], counts["eval"]).statistic),
        oov_rate=oov,
        truncation_rate=truncation,
        max_length=int(predictor.max_length),
        label_balance=balance,
        unknown_train_labels=unknown,
        domain_auc=domain.auc,
        folds=domain.folds,
        most_unlike=unlike,
    )
