"""Checkpoint discovery, validation, fingerprints and safe loading, including every refusal."""

import json
import shutil

import numpy as np
import pytest

from models import CheckpointError, Predictor, discover_checkpoints, inspect_checkpoint


def copy(src, tmp_path, name="ckpt"):
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def test_inspect_reads_labels_fingerprint_and_limit(tiny_bert, tiny_roberta, tiny_generic):
    bert = inspect_checkpoint(tiny_bert)
    assert bert.labels == ("negative", "positive")
    assert bert.max_length == 128 and bert.model_type == "bert"
    assert len(bert.fingerprint) == 64 and bert.fingerprint == inspect_checkpoint(tiny_bert).fingerprint
    assert inspect_checkpoint(tiny_roberta).labels == ("bad", "neutral", "good")
    assert inspect_checkpoint(tiny_roberta).max_length == 64  # RoBERTa reserves pad positions
    assert inspect_checkpoint(tiny_generic).labels == ("LABEL_0", "LABEL_1")


def test_fingerprint_changes_with_weights_or_config(tiny_bert, tmp_path):
    ckpt = copy(tiny_bert, tmp_path)
    before = inspect_checkpoint(ckpt).fingerprint
    config = json.loads((ckpt / "config.json").read_text())
    config["id2label"] = {"0": "neg", "1": "pos"}
    (ckpt / "config.json").write_text(json.dumps(config))
    after = inspect_checkpoint(ckpt)
    assert after.fingerprint != before and after.labels == ("neg", "pos")
    (ckpt / "README.md").write_text("notes")  # other files are not part of the model identity
    assert inspect_checkpoint(ckpt).fingerprint == after.fingerprint


def test_discover_finds_all_and_reports_problems(tiny_bert, tiny_roberta, tmp_path):
    copy(tiny_bert, tmp_path, "a")
    copy(tiny_roberta, tmp_path / "nested", "b")
    broken = copy(tiny_bert, tmp_path, "broken")
    (broken / "config.json").write_text("{not json")
    refs, problems = discover_checkpoints(tmp_path)
    assert sorted(r.name for r in refs) == ["a", "b"]
    assert list(problems) == [broken] and "not valid JSON" in problems[broken]


def test_pickle_only_checkpoint_is_refused_with_conversion_advice(tiny_bert, tmp_path):
    ckpt = copy(tiny_bert, tmp_path)
    (ckpt / "model.safetensors").rename(ckpt / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pickle weights \(pytorch_model.bin\).*safe_serialization=True"):
        inspect_checkpoint(ckpt)


@pytest.mark.parametrize("name", ["model.pt", "weights.pkl"])
def test_other_pickle_suffixes_are_refused(tiny_bert, tmp_path, name):
    ckpt = copy(tiny_bert, tmp_path)
    (ckpt / "model.safetensors").rename(ckpt / name)
    with pytest.raises(CheckpointError, match="arbitrary code"):
        inspect_checkpoint(ckpt)


def test_auto_map_is_refused(tiny_bert, tmp_path):
    ckpt = copy(tiny_bert, tmp_path)
    config = json.loads((ckpt / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.Evil"}
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="trust_remote_code is off"):
        inspect_checkpoint(ckpt)


def test_truncated_safetensors_is_reported_as_corrupt(tiny_bert, tmp_path):
    ckpt = copy(tiny_bert, tmp_path)
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="corrupt.*truncated"):
        inspect_checkpoint(ckpt)


def test_garbage_safetensors_is_reported_as_corrupt(tiny_bert, tmp_path):
    ckpt = copy(tiny_bert, tmp_path)
    (ckpt / "model.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(CheckpointError, match="corrupt"):
        inspect_checkpoint(ckpt)


def test_missing_tokenizer(tiny_bert, tmp_path):
    ckpt = copy(tiny_bert, tmp_path)
    for f in ("tokenizer.json", "vocab.txt"):
        (ckpt / f).unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="has no tokenizer"):
        inspect_checkpoint(ckpt)


def test_config_not_json_names_line_and_column(tiny_bert, tmp_path):
    ckpt = copy(tiny_bert, tmp_path)
    (ckpt / "config.json").write_text('{\n  "model_type": "bert",\n  oops\n}')
    with pytest.raises(CheckpointError, match=r"not valid JSON \(line 3, column 3"):
        inspect_checkpoint(ckpt)


def test_missing_directory_and_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist.*veredicto demo"):
        inspect_checkpoint(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        inspect_checkpoint(tmp_path / "f")


def test_generic_and_named_labels_both_predict(tiny_generic, tiny_bert):
    for path, labels in ((tiny_generic, ("LABEL_0", "LABEL_1")), (tiny_bert, ("negative", "positive"))):
        predictor = Predictor(path, device="cpu")
        assert predictor.labels == labels
        probs = predictor.predict_proba(["a good film"])
        assert probs.shape == (1, 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_loading_runs_no_code_and_uses_safetensors_only(tiny_bert, tmp_path, monkeypatch):
    """A stray pickle next to the safetensors file is never touched."""
    ckpt = copy(tiny_bert, tmp_path)
    (ckpt / "pytorch_model.bin").write_bytes(b"not a pickle: loading this would fail loudly")
    predictor = Predictor(ckpt, device="cpu")
    assert predictor.predict_proba(["fine"]).shape == (1, 2)
