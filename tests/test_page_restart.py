"""An app restart opens the Overview from the results store: nothing is forwarded, the numbers are the same; an unusable store is a warning, not a crash."""

from __future__ import annotations

import pytest
from analysis_pages_support import app_test, build_fixture, restart


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("restart-page"))


def headline(at) -> list[str]:
    return [m.value for m in at.metric if m.label in ("Accuracy", "Macro-F1")]


def test_after_a_restart_the_overview_opens_from_the_store_with_nothing_forwarded(env, monkeypatch, forwarded, tokenized):
    from store.results import FILENAME, ResultsStore

    restart()
    cold = app_test(env, monkeypatch, "pages/overview.py")
    assert sum(forwarded) == 2 * len(env["frame"])  # both checkpoints scored every text once
    store = ResultsStore(env["data"].parent / "attribution-cache")
    assert store.stats().by_kind.get("proba") == 2 * len(env["frame"]) and (store.directory / FILENAME).is_file()
    assert store.stats().by_kind.get("tokens") == 2 * len(env["frame"])  # counts are keyed per checkpoint, like probabilities
    forwarded.clear()
    tokenized.clear()
    restart()
    warm = app_test(env, monkeypatch, "pages/overview.py")
    assert forwarded == []  # not a single text through a model
    assert tokenized == []  # nor through a tokenizer: the 'truncated' flag's token counts come from the store too
    assert headline(warm) == headline(cold) and len(headline(warm)) == 4


def test_a_store_that_cannot_be_used_is_one_sidebar_warning_and_the_page_still_works(env, tmp_path, monkeypatch, forwarded):
    from analysis_pages_support import ROOT
    from streamlit.testing.v1 import AppTest

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    restart()
    app_test({**env, "cache": blocker}, monkeypatch, "pages/overview.py")  # the environment app_test sets, with the store on a file
    assert sum(forwarded) == 2 * len(env["frame"])  # scored in memory
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()  # the first page (the Overview) keeps its sidebar in AppTest
    assert not at.exception, [e.message for e in at.exception]
    warnings = [w.value for w in at.sidebar.warning if "results store" in w.value]
    assert len(warnings) == 1 and "in memory only" in warnings[0] and "VEREDICTO\\_CACHE\\_DIR" in warnings[0] and "not a directory" in warnings[0]
    assert len(headline(at)) == 4
    restart()


def rates_chart(at) -> list:
    import json

    found = [json.loads(c.proto.spec)["data"] for c in at.get("plotly_chart") if "robustness-rates" in c.proto.id]
    return [(trace["name"], trace["x"], trace["y"]) for trace in found[0]] if found else []


def test_after_a_restart_the_robustness_page_opens_on_the_stored_probe_results(env, monkeypatch, forwarded):
    restart()
    at = app_test(env, monkeypatch, "pages/robustness.py")
    assert rates_chart(at) == [] and next(b for b in at.button if b.key == "robustness_run").label == "Run probes"
    next(b for b in at.button if b.key == "robustness_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    ran = rates_chart(at)
    assert len(ran) == 2 and sum(forwarded) > 0
    forwarded.clear()
    restart()
    timing: list[int] = []  # the other tab's cost estimate times a few texts per process: that is a measurement, not a result
    from probes import cost

    real_calibrate = cost.calibrate

    def calibrate(*args, **kwargs):
        start = len(forwarded)
        try:
            return real_calibrate(*args, **kwargs)
        finally:
            timing.extend(forwarded[start:])
            del forwarded[start:]

    monkeypatch.setattr(cost, "calibrate", calibrate)
    warm = app_test(env, monkeypatch, "pages/robustness.py")
    assert not warm.exception, [e.message for e in warm.exception]
    assert forwarded == []  # neither the probes nor the prediction tables forward a text
    assert rates_chart(warm) == ran  # the same failure rates, per test and checkpoint
    assert next(b for b in warm.button if b.key == "robustness_run").label == "Run probes again"
    assert not [i for i in warm.info if i.value.startswith("**Before running:**")]


def test_precompute_probes_fills_the_store_the_robustness_page_opens_on(tmp_path, monkeypatch, forwarded, capsys):
    from cli.main import main
    from probes import cost

    env = build_fixture(tmp_path)
    store = env["data"].parent / "attribution-cache"  # where app_test points the app
    restart()
    for model in sorted(env["checkpoints"].iterdir()):  # embeddings too: the page's other tab builds its map from them on sight
        assert main(["precompute", "--model", str(model), "--data", str(env["data"]), "--store", str(store), "--what", "embeddings,probes"]) == 0
    err = capsys.readouterr().err
    assert err.count("PROBES (") == 2 and "names" in err
    assert main(["precompute", "--model", str(model), "--data", str(env["data"]), "--store", str(store), "--what", "probes"]) == 0
    assert "already stored, skipped" in capsys.readouterr().err  # a rerun resumes: nothing is run twice
    restart()
    forwarded.clear()
    real_calibrate = cost.calibrate  # as above: the other tab's timing is a measurement, not a result

    def calibrate(*args, **kwargs):
        start = len(forwarded)
        try:
            return real_calibrate(*args, **kwargs)
        finally:
            del forwarded[start:]

    monkeypatch.setattr(cost, "calibrate", calibrate)
    from probes import run as probe_run

    real_plan, real_estimate = probe_run.plan_probes, cost.estimate_probes

    def refuse(*args, **kwargs):
        raise AssertionError("the page planned or estimated a probe run that is stored")

    monkeypatch.setattr(probe_run, "plan_probes", refuse)  # at 100k rows planning perturbed texts was most of a first open
    monkeypatch.setattr(cost, "estimate_probes", refuse)
    from probes import embeddings

    similar = {name: getattr(embeddings, name) for name in ("project", "label_noise", "build_index")}
    for name in similar:  # --what embeddings stored the other tab's map and label-noise hints under its keys: read, not computed (100k rows: ~13 s)
        monkeypatch.setattr(embeddings, name, lambda *a, name=name, **kw: pytest.fail(f"the page ran probes.embeddings.{name} on a filled store"))
    at = app_test(env, monkeypatch, "pages/robustness.py")
    assert not at.exception, [e.message for e in at.exception]
    assert forwarded == []
    assert [name for name, _, _ in rates_chart(at)] == ["before: tiny-before", "after: tiny-after"]
    assert next(b for b in at.button if b.key == "robustness_run").label == "Run probes again"
    assert [c for c in at.get("plotly_chart") if "robustness-map-" in c.proto.id]
    monkeypatch.setattr(probe_run, "plan_probes", real_plan)
    monkeypatch.setattr(cost, "estimate_probes", real_estimate)
    for name, real in similar.items():
        monkeypatch.setattr(embeddings, name, real)
    changed = env["frame"].assign(text=env["frame"]["text"] + " indeed")  # other data: the stored runs are not its results
    changed.to_csv(env["data"], index=False)
    restart()
    other = app_test(env, monkeypatch, "pages/robustness.py")
    assert rates_chart(other) == [] and next(b for b in other.button if b.key == "robustness_run").label == "Run probes"
    assert [i for i in other.info if i.value.startswith("**Before running:**")]
    assert main(["precompute", "--model", str(model), "--data", str(env["data"]), "--limit", "5", "--what", "probes"]) == 2
    assert "drop --limit" in capsys.readouterr().err


def test_after_a_restart_the_signoff_page_reads_its_gate_evaluation_from_the_store(env, monkeypatch, forwarded):
    import store.gates as gates

    def gate_rows(at) -> list:
        found = [d.value for d in at.dataframe if "Gate" in d.value.columns]
        return found[0].drop(columns=[c for c in found[0].columns if c in ("Detail",)]).to_dict("records") if found else []

    restart()
    cold = app_test(env, monkeypatch, "pages/signoff.py")
    assert not cold.exception, [e.message for e in cold.exception]
    assert gate_rows(cold)
    forwarded.clear()
    restart()

    def refuse(*args, **kwargs):
        raise AssertionError("the gates were evaluated again after a restart")

    monkeypatch.setattr(gates, "evaluate_gates", refuse)
    warm = app_test(env, monkeypatch, "pages/signoff.py")
    assert not warm.exception, [e.message for e in warm.exception]
    assert gate_rows(warm) == gate_rows(cold) and forwarded == []


def overview_left_while_scoring(env, monkeypatch):
    """Open the Overview with every forward pass held, and leave it while it scores (AppTest's timeout stops the run, as
    navigating to another page does). Returns the one running job and the event that releases the forward passes."""
    import threading

    from models.inference import Predictor
    from runtime import current

    gate = threading.Event()
    counting = Predictor._forward  # the `forwarded` fixture's counter

    def held(self, texts, *args, **kwargs):
        assert gate.wait(60)
        return counting(self, texts, *args, **kwargs)

    monkeypatch.setattr(Predictor, "_forward", held)
    with pytest.raises(RuntimeError, match="timed out"):
        app_test(env, monkeypatch, "pages/overview.py", timeout=2)
    (job,) = current().jobs.running()
    return job, gate


def test_a_page_left_while_it_scores_does_not_stop_the_scoring_and_the_next_open_uses_it(env, tmp_path, monkeypatch, forwarded):
    """The scoring is a background job (`dashboard.state.get_table`): a page run that stops following it (here AppTest's
    timeout stops the run, as navigating to another page does) leaves it running, and the next open reads its table."""

    from runtime import current

    env = {**env, "cache": tmp_path / "store"}  # an empty results store: the scoring has to run
    restart()
    job, gate = overview_left_while_scoring(env, monkeypatch)  # the baseline's scoring, still going with nobody on the page
    assert job.label == "Scoring with tiny-before"
    gate.set()
    assert job.wait(60) and len(current().tables) == 1  # finished on its own and kept for every session
    assert sum(forwarded) == len(env["frame"])
    at = app_test(env, monkeypatch, "pages/overview.py")
    assert sum(forwarded) == 2 * len(env["frame"])  # only the other checkpoint was scored now: every text went through each model once
    assert len(headline(at)) == 4


def test_the_signoff_page_opens_on_the_evaluation_veredicto_gate_stored(tmp_path, monkeypatch, forwarded, capsys):
    """The page and the CLI share one stored evaluation: after `veredicto gate` with the page's policy, the page evaluates nothing."""
    from analysis_pages_support import SMALL_BUDGET

    import store.gates as gates
    from cli.main import main
    from policies import example_policy

    env = build_fixture(tmp_path)
    for name, value in SMALL_BUDGET.items():  # the page's explainer budgets, which the stored evaluation is keyed by
        monkeypatch.setenv(name, value)
    restart()
    ckpts = env["checkpoints"]
    args = ["gate", "--model", str(ckpts / "tiny-after"), "--baseline", str(ckpts / "tiny-before"), "--data", str(env["data"])]
    main([*args, "--policy", str(example_policy()), "--cache-dir", str(env["data"].parent / "attribution-cache")])
    assert "Verdict:" in capsys.readouterr().out
    restart()

    def refuse(*args, **kwargs):
        raise AssertionError("the page evaluated the gates veredicto gate had stored")

    monkeypatch.setattr(gates, "evaluate_gates", refuse)
    forwarded.clear()
    at = app_test(env, monkeypatch, "pages/signoff.py")
    assert not at.exception, [e.message for e in at.exception]
    assert [d.value for d in at.dataframe if "Gate" in d.value.columns] and forwarded == []


def test_a_data_file_changed_under_a_filled_store_scores_only_its_changed_texts_and_the_bar_says_so(env, tmp_path, monkeypatch, forwarded):

    env = {**env, "cache": tmp_path / "store"}
    restart()
    app_test(env, monkeypatch, "pages/overview.py")  # fills the store with both checkpoints' predictions
    changed = env["frame"].copy()
    changed.loc[[4, 20, 33], "text"] = ["a text nobody scored", "another new one", "and a third"]
    data = tmp_path / "data.csv"
    changed.to_csv(data, index=False)
    env = {**env, "data": data}
    restart()
    forwarded.clear()
    job, gate = overview_left_while_scoring(env, monkeypatch)
    assert "3 of 60 texts are new or changed since the results store was filled" in job.describe()
    gate.set()
    assert job.wait(60) and forwarded == [3]
