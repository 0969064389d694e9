"""Explanations: SHAP and LIME behind one `Attribution` type, trust scores, plots and a persistent cache.

May import `models` (checkpoints, the shared inference layer); nothing here runs a model directly.
"""

from explain.attribution import Attribution, ExplainError, Token

__all__ = ["Attribution", "ExplainError", "Token"]

# per-example explanations and how far to trust them
from explain.api import explain_text
from explain.faithfulness import (
    Agreement,
    DeletionCurve,
    Faithfulness,
    agreement,
    deletion_curves,
    describe_trust,
    faithfulness_score,
    measure_faithfulness,
)

__all__ += [
    "Agreement",
    "DeletionCurve",
    "Faithfulness",
    "agreement",
    "deletion_curves",
    "describe_trust",
    "explain_text",
    "faithfulness_score",
    "measure_faithfulness",
]
