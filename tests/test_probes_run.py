"""Each probe catches a model built with that weakness, and an invariant model is not flagged.

The planted models (tests/test_probes_models.py) decide only from trigger tokens, so for every
test the expected failure rate can be worked out from the texts alone.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from test_probes_models import make_invariant_checkpoint, make_keyword_checkpoint

from analysis.stats import wilson_interval
from models import Predictor
from probes.perturb import TESTS, DirectionConfig, ProbeError
from probes.run import ProbeReport, ProbeResult, _sample_order, _variants, compare_reports, plan_probes, probe_failure_rates, run_probes

INVARIANCE_AND_FAIRNESS = [t for t in TESTS if TESTS[t].kind != "directional"]
SENTIMENT = DirectionConfig.sentiment("positive", "negative")

NAME_TEXTS = [
    "John said the film was good.",
    "I think John loved the story",
    "Maria and her brother enjoyed it",
    "the plot was dull, said Carlos",
    "JOHN was there",
    "Emma hated the script",
]
GENDER_TEXTS = ["he loved the film", "his mother hated it", "the man was great", "she said it was awful", "the story of a woman"]
NATION_TEXTS = ["a film made in Mexico", "Mexico was great", "I saw it in mexico with friends"]
PLAIN_TEXTS = ["the film was good", "a terrible boring movie with awful actors", "never again!", "it is not bad, but not great either"]


def rates(report: ProbeReport) -> dict:
    return report.failure_rates()


def tried(report: ProbeReport, test: str) -> int:
    return report.result(test).n_tried


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")

    def load(path):
        return Predictor(str(path), device="cpu")

    return {
        "invariant": load(make_invariant_checkpoint(root / "invariant")),
        "invariant_positive": load(make_invariant_checkpoint(root / "invariant-pos", bias=(-0.3, 0.2))),
        "names": load(make_keyword_checkpoint(root / "names", {"john": +1})),
        "gender": load(make_keyword_checkpoint(root / "gender", dict.fromkeys(("he", "his", "him", "man"), +1) | dict.fromkeys(("she", "her", "woman"), -1))),
        "nationality": load(make_keyword_checkpoint(root / "nation", {"mexico": +1})),
        "casing": load(make_keyword_checkpoint(root / "cased", {"john": +1}, cased=True)),
        "punctuation": load(make_keyword_checkpoint(root / "punct", {"!": +1})),
        "whitespace": load(make_keyword_checkpoint(root / "space", {"Ġ": +1}, kind="roberta")),
        "neutral_clause": load(make_keyword_checkpoint(root / "clause", {"john": +1, "it": -1})),
        "typos": load(make_keyword_checkpoint(root / "typos", {"good": +1})),
        "ignores_negation": load(make_keyword_checkpoint(root / "noneg", {"good": +1, "great": +1})),
        "reads_negation": load(make_keyword_checkpoint(root / "neg", {"good": +1, "great": +1, "not": -1})),
        "hates_intensifiers": load(make_keyword_checkpoint(root / "intens", {"good": +1, "great": +1, "very": -1, "really": -1})),
    }


ALL_TEXTS = NAME_TEXTS + GENDER_TEXTS + NATION_TEXTS + PLAIN_TEXTS


def test_invariant_model_is_never_flagged(models):
    report = run_probes(models["invariant"], ALL_TEXTS, "all", directions=SENTIMENT)
    for test in INVARIANCE_AND_FAIRNESS:
        assert report.result(test).n_tried > 0, test
        assert report.result(test).failure_rate == 0.0, test
        assert report.result(test).failures == ()
    # it predicts 'negative' everywhere, so negation (tried on positive predictions) has nothing to try
    assert report.result("negation").n_tried == 0 and math.isnan(report.result("negation").failure_rate)
    assert report.result("intensifier").failure_rate == 0.0


def test_name_swap_model_is_caught_by_the_names_probe_only(models):
    report = run_probes(models["names"], ALL_TEXTS, INVARIANCE_AND_FAIRNESS)
    names = report.result("names")
    assert names.n_tried == len(NAME_TEXTS)
    with_john = [i for i, t in enumerate(ALL_TEXTS) if "john" in t.lower()]
    assert sorted(names.failed_rows) == with_john  # every text naming John flips, no other
    assert names.failure_rate == pytest.approx(len(with_john) / len(NAME_TEXTS))
    for f in names.failures:
        assert "john" in f.original.lower() and "john" not in f.perturbed.lower()
        assert (f.pred_before, f.pred_after, f.watched) == ("positive", "negative", "positive")
        assert f.p_before > 0.95 and f.p_after < 0.5
    for test in ("casing", "punctuation", "whitespace", "neutral_clause", "gender", "nationality"):
        assert rates(report)[test] == 0.0, test


def test_gender_model_is_caught_by_the_gender_probe(models):
    report = run_probes(models["gender"], [*GENDER_TEXTS, "the film was good", "never again!"], ["gender", "names", "punctuation"])
    assert tried(report, "gender") == len(GENDER_TEXTS)
    assert rates(report)["gender"] == 1.0
    assert rates(report)["punctuation"] == 0.0


def test_nationality_model_is_caught_by_the_nationality_probe(models):
    report = run_probes(models["nationality"], NATION_TEXTS + PLAIN_TEXTS, ["nationality", "casing"])
    assert tried(report, "nationality") == len(NATION_TEXTS) and rates(report)["nationality"] == 1.0
    assert rates(report)["casing"] == 0.0  # an uncased tokenizer cannot see case


def test_case_sensitive_model_is_caught_by_the_casing_probe(models):
    texts = ["john liked the film", "the film was good", "I watched it with john"]
    report = run_probes(models["casing"], texts, ["casing"])
    assert sorted(report.result("casing").failed_rows) == [0, 2]


def test_punctuation_model_is_caught_by_the_punctuation_probe(models):
    texts = ["what a film!", "the film was good", "never again!", "boring."]
    report = run_probes(models["punctuation"], texts, ["punctuation", "typos"])
    assert sorted(report.result("punctuation").failed_rows) == [0, 2]
    assert rates(report)["typos"] == 0.0


def test_whitespace_model_is_caught_by_the_whitespace_probe(models):
    texts = ["the film was good", "a terrible movie", "boring"]
    report = run_probes(models["whitespace"], texts, ["whitespace", "punctuation"])
    # doubled spaces, and the spaces padded around a text, make byte-level BPE emit a lone-space token
    assert sorted(report.result("whitespace").failed_rows) == [0, 1, 2]
    assert rates(report)["punctuation"] == 0.0


def test_clause_sensitive_model_is_caught_by_the_neutral_clause_probe(models):
    texts = ["John was great", "john loved the film", "the film was good"]
    report = run_probes(models["neutral_clause"], texts, ["neutral_clause"])
    # the appended sentences mostly contain "it", which cancels "john"; texts without john stay negative
    assert sorted(report.result("neutral_clause").failed_rows) == [0, 1]


def test_typo_sensitive_model_is_caught_by_the_typos_probe(models):
    texts = ["so good", "good", "so good :)", "oh no"]
    report = run_probes(models["typos"], texts, ["typos"])
    assert sorted(report.result("typos").failed_rows) == [0, 1, 2]  # any typo in "good" breaks the trigger
    assert report.result("typos").n_tried == 3  # "oh no" has no word of three letters


def test_negation_probe_fails_a_model_that_ignores_not_and_passes_one_that_reads_it(models):
    texts = ["the film was good", "the acting was great", "a good story", "the film was bad"]
    ignores = run_probes(models["ignores_negation"], texts, ["negation"], directions=SENTIMENT).result("negation")
    reads = run_probes(models["reads_negation"], texts, ["negation"], directions=SENTIMENT).result("negation")
    assert ignores.n_tried == reads.n_tried == 3  # the three texts predicted positive
    assert ignores.failure_rate == 1.0 and reads.failure_rate == 0.0
    assert all(f.watched == "positive" and f.p_after >= f.p_before - 1e-6 for f in ignores.failures)
    invariant = run_probes(models["invariant_positive"], texts, ["negation", "intensifier"], directions=SENTIMENT)
    assert invariant.result("negation").failure_rate == 1.0  # ignoring a negation IS a failure
    assert invariant.result("intensifier").failure_rate == 0.0


def test_intensifier_probe_catches_a_model_that_intensifiers_confuse(models):
    texts = ["a good film", "the acting was great", "the film was good"]
    report = run_probes(models["hates_intensifiers"], texts, ["intensifier"], directions=SENTIMENT)
    assert report.result("intensifier").failure_rate == 1.0
    assert run_probes(models["ignores_negation"], texts, ["intensifier"], directions=SENTIMENT).result("intensifier").failure_rate == 0.0


def test_directional_tests_are_off_without_a_config(models):
    report = run_probes(models["names"], ALL_TEXTS)
    assert "negation" not in report.tests and "intensifier" not in report.tests
    with pytest.raises(ProbeError, match="does not have"):
        run_probes(models["names"], ALL_TEXTS, directions=DirectionConfig.sentiment("fresh"))


def test_one_batched_call_per_test_and_model_calls_counted(models, monkeypatch):
    predictor = models["invariant"]
    calls = []
    original = predictor.predict_proba

    def counting(texts, *, progress=None):
        calls.append(len(texts))
        return original(texts, progress=progress)

    monkeypatch.setattr(predictor, "predict_proba", counting)
    texts = [f"{t} ({i})" for i, t in enumerate(ALL_TEXTS)]  # new texts: nothing cached yet
    before = predictor.stats.texts_forwarded
    report = run_probes(predictor, texts, INVARIANCE_AND_FAIRNESS)
    assert len(calls) == len(INVARIANCE_AND_FAIRNESS)
    for n, result in zip(calls, report.results):
        assert n == result.n_tried + result.n_perturbed
    assert report.n_model_calls == predictor.stats.texts_forwarded - before
    again = run_probes(predictor, texts, INVARIANCE_AND_FAIRNESS)
    assert again.n_model_calls == 0  # everything cached
    assert [r.failed_rows for r in again.results] == [r.failed_rows for r in report.results]


def test_limit_samples_only_examples_the_probe_applies_to(models):
    texts = PLAIN_TEXTS * 5 + NAME_TEXTS
    report = run_probes(models["names"], texts, ["names", "typos"], limit=3, seed=1)
    names = report.result("names")
    assert names.n_applicable == len(NAME_TEXTS) and names.n_tried == 3 and not names.applicable_estimated  # under ESTIMATE_SAMPLE texts: all walked
    assert all(r >= len(PLAIN_TEXTS) * 5 for r in names.tried_rows)
    assert report.result("typos").n_tried == 3
    same = run_probes(models["names"], texts, ["names", "typos"], limit=3, seed=1)
    assert same.result("names").tried_rows == names.tried_rows
    other = [run_probes(models["names"], texts, ["names"], limit=3, seed=s).result("names").tried_rows for s in range(2, 8)]
    assert any(rows != names.tried_rows for rows in other)


def test_directional_limit_counts_eligible_examples(models):
    texts = ["the film was good", "the film was bad"] * 50
    result = run_probes(models["reads_negation"], texts, ["negation"], directions=SENTIMENT, limit=4).result("negation")
    assert result.n_tried == 4 and all(texts[r] == "the film was good" for r in result.tried_rows)


def test_gold_labels_from_an_evalset_and_a_prediction_table(models, tmp_path):
    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data

    path = tmp_path / "data.csv"
    pd.DataFrame({"text": NAME_TEXTS, "label": ["positive", "negative"] * 3}).to_csv(path, index=False)
    evalset = load_eval_data(path)
    report = run_probes(models["names"], evalset, ["names"])
    assert report.data_name == "data.csv" and report.data_fingerprint == evalset.fingerprint
    assert {f.gold for f in report.result("names").failures} <= {"positive", "negative"}
    assert report.result("names").failures[0].gold == evalset.frame["label"][report.result("names").failures[0].row]
    table = predict_table(models["names"], evalset)
    from_table = run_probes(models["names"], table, ["names"])
    assert from_table.data_fingerprint == evalset.fingerprint
    assert from_table.result("names").failed_rows == report.result("names").failed_rows


def test_progress_reaches_the_total(models):
    seen = []
    run_probes(models["names"], [t + " ." for t in ALL_TEXTS], ["names", "typos"], progress=lambda d, t, label: seen.append((d, t, label)))
    assert seen[-1][0] == seen[-1][1] and seen[-1][2] == "done"
    done = [d for d, _, _ in seen]
    assert done == sorted(done)


def test_report_round_trips_through_json(models):
    report = run_probes(models["names"], ALL_TEXTS, "all", directions=SENTIMENT, limit=5)
    again = ProbeReport.from_dict(json.loads(report.to_json()))
    assert again.summary_frame().drop(columns=["seconds"]).equals(report.summary_frame().drop(columns=["seconds"]))
    assert again.failures_frame().equals(report.failures_frame())
    assert again.directions == SENTIMENT and again.limit == 5


def test_summary_and_failures_frames(models):
    report = run_probes(models["names"], ALL_TEXTS, ["names", "gender"])
    summary = report.summary_frame().set_index("test")
    names = report.result("names")
    assert summary.loc["names", "failed"] == names.n_failed and summary.loc["names", "tried"] == names.n_tried
    low, high = wilson_interval(names.n_failed, names.n_tried)
    assert summary.loc["names", "ci_low"] == pytest.approx(low) and low < names.failure_rate < high
    frame = report.failures_frame("names")
    assert len(frame) == len(names.failures) and set(frame["test"]) == {"names"}
    assert (frame["change"] == frame["p_after"] - frame["p_before"]).all()
    assert report.failures_frame("gender").empty


def test_compare_before_after_with_mcnemar(models):
    before = run_probes(models["invariant"], ALL_TEXTS * 3, INVARIANCE_AND_FAIRNESS)
    after = run_probes(models["names"], ALL_TEXTS * 3, INVARIANCE_AND_FAIRNESS)
    table = compare_reports(before, after).set_index("test")
    assert table.loc["names", "verdict"] == "more brittle"
    assert table.loc["names", "new"] == after.result("names").n_failed and table.loc["names", "fixed"] == 0
    assert table.loc["names", "p_value"] < 0.05
    assert table.loc["gender", "verdict"] == "no clear change" and table.loc["gender", "p_value"] == 1.0
    assert compare_reports(after, before).set_index("test").loc["names", "verdict"] == "more robust"
    with pytest.raises(Exception, match="different data"):
        compare_reports(before, run_probes(models["names"], ALL_TEXTS, ["names"]))


def test_probe_failure_rates_for_the_release_gate(models):
    rates_ = probe_failure_rates(models["names"], ALL_TEXTS, ["names", "gender"], limit=None)
    assert set(rates_) == {"names", "gender"}
    assert rates_["names"] > 0 and rates_["gender"] == 0.0


def test_wilson_interval():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.1 < high < 0.2
    low, high = wilson_interval(10, 20)
    assert low == pytest.approx(1 - high)


def _plan_by_perturbing_everything(texts, test, limit, seed):
    """The planning before it stopped early: perturb every text, then keep the first `limit` applicable in sampling order."""
    variants = {i: tuple(v) for i, text in enumerate(texts) if (v := _variants(test, text, "second", seed=seed))}
    order = [int(i) for i in _sample_order(len(texts), seed, test.name) if int(i) in variants]
    if test.kind != "directional":
        order = sorted(order[:limit] if limit else order)
    return len(variants), tuple(order), {r: variants[r] for r in order}


@pytest.mark.parametrize("seed", [0, 3])
def test_planning_with_a_limit_picks_exactly_the_examples_perturbing_everything_picked(seed, monkeypatch):
    monkeypatch.setattr("probes.run.ESTIMATE_SAMPLE", 50)  # so a few hundred texts are enough to stop early
    # a few hundred texts where each test applies to a different share (names, gendered words, countries, none, Spanish)
    spanish = ["La película fue muy buena y Juan la disfrutó", "No me gustó nada, es una película aburrida"]
    texts = [f"{t} {k}" for k in range(25) for t in ALL_TEXTS + spanish]
    for name, test in TESTS.items():
        for limit in (1, 7, 40, None):
            n_applicable, rows, variants = _plan_by_perturbing_everything(texts, test, limit, seed)
            (plan,) = plan_probes(texts, [test], limit=limit, seed=seed)
            assert plan.rows == rows, (name, limit)
            assert {r: plan.variants[r] for r in plan.rows} == variants, (name, limit)
            if not plan.estimated:
                assert plan.n_applicable == n_applicable, (name, limit)
            else:  # stopped early: the walked share times the number of texts, same order of magnitude as the truth
                assert test.kind != "directional" and limit is not None and len(rows) == limit < n_applicable
                assert 0 < plan.n_applicable <= len(texts), (name, limit)
    assert any(p.estimated for p in plan_probes(texts, [TESTS["typos"]], limit=7, seed=seed))


def test_an_estimated_count_is_the_walked_share_and_is_shown_as_about(monkeypatch):
    monkeypatch.setattr("probes.run.ESTIMATE_SAMPLE", 40)
    texts = PLAIN_TEXTS * 50 + NAME_TEXTS * 50  # 200 plain, 50 x len(NAME_TEXTS) with a name
    (plan,) = plan_probes(texts, [TESTS["names"]], limit=5, seed=0)
    order = _sample_order(len(texts), 0, "names")
    hits = np.cumsum(order >= len(PLAIN_TEXTS) * 50)
    walked = max(40, int(np.argmax(hits >= 5)) + 1)  # by hand: until 5 name texts are found and at least 40 walked
    assert plan.estimated and plan.n_applicable == round(hits[walked - 1] / walked * len(texts))
    result = ProbeResult.from_dict({**run_result_stub(), "n_applicable": 93_478, "applicable_estimated": True})
    assert result.applies_to == "about 93,000"
    assert ProbeResult.from_dict({**run_result_stub(), "n_applicable": 93_478}).applies_to == "93,478"  # stored before the estimate: exact


def run_result_stub() -> dict:
    return {
        "test": "names",
        "kind": "fairness",
        "title": "Names",
        "expectation": "",
        "n_tried": 0,
        "n_failed": 0,
        "n_perturbed": 0,
        "n_model_calls": 0,
        "seconds": 0.0,
    }
