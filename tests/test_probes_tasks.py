"""Probes on sentence pairs (the user picks the segment to perturb) and on multi-label checkpoints (a prediction changes
when the predicted set changes; flips are counted per label). Every expected number is worked out from the model's own
probabilities of the originals and the perturbed inputs, not from the probe code."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tiny import make_tiny_checkpoint

from analysis.thresholds import Thresholds
from cli.main import main
from evaldata.loading import load_eval_data
from models.inference import Predictor
from probes.perturb import TESTS, ProbeError
from probes.run import PAIR_MARK, compare_reports, plan_probes, run_probes

PAIRS = [
    ("John said the film was good", "Maria loved the story"),
    ("a terrible boring movie", "the acting was great"),
    ("never again", "Emma hated the script"),
    ("it is not bad", "not great either"),
]
TAGS = ("toxic", "insult", "threat", "spam")


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return Predictor(make_tiny_checkpoint(tmp_path_factory.mktemp("b") / "b"))


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return Predictor(make_tiny_checkpoint(tmp_path_factory.mktemp("m") / "m", labels=TAGS, problem_type="multi_label_classification"))


@pytest.mark.parametrize(("segment", "first_changes", "second_changes"), [("second", False, True), ("first", True, False), ("both", True, True)])
def test_the_chosen_segment_is_perturbed_and_the_other_kept(segment, first_changes, second_changes):
    (plan,) = plan_probes(PAIRS, [TESTS["typos"]], seed=1, n_variants=2, segment=segment)
    assert plan.rows == tuple(range(len(PAIRS)))
    for r in plan.rows:
        for first, second in plan.variants[r]:
            assert (first != PAIRS[r][0]) == first_changes and (second != PAIRS[r][1]) == second_changes
            if not first_changes:
                assert first == PAIRS[r][0]
    single = plan_probes([b for _, b in PAIRS], [TESTS["typos"]], seed=1, n_variants=2)[0]
    if segment == "second":  # the second segment gets exactly what the same text alone would get
        assert all([b for _, b in plan.variants[r]] == list(single.variants[r]) for r in plan.rows)


def test_both_segments_perturb_whichever_mentions_a_name():
    (plan,) = plan_probes(PAIRS, [TESTS["names"]], seed=0, n_variants=2, segment="both")
    assert plan.rows == (0, 2)  # row 0 has names in both, row 2 only in the second, rows 1 and 3 none
    assert all(a == PAIRS[2][0] and b != PAIRS[2][1] for a, b in plan.variants[2])
    with pytest.raises(ProbeError, match="one of second, first, both"):
        plan_probes(PAIRS, [TESTS["names"]], segment="middle")


def test_a_pair_fails_exactly_where_the_models_prediction_of_the_perturbed_pair_changes(bert, tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"premise": [a for a, _ in PAIRS], "hypothesis": [b for _, b in PAIRS]}).to_csv(path, index=False)
    evalset = load_eval_data(path, text_col="premise", pair_col="hypothesis", label_col="")
    report = run_probes(bert, evalset, ["typos", "casing"], seed=3, n_variants=3, segment="both")
    assert report.segment == "both"
    for result in report.results:
        (plan,) = plan_probes(PAIRS, [TESTS[result.test]], seed=3, n_variants=3, segment="both")
        before = bert.predict_proba(list(PAIRS)).argmax(axis=1)
        failed = [r for r in plan.rows if (bert.predict_proba(list(plan.variants[r])).argmax(axis=1) != before[r]).any()]
        assert list(result.failed_rows) == failed
        assert all(f.original == PAIR_MARK.join(PAIRS[f.row]) and PAIR_MARK in f.perturbed for f in result.failures)
    other = run_probes(bert, evalset, ["typos", "casing"], seed=3, n_variants=3, segment="second")
    with pytest.raises(Exception, match="different segments"):
        compare_reports(report, other)


def test_multi_label_probes_count_set_changes_and_flips_per_label(multi):
    texts = ["you idiot", "buy now cheap pills", "I will find you", "the film was good", "a terrible boring movie"]
    thresholds = Thresholds.default(TAGS).with_values({"toxic": 0.45, "spam": 0.55}, "test")
    report = run_probes(multi, texts, ["typos", "casing", "punctuation"], seed=0, n_variants=3, thresholds=thresholds)
    cuts = thresholds.array
    assert report.thresholds == thresholds.as_dict()
    for result in report.results:
        (plan,) = plan_probes(texts, [TESTS[result.test]], seed=0, n_variants=3)
        flips, failed = np.zeros(len(TAGS), dtype=int), []
        for r in plan.rows:
            s0 = multi.predict_proba([texts[r]])[0] >= cuts
            changed = multi.predict_proba(list(plan.variants[r])) >= cuts
            flips += (changed != s0).sum(axis=0)
            if (changed != s0).any():
                failed.append(r)
        assert result.label_flips == dict(zip(TAGS, flips.tolist()))
        assert list(result.failed_rows) == failed
        assert result.expectation == "predicted set unchanged"
    assert list(report.label_flips_frame().columns) == list(TAGS)
    assert report.to_dict()["results"][0]["label_flips"] == report.results[0].label_flips


def test_probe_command_on_pairs_and_multi_label(multi, tmp_path, capsys):
    path = tmp_path / "p.csv"
    pd.DataFrame({"text": [a for a, _ in PAIRS], "other": [b for _, b in PAIRS], "tags": ["toxic", "", "spam|insult", ""]}).to_csv(path, index=False)
    out = tmp_path / "r.json"
    args = ["probe", "--model", str(multi.ref.path), "--data", str(path), "--pair-col", "other", "--label-col", "tags"]
    assert main([*args, "--perturb", "first", "--tests", "typos", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "perturbing the first segment" in captured.err and "label flips:" in captured.out
    (report,) = json.loads(out.read_text())["reports"]
    assert report["segment"] == "first" and report["thresholds"] == dict.fromkeys(TAGS, 0.5)
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses the choice
        main([*args, "--perturb", "middle"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("kind", ["single-label pairs", "multi-label"])
def test_a_report_read_back_from_json_is_the_report_that_was_written(kind, bert, multi):
    """What the results store keeps of a probe run: after to_json -> from_dict every frame and field is the same, timings included."""
    from probes.perturb import DirectionConfig
    from probes.run import ProbeReport

    if kind == "multi-label":
        texts = ["you idiot", "buy now cheap pills", "I will find you", "the film was good", "a terrible boring movie"]
        thresholds = Thresholds.default(TAGS).with_values({"toxic": 0.45, "spam": 0.55}, "test")
        report = run_probes(multi, texts, ["typos", "casing", "names"], seed=0, n_variants=3, thresholds=thresholds)
    else:
        report = run_probes(bert, PAIRS, "all", seed=2, limit=3, segment="both", directions=DirectionConfig.sentiment("positive", "negative"))
    assert any(r.failures for r in report.results) or kind == "multi-label"
    back = ProbeReport.from_dict(json.loads(report.to_json()))
    assert back.to_dict() == report.to_dict()
    pd.testing.assert_frame_equal(back.summary_frame(), report.summary_frame())
    pd.testing.assert_frame_equal(back.failures_frame(), report.failures_frame())
    pd.testing.assert_frame_equal(back.label_flips_frame(), report.label_flips_frame())
    assert back.directions == report.directions and back.thresholds == report.thresholds and back.segment == report.segment
