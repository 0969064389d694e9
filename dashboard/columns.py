"""How the example tables look on every page: one column configuration for text, labels and confidence, and the
redaction every shown text passes through when the sidebar's "Redact personal data" is on (`shown`, `shown_text`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.state import redacting
from privacy.redact import private_words, redact, redact_frame, redact_quoted

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


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as a page shows it: with redaction on, a copy whose text columns (text, metadata, slice names) are masked."""
    return redact_frame(frame) if redacting() else frame


def display_importance(gi, frame: pd.DataFrame):
    """A `GlobalImportance` as a page shows it: with redaction on, every word that lies inside personal data of a text it
    came from (`frame`: the prediction table's) reads as its placeholder (`privacy.redact.private_words`) in the word
    table, the charts, the warnings and the drill-down alike; the scores are unchanged."""
    if not redacting():
        return gi
    masked = private_words(gi.occurrences, frame) if gi.occurrences is not None else dict(gi.private or {})  # a stored aggregate found them while aggregating
    if not masked:
        return gi
    import dataclasses

    if gi.occurrences is None:
        return dataclasses.replace(gi, table=gi.table.assign(word=gi.table["word"].replace(masked)), private=masked)
    occurrences = gi.occurrences.assign(
        word=gi.occurrences["word"].replace(masked), surface=[masked.get(w, s) for w, s in zip(gi.occurrences["word"], gi.occurrences["surface"])]
    )
    return dataclasses.replace(gi, table=gi.table.assign(word=gi.table["word"].replace(masked)), occurrences=occurrences)


def display_text(text: object) -> str:
    """One text as a page shows it (masked when redaction is on); Markdown escaping stays the caller's."""
    value = "" if text is None else str(text)
    return redact(value).text if redacting() else value


def display_note(note: str, source: str) -> str:
    """A note about an explanation of `source` (trust, agreement) as shown: with redaction on, personal data in it and the
    words it quotes from personal data of `source` are masked."""
    return redact_quoted(redact(note).text, source) if redacting() and note else note
