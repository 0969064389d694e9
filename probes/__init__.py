"""Behavioural and bias probes, similar examples, label-noise hints and cost estimates.

- `probes.perturb`: CheckList-style perturbations (pure text -> texts, no model): invariance
  (typos, casing, punctuation, whitespace, a neutral clause), fairness (names, gendered words,
  nationalities from the word lists in `probes/wordlists/{en,es}.yaml`) and directional
  (negation, intensifier; only with a `DirectionConfig`).
- `probes.run`: runs the probes through `Predictor.predict_proba` (one batched call per test),
  `ProbeResult`/`ProbeReport` (frozen), before/after comparison, `probe_failure_rates` for the
  release gate.
- `probes.embeddings`: nearest neighbours, label-noise flags and 2-D maps over the sentence
  embeddings `models.embeddings.embed_texts` computes from the checkpoint's own encoder.
- `probes.cost`: model calls and time before any SHAP, LIME, probe, embedding or scoring run,
  from throughput measured on this machine; estimate vs actual.
- `probes.figures`: pure Plotly figures (failure rates before/after, embedding map).

May import `models`, `evaldata`, `analysis` (and `explain` for its defaults). Never runs a model
itself: every forward pass goes through `models.inference` / `models.embeddings`.
Nothing here imports Streamlit.
"""
