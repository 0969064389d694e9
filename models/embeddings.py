"""Sentence embeddings from a checkpoint's own encoder: the mean of its last hidden states.

Part of the shared inference layer (next to `models.inference`), because it runs the model:
the same lock, the same tokenizer, the same length-sorted batches, under
`torch.inference_mode()`. Vectors are remembered in a bounded cache keyed by
(checkpoint fingerprint, text), so the nearest-neighbour panel, the label-noise list and the
embedding map of one checkpoint and data set cost one pass over the texts.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from models.inference import Predictor, Progress, ProbabilityCache, as_text

EMBEDDING_CACHE = ProbabilityCache(max_items=100_000)


def embedding_dim(predictor: Predictor) -> int:
    return int(predictor.model.config.hidden_size)


def embed_texts(
    predictor: Predictor,
    texts: Sequence[str],
    batch_size: int = 32,
    progress: Progress | None = None,
    *,
    cache: ProbabilityCache | None = None,
) -> np.ndarray:
    """Mean-pooled last hidden states (attention mask respected), shape (len(texts), hidden_size), float32.

    The encoder is `predictor.model.base_model` (BERT, RoBERTa, DistilBERT, ...): the same
    weights the classification head reads, so neighbours are "similar for this model".
    Texts longer than the model reads are truncated, as for `predict_proba`.
    """
    import torch

    texts = [as_text(t, i) for i, t in enumerate(texts)]
    cache = EMBEDDING_CACHE if cache is None else cache
    fp = predictor.ref.fingerprint
    dim = embedding_dim(predictor)
    out = np.empty((len(texts), dim), dtype=np.float32)
    missing: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        hit = cache.get((fp, text))
        if hit is None:
            missing.setdefault(text, []).append(i)
        else:
            out[i] = hit
    if not missing:
        if progress:
            progress(len(texts), len(texts))
        return out
    unique = list(missing)
    batch_size = max(1, int(batch_size))
    with predictor._lock:
        enc = predictor.tokenizer(unique, truncation=True, max_length=predictor.max_length, verbose=False)
        ids = enc["input_ids"]
        order = np.argsort([len(x) for x in ids], kind="stable")
        pad = predictor.tokenizer.pad_token_id
        encoder = predictor.model.base_model
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                width = len(ids[batch[-1]])
                input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, j in enumerate(batch):
                    input_ids[row, : len(ids[j])] = torch.tensor(ids[j])
                    mask[row, : len(ids[j])] = 1
                hidden = encoder(input_ids=input_ids.to(predictor.device), attention_mask=mask.to(predictor.device)).last_hidden_state
                weights = mask.to(hidden.device).unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
                vectors = pooled.float().cpu().numpy()
                for row, j in enumerate(batch):
                    text = unique[j]
                    cache.put((fp, text), vectors[row].copy())
                    out[missing[text]] = vectors[row]
                if progress:
                    progress(min(start + batch_size, len(order)), len(order))
    return out
