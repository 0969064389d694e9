"""Gradient attributions for one text: Integrated Gradients and Gradient x Input on the input embeddings.

- Integrated Gradients ("ig"): the straight path from a baseline (`models.gradients.BASELINES`, "pad" by default:
  Captum's BERT-tutorial reference) to the input's word embeddings, integrated with `n_steps` Gauss-Legendre points
  (Captum's default rule, so the scores equal `captum.attr.LayerIntegratedGradients` on the same layer, baseline and
  steps). Completeness: each class's scores sum to P(class | text) - P(class | baseline) up to the convergence delta,
  which is reported (`extra["convergence_delta"]`); `base_values` are the baseline's probabilities, so, as for SHAP,
  `scores.sum(0) + base_values` is the model's output within that delta.
- Gradient x Input ("grad_input"): the gradient at the input times the input embedding, one forward and backward.
  Fast and rough; it does not add up to anything (`base_values` are 0, `extra["additive"]` is False).

Output space: class probabilities (softmax; a sigmoid per label for multi-label), like SHAP and LIME, every class at once.
Scores are per model token (summed over the embedding dimension), mapped back onto characters like SHAP's.
The model runs only through `InferenceLayer.path_gradients` (the predictor's lock is held per chunk of points).
`compute` assumes a validated input; call `explain.api.explain_text`, which validates first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from explain.attribution import Attribution, ExplainError
from explain.shap_explainer import align_pair, align_to_text
from models.errors import VeredictoError
from models.protocol import InferenceLayer

METHODS = ("ig", "grad_input")
OUTPUT_SPACE = "probability"
DEFAULT_STEPS = 20
MAX_STEPS = 1000
DEFAULT_BASELINE = "pad"
DEFAULT_BATCH_SIZE = 64


def gauss_legendre(n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points on [0, 1] and their weights: Captum's "gausslegendre" rule (its default for Integrated Gradients)."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    return 0.5 * (nodes + 1.0), 0.5 * weights


def compute(
    predictor: InferenceLayer,
    text: str,
    *,
    method: str,
    explained_chars: int,
    truncated: bool,
    target: str | None,
    n_steps: int = DEFAULT_STEPS,
    baseline: str = DEFAULT_BASELINE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    text_pair: str | None = None,
) -> Attribution:
    """Integrated Gradients (`method="ig"`) or Gradient x Input (`"grad_input"`) of `text[:explained_chars]` (with
    `text_pair`: of the whole pair) for every class (no input validation here)."""
    if method == "ig":
        alphas, weights = gauss_legendre(n_steps)
    else:
        alphas, weights, baseline = np.ones(1), np.ones(1), "zero"
    part = text[:explained_chars] if text_pair is None else (text, text_pair)
    try:
        path = predictor.path_gradients(part, alphas, weights, baseline=baseline, batch_size=batch_size, progress=progress)
    except VeredictoError as exc:
        raise ExplainError(str(exc)) from None
    values = np.einsum("sh,csh->sc", path.inputs - path.baseline, path.gradients)  # (tokens, classes)
    enc = path.encoding
    if text_pair is None:
        tokens, scores, folded = align_to_text(text, enc["offset_mapping"], enc["special_tokens_mask"], values, end=explained_chars)
    else:
        tokens, scores, folded = align_pair(text, text_pair, enc, values)
    labels = tuple(predictor.labels)
    probabilities = np.asarray(path.proba, dtype=np.float64)
    extra: dict = {"output_space": OUTPUT_SPACE, "texts_forwarded": int(path.forwarded), "explained_chars": int(explained_chars), "folded_credit": folded}
    if method == "ig":
        base = np.asarray(path.baseline_proba, dtype=np.float64)
        delta = values.sum(0) - (probabilities - base)
        extra.update(convergence_delta=delta.tolist(), completeness_error=float(np.abs(delta).max()), additive=True)
        params = {"n_steps": int(n_steps), "baseline": baseline, "integration": "gausslegendre", "layer": "input embeddings", "output": OUTPUT_SPACE}
    else:
        base = np.zeros(len(labels))
        extra["additive"] = False
        params = {"layer": "input embeddings", "output": OUTPUT_SPACE}
    if target is None:
        target = labels[int(np.argmax(probabilities))]
    return Attribution(
        text=text,
        tokens=tuple(tokens),
        labels=labels,
        scores=scores,
        base_values=base,
        probabilities=probabilities,
        target=target,
        method=method,
        params=params,
        n_model_calls=int(path.forwarded),
        seconds=0.0,
        fingerprint=predictor.ref.scoring_key,
        truncated=truncated,
        extra=extra,
        text_pair=text_pair,
    )


def check_steps(n_steps) -> int:
    """`n_steps` as a whole number in [1, MAX_STEPS], or an `ExplainError` saying what range to use."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or not 1 <= n_steps <= MAX_STEPS:
        raise ExplainError(
            f"n_steps must be a whole number from 1 to {MAX_STEPS}, got {n_steps!r}. "
            f"{DEFAULT_STEPS} is the default; more steps make Integrated Gradients add up more exactly and take longer."
        )
    return int(n_steps)
