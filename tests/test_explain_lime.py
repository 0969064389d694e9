"""LIME explanations on tiny models: character spans, seed determinism, equality with plain
`LimeTextExplainer` driven by a `transformers.pipeline` classifier function, and LIME-specific bad input.

Tolerance: LIME_TOL -- our predict_proba vs the pipeline differ by ~1e-7 in probability; LIME's
weighted ridge is linear in those, so weights differ by far less than 1e-5.
"""

import numpy as np
import pytest

from explain import ExplainError
from explain.api import explain_text

LIME_TOL = 1e-5


def check_spans(att):
    assert "".join(t.text for t in att.tokens) == att.text
    pos = 0
    for t in att.tokens:
        assert t.start == pos and att.text[t.start : t.end] == t.text
        pos = t.end
    assert pos == len(att.text)


@pytest.mark.parametrize("fixture", ["tiny_bert_predictor", "tiny_roberta_predictor"])
@pytest.mark.parametrize(
    "text",
    ["Café crème, niño — déjà vu 🎬 the film was good!!", "  never again:\tthe worst script… of the year  ", "it's not bad, but not great (either)."],
)
def test_words_map_back_to_characters(request, fixture, text):
    predictor = request.getfixturevalue(fixture)
    att = explain_text(predictor, text, "lime", num_samples=200)
    check_spans(att)
    assert att.method == "lime" and att.scores.shape == (len(att.tokens), len(predictor.labels))
    # only word pieces (LIME's features) carry weight; separators (spaces, punctuation, emoji) score 0
    for t, row in zip(att.tokens, att.scores):
        if not any(ch.isalnum() for ch in t.text):
            assert not row.any()
    # every feature weight is on the tokens that spell that word, split over its occurrences
    for c, label in enumerate(att.labels):
        for word, weight in att.extra["feature_weights"][label]:
            rows = [i for i, t in enumerate(att.tokens) if t.text == word]
            assert rows and att.scores[rows, c].sum() == pytest.approx(weight, abs=1e-12)
    assert att.n_model_calls == 200 and 0 <= att.extra["texts_forwarded"] <= 200
    assert set(att.extra["r2"]) == set(att.labels) and all(-1 <= v <= 1 for v in att.extra["r2"].values())
    assert att.params["num_samples"] == 200 and att.params["seed"] == 0
    assert att.target == att.predicted and att.seconds > 0 and not att.truncated


def test_repeated_word_weight_is_split_over_occurrences(tiny_bert_predictor):
    text = "good film, good acting, bad script"
    att = explain_text(tiny_bert_predictor, text, "lime", num_samples=300)
    goods = [i for i, t in enumerate(att.tokens) if t.text == "good"]
    assert len(goods) == 2
    assert att.scores[goods[0], 0] == att.scores[goods[1], 0]
    weight = dict(att.extra["feature_weights"][att.labels[0]])["good"]
    assert att.scores[goods, 0].sum() == pytest.approx(weight)
    assert [w for w, *_ in att.words()] == ["good", "film", "good", "acting", "bad", "script"]


def test_fixed_seed_is_identical_and_seed_matters(tiny_bert):
    from models import Predictor
    from models.inference import ProbabilityCache

    text = "the film was good and the acting was great but the script was awful"
    runs = [explain_text(Predictor(str(tiny_bert), device="cpu", cache=ProbabilityCache()), text, "lime", num_samples=300, seed=7) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].scores, runs[1].scores)
    np.testing.assert_array_equal(runs[0].base_values, runs[1].base_values)
    assert runs[0].extra["r2"] == runs[1].extra["r2"]
    other = explain_text(Predictor(str(tiny_bert), device="cpu", cache=ProbabilityCache()), text, "lime", num_samples=300, seed=8)
    assert not np.array_equal(other.scores, runs[0].scores)


def pipeline_classifier(predictor, batch_size=32):
    import transformers

    pipe = transformers.pipeline("text-classification", model=predictor.model, tokenizer=predictor.tokenizer, top_k=None)
    label2id = {label: i for i, label in enumerate(predictor.labels)}

    def classifier_fn(texts):
        out = np.zeros((len(texts), len(label2id)))
        for i, scores in enumerate(pipe(list(texts), batch_size=batch_size, truncation=True)):
            for item in scores:
                out[i, label2id[item["label"]]] = item["score"]
        return out

    return classifier_fn


@pytest.mark.parametrize(
    "fixture,text",
    [
        ("tiny_bert_predictor", "Café crème, niño — déjà vu: the film was good!!"),
        ("tiny_roberta_predictor", "I loved this story, it was wonderful! Not bad, but not great either 🎬"),
    ],
)
def test_equals_plain_lime_text_explainer_on_a_pipeline(request, fixture, text):
    from lime.lime_text import LimeTextExplainer

    predictor = request.getfixturevalue(fixture)
    ours = explain_text(predictor, text, "lime", num_samples=300, seed=11)
    labels = list(predictor.labels)
    plain = LimeTextExplainer(class_names=labels, random_state=11).explain_instance(
        text, pipeline_classifier(predictor), num_features=ours.params["num_features"], num_samples=300, labels=range(len(labels))
    )
    for c, label in enumerate(labels):
        theirs = dict(plain.as_list(label=c))
        mine = dict(ours.extra["feature_weights"][label])
        assert mine.keys() == theirs.keys()
        for word in mine:
            assert mine[word] == pytest.approx(theirs[word], abs=LIME_TOL)
        assert ours.base_values[c] == pytest.approx(plain.intercept[c], abs=LIME_TOL)
    np.testing.assert_allclose(ours.probabilities, plain.predict_proba, atol=LIME_TOL)
    # plain LIME keeps only the last class's R²; ours keeps each class's, and agrees on that one
    assert ours.extra["r2"][labels[-1]] == pytest.approx(plain.score, abs=LIME_TOL)


def test_long_text_is_explained_truncated(tiny_roberta_predictor):
    text = "the film was good and the acting was great. " * 30
    att = explain_text(tiny_roberta_predictor, text, "lime", num_samples=200)
    assert att.truncated
    check_spans(att)
    cut = att.extra["explained_chars"]
    assert 0 < cut < len(text) and att.tokens[-1] == type(att.tokens[-1])(text[cut:], cut, len(text))
    assert not att.scores[-1].any()


def test_text_without_words(tiny_bert_predictor):
    with pytest.raises(ExplainError, match="LIME explains words"):
        explain_text(tiny_bert_predictor, "!!! ??? …", "lime")
    # SHAP works on the model's own tokens, so the same text is fine there
    att = explain_text(tiny_bert_predictor, "!!! ??? …", "shap", max_evals=20)
    assert att.method == "shap"


@pytest.mark.parametrize("num_samples", [0, 9, -5, 2.5, "100", None])
def test_bad_num_samples(tiny_bert_predictor, num_samples):
    with pytest.raises(ExplainError, match="num_samples must be a whole number"):
        explain_text(tiny_bert_predictor, "the film was good", "lime", num_samples=num_samples)


def test_progress_is_reported(tiny_bert_predictor):
    seen = []
    explain_text(tiny_bert_predictor, "the acting was great and the film was good", "lime", num_samples=50, seed=3, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1]
