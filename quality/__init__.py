"""Data quality: can the evaluation numbers be believed?

- `quality.views`: what the Data page shows (label issues with the reviewers' decisions on them), without Streamlit.

The leakage, drift and label-issue computations join this package beside it. A bottom layer like `analysis/`: may
import `models.protocol`, `models.errors`, `evaldata`, `analysis`, `probes` and `store`; never Streamlit.
"""
