"""What running a model costs, in the words the app and the CLI use: one `CostEstimate`, one duration format.

`probes.cost` estimates any run (SHAP, LIME, probes, scoring, embeddings) from throughput measured on
this machine; `explain.global_importance.estimate_cost` estimates a sample of explanations from the
attribution cache's own timings; both return this `CostEstimate`. `format_duration` writes every
duration shown to people: estimates ("~4 min"), the estimate-vs-actual check and recorded training
wall times ("3.5 min").

It lives in `models` because every package that states a cost or a duration (`explain`, `probes`,
`training`) may import `models` and nothing else in common. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def format_duration(seconds: float, about: str | None = None) -> str:
    """A duration people read at a glance.

    A measurement (`about=None`): "42 s", "3.5 min", "1.2 h". An estimate (`about` is the word that
    says so, "~" or "roughly "): whole seconds or minutes after that word ("~4 min", "roughly 40 s"),
    hours to one decimal, and "under a second" below one second.
    """
    seconds = float(seconds)
    if about is None:
        if seconds < 90:
            return f"{seconds:.0f} s"
        if seconds < 5400:
            return f"{seconds / 60:.1f} min"
        return f"{seconds / 3600:.1f} h"
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"{about}{round(seconds)} s"
    if seconds < 5400:
        return f"{about}{round(seconds / 60)} min"
    return f"{about}{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class CostEstimate:
    """What a run will cost before it starts.

    For every run: the texts handed to the inference layer and, of those, the ones that will go through
    the model (not cached yet), and the estimated wall-clock seconds on this machine (None when nothing
    has been timed yet). `probes.cost` adds the measured `throughput` (a `probes.cost.Throughput`) and
    `raw_seconds` (before the correction learnt from earlier runs). For a sample of explanations
    (`explain.global_importance.estimate_cost`) `n_examples` and `n_cached` count explanations.
    """

    task: str  # shap | lime | probes | predict | embed | explanations
    description: str  # what exactly, e.g. "SHAP (max_evals=500) on 3 texts"
    n_requested: int  # texts handed to the inference layer
    n_model_calls: int  # of those, texts that will go through the model (not cached yet)
    seconds: float | None  # estimated wall-clock time, correction included; None when unknown
    raw_seconds: float | None = None  # before the correction learnt from earlier runs
    throughput: Any = None  # probes.cost.Throughput the estimate was computed from
    details: dict = field(default_factory=dict)
    n_examples: int | None = None  # explanations asked for (a sample of explanations only)
    n_cached: int = 0  # of those, explanations already in the attribution cache

    @property
    def n_missing(self) -> int:
        """Explanations still to compute (a sample of explanations); texts still to run through the model otherwise."""
        return self.n_examples - self.n_cached if self.n_examples is not None else self.n_model_calls

    def describe(self) -> str:
        if self.n_examples is not None:
            return self._describe_explanations()
        if self.n_requested and self.n_model_calls == 0 and self.task not in ("shap", "lime"):
            return f"{self.description}: everything is cached, no model call needed."
        speed = f" ({self.throughput.describe()})" if self.throughput else ""
        cached = self.n_requested - self.n_model_calls
        parts = f"{self.description}: about {self.n_model_calls:,} model call{'s' if self.n_model_calls != 1 else ''}"
        if cached > 0:
            parts += f" ({cached:,} more answered from the cache)"
        when = f", {format_duration(self.seconds, about='~')} on this machine" if self.seconds is not None else ""
        return f"{parts}{when}{speed}."

    def _describe_explanations(self) -> str:
        if self.n_missing == 0:
            return f"All {self.n_examples} explanations are already cached: showing them is instant."
        parts = [
            f"{self.n_missing} of {self.n_examples} examples still need an explanation" + (f" ({self.n_cached} are cached)" if self.n_cached else ""),
            f"about {self.n_model_calls:,} model calls",
        ]
        if self.seconds is not None:
            parts.append(f"{format_duration(self.seconds, about='roughly ')} on this machine")
        return ", ".join(parts) + "."
