"""How far to trust an explanation: ERASER faithfulness, deletion curves, SHAP-vs-LIME agreement,
and the plain-words sentences, on tiny models and on hand-built attributions with known scores."""

import numpy as np
import pytest

from explain import Attribution, ExplainError, Token
from explain.api import explain_text
from explain.faithfulness import (
    Faithfulness,
    agreement,
    deletion_curves,
    describe_trust,
    faithfulness_score,
    measure_faithfulness,
    only_words,
    without_words,
)

TEXT = "the film was good and the acting was great but the script was awful"


class Counting:
    """A predictor that records every predict_proba call (to check batching)."""

    def __init__(self, predictor):
        self._p = predictor
        self.calls = []

    def __getattr__(self, name):
        return getattr(self._p, name)

    def predict_proba(self, texts, **kw):
        self.calls.append(list(texts))
        return self._p.predict_proba(texts, **kw)


def hand_made(predictor, text, word_scores, *, method="shap", target=None, truncated=False, extra=None):
    """An Attribution whose word scores we choose: one token per word, separators score 0."""
    import re

    tokens, rows = [], []
    pos = 0
    labels = predictor.labels
    for m in re.finditer(r"\w+", text):
        if m.start() > pos:
            tokens.append(Token(text[pos : m.start()], pos, m.start()))
            rows.append(np.zeros(len(labels)))
        tokens.append(Token(m.group(), m.start(), m.end()))
        row = np.zeros(len(labels))
        row[labels.index(target or labels[-1])] = word_scores.get(m.group(), 0.0)
        rows.append(row)
        pos = m.end()
    if pos < len(text):
        tokens.append(Token(text[pos:], pos, len(text)))
        rows.append(np.zeros(len(labels)))
    probs = predictor.predict_proba([text])[0]
    return Attribution(
        text=text,
        tokens=tokens,
        labels=labels,
        scores=np.array(rows),
        base_values=np.zeros(len(labels)),
        probabilities=probs,
        target=target or labels[-1],
        method=method,
        params={},
        n_model_calls=0,
        seconds=0.0,
        fingerprint=predictor.ref.fingerprint,
        truncated=truncated,
        extra=extra or {},
    )


# --------------------------------------------------------------------------- text surgery


def test_without_and_only_words():
    text = "the film was  good, really good!"
    assert without_words(text, [(4, 8)]) == "the was  good, really good!"
    assert without_words(text, [(14, 18), (27, 31)]) == "the film was  , really !"  # the text's own double space stays
    assert without_words(text, []) == text
    assert without_words(text, [(0, 3), (4, 8), (9, 12), (14, 18), (20, 26), (27, 31)]) == ", !"
    assert only_words(text, [(27, 31), (4, 8)]) == "film good"


# --------------------------------------------------------------------------- ERASER


def test_comprehensiveness_and_sufficiency_follow_eraser(tiny_bert_predictor):
    p = Counting(tiny_bert_predictor)
    scores = {"awful": 9.0, "good": 8.0, "great": 7.0}  # every other word scores 0 (ties: earlier word first)
    att = hand_made(tiny_bert_predictor, TEXT, scores, target="positive")
    f = measure_faithfulness(p, att)
    assert len(p.calls) == 1  # every k, both measures and the random baseline in ONE model call
    assert f.n_words == 14 and f.ks == (0.1, 0.2, 0.5)
    assert [len(r) for r in f.rationale] == [2, 3, 7]  # ceil(k * 14)
    assert f.rationale[1] == ("awful", "good", "great")
    assert f.rationale[2] == ("awful", "good", "great", "the", "film", "was", "and")
    sent = p.calls[0]
    assert sent[0] == TEXT
    assert sent[3] == "the film was and the acting was but the script was"  # without the 20% rationale
    assert sent[4] == "good great awful"  # only the rationale, in text order
    col = tiny_bert_predictor.labels.index("positive")
    expect = tiny_bert_predictor.predict_proba(sent)[:, col]
    assert f.full == pytest.approx(expect[0])
    assert f.comprehensiveness[1] == pytest.approx(expect[0] - expect[3])
    assert f.sufficiency[1] == pytest.approx(expect[0] - expect[4])
    assert f.aopc_comprehensiveness == pytest.approx(np.mean(f.comprehensiveness))
    assert f.aopc_sufficiency == pytest.approx(np.mean(f.sufficiency))
    assert faithfulness_score(tiny_bert_predictor, att) == pytest.approx(f.aopc_comprehensiveness)
    assert f.to_dict()["rationale"][1] == ["awful", "good", "great"]
    # seeded random baseline: same seed, same numbers
    assert measure_faithfulness(tiny_bert_predictor, att, seed=4).without_random == measure_faithfulness(tiny_bert_predictor, att, seed=4).without_random


def test_a_leave_one_out_ranking_beats_random_at_one_word(tiny_bert_predictor):
    # scores = how much deleting each word alone lowers p(class): its top-1 removal is the best single removal
    text = "the film was good and acting great but script awful"
    col = tiny_bert_predictor.labels.index("negative")
    spans, pos = [], 0
    for w in text.split():
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    p = tiny_bert_predictor.predict_proba([text] + [without_words(text, [sp]) for sp in spans])[:, col]
    drops = {w: float(d) for w, d in zip(text.split(), p[0] - p[1:])}
    att = hand_made(tiny_bert_predictor, text, drops, target="negative")
    f = measure_faithfulness(tiny_bert_predictor, att, ks=(0.1,))
    assert f.rationale[0] == (max(drops, key=drops.get),)
    assert f.comprehensiveness[0] == pytest.approx(max(drops.values()), abs=1e-6)
    assert f.comprehensiveness[0] >= f.random_comprehensiveness[0] - 1e-6


def test_real_explanations_are_measured_for_both_methods(tiny_roberta_predictor):
    text = "I loved this story, it was wonderful! Not bad, but not great either."
    for method in ("shap", "lime"):
        att = explain_text(tiny_roberta_predictor, text, method, max_evals=60, num_samples=200)
        f = measure_faithfulness(tiny_roberta_predictor, att)
        assert f.label == att.target and f.method == method
        assert f.full == pytest.approx(tiny_roberta_predictor.predict_proba([text])[0][att.class_index()])
        assert all(-1 <= x <= 1 for x in f.comprehensiveness + f.sufficiency)
        other = measure_faithfulness(tiny_roberta_predictor, att, label="bad")
        assert other.label == "bad"


def test_truncated_explanation_only_uses_the_part_the_model_reads(tiny_roberta_predictor):
    text = "the film was good and the acting was great. " * 30
    att = explain_text(tiny_roberta_predictor, text, "lime", num_samples=100)
    p = Counting(tiny_roberta_predictor)
    f = measure_faithfulness(p, att)
    cut = att.extra["explained_chars"]
    assert f.truncated and f.explained_chars == cut
    assert p.calls[0][0] == text[:cut] and all(len(t) <= cut for t in p.calls[0])
    assert any("longer than the model reads" in s for s in describe_trust(f))


def test_bad_input_for_faithfulness(tiny_bert_predictor, tiny_roberta_predictor):
    att = hand_made(tiny_bert_predictor, TEXT, {"good": 1.0})
    with pytest.raises(ExplainError, match="computed for checkpoint"):
        measure_faithfulness(tiny_roberta_predictor, att)
    with pytest.raises(ExplainError, match="ks must be fractions"):
        measure_faithfulness(tiny_bert_predictor, att, ks=(0.0, 0.5))
    with pytest.raises(ExplainError, match="ks must be fractions"):
        measure_faithfulness(tiny_bert_predictor, att, ks=())
    with pytest.raises(ExplainError, match="Unknown label"):
        measure_faithfulness(tiny_bert_predictor, att, label="fresh")
    no_words = hand_made(tiny_bert_predictor, "!!! ??? …", {})
    with pytest.raises(ExplainError, match="no words to remove"):
        measure_faithfulness(tiny_bert_predictor, no_words)


# --------------------------------------------------------------------------- deletion curves


def test_deletion_curves_one_call_with_seeded_random_order(tiny_bert_predictor):
    from explain.plots import deletion_curve_figure

    shap_att = explain_text(tiny_bert_predictor, TEXT, "shap", max_evals=60)
    lime_att = explain_text(tiny_bert_predictor, TEXT, "lime", num_samples=200)
    p = Counting(tiny_bert_predictor)
    curves = deletion_curves(p, [shap_att, lime_att], seed=1)
    assert len(p.calls) == 1
    assert list(curves) == ["shap", "lime", "random"]
    full = tiny_bert_predictor.predict_proba([TEXT])[0][shap_att.class_index()]
    for curve in curves.values():
        assert curve.fractions[0] == 0 and curve.fractions[-1] == 1 and len(curve.fractions) == 11
        assert list(curve.fractions) == sorted(curve.fractions)
        assert curve.probabilities[0] == pytest.approx(full)
        assert 0 <= curve.area <= 1
    again = deletion_curves(tiny_bert_predictor, [shap_att, lime_att], seed=1)
    assert again["random"] == curves["random"]
    assert deletion_curves(tiny_bert_predictor, shap_att, seed=2)["random"] != curves["random"]
    short = deletion_curves(tiny_bert_predictor, shap_att, random=False, max_points=50)
    assert list(short) == ["shap"] and len(short["shap"].fractions) == 15  # 0..14 words
    fig = deletion_curve_figure(curves, shap_att.target, original=float(full))
    assert len(fig.data) == 3


def test_bad_input_for_deletion_curves(tiny_bert_predictor):
    a = hand_made(tiny_bert_predictor, TEXT, {"good": 1.0})
    b = hand_made(tiny_bert_predictor, "another text entirely", {"text": 1.0})
    with pytest.raises(ExplainError, match="same text"):
        deletion_curves(tiny_bert_predictor, [a, b])
    with pytest.raises(ExplainError, match="No explanation"):
        deletion_curves(tiny_bert_predictor, [])
    with pytest.raises(ExplainError, match="max_points"):
        deletion_curves(tiny_bert_predictor, a, max_points=1)


# --------------------------------------------------------------------------- agreement


def test_agreement_rank_correlation_and_top_k(tiny_bert_predictor):
    words = TEXT.split()
    up = {w: float(i) for i, w in enumerate(dict.fromkeys(words))}
    a = hand_made(tiny_bert_predictor, TEXT, up, method="shap")
    same = agreement(a, hand_made(tiny_bert_predictor, TEXT, up, method="lime"), k=3)
    assert same.spearman == pytest.approx(1.0) and same.top_k_overlap == 1.0 and same.k == 3
    assert same.shared_top == ("awful", "script", "but") and same.methods == ("shap", "lime")
    flipped = {w: -v for w, v in up.items()}
    opposite = agreement(a, hand_made(tiny_bert_predictor, TEXT, flipped, method="lime"), k=3)
    assert opposite.spearman == pytest.approx(-1.0)
    assert opposite.top_k_overlap == 1.0  # top-k is by |score|: same words matter, opposite direction
    rev = {w: float(len(up) - i) for i, w in enumerate(up)}
    disjoint = agreement(a, hand_made(tiny_bert_predictor, TEXT, rev, method="lime"), k=3)
    assert disjoint.top_k_overlap == 0.0 and disjoint.shared_top == ()
    flat = agreement(a, hand_made(tiny_bert_predictor, TEXT, {}, method="lime"))
    assert flat.spearman is None  # a constant ranking has no rank correlation
    assert agreement(a, a, k=100).k == 14
    assert same.to_dict()["n_words"] == 14


def test_agreement_of_real_shap_and_lime(tiny_roberta_predictor):
    text = "Café crème, niño — déjà vu 🎬 the film was good!!"
    s = explain_text(tiny_roberta_predictor, text, "shap", max_evals=60)
    l = explain_text(tiny_roberta_predictor, text, "lime", num_samples=200)
    ag = agreement(s, l)
    assert ag.n_words == 9 and -1 <= ag.spearman <= 1 and 0 <= ag.top_k_overlap <= 1


def test_bad_input_for_agreement(tiny_bert_predictor, tiny_roberta_predictor):
    a = hand_made(tiny_bert_predictor, TEXT, {"good": 1.0})
    with pytest.raises(ExplainError, match="same text"):
        agreement(a, hand_made(tiny_bert_predictor, "another text", {}))
    with pytest.raises(ExplainError, match="different checkpoints"):
        agreement(a, hand_made(tiny_roberta_predictor, TEXT, {}))
    with pytest.raises(ExplainError, match="k must be"):
        agreement(a, a, k=0)
    with pytest.raises(ExplainError, match="Unknown label"):
        agreement(a, a, label="fresh")
    with pytest.raises(ExplainError, match="share no words"):
        agreement(hand_made(tiny_bert_predictor, "?!", {}), hand_made(tiny_bert_predictor, "?!", {}))


# --------------------------------------------------------------------------- plain words


def fake_faith(**kw):
    base = dict(
        method="shap",
        label="fresh",
        ks=(0.1, 0.2, 0.5),
        n_words=15,
        full=0.91,
        rationale=(("crisp", "new"), ("crisp", "new", "today"), ("crisp", "new", "today", "just", "picked", "green", "the", "a")),
        rationale_scores=((0.3, 0.2), (0.3, 0.2, 0.1), (0.3, 0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01)),
        without=(0.5, 0.22, 0.1),
        only=(0.8, 0.85, 0.9),
        without_random=(0.9, 0.88, 0.8),
    )
    base.update(kw)
    return Faithfulness(**base)


def test_describe_trust_in_plain_words():
    lines = describe_trust(fake_faith())
    text = " ".join(lines)
    assert "Removing the 3 words marked red drops 'fresh' from 0.91 to 0.22; removing 3 random words instead gives 0.88." in text
    assert "'crisp', 'new', 'today'" in text
    assert "Keeping only those 3 words gives 'fresh' 0.85 (the full text gives 0.91)." in text
    assert "Verdict: faithful" in text


def test_describe_trust_verdicts_and_extras(tiny_bert_predictor):
    weak = " ".join(describe_trust(fake_faith(without=(0.9, 0.88, 0.79))))
    assert "Verdict: not faithful" in weak
    partly = " ".join(describe_trust(fake_faith(without=(0.85, 0.85, 0.75))))
    assert "Verdict: partly faithful" in partly
    unlikely = " ".join(describe_trust(fake_faith(full=0.04, without=(0.03, 0.02, 0.01), only=(0.03,) * 3, without_random=(0.04,) * 3)))
    assert "only 0.04 here" in unlikely
    against = " ".join(describe_trust(fake_faith(rationale_scores=((-0.1, -0.2), (-0.1, -0.2, -0.3), (-0.1,) * 8), without=(0.95, 0.97, 0.99)), k=0.2))
    assert "No word clearly pushes toward 'fresh'" in against and "raises 'fresh' from 0.91 to 0.97" in against
    one = " ".join(describe_trust(fake_faith(), k=0.1))
    assert "Removing the 2 words marked red drops 'fresh' from 0.91 to 0.50" in one
    from explain.faithfulness import Agreement

    ag = Agreement(("shap", "lime"), "fresh", 12, 0.78, 5, 0.8, ("crisp", "new", "today", "picked"))
    text = " ".join(describe_trust(fake_faith(), ag))
    assert (
        "SHAP and LIME agree on 4 of the 5 most important words ('crisp', 'new', 'today', 'picked'); their rankings of 12 words correlate at 0.78 (strong)."
        in text
    )
    undefined = " ".join(describe_trust(fake_faith(), Agreement(("shap", "lime"), "fresh", 1, None, 1, 1.0, ("crisp",))))
    assert "cannot be compared word by word" in undefined
    lime_att = explain_text(tiny_bert_predictor, TEXT, "lime", num_samples=100)
    f = measure_faithfulness(tiny_bert_predictor, lime_att)
    assert any("R² =" in s for s in describe_trust(f, attribution=lime_att))


# --------------------------------------------------------------------------- three methods: pairwise agreement, the most faithful


def test_most_faithful_names_the_highest_aopc_and_by_how_much_where_methods_disagree():
    from explain.faithfulness import Agreement, describe_most_faithful

    # AOPC comprehensiveness by hand: 0.91 - mean(without)
    faith = {
        "ig": fake_faith(method="ig", without=(0.61, 0.61, 0.61)),  # 0.30
        "shap": fake_faith(without=(0.71, 0.71, 0.71)),  # 0.20
        "lime": fake_faith(method="lime", without=(0.86, 0.86, 0.86)),  # 0.05
    }
    split = [Agreement(("ig", "shap"), "fresh", 12, 0.12, 5, 0.4, ()), Agreement(("shap", "lime"), "fresh", 12, 0.8, 5, 0.8, ())]
    assert describe_most_faithful(faith, split) == (
        "The methods disagree on this example (Integrated Gradients and SHAP: rank correlation 0.12). The most faithful here is "
        "Integrated Gradients: removing its top words lowers p('fresh') by 0.30 on average, 0.10 more than SHAP (0.20) and 0.25 more than LIME (0.05)."
    )
    agreeing = [Agreement(("ig", "shap"), "fresh", 12, 0.45, 5, 0.6, ()), Agreement(("shap", "lime"), "fresh", 12, 0.8, 5, 0.8, ())]
    assert describe_most_faithful(faith, agreeing) is None  # they agree: nothing to arbitrate
    assert describe_most_faithful({"ig": faith["ig"]}, split) is None
    undefined = [Agreement(("shap", "lime"), "fresh", 1, None, 1, 1.0, ())]
    assert "SHAP and LIME: not comparable" in str(describe_most_faithful(faith, undefined))
    tie = {"shap": faith["shap"], "lime": fake_faith(method="lime", without=(0.715, 0.715, 0.715))}
    assert "None is clearly more faithful: removing their top words lowers p('fresh') by 0.20 (SHAP) and 0.20 (LIME)" in str(
        describe_most_faithful(tie, undefined)
    )
    useless = {"shap": fake_faith(without=(0.95,) * 3), "lime": fake_faith(method="lime", without=(0.99,) * 3)}
    assert "None of them is faithful here" in str(describe_most_faithful(useless, undefined))


@pytest.mark.parametrize(("error", "bound"), [(0.0017, 0.002), (0.002, 0.002), (3.2e-5, 4e-5), (0.01, 0.01), (0.23, 0.3), (0.0, 0.0)])
def test_completeness_bound_rounds_up_to_one_digit_so_within_stays_true(error, bound):
    from explain.faithfulness import completeness_bound, within

    assert completeness_bound(error) == pytest.approx(bound) and completeness_bound(error) >= error
    assert float(within(error)) == pytest.approx(bound) and "e" not in within(error)  # a plain decimal: 0.002, 0.00004


def test_a_leave_one_out_ranking_is_named_most_faithful_against_its_reverse(tiny_bert_predictor):
    from explain.trust import trust_report

    text = "the film was good and acting great but script awful"
    col = tiny_bert_predictor.labels.index("positive")  # the class whose words, removed, lower it on this random model
    words = text.split()
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    p = tiny_bert_predictor.predict_proba([text] + [without_words(text, [(s, s + len(w))]) for s, w in zip(starts, words)])[:, col]
    drops = {w: float(d) for w, d in zip(words, p[0] - p[1:])}
    good = hand_made(tiny_bert_predictor, text, drops, method="ig", target="positive")
    bad = hand_made(tiny_bert_predictor, text, {w: -d for w, d in drops.items()}, method="shap", target="positive")
    report = trust_report(tiny_bert_predictor, {"ig": good, "shap": bad}, "positive")
    assert report.agreements[("ig", "shap")].spearman == pytest.approx(-1.0)  # opposite rankings
    expected = {m: measure_faithfulness(tiny_bert_predictor, a, label="positive").aopc_comprehensiveness for m, a in (("ig", good), ("shap", bad))}
    assert expected["ig"] > expected["shap"]
    assert f"The most faithful here is Integrated Gradients: removing its top words lowers p('positive') by {expected['ig']:.2f} on average" in str(
        report.most_faithful
    )
    assert f"{expected['ig'] - expected['shap']:.2f} more than SHAP ({expected['shap']:.2f})" in str(report.most_faithful)


def test_trust_report_over_ig_shap_and_lime_measures_each_pair_and_ig_completeness(tiny_bert_predictor):
    from explain.faithfulness import completeness_bound
    from explain.trust import trust_report

    made = {m: explain_text(tiny_bert_predictor, TEXT, m, max_evals=60, num_samples=60, n_steps=16) for m in ("ig", "shap", "lime")}
    label = made["ig"].target
    report = trust_report(tiny_bert_predictor, made, label)
    assert set(report.faithfulness) == {"ig", "shap", "lime"} and not report.problems
    assert list(report.agreements) == [("ig", "shap"), ("ig", "lime"), ("shap", "lime")]
    for (a, b), found in report.agreements.items():
        assert found == agreement(made[a], made[b], label=label)
    assert report.agreement_sentences[0].startswith("Integrated Gradients and SHAP agree on")
    assert report.agreement == " ".join(report.agreement_sentences)  # what the report and the CLI print
    assert list(report.curves) == ["ig", "shap", "lime", "random"]
    error = made["ig"].extra["completeness_error"]
    gap = np.abs(made["ig"].scores.sum(0) + made["ig"].base_values - made["ig"].probabilities).max()  # completeness, by hand
    assert error == pytest.approx(gap)
    said = [s for s in report.sentences["ig"] if "add up to the model's output" in s]
    assert said and "16 integration steps" in said[0]
    stated = float(said[0].split("within ")[1].split(" ")[0])
    assert stated == pytest.approx(completeness_bound(error)) and stated >= error  # "within" holds for the real error
    assert not any("add up" in s for s in report.sentences["shap"] + report.sentences["lime"])
    split = any(x.spearman is None or x.spearman < 0.4 for x in report.agreements.values())
    assert (report.most_faithful is not None) == split
    if split:
        best = max(report.faithfulness, key=lambda m: report.faithfulness[m].aopc_comprehensiveness)
        from explain.plots import method_name

        assert f"most faithful here is {method_name(best)}" in str(report.most_faithful) or "None is clearly" in str(report.most_faithful)


@pytest.mark.parametrize(
    ("method", "params", "calls"), [("shap", {"max_evals": 500}, 500), ("lime", {"num_samples": 900}, 900), ("ig", {"n_steps": 20}, 22), ("grad_input", {}, 2)]
)
def test_model_calls_is_what_an_explanation_makes_at_most(tiny_bert_predictor, method, params, calls):
    from explain.api import model_calls

    assert model_calls(method, params) == calls
    if method in ("ig", "grad_input"):  # the gradient methods' count is exact: the path's points and its two ends
        assert explain_text(tiny_bert_predictor, TEXT, method, **params).n_model_calls == calls
