"""Evaluation data: load CSV / JSONL / Parquet, pick the text and label columns, check labels against a checkpoint.

May import `models.errors`; knows nothing about models otherwise.
"""

from evaldata.loading import EvalSet, align_labels, data_fingerprint, load_eval_data

__all__ = ["EvalSet", "align_labels", "data_fingerprint", "load_eval_data"]
