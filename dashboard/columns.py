"""How the example tables look on every page: one column configuration for text, labels and confidence."""

from __future__ import annotations

import pandas as pd
import streamlit as st

EXAMPLE_INDEX = st.column_config.NumberColumn("Example", format="%d")  # an example table's index: the row id Explore opens


def example_columns(frame: pd.DataFrame, **extra) -> dict:
    """`st.dataframe` column config for the prediction-table columns `frame` has, plus `extra` (e.g. `_index`)."""
    config = {
        "text": st.column_config.TextColumn("Text", width="large"),
        "text_pair": st.column_config.TextColumn("Second text", width="large", help="The second text of the sentence pair"),
        "gold": st.column_config.TextColumn("Gold"),
        "pred": st.column_config.TextColumn("Predicted"),
        "confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="%.2f", help="Probability of the predicted label"),
        "p_gold": st.column_config.NumberColumn(
            "P(gold)", format="%.3f", help="Probability the model gave the gold label: near 0 on a confident mistake often means the gold label is wrong"
        ),
        "correct": st.column_config.CheckboxColumn("Correct"),
        "missed": st.column_config.TextColumn("Missed", help="Gold labels the model did not predict"),
        "false_positive": st.column_config.TextColumn("False positives", help="Labels the model predicted that are not gold"),
    }
    return {**{k: v for k, v in config.items() if k in frame.columns}, **extra}
