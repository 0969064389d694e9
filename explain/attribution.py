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
# Joins a sentence pair into the one string SHAP's and LIME's maskers take (neither masks it: it is no word and no token).
PAIR_SEP = "\x1e"


class ExplainError(VeredictoError):
    """An explanation that cannot be computed as asked."""


@dataclass(frozen=True)
class Token:
    """A piece of the original text: `text == original[start:end]`, where the original is the first text
    (segment 0) or, for a sentence pair, the second (segment 1)."""

    text: str
    start: int
    end: int
    segment: int = 0


def _frozen(array) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Attribution:
    """Per-token, per-class scores for one text from one method.

    Tokens are contiguous and cover the text exactly: "".join(t.text for t in tokens) == text.
    For a sentence pair (`text_pair` set) the tokens of segment 0 cover `text` and then those of segment 1
    cover `text_pair`, each token's span indexing into its own segment.
    `fingerprint` is the checkpoint's scoring key (its fingerprint, plus the task when not single-label).
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
    text_pair: str | None = None  # the second text of a sentence pair; None for one text

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
        for segment in self.segments:
            if "".join(t.text for t in self.tokens if t.segment == segment) != self.segment_text(segment):
                raise ValueError(f"tokens do not reconstruct the text of segment {segment}")
        if any(t.segment not in self.segments for t in self.tokens):
            raise ValueError("a token names a segment this attribution does not have")
        if self.target not in self.labels:
            raise ExplainError(f"Unknown target label '{self.target}'. Choose one of: {', '.join(self.labels)}.")

    @property
    def is_pair(self) -> bool:
        return self.text_pair is not None

    @property
    def segments(self) -> tuple[int, ...]:
        return (0, 1) if self.text_pair is not None else (0,)

    @property
    def inputs(self) -> str | tuple[str, str]:
        """What the model was given: the text, or the (text, text_pair) tuple."""
        return self.text if self.text_pair is None else (self.text, self.text_pair)

    def segment_text(self, segment: int) -> str:
        return self.text_pair if segment == 1 and self.text_pair is not None else self.text

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

    def words(self, label: str | None = None, segment: int = 0) -> list[tuple[str, int, int, float]]:
        """Word units (\\w+ runs of one segment's text) with the summed score of the tokens overlapping them.

        Word units make SHAP (sub-word tokens) and LIME (words) comparable and feed global importance.
        """
        scores = self.scores_for(label)
        units = []
        for match in WORD.finditer(self.segment_text(segment)):
            s, e = match.span()
            total = sum(scores[i] for i, t in enumerate(self.tokens) if t.segment == segment and t.start < e and t.end > s and t.text.strip())
            units.append((match.group(), s, e, float(total)))
        return units

    def segment_words(self, label: str | None = None) -> list[tuple[int, str, int, int, float]]:
        """`words` of every segment, as (segment, word, start, end, score), spans into that segment's text."""
        return [(segment, *word) for segment in self.segments for word in self.words(label, segment)]

    def to_dict(self) -> dict:
        """Plain data; a pair's tokens carry their segment as a 4th element and `text_pair` is added (one text: unchanged)."""
        pair = {} if self.text_pair is None else {"text_pair": self.text_pair}
        return {
            "text": self.text,
            **pair,
            "tokens": [[t.text, t.start, t.end] + ([t.segment] if self.text_pair is not None else []) for t in self.tokens],
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
        still adds up); the other tokens are unchanged. A sentence pair's two texts are each masked on their own tokens.
        Display-only: the model explained the original text."""
        from privacy.pii import Finding, find_pii
        from privacy.redact import redact_spans

        found = {segment: find_pii(self.segment_text(segment)) for segment in self.segments}
        if not any(found.values()):
            return self
        tokens: list[Token] = []
        rows: list[np.ndarray] = []
        texts: dict[int, str] = {}
        for segment in self.segments:
            source, hits = self.segment_text(segment), found[segment]
            mine = [i for i, t in enumerate(self.tokens) if t.segment == segment]
            shown: list[Token] = []
            k = 0
            while k < len(mine):
                start, end, j = self.tokens[mine[k]].start, self.tokens[mine[k]].end, k + 1
                # grow the group until no finding that overlaps it reaches past its end
                while j < len(mine) and any(f.start < end and f.end > start and f.end > end for f in hits):
                    end, j = self.tokens[mine[j]].end, j + 1
                inside = [Finding(f.kind, f.start - start, f.end - start, f.value) for f in hits if f.start < end and f.end > start]
                text = redact_spans(source[start:end], inside) if inside else source[start:end]
                offset = shown[-1].end if shown else 0
                shown.append(Token(text, offset, offset + len(text), segment))
                rows.append(self.scores[mine[k:j]].sum(axis=0))
                k = j
            texts[segment] = "".join(t.text for t in shown)
            tokens += shown
        data = self.to_dict()
        data.update(
            text=texts[0],
            tokens=[[t.text, t.start, t.end] + ([t.segment] if self.text_pair is not None else []) for t in tokens],
            scores=np.array(rows).tolist(),
        )
        if self.text_pair is not None:
            data["text_pair"] = texts[1]
        return Attribution.from_dict(data)

    def for_target(self, label: str) -> Attribution:
        """The same explanation viewed for another class (scores hold every class already)."""
        self.class_index(label)
        data = self.to_dict()
        data["target"] = label
        return Attribution.from_dict(data)
