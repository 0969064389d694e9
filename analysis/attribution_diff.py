"""What fine-tuning changed in the model's reasoning about one text: word-level attribution differences.

Works on any two explanations of the same text (or sentence pair) with the same method (duck-typed on
`Attribution.words(label, segment)`, so this package does not import `explain`). Word units (\\w+ runs
of the text) line up across checkpoints even when their tokenizers split words differently; a pair's
second text is compared word by word too, its words marked "(second text)".
"""

from __future__ import annotations

import pandas as pd

CHANGE_COLUMNS = ("word", "start", "end", "before", "after", "change")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def attribution_change(before, after, label: str) -> pd.DataFrame:
    """One row per word of the text: its contribution toward `label` before, after, and after − before.

    A word that occurs more than once is listed per occurrence ("good (2nd)"). Rows keep text order; for a sentence
    pair the first text's words come first, then the second's ("good (second text)"; spans index into that text).
    """
    pair = getattr(before, "text_pair", None)
    if before.text != after.text or pair != getattr(after, "text_pair", None):
        raise ValueError("The two explanations are of different texts; explain the same text with both checkpoints.")
    if before.method != after.method:
        raise ValueError(f"The explanations use different methods ({before.method} and {after.method}); their scores are not on one scale.")
    rows = []
    for segment in (0,) if pair is None else (0, 1):
        seen: dict[str, int] = {}
        for (word, start, end, score_b), (_, _, _, score_a) in zip(before.words(label, segment), after.words(label, segment)):
            seen[word.lower()] = seen.get(word.lower(), 0) + 1
            marks = ([_ordinal(seen[word.lower()])] if seen[word.lower()] > 1 else []) + (["second text"] if segment else [])
            name = f"{word} ({', '.join(marks)})" if marks else word
            rows.append({"word": name, "start": start, "end": end, "before": score_b, "after": score_a, "change": score_a - score_b})
    return pd.DataFrame(rows, columns=list(CHANGE_COLUMNS))


def biggest_changes(change: pd.DataFrame, k: int = 12) -> pd.DataFrame:
    """The k words whose contribution moved most (either way), biggest first."""
    order = change["change"].abs().sort_values(ascending=False, kind="stable").index
    return change.loc[order].head(k)


def describe_change(change: pd.DataFrame, label: str, before_name: str = "before", after_name: str = "after") -> str:
    """One or two sentences a domain expert can read: which words now count more or less toward `label`."""
    if change.empty or change["change"].abs().max() < 1e-9:
        return f"Both checkpoints weigh the words of this text the same way for '{label}'."
    up = change[change["change"] > 0].sort_values("change", ascending=False).head(3)
    down = change[change["change"] < 0].sort_values("change").head(3)
    parts = []
    if len(up):
        parts.append(f"'{after_name}' leans more on {', '.join(repr(w) for w in up['word'])} toward '{label}'")
    if len(down):
        parts.append(
            f"less on {', '.join(repr(w) for w in down['word'])}"
            if parts
            else f"'{after_name}' leans less on {', '.join(repr(w) for w in down['word'])} toward '{label}'"
        )
    return "Compared with '" + before_name + "', " + " and ".join(parts) + "."
