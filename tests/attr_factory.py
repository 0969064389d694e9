"""Hand-built `Attribution`s for fast, deterministic tests of plots, caches and global views."""

from __future__ import annotations

import re

import numpy as np

from explain.attribution import Attribution, Token


def tokens_of(text: str, pattern: str = r"\s*\S+") -> list[Token]:
    """Contiguous tokens: each non-space run with the whitespace before it (like BPE's Ġ pieces)."""
    tokens = [Token(m.group(), m.start(), m.end()) for m in re.finditer(pattern, text)]
    end = tokens[-1].end if tokens else 0
    if end < len(text):
        tokens.append(Token(text[end:], end, len(text)))
    return tokens


def make_attribution(
    text: str,
    scores: dict[str, float] | None = None,
    *,
    labels=("negative", "positive"),
    method: str = "shap",
    target: str | None = None,
    seed: int = 0,
    fingerprint: str = "f" * 64,
    probabilities=None,
    tokens=None,
    truncated: bool = False,
    params=None,
) -> Attribution:
    """Scores for the LAST label come from `scores` ({stripped token: score}); other labels get the negative.

    Tokens not in `scores` get small seeded random values (or 0 when `scores` is given).
    """
    tokens = tokens_of(text) if tokens is None else tokens
    rng = np.random.default_rng(seed)
    n = len(labels)
    values = np.zeros((len(tokens), n))
    for i, token in enumerate(tokens):
        if scores is None:
            v = float(rng.normal(0, 0.1))
        else:
            v = float(scores.get(token.text.strip(), 0.0))
        values[i, -1] = v
        values[i, :-1] = -v / max(1, n - 1)
    base = np.full(n, 1.0 / n)
    probs = np.clip(base + values.sum(axis=0), 0.001, None) if probabilities is None else np.asarray(probabilities, float)
    probs = probs / probs.sum()
    return Attribution(
        text=text,
        tokens=tokens,
        labels=labels,
        scores=values,
        base_values=base,
        probabilities=probs,
        target=target or labels[-1],
        method=method,
        params=params or {},
        n_model_calls=42,
        seconds=0.5,
        fingerprint=fingerprint,
        truncated=truncated,
    )


def plotly_values(value):
    """A figure array as a list: plotly serialises numpy arrays as typed arrays ({"dtype", "bdata", "shape"})."""
    import base64

    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            shape = value["shape"]
            array = array.reshape([int(x) for x in (shape.split(",") if isinstance(shape, str) else shape)])
        return array.tolist()
    return list(value) if value is not None else []
