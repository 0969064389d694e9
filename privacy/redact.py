"""Mask personal data for display: each finding of `privacy.pii.find_pii` becomes a typed placeholder.

    redact("Mail maria@example.com") -> Redaction(text="Mail <EMAIL>", counts={"EMAIL": 1})

Display-only: whatever scores or explains a text gets the original; only what is shown passes through here.
Results are memoised per text, so a table shown on every rerun costs one scan per distinct text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

import pandas as pd

from privacy.pii import KINDS, Finding, find_pii, text_columns
from runtime.escaping import md

PLACEHOLDERS = MappingProxyType({kind: f"<{kind}>" for kind in KINDS})
MARKDOWN_PLACEHOLDERS = MappingProxyType({kind: md(placeholder) for kind, placeholder in PLACEHOLDERS.items()})
_WORD = re.compile(r"\w+")  # the word units explanations quote (explain.attribution.WORD)


@dataclass(frozen=True)
class Redaction:
    text: str
    counts: Mapping[str, int] = field(default_factory=dict)  # kind -> how many were masked

    @property
    def masked(self) -> int:
        return sum(self.counts.values())


def redact_spans(text: str, findings: Sequence[Finding], placeholders: Mapping[str, str] = PLACEHOLDERS) -> str:
    """`text` with each of `findings` (non-overlapping spans into it) replaced by its placeholder."""
    out, last = [], 0
    for f in sorted(findings, key=lambda f: f.start):
        out += [text[last : f.start], placeholders[f.kind]]
        last = f.end
    return "".join([*out, text[last:]])


@lru_cache(maxsize=65536)
def redact(text: str) -> Redaction:
    """`text` with its personal data replaced by `<EMAIL>`, `<PHONE>`, `<IBAN>`, `<CARD>`, `<NATIONAL_ID>`, `<IP>`, `<URL>`, `<NAME>`."""
    found = find_pii(text)
    if not found:
        return Redaction(text)
    counts = Counter(f.kind for f in found)
    return Redaction(redact_spans(text, found), MappingProxyType({k: counts[k] for k in KINDS if counts[k]}))


def redact_markdown(markdown: str) -> str:
    """Markdown a view model built (values already `md()`-escaped) with its personal data masked by escaped placeholders."""
    return redact_spans(markdown, find_pii(markdown), MARKDOWN_PLACEHOLDERS)


_QUOTED = re.compile(r"'([^'\s]+)'")


def redact_quoted(sentence: str, source: str) -> str:
    """`sentence` (a note quoting single words of `source`, like "the words pushing hardest: 'Okafor', 'great'") with
    every quoted word that lies inside personal data of `source` replaced by that finding's placeholder.

    A word cut out of a name or an email ('Okafor', 'lopez') is not personal data on its own to the scanner, so it is
    judged where it came from."""
    found = find_pii(source)
    if not found:
        return sentence
    private = {m.group(): f.kind for f in found for m in _WORD.finditer(f.value)}
    return _QUOTED.sub(lambda m: f"'{PLACEHOLDERS[private[m.group(1)]]}'" if m.group(1) in private else m.group(), sentence)


def private_words(units: pd.DataFrame, frame: pd.DataFrame) -> dict[str, str]:
    """The words of explanations that lie inside personal data of a text they came from, each -> the name a page shows
    for it: its placeholder numbered per kind in order of first occurrence (`<NAME> 1`, `<NAME> 2`, `<EMAIL> 1`…), so
    masked words stay apart in a word list. A word cut out of a name or an email ('okafor', 'lopez') is not personal data
    to the scanner on its own: it is judged where it occurs.

    `units`: one row per occurrence, columns word, example (a row position of `frame`), segment (0: `text`, 1:
    `text_pair`), start and end (characters of that text), as `explain.global_importance.GlobalImportance.occurrences`.
    A word with one occurrence inside personal data is masked everywhere (the list must not show it at all)."""
    columns = ["text", "text_pair"]
    found: dict[tuple[int, int], Sequence[Finding]] = {}
    out: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for word, example, segment, start, end in units[["word", "example", "segment", "start", "end"]].drop_duplicates().itertuples(index=False):
        if word in out:
            continue
        key = (int(example), int(segment))
        if key not in found:
            column = columns[key[1]] if key[1] < len(columns) else ""
            found[key] = find_pii(str(frame[column].iat[key[0]])) if column in frame and 0 <= key[0] < len(frame) else ()
        kind = next((f.kind for f in found[key] if f.start < end and start < f.end), None)
        if kind is not None:
            counts[kind] += 1
            out[word] = f"{PLACEHOLDERS[kind]} {counts[kind]}"
    return out


class Tally:
    """Counts what was masked across many redactions (a report says how much it hid, per kind)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, value: object) -> str:
        """`value` as redacted text (None shows as empty), its masks counted."""
        result = redact("" if value is None else str(value))
        self.counts.update(result.counts)
        return result.text

    def texts(self, values: Iterable[object]) -> list[str]:
        return [self(v) for v in values]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_kind(self) -> dict[str, int]:
        return {k: self.counts[k] for k in KINDS if self.counts[k]}


def redact_frame(frame: pd.DataFrame, columns: Sequence[str] | None = None, tally: Tally | None = None) -> pd.DataFrame:
    """A copy of `frame` whose text columns (default: `text`, `text_pair` and every other column holding strings) are redacted."""
    tally = tally or Tally()
    chosen = list(columns) if columns is not None else text_columns(frame, [c for c in frame.columns if isinstance(c, str)])
    out = frame.copy()
    for column in chosen:
        if column in out.columns:
            out[column] = [tally(v) if isinstance(v, str) else v for v in out[column].tolist()]
    return out
