"""Data quality: can the evaluation numbers be believed? Train–evaluation leakage, drift, label issues.

- `quality.leakage`: exact and near-duplicate (MinHash LSH, verified by exact Jaccard) texts between the
  training and the evaluation data and within the evaluation data; metrics without the leaked rows.
- `quality.drift`: text length, out-of-vocabulary and truncation rates, label balance, and a domain classifier
  on the checkpoint's own embeddings telling training from evaluation texts apart.
- `quality.label_issues`: confident learning (cleanlab) merged with the embedding-neighbour label-noise hints.
- `quality.training`: where the training data comes from (an explicit file or the checkpoint's provenance).
- `quality.assess`: all of it at once, for `veredicto quality`, the gates and the report.
- `quality.views`: what the Data page shows (label issues with the reviewers' decisions on them), without Streamlit.

A bottom layer like `analysis/`: may import `models.protocol`, `models.errors`, `evaldata`, `analysis`, `probes`,
`store` and `training.provenance`; never Streamlit. Models run only through the `InferenceLayer` protocol.
"""
