"""Mask personal data for display: each finding of `privacy.pii.find_pii` becomes a typed placeholder.

    redact("Mail maria@example.com") -> Redaction(text="Mail <EMAIL>", counts={"EMAIL": 1})

Display-only: whatever scores or explains a text gets the original; only what is shown passes through here.
Results are memoised per text, so a table shown on every rerun costs one scan per distinct text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

import pandas as pd

from privacy.pii import KINDS, Finding, find_pii, text_columns

PLACEHOLDERS = MappingProxyType({kind: f"<{kind}>" for kind in KINDS})


@dataclass(frozen=True)
class Redaction:
    text: str
    counts: Mapping[str, int] = field(default_factory=dict)  # kind -> how many were masked

    @property
    def masked(self) -> int:
        return sum(self.counts.values())


def redact_spans(text: str, findings: Sequence[Finding]) -> str:
    """`text` with each of `findings` (non-overlapping spans into it) replaced by its placeholder."""
    out, last = [], 0
    for f in sorted(findings, key=lambda f: f.start):
        out += [text[last : f.start], PLACEHOLDERS[f.kind]]
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
