"""Everything a page shows next to one example's explanations to say how far to trust them.

Composes `explain.faithfulness` (ERASER faithfulness, SHAP-vs-LIME agreement, deletion curves,
plain-words sentences) for the explanations of one text, so a page makes one call and lays the
result out. Measurements that cannot be made (a text with no words to remove…) become a short
note in `problems` instead of an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from explain.attribution import Attribution, ExplainError
from explain.faithfulness import Agreement, DeletionCurve, Faithfulness, agreement, deletion_curves, describe_trust, measure_faithfulness
from models.protocol import InferenceLayer


@dataclass(frozen=True)
class TrustReport:
    label: str
    faithfulness: Mapping[str, Faithfulness] = field(default_factory=dict)  # per method
    sentences: Mapping[str, list[str]] = field(default_factory=dict)  # per method, plain words
    agreement_stats: Agreement | None = None
    agreement: str | None = None  # one plain-words sentence about SHAP vs LIME
    curves: Mapping[str, DeletionCurve] = field(default_factory=dict)  # per method + "random"
    problems: tuple[str, ...] = ()


def trust_report(predictor: InferenceLayer, attributions: Mapping[str, Attribution], label: str, *, k: float = 0.2) -> TrustReport:
    """Faithfulness and plain-words trust per method, their agreement, and the deletion curves, for class `label`."""
    faith: dict[str, Faithfulness] = {}
    sentences: dict[str, list[str]] = {}
    problems: list[str] = []
    for method, attribution in attributions.items():
        try:
            faith[method] = measure_faithfulness(predictor, attribution, label=label)
            sentences[method] = describe_trust(faith[method], None, attribution, k=k)
        except ExplainError as exc:
            problems.append(f"{method.upper()}: {exc}")
    agree, agree_text = None, None
    if "shap" in attributions and "lime" in attributions:
        try:
            agree = agreement(attributions["shap"], attributions["lime"], label=label)
        except ExplainError as exc:
            problems.append(str(exc))
        if agree is not None and "shap" in faith:
            # describe_trust words agreement as one extra sentence; take exactly that sentence
            base = set(sentences["shap"])
            extra = [s for s in describe_trust(faith["shap"], agree, None, k=k) if s not in base]
            agree_text = extra[0] if extra else None
    curves: dict[str, DeletionCurve] = {}
    if attributions:
        try:
            curves = deletion_curves(predictor, list(attributions.values()), label=label)
        except ExplainError as exc:
            problems.append(str(exc))
    return TrustReport(label, faith, sentences, agree, agree_text, curves, tuple(problems))
