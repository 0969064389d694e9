"""Insights over the whole evaluation set: a gradient method explains every example, SHAP a stratified sample as a
cross-check, and the page says in plain words whether the two rank the words alike. No Streamlit here.

- Integrated Gradients (and Gradient x Input) take a fraction of a second per text, so they explain every example of
  the evaluation set (stored in the attribution cache, resumable); SHAP and LIME stay on a stratified sample.
- `cross_check` compares two `GlobalImportance`s (IG over everything, SHAP over the sample) per class: the Spearman
  rank correlation (scipy) of the words' mean signed scores, over the words both saw at least `min_count` times.
- `precompute_jobs` is what `veredicto demo` computes ahead so the demo's Insights page opens filled: IG for every
  text, SHAP for the stratified sample the page cross-checks with; both with the dashboard's default parameters, so the
  page finds them in the cache (and Explore finds every IG explanation too).
- `stored_importance`: the word statistics of a whole sample, kept in the results store (payload kind "insights") once
  every example of the sample is explained, so a page opens on 100k explanations without reading them. The per-text
  attributions stay the source of truth: the payload is keyed by everything it is computed from (`importance_key`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from explain.cache import canonical_params, key_params, text_hash
from explain.global_importance import Aggregate, GlobalImportance, sample_indices
from explain.gradient_explainer import METHODS as GRADIENT_METHODS
from explain.plots import method_name

METHODS = ("ig", "shap", "lime")  # what the Insights page offers, the default first
DEFAULT_METHOD = "ig"
CROSS_CHECK_METHOD = "shap"
# SHAP (500 masked texts per explanation) takes ~3-6 s per demo text on 2 CPU cores: 40 examples per checkpoint keep the
# demo build's extra time within a few minutes, and still give ~100 words seen at least twice to compare rankings on.
CROSS_CHECK_SIZE = 40
SAMPLE_SEED = 0
# On first open with nothing cached, the page computes a gradient method for this many examples itself (a stratified part,
# about a minute on 2 CPU cores) so it never opens empty; the rest is one click (or `veredicto precompute --method ig`).
FIRST_OPEN_SIZE = 200
CLOSE, LOOSE = 0.7, 0.4  # Spearman from which the rankings are "much the same" / "broadly similar"
MIN_SHARED = 5  # fewer shared words than this: no correlation is reported


def explains_everything(method: str) -> bool:
    """Whether `method` is fast enough to explain every example (the gradient methods), not a sample."""
    return method in GRADIENT_METHODS


def sample_size(method: str, n_total: int, requested: int) -> int:
    """How many examples the page explains: all of them for a gradient method, else the requested sample."""
    return n_total if explains_everything(method) else max(1, min(int(requested), n_total))


def calls_per_explanation(method: str, params: Mapping[str, Any]) -> int:
    """Texts (or interpolation points) one explanation sends through the model: SHAP's and LIME's budgets, Integrated
    Gradients' `n_steps` plus its two ends, Gradient x Input's input and zero baseline."""
    if method == "ig":
        return int(params.get("n_steps") or key_params("ig")["n_steps"]) + 2
    if method == "grad_input":
        return 2
    return int(params.get("max_evals") or params.get("num_samples") or 0)


def describe_cost(method: str, params: Mapping[str, Any], cost) -> str:
    """`cost.describe()` of a sample of explanations, with the model calls `method` really makes per explanation."""
    calls = cost.n_missing * calls_per_explanation(method, params)
    return dataclasses.replace(cost, n_requested=calls, n_model_calls=calls).describe()


@dataclass(frozen=True)
class RankAgreement:
    """How alike two methods rank one class's words: Spearman's rho over the words both saw often enough."""

    label: str
    rho: float | None  # None: too few shared words, or a constant ranking
    n_words: int  # words both rankings hold (seen at least `min_count` times by each)
    sentence: str


def rank_agreement(
    first: GlobalImportance, second: GlobalImportance, label: str, *, min_count: int = 2, by: str = "mean_signed", names: tuple[str, str] | None = None
) -> RankAgreement:
    """Spearman rank correlation between `first`'s and `second`'s per-word `by` statistic for `label`, over the words
    both saw at least `min_count` times, with a plain-words sentence."""
    from scipy.stats import spearmanr

    a, b = (gi.for_label(label, by=by, min_count=min_count).set_index("word")[by] for gi in (first, second))
    shared = sorted(set(a.index) & set(b.index))
    names = names or (method_name(first.method), method_name(second.method))
    rho = None
    if len(shared) >= MIN_SHARED:
        x, y = a.loc[shared].to_numpy(dtype=float), b.loc[shared].to_numpy(dtype=float)
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            rho = float(spearmanr(x, y).statistic)
    return RankAgreement(label, rho, len(shared), agreement_sentence(rho, len(shared), label, names, min_count))


def agreement_sentence(rho: float | None, n_words: int, label: str, names: tuple[str, str], min_count: int = 2) -> str:
    """The rank correlation in plain words, e.g. "... rank the words for 'fresh' much the same way (Spearman 0.81 over 140 shared words)"."""
    first, second = names
    if rho is None:
        return (
            f"{first} and {second} share too few words seen at least {min_count} times for '{label}' ({n_words}) to compare their rankings: "
            "explain more examples with both."
        )
    if rho >= CLOSE:
        verdict = "rank the words much the same way"
    elif rho >= LOOSE:
        verdict = "broadly agree on the ranking of the words, with clear differences"
    else:
        verdict = "disagree on which words matter"
    return f"{first} and {second} {verdict} for '{label}' (Spearman {rho:.2f} over {n_words:,} shared words)."


@dataclass(frozen=True)
class CrossCheck:
    """The cross-check of a whole-set gradient ranking against SHAP on a stratified sample: one agreement per class."""

    method: str
    n_examples: int  # examples the gradient method explained
    n_sample: int  # examples of the cross-check sample SHAP explained
    sample_size: int  # examples in the cross-check sample
    agreements: Mapping[str, RankAgreement]

    @property
    def intro(self) -> str:
        partial = f" ({self.n_sample:,} of them explained so far)" if self.n_sample < self.sample_size else ""
        return (
            f"Cross-check: {method_name(self.method)} over all {self.n_examples:,} examples against {method_name(CROSS_CHECK_METHOD)} on a "
            f"stratified sample of {self.sample_size:,}{partial} (SHAP takes seconds per text, so the sample is kept small enough to "
            "compute in a few minutes)."
        )


def cross_check(whole: GlobalImportance, sample: GlobalImportance, sample_size: int, *, min_count: int = 2) -> CrossCheck:
    """Per class, how alike the whole-set ranking (`whole`, a gradient method) and the sample's (`sample`, SHAP) are."""
    if whole.labels != sample.labels:
        raise ValueError("The two rankings come from checkpoints with different labels; cross-check one checkpoint at a time.")
    agreements = {label: rank_agreement(whole, sample, label, min_count=min_count) for label in whole.labels}
    return CrossCheck(whole.method, whole.n_examples, sample.n_examples, int(sample_size), agreements)


# --------------------------------------------------------------------------- what to compute ahead


@dataclass(frozen=True)
class PrecomputeJob:
    """One method over some texts, with the parameters the dashboard asks the cache for."""

    method: str
    texts: tuple[Any, ...]  # texts, or (text, text_pair) sentence pairs; distinct, in file order
    params: dict[str, Any]
    what: str  # for progress messages, e.g. "every example"


def precompute_jobs(
    inputs: Sequence[Any], gold: Sequence[str], *, method: str = DEFAULT_METHOD, cross_check_size: int = CROSS_CHECK_SIZE
) -> list[PrecomputeJob]:
    """What fills the Insights page ahead: `method` for every input, then SHAP for the page's stratified cross-check
    sample (`gold` decides the strata, as on the page; `cross_check_size` 0 leaves SHAP out)."""
    jobs = [PrecomputeJob(method, tuple(dict.fromkeys(inputs)), key_params(method), f"all {len(inputs):,} examples")]
    if cross_check_size > 0:
        sample = sample_indices(list(gold), cross_check_size, seed=SAMPLE_SEED)
        texts = tuple(dict.fromkeys(inputs[i] for i in sample))
        jobs.append(PrecomputeJob(CROSS_CHECK_METHOD, texts, key_params(CROSS_CHECK_METHOD), f"a stratified sample of {len(sample):,} examples"))
    return jobs


@dataclass(frozen=True)
class CrossCheckView:
    """What the Insights page shows under a whole-set gradient ranking: the SHAP sample (its plan: examples, cost per
    checkpoint) and, per checkpoint whose sample SHAP has explained (even in part), the cross-check."""

    plan: Any  # explain.views.InsightsPlan of the SHAP sample
    checks: Mapping[str, CrossCheck]  # checkpoint name -> cross-check
    params: dict[str, Any]

    @property
    def missing(self) -> int:
        return int(self.plan.missing)

    def cost_lines(self) -> list[tuple[str, str]]:
        """(checkpoint name, what explaining its missing sample costs) per checkpoint."""
        return [(ref.name, describe_cost(CROSS_CHECK_METHOD, self.params, cost)) for ref, cost in self.plan.costs]


def cross_check_view(
    table,
    refs: Sequence[Any],
    whole: Mapping[str, GlobalImportance],
    cache,
    params: dict[str, Any],
    memo: Memo | None = None,
    *,
    size: int = CROSS_CHECK_SIZE,
    min_count: int = 2,
    inputs: Sequence[Any] | None = None,
) -> CrossCheckView:
    """The SHAP cross-check of the gradient rankings `whole` (checkpoint name -> importance over every example) of `refs`:
    SHAP with `params` on `table`'s stratified sample of `size` (the one `precompute_jobs` fills), read from `cache` and
    aggregated as the page aggregates (`explain.views.insights_results`, kept by `memo`); a checkpoint whose sample is not
    explained at all is left out (its cost is in the plan)."""
    from explain.views import insights_plan, insights_results

    plan = insights_plan(table, list(refs), CROSS_CHECK_METHOD, size, params, cache, seed=SAMPLE_SEED, inputs=inputs)
    found = insights_results(plan, list(refs), CROSS_CHECK_METHOD, cache, memo, inputs=inputs)
    checks = {name: cross_check(whole[name], result.importance, len(plan.sample), min_count=min_count) for name, result in found.items() if name in whole}
    return CrossCheckView(plan, checks, dict(params))


# --------------------------------------------------------------------------- the aggregate, stored

INSIGHTS_FORMAT = 1  # bump when what a stored aggregate means changes (units, statistics, cue rules, private words)
AGGREGATE_CHUNK = 2_000  # explanations read and aggregated at a time: memory stays small at 100k


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")).hexdigest()


def importance_key(
    scoring_key: str, method: str, params: Mapping[str, Any], explained: Sequence[tuple[int, Any, str]], hints: Mapping[str, str]
) -> tuple[str, dict]:
    """(key, params) of the stored aggregate of `explained` ((example position, text or pair, its `text_hash`), as
    `explained_examples` gives them) by the checkpoint whose
    scoring key is `scoring_key`, with `method` and its `params`, flagging names from `hints`: the examples' positions and
    text hashes name the data (another file, another order, one text changed: another key) and which examples are in it."""
    return scoring_key, {
        "method": method,
        "params": json.loads(canonical_params(params, method)),
        "examples": hashlib.sha256("\n".join(f"{ex} {h}" for ex, _, h in explained).encode()).hexdigest(),
        "hints": _digest(dict(hints)),
    }


def explained_examples(
    cache, scoring_key: str, method: str, params: Mapping[str, Any], sample: Sequence[int], texts: Sequence[Any]
) -> list[tuple[int, Any, str]]:
    """(example, text, text hash) of the `sample` (positions, with their `texts`) whose explanation `cache` holds (no payload is read)."""
    have = cache.cached_hashes(scoring_key, method, **params)
    found = ((int(ex), t, text_hash(t)) for ex, t in zip(sample, texts))
    return [e for e in found if e[2] in have]


def stored_importance(
    cache,
    scoring_key: str,
    method: str,
    params: Mapping[str, Any],
    explained: Sequence[tuple[int, Any, str]],
    inputs: Sequence[Any],
    *,
    hints: Mapping[str, str],
    store=None,
    complete: bool = True,
    key: tuple[str, dict] | None = None,
) -> GlobalImportance:
    """The word statistics of the `explained` examples: read from the results store `store` when it holds them, else
    aggregated from the attribution cache a part at a time (`AGGREGATE_CHUNK`) and, when `complete` (the whole sample is
    explained: a state worth keeping), stored. `inputs` are every example's texts (or pairs) by position, where the
    private words are looked for. No occurrences are kept (see `GlobalImportance`)."""
    from store.results import StoreError

    name, where = key or importance_key(scoring_key, method, params, explained, hints)
    if store is not None:
        try:
            found = store.get_payload("insights", name, where, INSIGHTS_FORMAT)
        except StoreError:
            found = None
        if found is not None:
            return GlobalImportance.from_payload(found)
    aggregate = Aggregate()
    frame = _texts_frame(inputs)
    for start in range(0, len(explained), AGGREGATE_CHUNK):
        part = explained[start : start + AGGREGATE_CHUNK]
        read = cache.get_many(scoring_key, [t for _, t, _ in part], method, **params)
        aggregate.add([(ex, read[t]) for ex, t, _ in part if t in read], frame, keep_occurrences=False)
    importance = aggregate.result(hints)
    if store is not None and complete:
        with contextlib.suppress(StoreError):  # a store that cannot be written: the page keeps it in memory
            store.put_payload("insights", name, where, INSIGHTS_FORMAT, importance.to_payload())
    return importance


def _texts_frame(inputs: Sequence[Any]):
    """Every example's text (and a pair's second text) by position, as `privacy.redact.private_words` reads them."""
    import pandas as pd

    if inputs and not isinstance(inputs[0], str):
        return pd.DataFrame({"text": [t[0] for t in inputs], "text_pair": [t[1] for t in inputs]})
    return pd.DataFrame({"text": list(inputs)})


def store_whole_set(cache, store, scoring_key: str, inputs: Sequence[Any], hints: Mapping[str, str], method: str = DEFAULT_METHOD) -> GlobalImportance | None:
    """What `veredicto precompute` leaves for the Insights page after explaining every input with `method` (the page's
    parameters): the whole set's aggregate, stored under the key the page asks for. None when some input is not explained."""
    params = key_params(method)
    sample = list(range(len(inputs)))  # a gradient method's sample is every example (`sample_size`), in file order
    explained = explained_examples(cache, scoring_key, method, params, sample, inputs)
    if len(explained) < len(sample):
        return None
    return stored_importance(cache, scoring_key, method, params, explained, inputs, hints=hints, store=store)


def name_hints(evalset) -> dict[str, str]:
    """The metadata words the page flags as possible names, for an evaluation set (`name_hints_from_metadata`)."""
    from explain.global_importance import name_hints_from_metadata

    return name_hints_from_metadata(evalset.frame, evalset.metadata)


Memo = Callable[[str, Callable[[], GlobalImportance]], GlobalImportance]
