"""analysis.stats against statsmodels and scipy where they compute the same thing; ECE and durations by hand."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats import contingency_tables as contingency
from statsmodels.stats import proportion

from analysis.metrics import calibration, expected_calibration_error, table_calibration
from analysis.stats import bootstrap_counts, mcnemar, mcnemar_test, percentile_interval, wilson_interval
from analysis.synthetic import table_from_arrays
from models.cost import CostEstimate, format_duration

COUNTS = [(0, 1), (0, 20), (1, 20), (10, 20), (19, 20), (20, 20), (3, 7), (8, 10), (137, 1000), (999, 1000)]


@pytest.mark.parametrize("successes,n", COUNTS)
def test_wilson_matches_statsmodels(successes, n):
    low, high = wilson_interval(successes, n)
    ref_low, ref_high = proportion.proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert isinstance(low, float) and isinstance(high, float)  # plain numbers in, plain numbers out
    assert low == pytest.approx(ref_low, abs=1e-12) and high == pytest.approx(ref_high, abs=1e-12)
    assert 0.0 <= low <= successes / n <= high <= 1.0


def test_wilson_vectorised_matches_statsmodels_element_by_element():
    successes = np.array([s for s, _ in COUNTS])
    n = np.array([m for _, m in COUNTS])
    low, high = wilson_interval(successes, n)
    ref_low, ref_high = proportion.proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert low.shape == high.shape == (len(COUNTS),)
    np.testing.assert_allclose(low, ref_low, atol=1e-12)
    np.testing.assert_allclose(high, ref_high, atol=1e-12)


def test_wilson_of_nothing_is_nan_and_zero_successes_start_at_zero():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    low, high = wilson_interval(np.array([0, 3]), np.array([0, 4]))
    assert math.isnan(low[0]) and math.isnan(high[0]) and 0 < low[1] < 0.75 < high[1] < 1
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


@pytest.mark.parametrize("fixed,broken", [(9, 1), (1, 9), (3, 2), (20, 10), (40, 10), (60, 61), (0, 7), (150, 120)])
def test_mcnemar_matches_statsmodels_exact(fixed, broken):
    # rows: before right / wrong; columns: after right / wrong. The discordant cells are [0,1] (broken) and [1,0] (fixed).
    table = np.array([[30, broken], [fixed, 5]])
    ref = contingency.mcnemar(table, exact=True)
    test = mcnemar(fixed, broken)
    assert test.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert test.statistic == ref.statistic == min(fixed, broken)
    assert (test.fixed, test.broken, test.discordant, test.method) == (fixed, broken, fixed + broken, "exact")


def test_mcnemar_from_paired_correctness_counts_the_discordant_pairs():
    before = np.array([True] * 12 + [False] * 4 + [True] * 30 + [False] * 9)
    after = np.array([False] * 12 + [True] * 4 + [True] * 30 + [False] * 9)
    test = mcnemar_test(before, after)
    assert (test.fixed, test.broken) == (4, 12)
    assert test.p_value == pytest.approx(scipy_stats.binomtest(4, 16, 0.5).pvalue)
    assert mcnemar(0, 0).p_value == 1.0 and mcnemar(8, 8).p_value == 1.0


def test_probe_comparison_and_compare_page_report_the_same_p():
    """Robustness (probes) and Compare (analysis) used to disagree from 25 disagreements on; now one test serves both."""
    from probes.run import ProbeReport, ProbeResult, compare_reports

    def report(failed):
        rows = tuple(range(100))
        result = ProbeResult(
            test="typos",
            kind="invariance",
            title="Typos",
            expectation="same label",
            n_applicable=100,
            n_tried=100,
            n_failed=len(failed),
            n_perturbed=100,
            tried_rows=rows,
            failed_rows=tuple(failed),
            failures=(),
            n_model_calls=0,
            seconds=0.0,
        )
        return ProbeReport(
            checkpoint_name="m",
            fingerprint="f" * 64,
            labels=("a", "b"),
            data_name="d",
            data_fingerprint="x",
            n_examples=100,
            results=(result,),
            seed=0,
            n_variants=1,
            language="en",
            limit=None,
            directions=None,
            n_model_calls=0,
            seconds=0.0,
        )

    before, after = report(range(40)), report(range(30, 50))  # fixed 30 (0..29), new 10 (40..49)
    row = compare_reports(before, after).iloc[0]
    assert (row["fixed"], row["new"]) == (30, 10)
    assert row["p_value"] == pytest.approx(contingency.mcnemar(np.array([[50, 10], [30, 10]]), exact=True).pvalue, rel=1e-9)
    assert row["p_value"] == mcnemar(30, 10).p_value and row["verdict"] == "more robust"


def test_bootstrap_counts_resample_every_example_once_per_row_and_chunking_keeps_the_draws(monkeypatch):
    import analysis.stats

    code = np.array([0, 0, 1, 2, 2, 2])
    chunked = list(bootstrap_counts(code, 3, 50, seed=7))
    monkeypatch.setattr(analysis.stats, "_BOOTSTRAP_CELLS", 3)  # one resample (3 group counts) per chunk
    tiny = list(bootstrap_counts(code, 3, 50, seed=7))
    assert len(chunked) == 1 and len(tiny) == 50
    counts = chunked[0][2]
    assert counts.shape == (50, 3) and (counts.sum(axis=1) == len(code)).all()
    np.testing.assert_array_equal(np.vstack([c for _, _, c in tiny]), counts)


def test_bootstrap_counts_are_distributed_like_counts_of_resampled_examples():
    """Counting n examples drawn with replacement per group: mean n*p, covariance n*(diag(p) - p p^T) (multinomial)."""
    code = np.array([0, 0, 1, 2, 2, 2, 2, 3, 3, 3])
    counts = np.vstack([c for _, _, c in bootstrap_counts(code, 4, 40_000, seed=3)])
    p, n = np.bincount(code) / len(code), len(code)
    np.testing.assert_allclose(counts.mean(axis=0), n * p, atol=0.03)
    np.testing.assert_allclose(np.cov(counts.T), n * (np.diag(p) - np.outer(p, p)), atol=0.05)
    # and the same moments as plain index resampling (a second generator), within sampling error
    plain = np.stack([np.bincount(code[row], minlength=4) for row in np.random.default_rng(4).integers(0, n, size=(40_000, n))])
    np.testing.assert_allclose(counts.var(axis=0), plain.var(axis=0), rtol=0.05)


def test_percentile_interval_by_hand():
    values = np.stack([np.arange(101.0), 2 * np.arange(101.0)], axis=1)  # 0..100 and 0..200
    low, high = percentile_interval(values, 0.95)
    assert low == pytest.approx([2.5, 5.0]) and high == pytest.approx([97.5, 195.0])
    low, high = percentile_interval(np.arange(11.0), 0.8)
    assert (float(low), float(high)) == pytest.approx((1.0, 9.0))


# --- expected calibration error, by hand ------------------------------------------------------------


def test_ece_by_hand_with_empty_bins_and_a_boundary_value():
    # 10 bins of width 0.1. 0.6 sits in (0.5, 0.6]; 0.95 and 1.0 in (0.9, 1.0]; 0.35 in (0.3, 0.4].
    conf = np.array([0.35, 0.6, 0.6, 0.95, 1.0, 0.95], dtype=np.float32)
    correct = np.array([True, False, True, True, True, False])
    # bin 0.3-0.4: 1 example, conf 0.35, acc 1   -> |gap| 0.65
    # bin 0.5-0.6: 2 examples, conf 0.6, acc 0.5 -> |gap| 0.1
    # bin 0.9-1.0: 3 examples, conf 0.9667, acc 2/3 -> |gap| 0.3
    expected = 1 / 6 * 0.65 + 2 / 6 * 0.1 + 3 / 6 * abs(2 / 3 - (0.95 + 1.0 + 0.95) / 3)
    cal = calibration(conf, correct, 10)
    assert cal.ece == pytest.approx(expected, abs=1e-6)
    assert expected_calibration_error(conf, correct, 10) == cal.ece
    assert cal.max_gap == pytest.approx(0.65, abs=1e-6)
    assert cal.table["count"].tolist() == [0, 0, 0, 1, 0, 2, 0, 0, 0, 3]
    assert math.isnan(expected_calibration_error([], [], 10))


def test_table_calibration_measures_the_predicted_labels_confidence():
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8]])
    gold = np.array([0, 0, 1, 1])  # right, wrong, right, right
    table = table_from_arrays(probs, gold, ("neg", "pos"))
    cal = table_calibration(table, n_bins=5)
    # bins of 0.2: 0.55 in (0.4, 0.6]; 0.7 and 0.8 in (0.6, 0.8]; 0.9 in (0.8, 1.0]
    expected = 1 / 4 * abs(1 - 0.55) + 2 / 4 * abs(0.5 - 0.75) + 1 / 4 * abs(1 - 0.9)
    assert cal.ece == pytest.approx(expected) and cal.n == 4 and cal.n_bins == 5


# --- durations and cost estimates (models.cost) -------------------------------------------------------


@pytest.mark.parametrize(
    "seconds,measured,estimated",
    [
        (0.4, "0 s", "under a second"),
        (1.4, "1 s", "~1 s"),
        (42, "42 s", "~42 s"),
        (89.4, "89 s", "~89 s"),
        (90, "1.5 min", "~2 min"),
        (225, "3.8 min", "~4 min"),
        (5399, "90.0 min", "~90 min"),
        (5400, "1.5 h", "~1.5 h"),
    ],
)
def test_one_duration_format_for_measurements_and_estimates(seconds, measured, estimated):
    assert format_duration(seconds) == measured
    assert format_duration(seconds, about="~") == estimated
    assert format_duration(seconds, about="roughly ") == estimated.replace("~", "roughly ")


def test_cost_estimate_describes_a_run_and_a_sample_of_explanations():
    run = CostEstimate(task="probes", description="2 probes (typos, names)", n_requested=1200, n_model_calls=1000, seconds=42.0, raw_seconds=40.0)
    assert run.describe() == "2 probes (typos, names): about 1,000 model calls (200 more answered from the cache), ~42 s on this machine."
    assert run.n_missing == 1000
    cached = CostEstimate(task="predict", description="Scoring 5 texts", n_requested=5, n_model_calls=0, seconds=0.0)
    assert cached.describe() == "Scoring 5 texts: everything is cached, no model call needed."
    sample = CostEstimate(task="explanations", description="8 explanations", n_requested=600, n_model_calls=600, seconds=None, n_examples=8, n_cached=2)
    assert sample.n_missing == 6
    assert sample.describe() == "6 of 8 examples still need an explanation (2 are cached), about 600 model calls."
