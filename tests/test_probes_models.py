"""Tiny checkpoints with a PLANTED behaviour, for the probe tests (and the checks that they behave as planted).

`make_keyword_checkpoint` writes a BERT (or RoBERTa) classifier whose weights are set by hand so
that its output depends only on which trigger tokens the text holds:

- word embeddings are zero except for trigger tokens, which point along dimension 0 (the sign of
  their weight says towards which class); position / token-type embeddings are zero;
- attention is uniform (query and key weights zero), values and outputs are identities, the
  feed-forward block adds zero: the first token's state is the layer-normalised MEAN of the
  trigger vectors, i.e. sign(#positive triggers - #negative triggers) along dimension 0;
- the pooler (RoBERTa: head dense layer) is the identity + tanh, and the classifier reads
  dimension 0: +strength towards the last label, -strength towards the first, plus `bias`.

So with triggers {"john": +1} the model says "positive" exactly when "john" is in the text: a
model built to flip on a name swap. `make_invariant_checkpoint` zeroes a random tiny model's
classifier weights and keeps a bias: its output ignores the input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import FIXTURES, make_tiny_checkpoint

LABELS = ("negative", "positive")


def _bert_tokenizer(cased: bool):
    from transformers import BertTokenizerFast

    tokens = (FIXTURES / "wordpiece_vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab = {tok: i for i, tok in enumerate(t for t in tokens if t)}
    return BertTokenizerFast(vocab=vocab, do_lower_case=not cased, model_max_length=128)


def make_keyword_checkpoint(
    path: Path,
    triggers: dict[str, float],
    *,
    labels: tuple[str, ...] = LABELS,
    bias: tuple[float, ...] | None = None,
    strength: float = 4.0,
    cased: bool = False,
    kind: str = "bert",
) -> Path:
    """A classifier driven only by trigger tokens (see module docstring). Trigger keys are tokenizer tokens."""
    from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    hidden = 16
    if kind == "bert":
        tokenizer = _bert_tokenizer(cased)
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=4,
            max_position_embeddings=128,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)},
        )
        model = BertForSequenceClassification(config)
    else:
        from tiny import _roberta_tokenizer

        tokenizer = _roberta_tokenizer(path)
        config = RobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=4,
            max_position_embeddings=66,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=0,
            eos_token_id=2,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={l: i for i, l in enumerate(labels)},
        )
        model = RobertaForSequenceClassification(config)
    eye = torch.eye(hidden)
    vocab = tokenizer.get_vocab()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.zero_()
            if "LayerNorm.weight" in name:
                param.fill_(1.0)
        emb = model.base_model.embeddings.word_embeddings.weight
        for token, weight in triggers.items():
            if token not in vocab:
                raise ValueError(f"trigger {token!r} is not a token of the vocabulary")
            emb[vocab[token], 0] = float(np.sign(weight)) * 10.0
        for layer in model.base_model.encoder.layer:
            layer.attention.self.value.weight.copy_(eye)
            layer.attention.output.dense.weight.copy_(eye)
        if kind == "bert":
            model.bert.pooler.dense.weight.copy_(eye)
            head = model.classifier
        else:
            model.classifier.dense.weight.copy_(eye)
            head = model.classifier.out_proj
        head.weight[0, 0] = -strength
        head.weight[-1, 0] = strength
        head.bias.copy_(torch.tensor(bias if bias is not None else [0.5] + [0.0] * (len(labels) - 1)))
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def make_invariant_checkpoint(path: Path, *, labels: tuple[str, ...] = LABELS, bias: tuple[float, ...] = (0.2, -0.3), seed: int = 3) -> Path:
    """A random tiny BERT whose classifier weights are zero: the same probabilities for every input."""
    from transformers import BertForSequenceClassification

    path = make_tiny_checkpoint(Path(path), "bert", labels=labels, seed=seed)
    model = BertForSequenceClassification.from_pretrained(path, local_files_only=True, use_safetensors=True)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(path, safe_serialization=True)
    return path


# --- the planted models behave as planted ---------------------------------------------------------


@pytest.fixture(scope="module")
def john_model(tmp_path_factory):
    from models import Predictor

    return Predictor(str(make_keyword_checkpoint(tmp_path_factory.mktemp("kw") / "john", {"john": +1, "maria": -1})), device="cpu")


def test_keyword_model_follows_its_trigger(john_model):
    probs = john_model.predict_proba(["john liked the film", "maria liked the film", "the film", "JOHN and the film"])
    pred = [john_model.labels[i] for i in probs.argmax(1)]
    assert pred == ["positive", "negative", "negative", "positive"]
    assert probs[0, 1] > 0.95 and probs[1, 0] > 0.95
    # no trigger: only the bias speaks (0.5 towards 'negative')
    np.testing.assert_allclose(probs[2], torch.softmax(torch.tensor([0.5, 0.0]), 0).numpy(), atol=1e-4)


def test_keyword_model_counts_triggers_not_position_or_length(john_model):
    probs = john_model.predict_proba(["john", "the film was great and john was there for a long time", "john maria", "john john maria"])
    assert list(probs.argmax(1)) == [1, 1, 0, 1]


def test_invariant_model_ignores_input(tmp_path):
    from models import Predictor

    predictor = Predictor(str(make_invariant_checkpoint(tmp_path / "inv")), device="cpu")
    probs = predictor.predict_proba(["john", "maria was terrible", "", "¡Qué película tan buena!"])
    assert np.ptp(probs, axis=0).max() < 1e-6


def test_cased_keyword_model_flips_on_upper_case(tmp_path):
    from models import Predictor

    predictor = Predictor(str(make_keyword_checkpoint(tmp_path / "cased", {"john": +1}, cased=True)), device="cpu")
    assert list(predictor.predict_proba(["john was here", "JOHN WAS HERE"]).argmax(1)) == [1, 0]


def test_roberta_keyword_model_sees_double_spaces(tmp_path):
    from models import Predictor

    predictor = Predictor(str(make_keyword_checkpoint(tmp_path / "rob", {"Ġ": +1}, kind="roberta")), device="cpu")
    assert list(predictor.predict_proba(["the film was good", "the  film  was  good"]).argmax(1)) == [0, 1]
