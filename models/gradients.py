"""Gradients of the class probabilities along a straight path in the input-embedding space: what Integrated
Gradients and Gradient x Input need from the model, run by `Predictor.path_gradients` under its lock.

The path runs from a baseline to the input's own output of the word-embedding layer (`model.get_input_embeddings()`,
the layer Captum's `LayerIntegratedGradients` is usually pointed at); positions, segments and everything after that
layer are the model's own. A forward hook swaps the layer's output for the interpolated points, so the forward and
backward are the model's, whatever its architecture.

Baselines (the reference the path starts from, a stated parameter of every gradient explanation):
- "pad": every text token replaced by the tokenizer's pad token, special tokens ([CLS], [SEP], </s>) kept --
  the reference of Captum's BERT tutorial;
- "mask": the same with the mask token ([MASK], <mask>), where the tokenizer has one;
- "zero": the zero vector at every position (with the input as the only point, gradient x input).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.errors import CheckpointError, DataError

BASELINES = ("pad", "mask", "zero")


@dataclass(frozen=True)
class PathGradients:
    """What one `path_gradients` call found for one input (single text or sentence pair).

    `gradients[c]` is sum_k weights[k] * d p_c / d e, taken at e = baseline + alphas[k] * (inputs - baseline);
    `p_c` is class c's probability (softmax; a sigmoid per label for multi-label). Integrated Gradients is
    `((inputs - baseline) * gradients[c]).sum(-1)` per token, which sums to about `proba[c] - baseline_proba[c]`.
    """

    encoding: Any  # the tokenizer's encoding of the input: input_ids, offset_mapping, special_tokens_mask (+ sequence_ids())
    inputs: np.ndarray  # (seq, hidden): the embedding layer's output on the input
    baseline: np.ndarray  # (seq, hidden)
    gradients: np.ndarray  # (labels, seq, hidden)
    proba: np.ndarray  # (labels,): the model on the input
    baseline_proba: np.ndarray  # (labels,): the model on the baseline
    forwarded: int  # points sent through the model (forward and backward): the path's plus the two ends


def embedding_layer(model):
    """The word-embedding module gradients are taken at; a clear error where the model does not expose one."""
    import torch

    try:
        layer = model.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        layer = None
    if not isinstance(layer, torch.nn.Module):
        raise CheckpointError(
            f"This {type(model).__name__} does not expose its input embedding layer (get_input_embeddings), so gradient "
            "explanations (Integrated Gradients, Gradient x Input) cannot be computed for it. SHAP and LIME still work."
        )
    return layer


def baseline_ids(input_ids: Sequence[int], special: Sequence[int], tokenizer, baseline: str) -> list[int]:
    """The token ids of a "pad" or "mask" baseline: each text token replaced, special tokens kept."""
    token = tokenizer.pad_token_id if baseline == "pad" else tokenizer.mask_token_id
    if token is None:
        raise DataError(
            f"This tokenizer has no {baseline} token, so the '{baseline}' baseline does not exist for it. "
            f"Choose another baseline: {', '.join(b for b in BASELINES if b != baseline)}."
        )
    return [i if s else int(token) for i, s in zip(input_ids, special)]


def run_path(
    model,
    enc,
    base_ids: list[int] | None,
    alphas: np.ndarray,
    weights: np.ndarray,
    *,
    multi_label: bool,
    batch_size: int,
    device: str,
    hold: Callable[[], Any],
    forward_context: Callable[[], Any],
    progress: Callable[[int, int], None] | None = None,
) -> PathGradients:
    """Run the path in chunks of `batch_size` points; `hold()` is entered around each chunk (the predictor's lock),
    `forward_context()` around each forward (the first-token shortcut). `base_ids` None: the zero baseline."""
    import torch

    layer = embedding_layer(model)
    ids = torch.tensor([enc["input_ids"]], device=device)
    extra = {"attention_mask": torch.ones_like(ids)}
    if "token_type_ids" in enc:
        extra["token_type_ids"] = torch.tensor([enc["token_type_ids"]], device=device)
    with hold(), torch.no_grad():
        x = layer(ids)[0]
        x0 = torch.zeros_like(x) if base_ids is None else layer(torch.tensor([base_ids], device=device))[0]
    # the path's points, and the two ends where the path lacks them (weight 0: they give f(input) and f(baseline))
    points, point_weights = list(np.asarray(alphas, dtype=np.float64)), list(np.asarray(weights, dtype=np.float64))
    for end in (1.0, 0.0):
        if end not in points:
            points.append(end)
            point_weights.append(0.0)
    at_input, at_baseline = points.index(1.0), points.index(0.0)
    n_labels = int(model.config.num_labels)
    grads = torch.zeros((n_labels, *x.shape), dtype=torch.float64, device=device)
    proba = np.zeros((len(points), n_labels))
    binary_softmax = n_labels == 2 and not multi_label  # p0 = 1 - p1, so one backward gives both classes
    for start in range(0, len(points), batch_size):
        chunk = slice(start, start + batch_size)
        a = torch.tensor(points[chunk], dtype=x.dtype, device=device).view(-1, 1, 1)
        w = torch.tensor(point_weights[chunk], dtype=x.dtype, device=device)
        with hold():
            path = (x0 + a * (x - x0)).detach().requires_grad_(True)
            handle = layer.register_forward_hook(lambda _module, _args, _out, points=path: points)
            try:
                with torch.enable_grad(), forward_context():
                    n = path.shape[0]
                    logits = model(input_ids=ids.expand(n, -1), **{k: v.expand(n, -1) for k, v in extra.items()}).logits.float()
                    p = torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)
                    classes = [1] if binary_softmax else range(n_labels)
                    for c in classes:
                        (g,) = torch.autograd.grad((p[:, c] * w).sum(), path, retain_graph=c != classes[-1])
                        grads[c] += g.double().sum(0)
            finally:
                handle.remove()
        proba[chunk] = p.detach().double().cpu().numpy()
        if progress is not None:
            progress(min(start + batch_size, len(points)), len(points))
    if binary_softmax:
        grads[0] = -grads[1]
    return PathGradients(
        encoding=enc,
        inputs=x.double().cpu().numpy(),
        baseline=x0.double().cpu().numpy(),
        gradients=grads.cpu().numpy(),
        proba=proba[at_input],
        baseline_proba=proba[at_baseline],
        forwarded=len(points),
    )
