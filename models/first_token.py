"""Skip the part of the last encoder layer that a sequence classifier never reads.

BERT-style classifiers (BERT, RoBERTa, XLM-R, ELECTRA, CamemBERT) feed only the FIRST position's
final hidden state ([CLS] / <s>) to their head. In the last encoder layer every other position is
needed only as keys and values; its query projection, attention output and feed-forward can run
for the first position alone: 10 of the layer's 12 hidden-size-squared products per token. Same
arithmetic on the same numbers, about 12% less work for the 6-layer demo model.

`first_token_layer(model, tokenizer)` returns the layer to patch when the model is one of these and
the patched forward reproduces the full one on a probe batch (padded, several lengths); otherwise
None, and the Predictor runs the model as it is. `first_token_only(layer)` patches it for the
duration of one forward, which the Predictor runs under its lock; outside that block the layer is
the library's own (embeddings need every position).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from types import MethodType

# Heads that read features[:, 0] (or a pooler over position 0) and encoders built from BertLayer-like
# layers: attention.self.{query,key,value}, attention.output, feed_forward_chunk.
FIRST_TOKEN_CLASSIFIERS = frozenset(
    {
        "BertForSequenceClassification",
        "RobertaForSequenceClassification",
        "XLMRobertaForSequenceClassification",
        "ElectraForSequenceClassification",
        "CamembertForSequenceClassification",
    }
)
PROBE_TEXTS = ("a", "the film is long, slow and oddly moving", "not good at all")
TOLERANCE = 1e-5


def _first_token_forward(layer, hidden_states, attention_mask=None, *args, **kwargs):
    """`layer.forward` computed for position 0 only; returns shape (batch, 1, hidden)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    attn = layer.attention.self
    batch, length = hidden_states.shape[:2]
    first = hidden_states[:, :1]
    heads = (-1, attn.attention_head_size)
    query = attn.query(first).view(batch, 1, *heads).transpose(1, 2)
    key = attn.key(hidden_states).view(batch, length, *heads).transpose(1, 2)
    value = attn.value(hidden_states).view(batch, length, *heads).transpose(1, 2)
    if attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[-2] > 1:
        attention_mask = attention_mask[..., :1, :]  # the first query row of a (batch, 1, length, length) mask
    eager = sys.modules[type(attn).__module__].eager_attention_forward
    attention = ALL_ATTENTION_FUNCTIONS.get_interface(attn.config._attn_implementation, eager)
    out, _ = attention(attn, query, key, value, attention_mask, dropout=0.0, scaling=attn.scaling)
    out = layer.attention.output(out.reshape(batch, 1, -1).contiguous(), first)
    return layer.feed_forward_chunk(out)


@contextmanager
def first_token_only(layer):
    """Within the block, `layer` computes position 0 only (an instance attribute shadows the class's forward)."""
    layer.forward = MethodType(_first_token_forward, layer)
    try:
        yield
    finally:
        del layer.forward


def _candidate(model):
    if type(model).__name__ not in FIRST_TOKEN_CLASSIFIERS or model.config.is_decoder or model.training:
        return None
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if not layers:
        return None
    last = layers[-1]
    attn = getattr(getattr(last, "attention", None), "self", None)
    needed = (
        attn,
        getattr(last.attention, "output", None),
        getattr(last, "feed_forward_chunk", None),
        getattr(sys.modules.get(type(attn).__module__), "eager_attention_forward", None),
    )
    if any(x is None for x in needed) or not all(hasattr(attn, a) for a in ("query", "key", "value", "scaling", "attention_head_size")):
        return None
    return last


def first_token_layer(model, tokenizer, device: str = "cpu"):
    """The last encoder layer, if running it for position 0 only gives the model's own output; else None."""
    import torch

    last = _candidate(model)
    if last is None:
        return None
    try:
        enc = tokenizer(list(PROBE_TEXTS), padding=True, return_tensors="pt")
        inputs = {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}
        with torch.inference_mode():
            full = model(**inputs).logits
            with first_token_only(last):
                fast = model(**inputs).logits
    except Exception:  # noqa: BLE001 - an architecture variant this shortcut does not know: run the model as it is
        return None
    if fast.shape != full.shape or not torch.allclose(fast, full, atol=TOLERANCE, rtol=0):
        return None
    return last
