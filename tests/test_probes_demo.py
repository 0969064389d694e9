"""Probes, cost estimates and similar examples on the bundled demo (MiniLM sentiment, fresh vs rotten)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.demo


@pytest.fixture(scope="module")
def demo():
    from training.demo import default_demo_dir, demo_paths

    paths = demo_paths(default_demo_dir())
    if not paths.manifest.is_file():
        pytest.skip(f"the bundled demo is not built in {paths.root}; run `veredicto demo` (about 5-10 minutes on 2 CPU cores)")
    from evaldata.loading import load_eval_data
    from models import Predictor

    return {
        "before": Predictor(paths.before, device="cpu"),
        "after": Predictor(paths.after, device="cpu"),
        "test": load_eval_data(paths.test_data),
        "paths": paths,
    }


def test_probes_before_after_on_the_demo(demo):
    from probes import cost
    from probes.perturb import guess_directions
    from probes.run import compare_reports, run_probes

    directions = guess_directions(demo["after"].labels)
    assert directions is not None and directions.negation[0].label == "fresh"
    estimate = cost.estimate_probes(demo["after"], demo["test"], ["invariance", "fairness"], limit=25, seed=3)
    after = run_probes(demo["after"], demo["test"], ["invariance", "fairness"], limit=25, seed=3)
    assert estimate.n_model_calls == after.n_model_calls  # exact for invariance and fairness probes
    before = run_probes(demo["before"], demo["test"], "all", directions=directions, limit=25, seed=3)
    for result in after.results:
        assert result.n_tried == min(25, result.n_applicable) and result.n_applicable > 0, result.test  # reviews mention names, actors, countries
        assert 0.0 <= result.failure_rate <= 1.0
    assert before.result("negation").n_tried > 0
    table = compare_reports(before, after)
    assert set(table["verdict"]) <= {"more brittle", "more robust", "no clear change", "only run on the before checkpoint"}
    paired = table[table["paired"] > 0]
    assert (paired["paired"] == paired["tried_after"]).all()  # same data, same seed: the same examples for both checkpoints


def neighbour_label_agreement(predictor, subset) -> tuple[float, object]:
    from analysis.predictions import predict_table
    from probes.embeddings import build_index, neighbours

    table = predict_table(predictor, subset)
    index = build_index(predictor, table)
    agreement = float(np.mean([(neighbours(index, r, 10)["gold"] == table.frame["gold"].iat[r]).mean() for r in range(len(index))]))
    return agreement, index


def test_fine_tuned_encoder_puts_same_label_examples_together(demo):
    from evaldata.loading import EvalSet
    from probes.embeddings import label_noise

    frame = demo["test"].frame.sample(200, random_state=0).reset_index(drop=True)
    subset = EvalSet(frame, "demo-sample", demo["test"].fingerprint + "-sample", demo["test"].metadata)
    before, _ = neighbour_label_agreement(demo["before"], subset)  # the frozen pretrained encoder
    after, index = neighbour_label_agreement(demo["after"], subset)
    # fine-tuning reshapes the encoder around the labels: neighbours share the gold label more often
    assert after > before and after > 0.6
    noise = label_noise(index, k=10, threshold=0.8)
    assert len(noise) < len(index) * 0.3
    assert (noise["suggested"] != noise["gold"]).all()
