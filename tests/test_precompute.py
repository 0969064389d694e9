"""`veredicto precompute --what …`: predictions and embeddings in the results store, resumable, one writer per store,
and `--engine ray` storing what the local engine stores (the Ray tests are marked `ray`: `pytest -m ray`)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from test_cli_explain import write_data

from cli.main import main
from models.checkpoints import inspect_checkpoint
from models.inference import Predictor, ProbabilityCache
from store.lock import writer_lock
from store.results import ResultsStore


def stored(store_dir, kind, key, texts):
    found = ResultsStore(store_dir).get_many(kind, key, texts)
    assert len(found) == len(texts), f"{len(texts) - len(found)} of {len(texts)} {kind} rows missing"
    return np.stack([found[i] for i in range(len(texts))])


def reference(model_dir, texts):
    """What a plain Predictor computes: the rows the store must hold."""
    predictor = Predictor(inspect_checkpoint(model_dir), cache=ProbabilityCache())
    return predictor.predict_proba(texts), predictor.embed(texts, cache=ProbabilityCache())


def ref_tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def precompute(model, data, store, *extra):
    return main(["precompute", "--model", str(model), "--data", str(data), "--store", str(store), *extra])


def test_default_fills_predictions_embeddings_and_ig_and_a_rerun_resumes(tiny_bert, tmp_path, capsys):
    from explain.cache import AttributionCache, key_params

    data = tmp_path / "d.csv"
    texts = write_data(data, 6, extra=["the film 0 was good and the cast good"])  # a duplicate: stored once
    texts = list(dict.fromkeys(texts))
    store = tmp_path / "store"
    ref = inspect_checkpoint(tiny_bert)

    assert precompute(tiny_bert, data, store, "--limit", "3", "--what", "predictions") == 0
    assert "PREDICTIONS: none of the 3 texts is stored yet: scoring them." in capsys.readouterr().err

    assert precompute(tiny_bert, data, store, "--batch-size", "2") == 0  # chunks of 4 x 2 texts: several transactions
    err = capsys.readouterr().err
    assert (
        "PREDICTIONS: 3 of 6 texts are not in the store yet (new or changed since it was filled): scoring them." in err
    )  # the first run's rows are kept, not redone
    assert "EMBEDDINGS: none of the 6 texts is stored yet: scoring them." in err and "IG: 0 of 6 already cached" in err
    proba, embedding = reference(tiny_bert, texts)
    # batched differently (2 per forward pass, so other padding): equal up to float32 rounding of the tiny model's large weights
    np.testing.assert_allclose(stored(store, "proba", ref.scoring_key, texts), proba, atol=1e-5)
    np.testing.assert_allclose(stored(store, "embedding", ref.fingerprint, texts), embedding, atol=1e-5)
    # predictions leave their token counts (the table's 'truncated' flag) stored too, exactly the tokenizer's
    assert stored(store, "tokens", ref.fingerprint, texts)[:, 0].tolist() == [len(x) for x in ref_tokenizer(tiny_bert)(texts)["input_ids"]]
    assert set(AttributionCache(store).get_many(ref.scoring_key, texts, "ig", **key_params("ig"))) == set(texts)

    assert precompute(tiny_bert, data, store) == 0
    err = capsys.readouterr().err
    assert "PREDICTIONS: all 6 texts already stored." in err and "EMBEDDINGS: all 6 texts already stored." in err
    assert "IG: 6 of 6 already cached" in err

    # what the app and the other commands read: their store-backed predictor finds every row and runs nothing
    from store.results import open_predictor

    reader = open_predictor(ref, directory=store, cache=ProbabilityCache())
    reader.predict_proba(texts)
    reader.embed(texts, cache=ProbabilityCache())
    assert reader.stats.texts_forwarded == 0 and reader.stats.texts_from_store == 2 * len(texts)


def test_method_keeps_meaning_explanations_only(tiny_bert, tmp_path, capsys):
    data = tmp_path / "d.csv"
    write_data(data, 2)
    assert precompute(tiny_bert, data, tmp_path / "s", "--method", "lime", "--num-samples", "20") == 0
    err = capsys.readouterr().err
    assert "LIME: 0 of 2 already cached" in err and "PREDICTIONS" not in err and "EMBEDDINGS" not in err


def test_an_unknown_part_is_refused_with_the_choices(tiny_bert, tmp_path, capsys):
    data = tmp_path / "d.csv"
    write_data(data, 2)
    with pytest.raises(SystemExit) as exit_:
        precompute(tiny_bert, data, tmp_path / "s", "--what", "predictions,probez")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown part(s) 'probez'" in err and "predictions, embeddings, shap, lime, ig, grad_input" in err


def test_a_second_precompute_on_the_same_store_is_refused_naming_the_first(tiny_bert, tmp_path, capsys):
    import socket

    data = tmp_path / "d.csv"
    write_data(data, 2)
    store = tmp_path / "store"
    store.mkdir()
    with writer_lock(store):  # the first precompute, mid-run (flock conflicts between two opens, even in one process)
        assert precompute(tiny_bert, data, store, "--what", "predictions") == 2
        err = capsys.readouterr().err
        assert "Another precompute is writing to the results store" in err
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in err and "another --store" in err
        assert not ResultsStore(store).stats().rows  # refused before computing anything
    assert precompute(tiny_bert, data, store, "--what", "predictions") == 0  # released when the holder ends


def test_ray_options_without_engine_ray_are_refused(tiny_bert, tmp_path, capsys):
    data = tmp_path / "d.csv"
    write_data(data, 2)
    assert precompute(tiny_bert, data, tmp_path / "s", "--address", "auto") == 2
    assert "--address auto joins a Ray cluster, which only --engine ray uses" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        precompute(tiny_bert, data, tmp_path / "s", "--engine", "ray", "--gpus-per-worker", "-1")
    assert "must be 0 or more" in capsys.readouterr().err


def test_engine_ray_without_ray_installed_says_how_to_install_it(tiny_bert, tmp_path, capsys, monkeypatch):
    data = tmp_path / "d.csv"
    write_data(data, 2)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert precompute(tiny_bert, data, tmp_path / "s", "--engine", "ray", "--what", "predictions") == 2
    assert "pip install 'veredicto[ray]'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- on a local Ray

ray = pytest.importorskip("ray", reason="the ray extra is not installed")


@pytest.mark.ray
def test_an_unreachable_cluster_is_named_with_what_to_do(tiny_bert, tmp_path, capsys):
    if ray.is_initialized():
        pytest.skip("a Ray session is already running in this process")
    data = tmp_path / "d.csv"
    write_data(data, 2)
    assert precompute(tiny_bert, data, tmp_path / "s", "--engine", "ray", "--what", "predictions", "--address", "ray://127.0.0.1:9") == 2
    err = capsys.readouterr().err
    assert "cannot reach the Ray cluster at ray://127.0.0.1:9: " in err and "check `ray status` there or drop --address" in err
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module's Ray tests (starting one takes seconds); its workers import this module too. It
    declares one GPU, which Ray takes on trust: the pool's GPU requests are scheduled (the actor still runs on the CPU)."""
    here = Path(__file__).parent
    ray.init(
        num_cpus=2,
        num_gpus=1,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}},
    )
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_ray_stores_what_the_local_engine_stores(ray_session, tiny_bert, tmp_path, capsys):
    data = tmp_path / "d.csv"
    texts = write_data(data, 50)
    ref = inspect_checkpoint(tiny_bert)
    what = ["--what", "predictions,embeddings", "--batch-size", "4"]
    assert precompute(tiny_bert, data, tmp_path / "local", *what) == 0
    assert precompute(tiny_bert, data, tmp_path / "ray", *what, "--engine", "ray", "--workers", "1") == 0
    assert "PREDICTIONS: none of the 50 texts is stored yet: scoring them." in capsys.readouterr().err
    for kind, key in (("proba", ref.scoring_key), ("embedding", ref.fingerprint), ("tokens", ref.fingerprint)):
        np.testing.assert_allclose(stored(tmp_path / "ray", kind, key, texts), stored(tmp_path / "local", kind, key, texts), atol=1e-6, rtol=0)
    assert precompute(tiny_bert, data, tmp_path / "ray", *what, "--engine", "ray") == 0
    assert "EMBEDDINGS: all 50 texts already stored." in capsys.readouterr().err


def starts_of(job_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"veredicto-test-actor-starts-{job_id}"


class CountsItsStarts:
    """A Worker that leaves a file behind for each start (the actors run in other processes), under the Ray job's id."""

    def __init__(self, **kwargs):
        import ray

        from cli.ray_engine import Worker

        self.worker = Worker(**kwargs)
        starts = starts_of(ray.get_runtime_context().get_job_id())
        starts.mkdir(exist_ok=True)
        (starts / uuid.uuid4().hex).touch()

    def __call__(self, batch):
        return self.worker(batch)


@pytest.mark.ray
def test_a_run_starts_one_actor_pool_for_all_its_parts(ray_session, tiny_bert, tmp_path, monkeypatch):
    """Each part used to start its own pool (seconds each: start the actors, load the checkpoint in every one)."""
    from cli import ray_engine
    from explain.cache import AttributionCache, key_params

    monkeypatch.setattr(ray_engine, "Worker", CountsItsStarts)
    starts = starts_of(ray_session.get_runtime_context().get_job_id())
    shutil.rmtree(starts, ignore_errors=True)
    data = tmp_path / "d.csv"
    texts = write_data(data, 6)
    ref = inspect_checkpoint(tiny_bert)
    assert precompute(tiny_bert, data, tmp_path / "s", "--what", "predictions,embeddings,ig", "--engine", "ray", "--workers", "1") == 0
    assert len(list(starts.iterdir())) == 1
    shutil.rmtree(starts)
    assert ResultsStore(tmp_path / "s").count("proba", ref.scoring_key, texts) == ResultsStore(tmp_path / "s").count("embedding", ref.fingerprint, texts) == 6
    assert set(AttributionCache(tmp_path / "s").get_many(ref.scoring_key, texts, "ig", **key_params("ig"))) == set(texts)


class FailsOnItsSecondChunk:
    """A Worker whose second call fails, as a worker that dies mid-run does."""

    def __init__(self, **kwargs):
        from cli.ray_engine import Worker

        self.scorer = Worker(**kwargs)
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("worker lost")
        return self.scorer(batch)


@pytest.mark.ray
def test_a_worker_failing_mid_run_keeps_what_was_stored_and_says_a_rerun_continues(ray_session, tiny_bert, tmp_path):
    from cli.ray_engine import Pool, RayError, score_part

    ref = inspect_checkpoint(tiny_bert)
    texts = [f"text number {i} is good" for i in range(12)]
    chunks = [(list(range(s, s + 4)), texts[s : s + 4]) for s in range(0, 12, 4)]
    store = ResultsStore(tmp_path)
    pool = Pool(ray_session, ref, workers=1, actor=FailsOnItsSecondChunk)
    pool.add(score_part("proba", chunks, lambda p, rows: store.put_many("proba", ref.scoring_key, [texts[i] for i in p], rows)))
    with pytest.raises(RayError) as error:
        pool.run()
    kept = store.count("proba", ref.scoring_key, texts)
    assert kept in (0, 4)  # the first chunk, if it reached the driver before the failure did: committed whole, never in part
    assert f"a Ray worker failed after {kept} of 12 texts were stored" in str(error.value) and "(RuntimeError: worker lost)" in str(error.value)
    assert "run the same command again to continue" in str(error.value)


@pytest.mark.ray
def test_explanations_on_ray_are_the_local_engines(ray_session, tiny_bert, tmp_path, capsys):
    from explain.cache import AttributionCache, key_params

    data = tmp_path / "d.csv"
    texts = write_data(data, 5)
    ref = inspect_checkpoint(tiny_bert)
    assert precompute(tiny_bert, data, tmp_path / "local", "--what", "ig") == 0
    assert precompute(tiny_bert, data, tmp_path / "ray", "--what", "ig", "--engine", "ray", "--workers", "1") == 0
    assert "IG: 0 of 5 already cached, skipped; 5 to compute." in capsys.readouterr().err
    local = AttributionCache(tmp_path / "local").get_many(ref.scoring_key, texts, "ig", **key_params("ig"))
    on_ray = AttributionCache(tmp_path / "ray").get_many(ref.scoring_key, texts, "ig", **key_params("ig"))
    assert set(on_ray) == set(local) == set(texts)
    for text in texts:
        assert on_ray[text].tokens == local[text].tokens and on_ray[text].params == local[text].params
        np.testing.assert_allclose(on_ray[text].scores, local[text].scores, atol=1e-6, rtol=0)


@pytest.mark.ray
def test_more_workers_than_the_cluster_holds_are_refused_instead_of_waiting_forever(ray_session, tiny_bert, tmp_path, capsys):
    data = tmp_path / "d.csv"
    write_data(data, 2)
    assert precompute(tiny_bert, data, tmp_path / "s", "--what", "predictions", "--engine", "ray", "--workers", "3") == 2  # the session has 2 CPUs
    err = capsys.readouterr().err
    assert "the Ray cluster has 2 CPU(s) and 1 GPU(s); 3 worker(s) x 1 CPU(s) each need more" in err and "Lower --workers" in err
    assert precompute(tiny_bert, data, tmp_path / "s", "--what", "predictions", "--engine", "ray", "--workers", "2", "--gpus-per-worker", "1") == 2
    assert "1 GPU(s); 2 worker(s) x 1 CPU(s) and 1 GPU(s) each need more" in capsys.readouterr().err


class RecordsItsDevice:
    """A Worker that says which device the pool asked it to load the checkpoint on and which GPUs Ray gave it, and scores
    on the CPU (the test machine has no CUDA)."""

    def __init__(self, device=None, **kwargs):
        import ray

        from cli.ray_engine import Worker

        self.scorer = Worker(device="cpu", **kwargs)
        self.seen = f"device={device} gpus={len(ray.get_gpu_ids())}"

    def __call__(self, batch):
        out = self.scorer(batch)
        return {**out, "seen": np.full(len(out["position"]), self.seen, dtype=object)}


@pytest.mark.ray
def test_a_gpu_per_worker_is_asked_of_ray_and_the_checkpoint_loaded_on_cuda(ray_session, tiny_bert):
    from cli.ray_engine import Part, Pool

    texts = [f"text number {i} is good" for i in range(8)]
    seen: set[str] = set()
    pool = Pool(ray_session, inspect_checkpoint(tiny_bert), workers=1, gpus_per_worker=1, actor=RecordsItsDevice)
    pool.add(Part("proba", [(list(range(s, s + 4)), texts[s : s + 4]) for s in (0, 4)], lambda batch: seen.update(batch["seen"]) or len(batch["seen"])))
    assert pool.run() == 8
    assert seen == {"device=cuda gpus=1"}
    cpu_only = Pool(ray_session, inspect_checkpoint(tiny_bert), workers=1, actor=RecordsItsDevice)
    cpu_only.add(Part("proba", [([0], texts[:1])], lambda batch: seen.update(batch["seen"]) or 1))
    assert cpu_only.run() == 1
    assert seen == {"device=cuda gpus=1", "device=cpu gpus=0"}


def test_precompute_stores_the_insights_aggregate_the_page_opens_on(tiny_bert, tmp_path, capsys, monkeypatch):
    """After `--what ig` the Insights page's whole-set word statistics are stored under the key the page asks for (the file
    read as the app reads it): the page's view reads them, aggregating no explanation."""
    from types import SimpleNamespace

    import pandas as pd

    import explain.insights
    from evaldata.loading import load_eval_data
    from explain.cache import AttributionCache, key_params
    from explain.global_importance import global_importance
    from explain.views import insights_plan, insights_results

    data = tmp_path / "d.csv"
    write_data(data, 6, extra=["the film 0 was good and the cast good"])  # a duplicate text at two positions
    store = tmp_path / "store"
    assert precompute(tiny_bert, data, store, "--what", "ig") == 0
    assert "INSIGHTS: the word statistics of IG over all 7 examples are stored." in capsys.readouterr().err

    evalset = load_eval_data(data)  # as the app's sidebar reads it
    table = SimpleNamespace(frame=pd.DataFrame({"gold": evalset.gold, "text": evalset.inputs}), inputs=evalset.inputs)
    ref = inspect_checkpoint(tiny_bert)
    cache = AttributionCache(store)
    plan = insights_plan(table, [ref], "ig", len(evalset), key_params("ig"), cache)

    class Refused:
        def __init__(self, *args, **kwargs):
            raise AssertionError("the page aggregated explanations the store holds the statistics of")

    monkeypatch.setattr(explain.insights, "Aggregate", Refused)
    found = insights_results(plan, [ref], "ig", cache, inputs=evalset.inputs, hints=explain.insights.name_hints(evalset), store=ResultsStore(store))
    explained = cache.get_many(ref.scoring_key, evalset.inputs, "ig", **key_params("ig"))
    expected = global_importance({i: explained[t] for i, t in enumerate(evalset.inputs)}, name_hints=explain.insights.name_hints(evalset)).table
    got = found[ref.name].importance.table
    pd.testing.assert_frame_equal(
        got.sort_values(["label", "word"]).reset_index(drop=True), expected.sort_values(["label", "word"]).reset_index(drop=True), check_exact=False, rtol=1e-12
    )
