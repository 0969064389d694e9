"""Everything a page shows next to one example's explanations to say how far to trust them.

Composes `explain.faithfulness` (ERASER faithfulness, pairwise agreement, deletion curves, plain-words sentences) for
the explanations of one text, so a page makes one call and lays the result out. Measurements that cannot be made (a
text with no words to remove…) become a short note in `problems` instead of an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations

from explain.attribution import Attribution, ExplainError
from explain.faithfulness import (
    Agreement,
    DeletionCurve,
    Faithfulness,
    agreement,
    deletion_curves,
    describe_agreement,
    describe_most_faithful,
    describe_trust,
    measure_faithfulness,
)
from models.protocol import InferenceLayer


@dataclass(frozen=True)
class TrustReport:
    label: str
    faithfulness: Mapping[str, Faithfulness] = field(default_factory=dict)  # per method
    sentences: Mapping[str, list[str]] = field(default_factory=dict)  # per method, plain words
    agreements: Mapping[tuple[str, str], Agreement] = field(default_factory=dict)  # per pair of methods, in the order given
    agreement_sentences: tuple[str, ...] = ()  # one plain-words sentence per pair
    most_faithful: str | None = None  # where methods disagree: which one was most faithful here, and by how much
    curves: Mapping[str, DeletionCurve] = field(default_factory=dict)  # per method + "random"
    problems: tuple[str, ...] = ()

    @property
    def agreement(self) -> str | None:
        """The pairwise agreement sentences as one paragraph (None: fewer than two methods to compare)."""
        return " ".join(self.agreement_sentences) or None


def trust_report(predictor: InferenceLayer, attributions: Mapping[str, Attribution], label: str, *, k: float = 0.2) -> TrustReport:
    """Faithfulness and plain-words trust per method, the agreement of every pair, which method was most faithful where
    they disagree, and the deletion curves, for class `label`."""
    faith: dict[str, Faithfulness] = {}
    sentences: dict[str, list[str]] = {}
    problems: list[str] = []
    for method, attribution in attributions.items():
        try:
            faith[method] = measure_faithfulness(predictor, attribution, label=label)
            sentences[method] = describe_trust(faith[method], None, attribution, k=k)
        except ExplainError as exc:
            problems.append(f"{method.upper()}: {exc}")
    agreements: dict[tuple[str, str], Agreement] = {}
    for a, b in combinations(attributions, 2):
        try:
            agreements[(a, b)] = agreement(attributions[a], attributions[b], label=label)
        except ExplainError as exc:
            problems.append(str(exc))
    curves: dict[str, DeletionCurve] = {}
    if attributions:
        try:
            curves = deletion_curves(predictor, list(attributions.values()), label=label)
        except ExplainError as exc:
            problems.append(str(exc))
    return TrustReport(
        label,
        faith,
        sentences,
        agreements,
        tuple(describe_agreement(x) for x in agreements.values()),
        describe_most_faithful(faith, list(agreements.values())),
        curves,
        tuple(dict.fromkeys(problems)),  # the same problem for several pairs is said once
    )
