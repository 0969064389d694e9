"""The first-token shortcut: the last layer computes only the position the head reads, with the same results."""

import numpy as np
import pytest
import torch

from models import Predictor
from models.first_token import first_token_layer
from models.inference import ProbabilityCache

TEXTS = ["ok", "the film was good and the acting was great", "never again", "", "Café crème 🎬 déjà vu, niño", "bad " * 40]


def predictor(path, **kw):
    return Predictor(path, device="cpu", cache=ProbabilityCache(), batch_size=4, **kw)


def library_probabilities(pred: Predictor, texts) -> np.ndarray:
    """What the model gives when transformers runs it as it is: padded batch, full forward."""
    enc = pred.tokenizer(texts, padding=True, truncation=True, max_length=pred.max_length, return_tensors="pt")
    with torch.inference_mode():
        return torch.softmax(pred.model(**enc).logits, dim=-1).numpy()


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_roberta"])
def test_shortcut_is_on_and_gives_the_models_own_probabilities(request, fixture):
    path = request.getfixturevalue(fixture)
    fast, full = predictor(path), predictor(path, first_token=False)
    assert fast.first_token and not full.first_token
    ours = fast.predict_proba(TEXTS)
    np.testing.assert_allclose(ours, library_probabilities(full, TEXTS), atol=1e-5)  # float32 noise: it pads to the longest text
    np.testing.assert_allclose(ours, full.predict_proba(TEXTS), atol=1e-6)
    assert "forward" not in vars(fast._first_token_layer)  # the patch lasts one forward only


def test_embeddings_still_use_every_position(tiny_bert):
    fast, full = predictor(tiny_bert), predictor(tiny_bert, first_token=False)
    fast.predict_proba(TEXTS)
    np.testing.assert_array_equal(fast.embed(TEXTS, cache=ProbabilityCache()), full.embed(TEXTS, cache=ProbabilityCache()))


class MeanPooler(torch.nn.Module):
    """A head that reads every position: skipping them would change the answer."""

    def __init__(self, dense):
        super().__init__()
        self.dense = dense

    def forward(self, hidden_states):
        return torch.tanh(self.dense(hidden_states.mean(dim=1)))


def test_a_head_that_reads_every_position_is_left_alone(tiny_bert):
    pred = predictor(tiny_bert, first_token=False)
    assert first_token_layer(pred.model, pred.tokenizer) is not None
    pred.model.bert.pooler = MeanPooler(pred.model.bert.pooler.dense)
    assert first_token_layer(pred.model, pred.tokenizer) is None  # the check at load compares, it does not assume


def test_other_architectures_run_as_they_are(tiny_bert):
    from transformers import BertForMaskedLM

    pred = predictor(tiny_bert, first_token=False)
    other = BertForMaskedLM(pred.model.config).eval()
    assert first_token_layer(other, pred.tokenizer) is None


def test_the_shortcut_is_checked_at_the_first_forward_not_at_load(tiny_bert, monkeypatch):
    """An app restart that reads every result from the results store must not run the model just to load it."""
    import models.inference as inference

    checks = []
    real = inference.first_token_layer
    monkeypatch.setattr(inference, "first_token_layer", lambda *a, **k: checks.append(1) or real(*a, **k))
    loaded = predictor(tiny_bert)
    assert checks == []
    loaded.predict_proba(["one text", "and another"])
    loaded.predict_proba(["a third"])
    assert checks == [1] and loaded.first_token
