"""The Data page's expensive results kept in the results store: what is read back equals what is computed afresh, a
changed checkpoint, data file or training file is a miss (never a stale hit), `veredicto precompute --what quality` fills
them and skips them on a second run, and the page opened on a filled store after a restart computes none of them."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from analysis_pages_support import app_test, build_fixture, restart

import quality.views as views
from probes.views import ResultCache
from store import codec
from store.results import ResultsStore


class Calls:
    """Counts the Data page's three computations (label issues, leakage and drift, a PII scan), by wrapping them where the view-model calls them."""

    def __init__(self, monkeypatch):
        self.counts = {"issues": 0, "quality": 0, "pii": 0}
        for name, what in (("find_issues", "issues"), ("assess", "quality"), ("scan_evalset", "pii")):
            monkeypatch.setattr(views, name, self._counting(getattr(views, name), what))
        from quality.training import TrainingFile

        monkeypatch.setattr(TrainingFile, "scan_pii", self._counting(TrainingFile.scan_pii, "pii"))

    def _counting(self, real, what):
        def counted(*args, **kwargs):
            self.counts[what] += 1
            return real(*args, **kwargs)

        return counted

    def take(self) -> dict:
        out, self.counts = self.counts, dict.fromkeys(self.counts, 0)
        return out


def write_data(tmp_path, labels, *, changed: bool = False):
    from evaldata.loading import load_eval_data

    texts = [f"mail ana.lopez@example.com about order {i} please" for i in range(6)] + ["a plain text", "another plain one"]
    if changed:
        texts[-1] = "another plain one, changed"
    frame = pd.DataFrame({"text": texts, "label": [labels[i % len(labels)] for i in range(len(texts))]})
    frame.to_csv(tmp_path / "eval.csv", index=False)
    return load_eval_data(tmp_path / "eval.csv")


def write_training(tmp_path, evalset, extra: str = ""):
    from quality.training import training_data

    texts = [evalset.texts[2], "something else entirely here", "and more training text", "call +1 415 555 0100 now" + extra]
    pd.DataFrame({"text": texts, "label": ["negative", "positive"] * 2}).to_csv(tmp_path / "train.csv", index=False)
    return training_data(None, tmp_path / "train.csv", chunk_rows=2)  # read in chunks, as the page reads a file on disk


def same(a, b, training=None) -> bool:
    """Equal as stored: the codec's JSON of both (frames with dtypes and index, NaN spelled out)."""
    externals = {"training": training}
    return json.dumps(codec.encode(a, externals), sort_keys=True) == json.dumps(codec.encode(b, externals), sort_keys=True)


def test_stored_results_equal_fresh_ones_and_a_changed_checkpoint_data_or_training_file_is_a_miss(tiny_bert_predictor, tmp_path, monkeypatch):
    from analysis.predictions import predict_table
    from privacy.pii import scan_evalset
    from probes.embeddings import build_index
    from quality.assess import assess
    from quality.label_issues import find_issues

    predictor = tiny_bert_predictor
    evalset = write_data(tmp_path, list(predictor.labels))
    table = predict_table(predictor, evalset)
    training = write_training(tmp_path, evalset)
    store = ResultsStore(tmp_path / "store")
    calls = Calls(monkeypatch)

    lines = views.fill_quality(predictor, table, evalset, training, store=store)
    assert [line.split(":")[0] for line in lines] == [
        "Label issues (confident learning and neighbour hints)",
        "Leakage and drift against the training data",
        "Personal data in the evaluation data",
        "Personal data in the training data",
    ]
    assert all(line.endswith("computed and stored.") for line in lines)
    assert calls.take() == {"issues": 1, "quality": 1, "pii": 2}
    assert all(line.endswith("already stored, skipped.") for line in views.fill_quality(predictor, table, evalset, training, store=store))
    assert calls.take() == {"issues": 0, "quality": 0, "pii": 0}

    # what a fresh process reads equals what the libraries compute now
    issues = views.kept_issues(table, results=ResultCache(), store=store)
    assert issues is not None and issues.neighbour_count is not None
    fresh = find_issues(table, build_index(predictor, table))
    pd.testing.assert_frame_equal(issues.frame, fresh.frame)
    assert (issues.n, issues.confident_learning_count, issues.neighbour_count) == (fresh.n, fresh.confident_learning_count, fresh.neighbour_count)
    quality = views.measure_quality(predictor, table, training, results=ResultCache(), store=store)
    assert quality.training is training and quality.leakage is not None and quality.leakage.matches["row"].tolist() == [2]
    assert same(quality, assess(predictor, table, training, checks=("leakage", "drift")), training)
    assert views.personal_data(evalset, redact=False, results=ResultCache(), store=store).scan == scan_evalset(evalset)
    train_pii = views.training_personal_data(training, redact=True, results=ResultCache(), store=store)
    assert train_pii is not None and train_pii.scan == training.file.scan_pii() and train_pii.scan.rows_with_pii == 2
    assert calls.take() == {"issues": 0, "quality": 0, "pii": 1}  # the reads computed nothing; the one scan is the comparison's own scan_pii()

    # another checkpoint (its fingerprint names the table): the label issues and leakage/drift are misses
    other = dataclasses.replace(table, fingerprint="0" * 64)
    assert views.kept_issues(other, results=ResultCache(), store=store) is None
    views.data_view(_audit(tmp_path), other, results=ResultCache(), results_store=store)
    views.measure_quality(predictor, other, training, results=ResultCache(), store=store)
    assert calls.take() == {"issues": 1, "quality": 1, "pii": 0}

    # a changed data file: every part of it is a miss; the training file's scan is not
    changed = write_data(tmp_path, list(predictor.labels), changed=True)
    assert changed.fingerprint != evalset.fingerprint
    changed_table = predict_table(predictor, changed)
    assert all(line.endswith("computed and stored.") for line in views.fill_quality(predictor, changed_table, changed, training, store=store)[:3])
    assert calls.take() == {"issues": 1, "quality": 1, "pii": 1}

    # a changed training file: leakage and drift and its scan are misses, the label issues are not
    before = training.key  # the file's path, version (modification time, size) and columns, read when asked
    changed_training = write_training(tmp_path, changed, extra=" please")
    assert changed_training.key != before
    lines = views.fill_quality(predictor, changed_table, changed, changed_training, store=store)
    assert [line.endswith("computed and stored.") for line in lines] == [False, True, False, True]
    assert calls.take() == {"issues": 0, "quality": 1, "pii": 1}


def _audit(tmp_path):
    from store.audit import AuditStore

    return AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")


def test_a_damaged_or_older_payload_is_computed_again_and_replaced(tiny_bert_predictor, tmp_path, monkeypatch):
    from analysis.predictions import predict_table
    from quality.stored import QUALITY_FORMAT

    evalset = write_data(tmp_path, list(tiny_bert_predictor.labels))
    store = ResultsStore(tmp_path / "store")
    first = views.personal_data(evalset, redact=False, results=ResultCache(), store=store).scan
    calls = Calls(monkeypatch)
    key, params, _ = views._pii_source(evalset)
    store.put_payload("pii", key, params, QUALITY_FORMAT, {"__dc__": "os.system", "fields": {}})  # a payload naming a class it may not build
    assert views.personal_data(evalset, redact=False, results=ResultCache(), store=store).scan == first
    store.put_payload("pii", key, params, QUALITY_FORMAT - 1, codec.encode(first))  # only an older format stored
    assert views.personal_data(evalset, redact=False, results=ResultCache(), store=store).scan == first
    assert calls.take()["pii"] == 2
    table = predict_table(tiny_bert_predictor, evalset)
    assert views.kept_issues(table, results=ResultCache(), store=store) is None  # nothing stored for it: None, nothing computed
    assert calls.take()["issues"] == 0


@pytest.fixture
def filled(tmp_path, monkeypatch, capsys):
    """build_fixture's tiny checkpoints and data, the candidate's provenance naming train.csv (what the page reads by default),
    and a store filled by `veredicto precompute` (the default parts but Integrated Gradients) for both checkpoints."""
    from cli.main import main
    from training.provenance import write_provenance

    env = build_fixture(tmp_path)
    train = tmp_path / "train.csv"
    pd.DataFrame({"text": [env["frame"]["text"].iat[3].upper(), "a training text about weather"], "label": ["negative", "positive"]}).to_csv(train, index=False)
    record = {"format": 1, "kind": "finetune", "status": "complete", "base": {}, "hyperparameters": {}, "trials": [], "curves": {}, "versions": {}}
    write_provenance(env["checkpoints"] / "tiny-after", {**record, "data": {"path": str(train), "text_col": "text", "label_col": "label"}})
    store = env["data"].parent / "attribution-cache"  # where app_test points the app
    restart()
    for model in sorted(env["checkpoints"].iterdir()):
        assert main(["precompute", "--model", str(model), "--data", str(env["data"]), "--store", str(store), "--what", "predictions,embeddings,quality"]) == 0
    err = capsys.readouterr().err
    assert err.count("QUALITY: Label issues (confident learning and neighbour hints): computed and stored.") == 2
    assert err.count("QUALITY: Leakage and drift against the training data: computed and stored.") == 1  # only tiny-after names its training file
    assert "QUALITY: Personal data in the evaluation data: already stored, skipped." in err  # the second checkpoint: the same data, scanned once
    return {**env, "store": store}


def test_precompute_quality_fills_the_store_a_second_run_skips_and_the_page_computes_nothing(filled, monkeypatch, capsys, forwarded):
    from cli.main import main

    model = filled["checkpoints"] / "tiny-after"
    assert main(["precompute", "--model", str(model), "--data", str(filled["data"]), "--store", str(filled["store"]), "--what", "quality"]) == 0
    err = capsys.readouterr().err
    assert err.count("already stored, skipped.") == 4 and "computed and stored" not in err
    assert main(["precompute", "--model", str(model), "--data", str(filled["data"]), "--limit", "5", "--what", "quality"]) == 2
    assert "drop --limit" in capsys.readouterr().err

    restart()
    forwarded.clear()
    calls = Calls(monkeypatch)
    import probes.embeddings
    from dashboard import state

    indexes, tabled = [], []
    monkeypatch.setattr(probes.embeddings, "build_index", lambda *args, **kwargs: indexes.append(1))  # reading 100k embeddings takes seconds
    real_table = state.get_table
    monkeypatch.setattr(state, "get_table", lambda ref, *args: tabled.append(ref.name) or real_table(ref, *args))
    at = app_test(filled, monkeypatch, "pages/data.py")
    assert not at.exception, [e.message for e in at.exception]
    assert calls.take() == {"issues": 0, "quality": 0, "pii": 0}
    assert forwarded == [] and indexes == []  # no embedding index either: the neighbour hints were stored with the issues
    assert tabled == ["tiny-before", "tiny-after", "tiny-after"]  # the Overview (app_test opens it first) reads both; the Data page only the candidate's
    issues = next(d.value for d in at.dataframe if "flagged_by" in d.value.columns)
    assert len(issues) and not any("need the model's embeddings" in i.value for i in at.info)
    assert (
        next(d.value for d in at.dataframe if "train_text" in d.value.columns)["row"].tolist()[0] == 3
    )  # the leaked rows (the fixture repeats texts), from the stored scan
    assert any(m.value.startswith("**In the training data:**") for m in at.markdown)
