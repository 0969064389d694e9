"""Before/after comparison of two checkpoints on the same evaluation set.

Everything is paired: the same examples are scored by both checkpoints, so differences
are measured on each example rather than on two independent samples.

- metric deltas (accuracy, macro-F1, per-class F1) with 95% paired bootstrap intervals
  (one resample of example indices is shared by both checkpoints; vectorised, seeded);
- McNemar's test on paired correctness (`analysis.stats.mcnemar_test`: the exact binomial test, for any
  number of disagreements);
- per-class and per-slice deltas, with slices that got worse flagged even when the total improved;
- the flipped examples (fixed, broken, or changed between two wrong labels).

Multi-label tables (both checkpoints multi-label, same labels) are compared per label: the paired bootstrap covers
subset accuracy, micro/macro F1, Hamming loss and each label's F1; McNemar is run on exact-set correctness and on each
label's own correctness; a flip lists the labels that went from right to wrong (broken) or wrong to right (fixed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.metrics import Metrics, classification_metrics, multi_label_metrics
from analysis.predictions import TAG_JOIN, PredictionTable, join_tags, set_probability
from analysis.slices import Slice
from analysis.stats import McNemar, bootstrap_counts, mcnemar, mcnemar_test, percentile_interval
from models.errors import VeredictoError
from models.task import SINGLE_LABEL

FLIP_STATUSES = ("fixed", "broken", "changed, still wrong")


# --- pairing -------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Paired:
    """Two checkpoints' predictions on the same examples, in the before checkpoint's label order."""

    labels: tuple[str, ...]
    gold: np.ndarray
    pred_before: np.ndarray
    pred_after: np.ndarray
    probs_before: np.ndarray
    probs_after: np.ndarray
    task: str = SINGLE_LABEL  # multi-label: gold / pred_* are bool matrices (rows x labels)

    @property
    def multi_label(self) -> bool:
        return self.task != SINGLE_LABEL

    @property
    def correct_before(self) -> np.ndarray:
        """Per example: the prediction is right (multi-label: the whole set matches)."""
        same = self.pred_before == self.gold
        return same.all(axis=1) if self.multi_label else same

    @property
    def correct_after(self) -> np.ndarray:
        same = self.pred_after == self.gold
        return same.all(axis=1) if self.multi_label else same


def pair_tables(before: PredictionTable, after: PredictionTable) -> Paired:
    """Check that both tables score the same data with the same task and label set and line them up."""
    if before.task != after.task:
        raise VeredictoError(
            f"'{before.checkpoint_name}' is a {before.task} checkpoint and '{after.checkpoint_name}' a {after.task} one, so their "
            "numbers mean different things. Compare two checkpoints of the same task (pick the task in the sidebar or with --task "
            "if a config does not say it)."
        )
    if before.data_fingerprint != after.data_fingerprint or len(before) != len(after):
        raise VeredictoError(
            f"'{before.checkpoint_name}' and '{after.checkpoint_name}' were scored on different data "
            f"({before.data_name}, {len(before)} examples vs {after.data_name}, {len(after)} examples). "
            "Compare two checkpoints on the same evaluation set."
        )
    if set(before.labels) != set(after.labels):
        raise VeredictoError(
            f"The checkpoints predict different labels: '{before.checkpoint_name}' has {', '.join(before.labels)}; "
            f"'{after.checkpoint_name}' has {', '.join(after.labels)}. Only checkpoints with the same label set can be compared."
        )
    order = [after.labels.index(label) for label in before.labels]  # after's column for each before label
    probs_after = np.asarray(after.probs)[:, order]
    if before.multi_label:
        if not np.array_equal(after.gold_matrix[:, order], before.gold_matrix):
            raise VeredictoError(
                "The two prediction tables disagree on the gold labels of the same data; the label mappings differ. "
                "Use the same label mapping for both checkpoints."
            )
        return Paired(
            labels=tuple(before.labels),
            gold=before.gold_matrix,
            pred_before=before.pred_matrix,
            pred_after=after.pred_matrix[:, order],
            probs_before=np.asarray(before.probs),
            probs_after=probs_after,
            task=before.task,
        )
    gold_after = np.array([before.labels.index(after.labels[g]) for g in after.gold_idx]) if len(after) else after.gold_idx
    if not np.array_equal(gold_after, before.gold_idx):
        raise VeredictoError(
            "The two prediction tables disagree on the gold labels of the same data; the label mappings differ. "
            "Use the same label mapping for both checkpoints."
        )
    return Paired(
        labels=tuple(before.labels),
        gold=np.asarray(before.gold_idx),
        pred_before=np.asarray(before.probs).argmax(axis=1),
        pred_after=probs_after.argmax(axis=1),
        probs_before=np.asarray(before.probs),
        probs_after=probs_after,
    )


# --- McNemar ---------------------------------------------------------------------------------------------

# `McNemar` and `mcnemar_test` live in analysis.stats (one test, also used by the probes); imported above.


def describe_mcnemar(test: McNemar, before: str = "before", after: str = "after", alpha: float = 0.05) -> str:
    """The test result in plain words."""
    if test.discordant == 0:
        return f"'{before}' and '{after}' are right and wrong on exactly the same examples, so there is no difference to test."
    counts = f"'{after}' fixes {test.fixed} example{'s' * (test.fixed != 1)} that '{before}' got wrong and breaks {test.broken} that it got right."
    p = f"p = {test.p_value:.3g}" if test.p_value >= 1e-4 else "p < 0.0001"
    how = "exact McNemar test"
    if test.p_value < alpha:
        better = after if test.fixed > test.broken else before
        verdict = f"That difference is unlikely to be chance ({how}, {p}): '{better}' is more accurate on this data."
    else:
        verdict = f"A split like this happens easily by chance ({how}, {p}), so the data does not show that either checkpoint is more accurate."
    if test.discordant < 10:
        verdict += f" With only {test.discordant} disagreement{'s' * (test.discordant != 1)}, more data would help."
    return f"{counts} {verdict}"


# --- paired bootstrap -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Bootstrap distributions of after − before: `accuracy` (n_boot,), `macro_f1` (n_boot,), `f1` (n_boot, n_labels)."""

    accuracy: np.ndarray
    macro_f1: np.ndarray
    f1: np.ndarray
    n_boot: int
    seed: int

    def interval(self, values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        return percentile_interval(values, level)


def _f1_from_weights(weights: np.ndarray, onehot_gold: np.ndarray, onehot_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 (chunk, k) and macro-F1 (chunk,) for a batch of resample weights (chunk, n)."""
    tp = weights @ (onehot_gold * onehot_pred)
    predicted = weights @ onehot_pred
    support = weights @ onehot_gold
    denom = predicted + support
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)
    present = denom > 0
    macro = (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    return f1, macro


def paired_bootstrap(gold, pred_before, pred_after, n_labels: int, n_boot: int = 2000, seed: int = 0) -> BootstrapResult:
    """Resample examples with replacement `n_boot` times (the same resample for both checkpoints).

    Vectorised: examples are grouped by their (gold, before, after) label triple, each resample
    becomes a row of counts per triple (one `bincount` over small bins), and per-class true positives,
    predicted and gold totals are matrix products of those counts with one-hot matrices. Memory is
    bounded by drawing the resamples in chunks.
    """
    gold = np.asarray(gold, dtype=int)
    pb = np.asarray(pred_before, dtype=int)
    pa = np.asarray(pred_after, dtype=int)
    if len(gold) == 0:
        raise ValueError("Cannot bootstrap an empty evaluation set")
    triples, code = np.unique(np.stack([gold, pb, pa], axis=1), axis=0, return_inverse=True)
    eye = np.eye(n_labels)
    g1, b1, a1 = eye[triples[:, 0]], eye[triples[:, 1]], eye[triples[:, 2]]
    diff_correct = (triples[:, 2] == triples[:, 0]).astype(float) - (triples[:, 1] == triples[:, 0]).astype(float)
    acc = np.empty(n_boot)
    macro = np.empty(n_boot)
    f1 = np.empty((n_boot, n_labels))
    for start, stop, counts in bootstrap_counts(code.ravel(), len(triples), n_boot, seed):
        acc[start:stop] = counts @ diff_correct / len(gold)
        f1_b, macro_b = _f1_from_weights(counts, g1, b1)
        f1_a, macro_a = _f1_from_weights(counts, g1, a1)
        f1[start:stop] = f1_a - f1_b
        macro[start:stop] = macro_a - macro_b
    return BootstrapResult(acc, macro, f1, n_boot, seed)


def macro_f1_interval(gold, pred, n_labels: int, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of one checkpoint's macro-F1 (examples resampled with replacement)."""
    gold = np.asarray(gold, dtype=int)
    if len(gold) == 0:
        raise ValueError("Cannot bootstrap an empty evaluation set")
    pairs, code = np.unique(np.stack([gold, np.asarray(pred, dtype=int)], axis=1), axis=0, return_inverse=True)
    eye = np.eye(n_labels)
    macro = np.concatenate(
        [_f1_from_weights(counts, eye[pairs[:, 0]], eye[pairs[:, 1]])[1] for _, _, counts in bootstrap_counts(code.ravel(), len(pairs), n_boot, seed)]
    )
    low, high = percentile_interval(macro, level)
    return float(low), float(high)


# --- multi-label ---------------------------------------------------------------------------------------------


LABEL_SET_METRICS = ("accuracy", "micro_f1", "macro_f1", "samples_f1", "hamming_loss")  # `Comparison.deltas` rows, multi-label


def _sample_f1(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per row F1 of the predicted set against the gold set (1 when both are empty: no tag and none predicted is right)."""
    both = (gold & pred).sum(axis=1)
    size = gold.sum(axis=1) + pred.sum(axis=1)
    return np.where(size > 0, 2 * both / np.maximum(size, 1), 1.0)


def label_bootstrap(gold, pred_before, pred_after, n_boot: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """Paired bootstrap of after − before for multi-label predictions: `LABEL_SET_METRICS` (n_boot,) and `f1` (n_boot, labels).

    Examples are grouped by their (gold, before, after) rows, so each resample is a row of counts per group and every
    total is a matrix product (as `paired_bootstrap`); macro-F1 averages every label, as scikit-learn does.
    """
    gold, pb, pa = (np.asarray(m, dtype=bool) for m in (gold, pred_before, pred_after))
    n, k = gold.shape
    if n == 0:
        raise ValueError("Cannot bootstrap an empty evaluation set")
    groups, code = np.unique(np.hstack([gold, pb, pa]), axis=0, return_inverse=True)
    g, b, a = groups[:, :k], groups[:, k : 2 * k], groups[:, 2 * k :]
    per_row = {
        "accuracy": (a == g).all(axis=1).astype(float) - (b == g).all(axis=1).astype(float),
        "samples_f1": _sample_f1(g, a) - _sample_f1(g, b),
        "hamming_loss": ((a != g).sum(axis=1) - (b != g).sum(axis=1)) / k,
    }
    out = {name: np.empty(n_boot) for name in LABEL_SET_METRICS} | {"f1": np.empty((n_boot, k))}
    support_rows = g.astype(float)
    for start, stop, counts in bootstrap_counts(code.ravel(), len(groups), n_boot, seed):
        for name, values in per_row.items():
            out[name][start:stop] = counts @ values / n
        support = counts @ support_rows
        scores = {}
        for side, pred in (("before", b), ("after", a)):
            tp, predicted = counts @ (g & pred).astype(float), counts @ pred.astype(float)
            denom = predicted + support
            f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)
            total = denom.sum(axis=1)
            micro = np.where(total > 0, 2 * tp.sum(axis=1) / np.maximum(total, 1e-12), 0.0)
            scores[side] = (f1, f1.mean(axis=1), micro)
        out["f1"][start:stop] = scores["after"][0] - scores["before"][0]
        out["macro_f1"][start:stop] = scores["after"][1] - scores["before"][1]
        out["micro_f1"][start:stop] = scores["after"][2] - scores["before"][2]
    return out


def _compare_label_sets(before: PredictionTable, after: PredictionTable, paired: Paired, n_boot: int, seed: int, level: float) -> Comparison:
    m_before = multi_label_metrics(paired.gold, paired.pred_before, paired.labels)
    m_after = multi_label_metrics(paired.gold, paired.pred_after, paired.labels)
    boot = label_bootstrap(paired.gold, paired.pred_before, paired.pred_after, n_boot=n_boot, seed=seed)
    rows = []
    for name in LABEL_SET_METRICS:
        b, a = getattr(m_before, name), getattr(m_after, name)
        lo, hi = percentile_interval(boot[name], level)
        rows.append({"metric": name, "before": b, "after": a, "delta": a - b, "ci_low": float(lo), "ci_high": float(hi)})
    deltas = pd.DataFrame(rows).set_index("metric")
    per_class = _per_class_frame(m_before.per_class, m_after.per_class, *percentile_interval(boot["f1"], level))
    right_before, right_after = paired.pred_before == paired.gold, paired.pred_after == paired.gold
    tests = [mcnemar_test(right_before[:, c], right_after[:, c]) for c in range(len(paired.labels))]
    per_class["fixed"] = [t.fixed for t in tests]
    per_class["broken"] = [t.broken for t in tests]
    per_class["p_value"] = [t.p_value for t in tests]
    return _comparison(before, after, paired, m_before, m_after, deltas, per_class, n_boot, seed, level)


# --- the comparison -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Comparison:
    """Everything the Compare page shows.

    `deltas`: rows accuracy, macro_f1 with columns before, after, delta, ci_low, ci_high.
    `per_class`: index label; precision/recall/f1 before and after, their deltas, f1 CI, support, `worse`; multi-label
    adds fixed / broken / p_value (exact McNemar on that label's own right-or-wrong per example).
    """

    before_name: str
    after_name: str
    labels: tuple[str, ...]
    n: int
    metrics_before: Metrics  # multi-label: analysis.metrics.MultiLabelMetrics
    metrics_after: Metrics
    deltas: pd.DataFrame
    per_class: pd.DataFrame
    mcnemar: McNemar
    n_boot: int
    seed: int
    level: float = 0.95
    paired: Paired | None = field(default=None, repr=False)
    task: str = SINGLE_LABEL  # multi-label: `deltas` rows are LABEL_SET_METRICS, `per_class` adds McNemar per label

    @property
    def multi_label(self) -> bool:
        return self.task != SINGLE_LABEL

    def delta(self, metric: str) -> float:
        return float(self.deltas.loc[metric, "delta"])


def _per_class_frame(pc_b: pd.DataFrame, pc_a: pd.DataFrame, f1_lo, f1_hi) -> pd.DataFrame:
    per_class = pd.DataFrame(index=pc_b.index)
    for metric in ("precision", "recall", "f1"):
        per_class[f"{metric}_before"] = pc_b[metric]
        per_class[f"{metric}_after"] = pc_a[metric]
        per_class[f"{metric}_delta"] = pc_a[metric] - pc_b[metric]
    per_class["f1_ci_low"] = f1_lo
    per_class["f1_ci_high"] = f1_hi
    per_class["support"] = pc_b["support"]
    per_class["worse"] = per_class["f1_delta"] < -1e-12
    per_class["clearly_worse"] = per_class["f1_ci_high"] < 0
    return per_class


def _comparison(
    before, after, paired: Paired, m_before, m_after, deltas: pd.DataFrame, per_class: pd.DataFrame, n_boot: int, seed: int, level: float
) -> Comparison:
    """The one way both kinds of comparison are assembled (the task comes from the paired tables)."""
    return Comparison(
        before_name=before.checkpoint_name,
        after_name=after.checkpoint_name,
        labels=paired.labels,
        n=len(paired.gold),
        metrics_before=m_before,
        metrics_after=m_after,
        deltas=deltas,
        per_class=per_class,
        mcnemar=mcnemar_test(paired.correct_before, paired.correct_after),
        n_boot=n_boot,
        seed=seed,
        level=level,
        paired=paired,
        task=paired.task,
    )


def compare_tables(before: PredictionTable, after: PredictionTable, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Comparison:
    paired = pair_tables(before, after)
    if paired.multi_label:
        return _compare_label_sets(before, after, paired, n_boot, seed, level)
    k = len(paired.labels)
    m_before = classification_metrics(paired.gold, paired.pred_before, paired.labels)
    m_after = classification_metrics(paired.gold, paired.pred_after, paired.labels)
    boot = paired_bootstrap(paired.gold, paired.pred_before, paired.pred_after, k, n_boot=n_boot, seed=seed)
    rows = []
    for name, dist in (("accuracy", boot.accuracy), ("macro_f1", boot.macro_f1)):
        b, a = getattr(m_before, name), getattr(m_after, name)
        lo, hi = boot.interval(dist, level)
        rows.append({"metric": name, "before": b, "after": a, "delta": a - b, "ci_low": float(lo), "ci_high": float(hi)})
    deltas = pd.DataFrame(rows).set_index("metric")

    per_class = _per_class_frame(m_before.per_class, m_after.per_class, *boot.interval(boot.f1, level))
    return _comparison(before, after, paired, m_before, m_after, deltas, per_class, n_boot, seed, level)


SLICE_DELTA_COLUMNS = (
    "feature",
    "slice",
    "size",
    "accuracy_before",
    "accuracy_after",
    "delta",
    "fixed",
    "broken",
    "p_value",
    "worse",
    "clearly_worse",
)


def slice_deltas(slices: Sequence[Slice], correct_before, correct_after, alpha: float = 0.05) -> pd.DataFrame:
    """Accuracy before/after per slice. `worse` flags any drop; `clearly_worse` a drop McNemar finds unlikely by chance."""
    cb = np.asarray(correct_before, dtype=bool)
    ca = np.asarray(correct_after, dtype=bool)
    rows = []
    for s in slices:
        m = s.mask
        size = int(m.sum())
        test = mcnemar_test(cb[m], ca[m]) if size else mcnemar(0, 0)
        acc_b = float(cb[m].mean()) if size else float("nan")
        acc_a = float(ca[m].mean()) if size else float("nan")
        delta = acc_a - acc_b
        rows.append(
            {
                "feature": s.feature,
                "slice": s.name,
                "size": size,
                "accuracy_before": acc_b,
                "accuracy_after": acc_a,
                "delta": delta,
                "fixed": test.fixed,
                "broken": test.broken,
                "p_value": test.p_value,
                "worse": bool(size and delta < 0),
                "clearly_worse": bool(size and delta < 0 and test.p_value < alpha),
            }
        )
    return pd.DataFrame(rows, columns=list(SLICE_DELTA_COLUMNS))


def flipped_examples(before: PredictionTable, after: PredictionTable, include_unchanged: bool = False) -> pd.DataFrame:
    """Examples whose prediction changed. Index: example position. `status`: fixed / broken / changed, still wrong.

    Columns: status, text (and text_pair for sentence pairs), gold, pred_before, pred_after, confidence_before,
    confidence_after, p_gold_before, p_gold_after, p_gold_change, then metadata. Fixed first, then broken, each by how
    much the probability of the gold label moved. Multi-label: gold / pred_* are tags joined by " | ", `status` is about
    the whole set, P(gold) and confidence are the probabilities of the gold and predicted sets, and `fixed_labels` /
    `broken_labels` name the labels that went from wrong to right / right to wrong (see `label_flips`).
    """
    paired = pair_tables(before, after)
    labels = np.array(paired.labels, dtype=object)
    idx = np.arange(len(paired.gold))
    cb, ca = paired.correct_before, paired.correct_after
    texts: dict[str, np.ndarray] = {"text": before.frame["text"].to_numpy()}
    if before.pair:
        texts["text_pair"] = before.frame["text_pair"].to_numpy()
    per_label: dict[str, list[str]] = {}
    if paired.multi_label:
        changed = (paired.pred_before != paired.pred_after).any(axis=1)
        right_b, right_a = paired.pred_before == paired.gold, paired.pred_after == paired.gold
        shown = {
            "gold": join_tags(paired.gold, paired.labels),
            "pred_before": join_tags(paired.pred_before, paired.labels),
            "pred_after": join_tags(paired.pred_after, paired.labels),
            "confidence_before": set_probability(paired.probs_before.astype(float), paired.pred_before),
            "confidence_after": set_probability(paired.probs_after.astype(float), paired.pred_after),
        }
        p_gold_b = set_probability(paired.probs_before.astype(float), paired.gold)  # probability of the whole gold set
        p_gold_a = set_probability(paired.probs_after.astype(float), paired.gold)
        per_label = {"fixed_labels": join_tags(~right_b & right_a, paired.labels), "broken_labels": join_tags(right_b & ~right_a, paired.labels)}
    else:
        changed = paired.pred_before != paired.pred_after
        shown = {
            "gold": labels[paired.gold],
            "pred_before": labels[paired.pred_before],
            "pred_after": labels[paired.pred_after],
            "confidence_before": paired.probs_before.max(axis=1).astype(float),
            "confidence_after": paired.probs_after.max(axis=1).astype(float),
        }
        p_gold_b = paired.probs_before[idx, paired.gold].astype(float)
        p_gold_a = paired.probs_after[idx, paired.gold].astype(float)
    keep = np.ones_like(changed) if include_unchanged else changed
    status = np.where(~cb & ca, "fixed", np.where(cb & ~ca, "broken", np.where(changed, "changed, still wrong", "unchanged")))
    out = pd.DataFrame(
        {"status": status, **texts, **shown, "p_gold_before": p_gold_b, "p_gold_after": p_gold_a, "p_gold_change": p_gold_a - p_gold_b, **per_label},
        index=pd.Index(idx, name="example"),
    )
    for column in before.metadata:
        out[column] = before.frame[column].to_numpy()
    out = out[np.asarray(keep, dtype=bool)]
    order = {"fixed": 0, "broken": 1, "changed, still wrong": 2, "unchanged": 3}
    key = out["status"].map(order).astype(float) * 10 - out["p_gold_change"].abs()  # float: an empty map is object dtype
    return out.iloc[np.argsort(key.to_numpy(), kind="stable")]


def label_flips(flips: pd.DataFrame, label: str) -> pd.DataFrame:
    """The multi-label flips of one label: examples where `label` went from wrong to right (`status` fixed) or right to
    wrong (broken), in `flipped_examples`' order."""
    fixed = flips["fixed_labels"].map(lambda tags: label in tags.split(TAG_JOIN))
    broken = flips["broken_labels"].map(lambda tags: label in tags.split(TAG_JOIN))
    out = flips[fixed | broken].copy()
    out["status"] = np.where(fixed[fixed | broken], "fixed", "broken")
    return out


def describe_comparison(comp: Comparison) -> str:
    """Headline in plain words: accuracy change with its interval, then the McNemar verdict."""
    row = comp.deltas.loc["accuracy"]
    pct = lambda x: f"{x * 100:+.1f}"  # noqa: E731
    sure = (
        "the whole interval is above zero"
        if row.ci_low > 0
        else "the whole interval is below zero"
        if row.ci_high < 0
        else "the interval includes zero, so the change may be noise"
    )
    what = "Subset accuracy (every label of an example right)" if comp.multi_label else "Accuracy"
    return (
        f"{what} went from {row.before:.1%} ('{comp.before_name}') to {row.after:.1%} ('{comp.after_name}'): "
        f"{pct(row.delta)} points (95% interval {pct(row.ci_low)} to {pct(row.ci_high)}; {sure})."
    )
