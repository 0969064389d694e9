"""Analysis on prediction tables: metrics, slices, calibration, before/after comparison, and their Plotly figures.

May import `models` and `evaldata`; runs models only through `models.Predictor`.
"""
from analysis.predictions import PredictionTable, predict_table

__all__ = ["PredictionTable", "predict_table"]
