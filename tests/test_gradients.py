"""Integrated Gradients and Gradient x Input through the inference layer: equal to Captum's own LayerIntegratedGradients,
complete (scores add up to f(x) - f(baseline) within the reported delta), for every class, label and pair; bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from explain.api import explain_text
from explain.attribution import ExplainError
from explain.gradient_explainer import MAX_STEPS, gauss_legendre
from models.inference import Predictor
from tests.tiny import make_tiny_checkpoint

TEXT = "the film was long, slow and oddly moving"
TOLERANCE = 1e-5  # float32 sums in another order (the first-token shortcut, chunking): about 1e-6 apart on these models


def captum_ig(predictor, text, target, n_steps, text_pair=None, multi_label=False):
    """Captum's LayerIntegratedGradients as its BERT tutorial uses it: the word embeddings, a [CLS] pad.. pad [SEP] reference."""
    from captum.attr import LayerIntegratedGradients

    model, tok = predictor.model, predictor.tokenizer
    enc = tok(text, text_pair, return_tensors="pt", return_special_tokens_mask=True)
    ids = enc["input_ids"]
    ref = torch.where(enc["special_tokens_mask"].bool(), ids, torch.full_like(ids, tok.pad_token_id))
    types = enc.get("token_type_ids") if text_pair is not None else None

    def forward(input_ids):
        extra = {} if types is None else {"token_type_ids": types.expand(len(input_ids), -1)}
        logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **extra).logits
        return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    attributions, delta = lig.attribute(ids, ref, target=target, n_steps=n_steps, return_convergence_delta=True)
    return attributions.sum(-1)[0].detach().numpy(), float(delta)


def per_position(predictor, text, n_steps, text_pair=None):
    path = predictor.path_gradients(text if text_pair is None else (text, text_pair), *gauss_legendre(n_steps))
    return np.einsum("sh,csh->sc", path.inputs - path.baseline, path.gradients), path


@pytest.fixture(scope="module")
def three_class(tmp_path_factory):
    return Predictor(make_tiny_checkpoint(tmp_path_factory.mktemp("three") / "ckpt", labels=("neg", "neu", "pos"), seed=3))


@pytest.fixture(scope="module")
def multi_label(tmp_path_factory):
    path = make_tiny_checkpoint(tmp_path_factory.mktemp("ml") / "ckpt", labels=("plot", "acting", "music"), problem_type="multi_label_classification")
    return Predictor(path)


@pytest.mark.parametrize("n_steps", [1, 7, 50])
def test_ours_equals_captums_layer_integrated_gradients_for_every_class(tiny_bert_predictor, n_steps):
    ours, path = per_position(tiny_bert_predictor, TEXT, n_steps)
    for target in range(2):
        theirs, delta = captum_ig(tiny_bert_predictor, TEXT, target, n_steps)
        np.testing.assert_allclose(ours[:, target], theirs, atol=TOLERANCE)
        assert ours[:, target].sum() - (path.proba[target] - path.baseline_proba[target]) == pytest.approx(delta, abs=TOLERANCE)


def test_three_classes_and_multi_label_take_a_backward_per_class_and_match_captum(three_class, multi_label):
    ours, _ = per_position(three_class, TEXT, 16)
    for target in range(3):
        np.testing.assert_allclose(ours[:, target], captum_ig(three_class, TEXT, target, 16)[0], atol=TOLERANCE)
    ours, _ = per_position(multi_label, TEXT, 16)
    for target in range(3):
        np.testing.assert_allclose(ours[:, target], captum_ig(multi_label, TEXT, target, 16, multi_label=True)[0], atol=TOLERANCE)


def test_a_sentence_pair_is_explained_over_both_texts_with_its_token_types(tiny_bert_predictor):
    second = "a slow film, but moving"
    ours, _ = per_position(tiny_bert_predictor, TEXT, 12, second)
    np.testing.assert_allclose(ours[:, 1], captum_ig(tiny_bert_predictor, TEXT, 1, 12, second)[0], atol=TOLERANCE)
    attribution = explain_text(tiny_bert_predictor, TEXT, method="ig", text_pair=second, n_steps=12)
    assert {t.segment for t in attribution.tokens} == {0, 1}
    assert "".join(t.text for t in attribution.tokens if t.segment == 1) == second


@pytest.mark.parametrize("n_steps", [4, 64])
def test_integrated_gradients_is_complete_within_the_delta_it_reports(tiny_bert_predictor, n_steps):
    a = explain_text(tiny_bert_predictor, TEXT, method="ig", n_steps=n_steps)
    gap = a.scores.sum(0) + a.base_values - a.probabilities
    np.testing.assert_allclose(gap, a.extra["convergence_delta"], atol=1e-9)
    assert a.extra["completeness_error"] == pytest.approx(np.abs(gap).max())
    assert a.probabilities == pytest.approx(tiny_bert_predictor.predict_proba([TEXT])[0], abs=1e-5)
    assert a.params["baseline"] == "pad" and a.params["n_steps"] == n_steps and a.n_model_calls == n_steps + 2
    assert "".join(t.text for t in a.tokens) == TEXT


def test_more_steps_shrink_the_convergence_delta(tiny_bert_predictor):
    coarse = explain_text(tiny_bert_predictor, TEXT, method="ig", n_steps=2).extra["completeness_error"]
    fine = explain_text(tiny_bert_predictor, TEXT, method="ig", n_steps=128).extra["completeness_error"]
    assert fine < coarse and fine < 1e-4


def test_gradient_x_input_is_the_gradient_at_the_input_times_the_embedding(tiny_bert_predictor):
    model, tok = tiny_bert_predictor.model, tiny_bert_predictor.tokenizer
    ids = tok(TEXT, return_tensors="pt")["input_ids"]
    x = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    p = torch.softmax(model(inputs_embeds=x, attention_mask=torch.ones_like(ids)).logits, dim=-1)[0, 1]
    (g,) = torch.autograd.grad(p, x)
    expected = (g * x).sum(-1)[0].detach().numpy()
    path = tiny_bert_predictor.path_gradients(TEXT, [1.0], [1.0], baseline="zero")
    np.testing.assert_allclose(np.einsum("sh,csh->sc", path.inputs, path.gradients)[:, 1], expected, atol=TOLERANCE)
    a = explain_text(tiny_bert_predictor, TEXT, method="grad_input")
    assert a.scores_for("positive").sum() == pytest.approx(expected.sum(), abs=TOLERANCE)  # [CLS]/[SEP] fold onto neighbours
    assert a.n_model_calls == 2 and a.extra["additive"] is False and not a.base_values.any()


def test_the_first_token_shortcut_leaves_the_gradients_unchanged(tiny_bert):
    fast, full = Predictor(tiny_bert), Predictor(tiny_bert, first_token=False)
    assert fast.first_token
    np.testing.assert_allclose(per_position(fast, TEXT, 8)[0], per_position(full, TEXT, 8)[0], atol=TOLERANCE)


def test_a_long_text_is_explained_for_the_part_the_model_reads(tiny_bert_predictor):
    text = " ".join(["moving"] * (tiny_bert_predictor.max_length + 20))
    a = explain_text(tiny_bert_predictor, text, method="ig", n_steps=4)
    assert a.truncated and a.tokens[-1].end == len(text) and a.scores[-1].tolist() == [0.0, 0.0]
    assert "".join(t.text for t in a.tokens) == text


@pytest.mark.parametrize("n_steps", [0, -3, MAX_STEPS + 1, 2.5, True, "20"])
def test_n_steps_out_of_range_is_refused_with_the_range(tiny_bert_predictor, n_steps):
    with pytest.raises(ExplainError, match=f"from 1 to {MAX_STEPS}"):
        explain_text(tiny_bert_predictor, TEXT, method="ig", n_steps=n_steps)


@pytest.mark.parametrize("text", ["", "   ", "film"])
def test_empty_and_single_token_texts_are_refused(tiny_bert_predictor, text):
    with pytest.raises(ExplainError, match="nothing to"):
        explain_text(tiny_bert_predictor, text, method="ig")


def test_an_unknown_baseline_is_refused(tiny_bert_predictor):
    with pytest.raises(ExplainError, match="pad, mask, zero"):
        explain_text(tiny_bert_predictor, TEXT, method="ig", baseline="noise")


def test_a_model_without_an_embedding_layer_says_shap_and_lime_still_work(tiny_bert, monkeypatch):
    predictor = Predictor(tiny_bert)
    monkeypatch.setattr(predictor.model, "get_input_embeddings", lambda: (_ for _ in ()).throw(NotImplementedError()))
    with pytest.raises(ExplainError, match="SHAP and LIME still work"):
        explain_text(predictor, TEXT, method="ig")
    assert explain_text(predictor, TEXT, method="lime", num_samples=20).method == "lime"


def test_other_threads_predict_between_the_chunks_of_a_long_path(tiny_bert):
    predictor = Predictor(tiny_bert)
    seen: list[int] = []

    def progress(done, total):
        if done == 4:  # after the first chunk, another session's prediction must not wait for the whole path
            worker = threading.Thread(target=lambda: seen.append(len(predictor.predict_proba(["another session"]))))
            worker.start()
            worker.join(timeout=30)

    predictor.path_gradients(TEXT, *gauss_legendre(12), batch_size=4, progress=progress)
    assert seen == [1]


def test_byte_level_bpe_and_a_decoder_classifier_match_captum_too(tiny_roberta_predictor, tmp_path):
    text = "naïve, slow — and 🎬 moving"
    ours, _ = per_position(tiny_roberta_predictor, text, 10)
    for target in range(3):
        np.testing.assert_allclose(ours[:, target], captum_ig(tiny_roberta_predictor, text, target, 10)[0], atol=TOLERANCE)
    a = explain_text(tiny_roberta_predictor, text, method="ig", n_steps=10)
    assert "".join(t.text for t in a.tokens) == text  # the emoji's byte pieces fold into one token, nothing repeated
    gpt2 = Predictor(make_tiny_checkpoint(tmp_path / "gpt2", "gpt2"))
    ours, _ = per_position(gpt2, TEXT, 6)
    np.testing.assert_allclose(ours[:, 1], captum_ig(gpt2, TEXT, 1, 6)[0], atol=TOLERANCE)
