"""What the Insights page shows before it aggregates anything, as plain data: which examples it explains, with what
settings, and what explaining the missing ones would cost per checkpoint. No Streamlit here."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from explain.global_importance import estimate_cost, sample_indices


@dataclass(frozen=True)
class InsightsPlan:
    """The stratified sample (example ids and their texts), the explainer settings, and one cost estimate per checkpoint."""

    sample: tuple[int, ...]
    texts: tuple[Any, ...]  # texts, or (text, text_pair) sentence pairs
    params: dict[str, Any]
    costs: tuple[tuple[Any, Any], ...]  # (checkpoint ref, cost estimate)

    @property
    def missing(self) -> int:
        """Explanations still to compute, over every checkpoint."""
        return sum(c.n_missing for _, c in self.costs)


def insights_plan(table, refs, method: str, size: int, params: dict[str, Any], cache, seed: int = 0) -> InsightsPlan:
    """`size` examples drawn stratified by gold label from `table` (seeded), explained with `method` and `params` for each
    checkpoint in `refs`; the cost counts only what `cache` does not hold yet."""
    sample = sample_indices(table.frame["gold"].tolist(), size, seed=seed)
    inputs = table.inputs if hasattr(table, "inputs") else table.frame["text"].tolist()  # sentence pairs: (text, text_pair)
    texts = [inputs[i] for i in sample]
    calls = int(params.get("max_evals") or params.get("num_samples") or 0)  # every explainer has one of the two budgets
    costs = []
    for ref in refs:
        n_cached = cache.count_cached(ref.scoring_key, texts, method, **params)
        per = cache.mean_seconds(ref.scoring_key, method, **params)
        costs.append((ref, estimate_cost(len(set(texts)), n_cached, calls, per)))
    return InsightsPlan(tuple(int(i) for i in sample), tuple(texts), dict(params), tuple(costs))


@dataclass(frozen=True)
class CheckpointInsights:
    """One checkpoint's word importance over the explained part of the sample."""

    name: str
    importance: Any  # explain.global_importance.GlobalImportance
    n_explained: int  # sampled examples whose explanation was in the cache


def insights_results(plan: InsightsPlan, refs, method: str, cache, aggregate: Callable[[dict[int, Any], str], Any]) -> dict[str, CheckpointInsights]:
    """Word importance per checkpoint in `refs` (name -> result), over the sampled examples `cache` holds explanations of;
    a checkpoint with none is left out. `aggregate(by_example, key)` builds the importance (the page caches it by `key`,
    which names the checkpoint, method, settings and examples)."""
    results = {}
    for ref in refs:
        found = cache.get_many(ref.scoring_key, list(plan.texts), method, **plan.params)
        by_example = {ex: found[t] for ex, t in zip(plan.sample, plan.texts) if t in found}
        if by_example:
            key = json.dumps([ref.scoring_key, method, plan.params, sorted(by_example)], default=str)
            results[ref.name] = CheckpointInsights(ref.name, aggregate(by_example, key), len(by_example))
    return results


# --- Explore: one example -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExploreExample:
    """One example as the Explore panel shows it: its text (and a sentence pair's second text) and prediction, the
    probabilities, and the class to open on (the one a `?cls=` link names when it is a label, else the predicted class;
    multi-label: the most probable predicted label, or the most probable label when none is predicted)."""

    example: int
    text: str
    gold: str
    pred: str
    confidence: float
    correct: bool
    truncated: bool
    labels: tuple[str, ...]
    probs: Any  # np.ndarray, one probability per label (multi-label: each label's own sigmoid)
    wanted: str
    text_pair: str | None = None
    predicted: tuple[str, ...] = ()  # multi-label: the predicted labels (at or above their thresholds)
    gold_labels: tuple[str, ...] = ()  # multi-label: the gold labels
    multi_label: bool = False

    @property
    def input(self) -> str | tuple[str, str]:
        """What the model read (and the explainers explain): the text, or the (text, text_pair) pair."""
        return self.text if self.text_pair is None else (self.text, self.text_pair)

    @property
    def verdict(self) -> str:
        if self.multi_label:
            return "**correct** (exactly the gold labels)" if self.correct else "**wrong** (the predicted labels differ from the gold labels)"
        return "**correct**" if self.correct else "**wrong** (the model disagrees with the gold label)"

    def probability(self, label: str) -> float:
        return float(self.probs[self.labels.index(label)])


def explore_example(table, example: int, cls_query=None) -> ExploreExample:
    from analysis.browse import class_from_query

    row = table.frame.iloc[example]
    labels = tuple(str(l) for l in table.labels)
    probs = table.probs[example]
    multi = bool(getattr(table, "multi_label", False))
    predicted: tuple[str, ...] = ()
    gold: tuple[str, ...] = ()
    default = str(row["pred"])
    if multi:
        predicted = tuple(labels[i] for i in np.flatnonzero(table.pred_matrix[example]))
        gold = tuple(labels[i] for i in np.flatnonzero(table.gold_matrix[example]))
        pool = [labels.index(l) for l in predicted] or list(range(len(labels)))
        default = labels[max(pool, key=lambda i: probs[i])]
    pair = row.get("text_pair") if "text_pair" in table.frame else None
    return ExploreExample(
        example,
        str(row["text"]),
        str(row["gold"]),
        str(row["pred"]),
        float(row["confidence"]),
        bool(row["correct"]),
        bool(row.get("truncated", False)),
        labels,
        probs,
        class_from_query(cls_query, labels) or default,
        None if pair is None else str(pair),
        predicted,
        gold,
        multi,
    )


@dataclass(frozen=True)
class ExploreExplanations:
    """The explanations of one example for one class (`ready`: method -> Attribution for that class; a method whose explainer
    failed is missing), their trust report, and each method's trust sentences as a bullet list (None: nothing to say)."""

    ready: dict[str, Any]
    report: Any  # explain.trust.TrustReport
    trust: dict[str, str | None]


def explore_explanations(predictor, attributions: dict[str, Any], label: str) -> ExploreExplanations:
    """`attributions` maps each method to its Attribution for the text (all classes), or None where it could not be made."""
    from explain.trust import trust_report

    ready = {m: a.for_target(label) for m, a in attributions.items() if a is not None}
    report = trust_report(predictor, ready, label)
    trust = {m: "\n".join(f"- {x}" for x in report.sentences[m]) if report.sentences.get(m) else None for m in ready}
    return ExploreExplanations(ready, report, trust)
