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


# --------------------------------------------------------------------------- fingerprints cover behaviour


def _edit_json(file, **changes):
    data = json.loads(file.read_text())
    data.update(changes)
    file.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c: _edit_json(c / "tokenizer_config.json", model_max_length=16), id="model_max_length"),
        pytest.param(lambda c: _edit_json(c / "tokenizer_config.json", do_lower_case=False), id="do_lower_case"),
        pytest.param(lambda c: (c / "special_tokens_map.json").write_text('{"unk_token": "[PAD]"}'), id="new special_tokens_map"),
        pytest.param(lambda c: (c / "tokenizer.json").write_text((c / "tokenizer.json").read_text().replace('"[UNK]"', '"[UNKNOWN]"', 1)), id="tokenizer.json"),
    ],
)
def test_tokenizer_edits_that_change_behaviour_change_the_fingerprint(tiny_bert, tmp_path, change):
    """The attack: approve a checkpoint, then truncate shorter / stop lower-casing / swap vocabulary; the approval must not stay current."""
    ckpt = copy(tiny_bert, tmp_path)
    before = inspect_checkpoint(ckpt).fingerprint
    change(ckpt)
    assert inspect_checkpoint(ckpt).fingerprint != before


def test_one_vocab_line_changes_the_fingerprint(tiny_bert, tmp_path):
    ckpt = copy(tiny_bert, tmp_path)
    vocab = ckpt / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\ngood\nbad\n")
    before = inspect_checkpoint(ckpt).fingerprint
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\ngood\nawful\n")
    assert inspect_checkpoint(ckpt).fingerprint != before


def test_the_model_max_length_edit_really_changes_predictions(tiny_bert, tmp_path):
    """Why tokenizer files belong in the fingerprint: the same weights truncate (and so predict) differently."""
    ckpt = copy(tiny_bert, tmp_path)
    _edit_json(ckpt / "tokenizer_config.json", model_max_length=4)
    long_text = "the film was good " * 20
    assert inspect_checkpoint(ckpt).max_length == 4
    short = Predictor(str(ckpt), device="cpu").predict_proba([long_text])
    full = Predictor(str(tiny_bert), device="cpu").predict_proba([long_text])
    assert not np.allclose(short, full)


def test_notes_provenance_and_logs_do_not_change_the_fingerprint(tiny_bert, tmp_path):
    ckpt = copy(tiny_bert, tmp_path)
    before = inspect_checkpoint(ckpt).fingerprint
    (ckpt / "README.md").write_text("# notes")
    (ckpt / "provenance.json").write_text('{"checkpoint": {"fingerprint": "' + before + '"}}')
    (ckpt / "trainer_state.json").write_text("{}")
    (ckpt / "generation_config.json").write_text("{}")
    (ckpt / "checkpoint-10").mkdir()
    (ckpt / "checkpoint-10" / "tokenizer_config.json").write_text("{}")
    assert inspect_checkpoint(ckpt).fingerprint == before
    (ckpt / "README.md").write_text("# other notes")
    (ckpt / "provenance.json").write_text("{}")
    assert inspect_checkpoint(ckpt).fingerprint == before


def test_byte_identical_copies_share_the_fingerprint_and_a_rename_is_a_change(tiny_bert, tmp_path):
    a, b = copy(tiny_bert, tmp_path, "a"), copy(tiny_bert, tmp_path / "elsewhere", "b")
    assert inspect_checkpoint(a).fingerprint == inspect_checkpoint(b).fingerprint == inspect_checkpoint(tiny_bert).fingerprint
    (b / "tokenizer.json").rename(b / "vocab.json")  # same bytes, read by another rule
    assert inspect_checkpoint(b).fingerprint != inspect_checkpoint(a).fingerprint
    # Sorted by name, so listing order on disk does not matter; and each file is framed by its size.
    from models.checkpoints import behaviour_files

    assert [f.name for f in behaviour_files(a)] == sorted(f.name for f in behaviour_files(a))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {f.name for f in behaviour_files(a)}


def test_bytes_moved_between_files_change_the_fingerprint(tiny_bert, tmp_path):
    """Without a length per file, moving the end of one file to the start of the next would hash the same."""
    ckpt = copy(tiny_bert, tmp_path)
    (ckpt / "vocab.txt").write_text("a\nb\n")
    (ckpt / "vocab.json").write_text("c")
    before = inspect_checkpoint(ckpt).fingerprint
    (ckpt / "vocab.txt").write_text("a\n")
    (ckpt / "vocab.json").write_text("b\nc")
    assert inspect_checkpoint(ckpt).fingerprint != before


def test_every_tokenizer_file_transformers_reads_is_covered():
    """A transformers upgrade that adds a tokenizer file name fails here rather than leaving it out of the fingerprint."""
    import transformers
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

    from models.checkpoints import TOKENIZER_BEHAVIOUR_FILES

    def classes(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, (tuple, list)):
            for v in value:
                yield from classes(v)

    read = {"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "tokenizer.json"}
    for value in TOKENIZER_MAPPING_NAMES.values():
        for name in classes(value):
            try:
                files = getattr(getattr(transformers, name), "vocab_files_names", None) or {}
            except (AttributeError, ImportError, RuntimeError):  # a tokenizer whose optional backend (sentencepiece, ...) is not installed
                continue
            read |= {f for f in files.values() if isinstance(f, str)}
    assert len(read) > 10
    assert read - set(TOKENIZER_BEHAVIOUR_FILES) == set()


def test_save_checkpoint_records_the_fingerprint_inspect_computes(tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.checkpoint import save_checkpoint

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    assert save_checkpoint(model, tokenizer, tmp_path / "saved", max_length=32) == inspect_checkpoint(tmp_path / "saved").fingerprint


def test_legacy_fingerprint_is_the_version_1_value(tiny_bert, tmp_path):
    """The value records made before tokenizer files counted: sha256 over name + bytes of config.json then the weights."""
    import hashlib

    from models.checkpoints import legacy_fingerprint

    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        digest.update(name.encode() + b"\0" + (tiny_bert / name).read_bytes())
    assert legacy_fingerprint(tiny_bert) == digest.hexdigest() != inspect_checkpoint(tiny_bert).fingerprint
    ckpt = copy(tiny_bert, tmp_path)
    _edit_json(ckpt / "tokenizer_config.json", model_max_length=16)
    assert legacy_fingerprint(ckpt) == legacy_fingerprint(tiny_bert)  # the blind spot version 2 closes


def test_a_signoff_with_a_version_1_fingerprint_still_verifies_and_is_now_stale(tiny_bert, tmp_path):
    """Records hash the fingerprint they were given, so the chain holds; the approval no longer counts for the (now fully fingerprinted) model."""
    from store_support import signoff

    from models.checkpoints import legacy_fingerprint
    from store.audit import AuditStore, current_fingerprint, freshness

    ckpt = copy(tiny_bert, tmp_path)
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    old = store.append(**signoff(1, checkpoint_name="ckpt", checkpoint_path=str(ckpt.resolve()), checkpoint_fingerprint=legacy_fingerprint(ckpt)))
    assert store.verify().ok
    now = inspect_checkpoint(ckpt)
    assert now.fingerprint != old.checkpoint_fingerprint and freshness(old, current_fingerprint(ckpt)) == "stale"
    status = store.status(now.fingerprint, now.path)
    assert status.state == "stale" and not status.approved
