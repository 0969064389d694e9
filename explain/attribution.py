"""The one result type every explainer returns and every plot, cache and report consumes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from models.errors import VeredictoError

WORD = re.compile(r"\w+", re.UNICODE)


class ExplainError(VeredictoError):
    """An explanation that cannot be computed as asked."""


@dataclass(frozen=True)
class Token:
    """A piece of the original text: `text == original[start:end]`."""

    text: str
    start: int
    end: int


def _frozen(array) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Attribution:
    """Per-token, per-class scores for one text from one method.

    Tokens are contiguous and cover the text exactly: "".join(t.text for t in tokens) == text.
    `scores[i, c]` is token i's contribution to class c; `base_values[c]` is the method's
    baseline for class c, so for SHAP `scores[:, c].sum() + base_values[c] == probabilities[c]`.
    """

    text: str
    tokens: tuple[Token, ...]
    labels: tuple[str, ...]
    scores: np.ndarray  # (n_tokens, n_labels)
    base_values: np.ndarray  # (n_labels,)
    probabilities: np.ndarray  # model output on the full text, (n_labels,)
    target: str  # the class the user asked to explain
    method: str  # "shap" | "lime"
    params: Mapping[str, Any]
    n_model_calls: int  # texts evaluated by the model for this explanation
    seconds: float
    fingerprint: str  # checkpoint that was explained
    truncated: bool = False  # text longer than the model reads; tokens past the limit score 0
    extra: Mapping[str, Any] = field(default_factory=dict)  # method-specific details (e.g. LIME's local R²)

    def __post_init__(self):
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "scores", _frozen(self.scores))
        object.__setattr__(self, "base_values", _frozen(self.base_values))
        object.__setattr__(self, "probabilities", _frozen(self.probabilities))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        if self.scores.shape != (len(self.tokens), len(self.labels)):
            raise ValueError(f"scores shape {self.scores.shape} != ({len(self.tokens)}, {len(self.labels)})")
        if "".join(t.text for t in self.tokens) != self.text:
            raise ValueError("tokens do not reconstruct the text")
        if self.target not in self.labels:
            raise ExplainError(f"Unknown target label '{self.target}'. Choose one of: {', '.join(self.labels)}.")

    @property
    def predicted(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]

    def class_index(self, label: str | None = None) -> int:
        label = self.target if label is None else label
        if label not in self.labels:
            raise ExplainError(f"Unknown label '{label}'. Choose one of: {', '.join(self.labels)}.")
        return self.labels.index(label)

    def scores_for(self, label: str | None = None) -> np.ndarray:
        """Scores of every token for one class (the target by default)."""
        return self.scores[:, self.class_index(label)]

    def words(self, label: str | None = None) -> list[tuple[str, int, int, float]]:
        """Word units (\\w+ runs of the text) with the summed score of the tokens overlapping them.

        Word units make SHAP (sub-word tokens) and LIME (words) comparable and feed global importance.
        """
        scores = self.scores_for(label)
        units = []
        for match in WORD.finditer(self.text):
            s, e = match.span()
            total = sum(scores[i] for i, t in enumerate(self.tokens) if t.start < e and t.end > s and t.text.strip())
            units.append((match.group(), s, e, float(total)))
        return units

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "tokens": [[t.text, t.start, t.end] for t in self.tokens],
            "labels": list(self.labels),
            "scores": self.scores.tolist(),
            "base_values": self.base_values.tolist(),
            "probabilities": self.probabilities.tolist(),
            "predicted": self.predicted,
            "target": self.target,
            "method": self.method,
            "params": dict(self.params),
            "n_model_calls": self.n_model_calls,
            "seconds": self.seconds,
            "fingerprint": self.fingerprint,
            "truncated": self.truncated,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Attribution:
        data = dict(data)
        data.pop("predicted", None)
        data["tokens"] = tuple(Token(*t) for t in data["tokens"])
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def redacted(self) -> Attribution:
        """The same explanation for display with personal data masked (`privacy.redact`): the tokens that fall inside a
        finding of the original text become one token reading `<EMAIL>`, `<NAME>`... whose scores are their sum (so SHAP
        still adds up); the other tokens are unchanged. Display-only: the model explained the original text."""
        from privacy.pii import Finding, find_pii
        from privacy.redact import redact_spans

        found = find_pii(self.text)
        if not found:
            return self
        tokens: list[Token] = []
        rows: list[np.ndarray] = []
        i, n = 0, len(self.tokens)
        while i < n:
            start, end, j = self.tokens[i].start, self.tokens[i].end, i + 1
            # grow the group until no finding that overlaps it reaches past its end
            while j < n and any(f.start < end and f.end > start and f.end > end for f in found):
                end, j = self.tokens[j].end, j + 1
            inside = [Finding(f.kind, f.start - start, f.end - start, f.value) for f in found if f.start < end and f.end > start]
            text = redact_spans(self.text[start:end], inside) if inside else self.text[start:end]
            offset = tokens[-1].end if tokens else 0
            tokens.append(Token(text, offset, offset + len(text)))
            rows.append(self.scores[i:j].sum(axis=0))
            i = j
        data = self.to_dict()
        data.update(text="".join(t.text for t in tokens), tokens=[[t.text, t.start, t.end] for t in tokens], scores=np.array(rows).tolist())
        return Attribution.from_dict(data)

    def for_target(self, label: str) -> Attribution:
        """The same explanation viewed for another class (scores hold every class already)."""
        self.class_index(label)
        data = self.to_dict()
        data["target"] = label
        return Attribution.from_dict(data)
