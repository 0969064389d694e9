"""LIME for one text: `lime.lime_text.LimeTextExplainer` over the shared inference layer.

LIME removes random subsets of words (its `split_expression`, by default `\\W+`), scores every
perturbed text in ONE `Predictor.predict_proba` call (which dedups repeats, sorts by length and
batches), and fits a weighted linear model per class. Defaults are LIME's own (bag of words:
a word feature stands for every occurrence of that word), so a fixed seed reproduces plain
`LimeTextExplainer(random_state=seed)` exactly.

Mapping to characters: LIME's IndexedString splits the text into word and separator pieces
that concatenate back to the text; each piece becomes a Token. A word that occurs n times
gets its weight split equally over its n occurrences, so token scores sum to LIME's weights;
the unsplit weights are kept in `extra["feature_weights"]`. Separators score 0.

Sentence pairs: LIME is given `text + PAIR_SEP + text_pair`; the separator is no word (LIME's
`\\W+` splits there), so it is never removed and every perturbed text splits back into a
`(text, text_pair)` tuple for the inference layer: LIME perturbs the words of both segments (a word
feature stands for its occurrences in both, as in one text). Tokens carry their segment and spans
into their own segment.

`compute` assumes a validated input; call `explain.api.explain_text`, which validates first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from explain.attribution import PAIR_SEP, Attribution, ExplainError, Token
from models.protocol import InferenceLayer, scratch

DEFAULT_NUM_SAMPLES = 1000  # LIME's default is 5000; 1000 is plenty for sentence-length texts


def make_explainer(labels, seed: int):
    from lime.lime_text import LimeTextExplainer

    return LimeTextExplainer(class_names=list(labels), random_state=seed)


def word_features(explainer, text: str):
    """LIME's own view of the text: the IndexedString its explain_instance will build."""
    from lime.lime_text import IndexedString

    return IndexedString(text, bow=explainer.bow, split_expression=explainer.split_expression, mask_string=explainer.mask_string)


def compute(
    predictor: InferenceLayer,
    text: str,
    *,
    explained_chars: int,
    truncated: bool,
    target: str | None,
    num_samples: int = DEFAULT_NUM_SAMPLES,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    text_pair: str | None = None,
) -> Attribution:
    """LIME attribution of `text[:explained_chars]` (with `text_pair`: of the whole pair) for every class (no input validation here)."""
    part = text[:explained_chars] if text_pair is None else text + PAIR_SEP + text_pair
    labels = list(predictor.labels)
    explainer = make_explainer(labels, seed)
    n_words = word_features(explainer, part).num_words()
    if n_words == 0:
        raise ExplainError(
            "LIME explains words, and this text has none it can remove (only punctuation, symbols or emoji). Use SHAP, which works on the model's own tokens."
        )

    # LimeTextExplainer keeps only the last class's R² and local prediction; record each one.
    fits: dict[int, tuple[float, float]] = {}
    base_fit = explainer.base.explain_instance_with_data

    def recording_fit(data, yss, distances, label, *args, **kwargs):
        result = base_fit(data, yss, distances, label, *args, **kwargs)
        fits[int(label)] = (float(result[2]), float(np.ravel(result[3])[0]))
        return result

    explainer.base.explain_instance_with_data = recording_fit

    requested = 0

    def classifier_fn(texts):
        nonlocal requested
        requested += len(texts)
        inputs = [tuple(t.split(PAIR_SEP, 1)) if text_pair is not None else t for t in texts]
        with scratch(predictor):
            return predictor.predict_proba(inputs, progress=progress).astype(np.float64)

    # LIME never tokenizes; predict_proba takes the predictor per batch, so other sessions' predictions run
    # in between, and usage() counts this thread's forwards only.
    with predictor.usage() as usage:
        exp = explainer.explain_instance(part, classifier_fn, labels=range(len(labels)), num_features=n_words, num_samples=num_samples)
        forwarded = usage.texts_forwarded

    indexed = exp.domain_mapper.indexed_string
    pieces = list(indexed.as_list)
    starts = [int(s) for s in indexed.string_start]
    scores = np.zeros((len(pieces), len(labels)))
    feature_weights = {}
    for c, label in enumerate(labels):
        weights = []
        for feature, weight in exp.local_exp[c]:
            positions = indexed.positions[feature]
            positions = list(np.atleast_1d(positions))
            for p in positions:
                scores[p, c] += weight / len(positions)
            weights.append([indexed.word(feature), float(weight)])
        feature_weights[label] = weights
    tokens = [Token(piece, start, start + len(piece)) for piece, start in zip(pieces, starts)]
    if text_pair is not None:
        tokens, scores = _split_segments(tokens, scores, len(text))
    elif explained_chars < len(text):
        tokens.append(Token(text[explained_chars:], explained_chars, len(text)))
        scores = np.vstack([scores, np.zeros((1, len(labels)))])
    probabilities = np.asarray(exp.predict_proba, dtype=np.float64)
    if target is None:
        target = labels[int(np.argmax(probabilities))]
    return Attribution(
        text=text,
        tokens=tuple(tokens),
        labels=tuple(labels),
        scores=scores,
        base_values=np.array([float(exp.intercept[c]) for c in range(len(labels))]),
        probabilities=probabilities,
        target=target,
        method="lime",
        params={
            "num_samples": int(num_samples),
            "seed": int(seed),
            "num_features": int(n_words),
            "split_expression": explainer.split_expression,
            "bow": bool(explainer.bow),
            "kernel_width": 25,
        },
        n_model_calls=int(requested),
        seconds=0.0,
        fingerprint=predictor.ref.scoring_key,
        truncated=truncated,
        text_pair=text_pair,
        extra={
            "r2": {labels[c]: fits[c][0] for c in sorted(fits)},
            "local_prediction": {labels[c]: fits[c][1] for c in sorted(fits)},
            "feature_weights": feature_weights,
            "texts_forwarded": int(forwarded),
            "explained_chars": int(explained_chars),
        },
    )


def _split_segments(tokens: list[Token], scores: np.ndarray, first_len: int) -> tuple[list[Token], np.ndarray]:
    """LIME's pieces of `text + PAIR_SEP + text_pair` as tokens of each segment (spans into their own text); the
    separator piece holding PAIR_SEP (no word: score 0) is cut at it."""
    out, rows = [], []
    for token, row in zip(tokens, scores):
        if token.end <= first_len:
            out.append(token)
            rows.append(row)
        elif token.start > first_len:
            out.append(Token(token.text, token.start - first_len - 1, token.end - first_len - 1, 1))
            rows.append(row)
        else:  # the separator piece around PAIR_SEP
            before, after = token.text.split(PAIR_SEP, 1)
            for piece, start, segment in ((before, token.start, 0), (after, 0, 1)):
                if piece:
                    out.append(Token(piece, start, start + len(piece), segment))
                    rows.append(np.zeros_like(row))
    return out, np.array(rows)
