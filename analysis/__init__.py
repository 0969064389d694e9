"""Analysis on prediction tables: metrics, slices, calibration, before/after comparison, and their Plotly figures.

`analysis.stats` is the one home of the statistics (Wilson intervals, exact McNemar, bootstrap resampling);
`analysis.views` holds the view models the Overview, Errors, Explore and Compare pages lay out.

May import `runtime`, `models` and `evaldata`; runs models only through `models.Predictor`.
"""

from analysis.predictions import PredictionTable, predict_table

__all__ = ["PredictionTable", "predict_table"]
