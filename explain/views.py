"""What the Insights page shows before it aggregates anything, as plain data: which examples it explains, with what
settings, and what explaining the missing ones would cost per checkpoint. No Streamlit here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from explain.global_importance import estimate_cost, sample_indices


@dataclass(frozen=True)
class InsightsPlan:
    """The stratified sample (example ids and their texts), the explainer settings, and one cost estimate per checkpoint."""

    sample: tuple[int, ...]
    texts: tuple[str, ...]
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
    texts = [table.frame["text"].iloc[i] for i in sample]
    calls = params.get("max_evals") or params.get("num_samples")
    costs = []
    for ref in refs:
        n_cached = cache.count_cached(ref.fingerprint, texts, method, **params)
        per = cache.mean_seconds(ref.fingerprint, method, **params)
        costs.append((ref, estimate_cost(len(set(texts)), n_cached, calls, per)))
    return InsightsPlan(tuple(int(i) for i in sample), tuple(texts), dict(params), tuple(costs))
