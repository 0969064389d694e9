"""Explanations: SHAP and LIME behind one `Attribution` type, trust scores, plots and a persistent cache.

May import `models` (checkpoints, the shared inference layer); nothing here runs a model directly.
"""
from explain.attribution import Attribution, ExplainError, Token

__all__ = ["Attribution", "ExplainError", "Token"]
