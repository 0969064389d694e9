"""What the Insights page shows before it aggregates anything, as plain data: which examples it explains, with what
settings, and what explaining the missing ones would cost per checkpoint. No Streamlit here."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from explain.cache import text_hash
from explain.global_importance import estimate_cost, sample_indices


@dataclass(frozen=True)
class InsightsPlan:
    """The stratified sample (example ids and their texts), the explainer settings, and one cost estimate per checkpoint."""

    sample: tuple[int, ...]
    texts: tuple[Any, ...]  # texts, or (text, text_pair) sentence pairs
    params: dict[str, Any]
    costs: tuple[tuple[Any, Any], ...]  # (checkpoint ref, cost estimate)
    hashes: tuple[str, ...] = ()  # `explain.cache.text_hash` of each text
    held: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)  # scoring key -> hashes of texts the cache explains

    @property
    def missing(self) -> int:
        """Explanations still to compute, over every checkpoint."""
        return sum(c.n_missing for _, c in self.costs)


def insights_plan(table, refs, method: str, size: int, params: dict[str, Any], cache, seed: int = 0, *, inputs: Sequence[Any] | None = None) -> InsightsPlan:
    """`size` examples drawn stratified by gold label from `table` (seeded), explained with `method` and `params` for each
    checkpoint in `refs`; the cost counts only what `cache` does not hold yet. `inputs`: `table.inputs`, when the caller has them."""
    sample = sample_indices(table.frame["gold"].tolist(), size, seed=seed)
    if inputs is None:
        inputs = table.inputs if hasattr(table, "inputs") else table.frame["text"].tolist()  # sentence pairs: (text, text_pair)
    texts = [inputs[i] for i in sample]
    calls = int(params.get("max_evals") or params.get("num_samples") or 0)  # every explainer has one of the two budgets
    hashes = tuple(text_hash(t) for t in texts)  # once per plan: 100k texts take a while
    distinct = set(hashes)
    costs, held = [], {}
    for ref in refs:
        held[ref.scoring_key] = frozenset(distinct & cache.cached_hashes(ref.scoring_key, method, **params))
        n_cached = len(held[ref.scoring_key])
        # the time per explanation only prices what is missing; reading it visits every stored row (100k JSON rows: seconds)
        per = cache.mean_seconds(ref.scoring_key, method, **params) if n_cached < len(distinct) else None
        costs.append((ref, estimate_cost(len(distinct), n_cached, calls, per)))
    return InsightsPlan(tuple(int(i) for i in sample), tuple(texts), dict(params), tuple(costs), hashes, held)


@dataclass(frozen=True)
class CheckpointInsights:
    """One checkpoint's word importance over the explained part of the sample."""

    name: str
    importance: Any  # explain.global_importance.GlobalImportance
    n_explained: int  # sampled examples whose explanation was in the cache


def insights_results(
    plan: InsightsPlan,
    refs,
    method: str,
    cache,
    memo: Callable[[str, Callable[[], Any]], Any] | None = None,
    *,
    inputs: Sequence[Any] | None = None,
    hints: Mapping[str, str] | None = None,
    store=None,
) -> dict[str, CheckpointInsights]:
    """Word importance per checkpoint in `refs` (name -> result), over the sampled examples `cache` holds explanations of;
    a checkpoint with none is left out. The importance is `explain.insights.stored_importance`'s: read from the results
    `store` when it holds it, else aggregated from the cache (and stored once the whole sample is explained). `memo(key,
    compute)` keeps it in memory (the page caches it by `key`, which names the checkpoint, method, settings, examples and
    name hints); `inputs` are every example's texts (or pairs) by position (default: the plan's texts, by sample order)."""
    from explain.insights import explained_examples, importance_key, stored_importance

    hints = dict(hints or {})
    every = list(inputs) if inputs is not None else _by_position(plan)
    results = {}
    for ref in refs:
        held = plan.held.get(ref.scoring_key)
        if held is None:
            explained = explained_examples(cache, ref.scoring_key, method, plan.params, plan.sample, plan.texts)
        else:  # what the plan found cached (a text explained since shows on the next run)
            explained = [(ex, t, h) for ex, t, h in zip(plan.sample, plan.texts, plan.hashes) if h in held]
        if not explained:
            continue

        stored_as = importance_key(ref.scoring_key, method, plan.params, explained, hints)

        def compute(ref=ref, explained=explained, stored_as=stored_as):
            complete = len(explained) == len(plan.sample)
            return stored_importance(cache, ref.scoring_key, method, plan.params, explained, every, hints=hints, store=store, complete=complete, key=stored_as)

        key = json.dumps([stored_as, str(getattr(store, "path", ""))], sort_keys=True)  # a memory hit must not skip storing it in another store
        results[ref.name] = CheckpointInsights(ref.name, memo(key, compute) if memo else compute(), len(explained))
    return results


def _by_position(plan: InsightsPlan) -> list[Any]:
    """The plan's texts placed at their example positions (others empty): enough for what is looked up by position."""
    every: list[Any] = [""] * (max(plan.sample) + 1 if plan.sample else 0)
    for ex, text in zip(plan.sample, plan.texts):
        every[ex] = text
    return every


DRILL_LIMIT = 100  # examples a drill-down reads explanations of, in file order, when the aggregate keeps no occurrences


@dataclass(frozen=True)
class WordExamples:
    """The drill-down of one word: one row per example containing it (`explain.global_importance.drill_down`), how many
    explained examples contain it in all, and a sentence when the rows are only the first of them."""

    rows: Any  # pd.DataFrame, index = example id
    n_examples: int
    note: str


def word_examples(
    importance,
    word: str,
    frame,
    *,
    cache=None,
    scoring_key: str = "",
    method: str = "",
    params: Mapping[str, Any] | None = None,
    sample=(),
    inputs=(),
    limit: int = DRILL_LIMIT,
) -> WordExamples:
    """The examples containing `word` with its score in each, per class. From the aggregate's occurrences when it keeps
    them; else (a stored aggregate) the sampled examples whose text (`inputs` by position) holds the word are found by a
    search over the texts, and the explanations of the first `limit` of them are read from `cache` and aggregated."""
    import re

    import pandas as pd

    from explain.global_importance import OCCURRENCE_COLUMNS, drill_down, global_importance

    table = importance.table
    rows_of_word = table[(table["word"] == word) & (table["label"] == importance.labels[0])]
    total = int(rows_of_word["n_examples"].iloc[0]) if len(rows_of_word) else 0
    if importance.occurrences is not None:
        rows = drill_down(importance, word, frame)
        return WordExamples(rows, len(rows), "")
    word = {shown: original for original, shown in (importance.private or {}).items()}.get(word, word)  # a masked word: search its text
    pattern = re.compile(re.escape(word) if not re.match(r"\w", word) else rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
    candidates = [int(ex) for ex in sample if any(pattern.search(part) for part in ([inputs[ex]] if isinstance(inputs[ex], str) else inputs[ex]))]
    read = cache.get_many(scoring_key, [inputs[ex] for ex in candidates[:limit]], method, **dict(params or {})) if candidates else {}
    found: dict[object, Any] = {ex: read[inputs[ex]] for ex in candidates[:limit] if inputs[ex] in read}
    if not found:
        return WordExamples(drill_down(dataclasses.replace(importance, occurrences=pd.DataFrame(columns=OCCURRENCE_COLUMNS)), word, frame), 0, "")
    rows = drill_down(global_importance(found), word, frame)
    note = f"Showing the first {limit:,} of the {len(candidates):,} examples whose text contains it (in file order)." if len(candidates) > limit else ""
    return WordExamples(rows, max(total, len(rows)), note)


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
