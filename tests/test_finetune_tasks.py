"""`veredicto finetune` for multi-label classifiers (BCE loss, problem_type in config.json) and sentence pairs (both segments, token types).

Small hand-made data the tiny BERT vocabulary covers; each model is trained once per module, for a few epochs.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from finetune_support import NEUTRAL, pair_rows, tagged_rows, write_csv
from tiny import make_tiny_checkpoint

from models.checkpoints import inspect_checkpoint
from models.errors import CheckpointError, DataError
from models.task import MULTI_LABEL, SINGLE_LABEL
from training.data import prepare_data
from training.model import load_model, resolve_base
from training.provenance import load_provenance, summary
from training.run import encode, train_single

FAST = {"learning_rate": 3e-3, "epochs": 2, "batch_size": 8}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("finetune-tasks")


@pytest.fixture(scope="module")
def base(workdir) -> Path:
    return make_tiny_checkpoint(workdir / "base", "bert", labels=None)


@pytest.fixture(scope="module")
def multi_data(workdir):
    path = write_csv(tagged_rows(40), workdir / "tags.csv")
    return path, prepare_data(path, text_col="review", label_col="tags", task=MULTI_LABEL)


@pytest.fixture(scope="module")
def multi(workdir, base, multi_data):
    _, data = multi_data
    return train_single(base, data, workdir / "multi", FAST, seed=0, log=lambda m: None, progress=False)


@pytest.fixture(scope="module")
def pair_data(workdir):
    path = write_csv(pair_rows(40), workdir / "pairs.csv")
    return path, prepare_data(path, text_col="premise", pair_col="hypothesis")


@pytest.fixture(scope="module")
def pair(workdir, base, pair_data):
    _, data = pair_data
    return train_single(base, data, workdir / "pair", FAST, seed=0, log=lambda m: None, progress=False)


def _model(path: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True, use_safetensors=True).eval(), tokenizer


def _logits(model, tokenizer, texts, pairs=None):
    import torch

    with torch.no_grad():
        enc = tokenizer(list(texts), *([list(pairs)] if pairs is not None else []), padding=True, return_tensors="pt")
        return model(**enc).logits.numpy()


def _bce(logits: np.ndarray, gold: np.ndarray) -> float:
    """Mean binary cross-entropy by hand (numerically stable form), over every (row, tag)."""
    return float(np.mean(np.maximum(logits, 0) - logits * gold + np.log1p(np.exp(-np.abs(logits)))))


# --------------------------------------------------------------------------- multi-label


def test_multi_label_data_reads_tags_and_rows_with_no_tag(multi_data):
    path, data = multi_data
    frame = pd.read_csv(path, keep_default_na=False)
    assert data.task == MULTI_LABEL and data.labels == ("gripe", "praise")
    assert data.info["data"]["task"] == MULTI_LABEL and data.info["data"]["label_sep"] == "|"
    expected = {tag: int(frame["tags"].str.contains(tag).sum()) for tag in ("gripe", "praise")}
    assert data.info["data"]["label_counts"] == expected  # rows per tag, not per tag set
    gold = data.gold_matrix(data.train_labels, data.labels)
    by_hand = np.array([[float("gripe" in t), float("praise" in t)] for t in data.train_labels], dtype=np.float32)
    np.testing.assert_array_equal(gold, by_hand)
    assert "" in data.train_labels + data.val_labels  # rows with no tag are kept, as all-zero vectors


def test_multi_label_checkpoint_says_so_in_config_and_is_read_as_multi_label(multi):
    config = json.loads((multi.out / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    ref = inspect_checkpoint(multi.out)
    assert ref.task == MULTI_LABEL and ref.task_source == "config" and ref.labels == ("gripe", "praise")
    prov = load_provenance(multi.out)
    assert prov.task == MULTI_LABEL and prov.metric == "micro_f1"
    assert summary(prov)["Task"] == MULTI_LABEL


def test_multi_label_probabilities_are_not_a_softmax(multi, multi_data):
    from models.inference import Predictor

    _, data = multi_data
    predictor = Predictor(inspect_checkpoint(multi.out))
    proba = predictor.predict_proba(list(data.val_texts))
    model, tokenizer = _model(multi.out)
    sigmoid = 1 / (1 + np.exp(-_logits(model, tokenizer, data.val_texts)))
    np.testing.assert_allclose(proba, sigmoid, atol=1e-5)  # one sigmoid per tag
    assert not np.allclose(proba.sum(axis=1), 1.0, atol=1e-2)  # a softmax would sum to 1 on every row


def test_multi_label_training_minimises_binary_cross_entropy(multi, multi_data, workdir, base):
    """The loss transformers trains with is BCE over indicator vectors: the recorded validation loss is the BCE of
    the saved model computed by hand (cross-entropy would differ), and training lowered the training BCE."""
    _, data = multi_data
    trained, tokenizer = _model(multi.out)
    val_gold = data.gold_matrix(data.val_labels, data.labels)
    assert multi.metrics["loss"] == pytest.approx(_bce(_logits(trained, tokenizer, data.val_texts), val_gold), abs=1e-4)

    ref_base = resolve_base(base, data.labels, task=MULTI_LABEL)
    fresh, _ = load_model(ref_base, seed=0)  # the seeded starting point of the run
    fresh.eval()
    train_gold = data.gold_matrix(data.train_labels, data.labels)
    before = _bce(_logits(fresh, tokenizer, data.train_texts), train_gold)
    after = _bce(_logits(trained, tokenizer, data.train_texts), train_gold)
    assert after < before


def test_multi_label_validation_metric_is_micro_f1_at_one_half(multi, multi_data):
    from sklearn.metrics import accuracy_score, f1_score

    _, data = multi_data
    model, tokenizer = _model(multi.out)
    pred = _logits(model, tokenizer, data.val_texts) >= 0  # sigmoid >= 0.5
    gold = data.gold_matrix(data.val_labels, data.labels).astype(bool)
    assert multi.metrics["micro_f1"] == pytest.approx(f1_score(gold, pred, average="micro", zero_division=0))
    assert multi.metrics["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert multi.metrics["accuracy"] == pytest.approx(accuracy_score(gold, pred))  # the exact tag set


def test_multi_label_from_zero_one_columns(workdir):
    frame = tagged_rows(20, seed=1)
    wide = pd.DataFrame({"review": frame["review"], **{t: frame["tags"].str.contains(t).astype(int) for t in ("praise", "gripe")}})
    data = prepare_data(write_csv(wide, workdir / "wide.csv"), text_col="review", label_cols=("praise", "gripe"))
    assert data.task == MULTI_LABEL  # implied by --label-cols
    sep = prepare_data(write_csv(frame, workdir / "tags20.csv"), text_col="review", label_col="tags", task=MULTI_LABEL)
    assert sorted(data.train_labels + data.val_labels) == sorted(sep.train_labels + sep.val_labels)


def test_unknown_validation_tag_and_single_label_with_a_separator_are_refused(workdir):
    train = write_csv(tagged_rows(20), workdir / "t.csv")
    val = write_csv(pd.DataFrame({"review": ["good film", "bad film"], "tags": ["praise", "gripe|spoiler"]}), workdir / "v.csv")
    with pytest.raises(DataError, match="'spoiler'"):
        prepare_data(train, text_col="review", label_col="tags", task=MULTI_LABEL, validation=val)
    with pytest.raises(DataError, match="--label-sep and --label-cols describe multi-label data"):
        prepare_data(train, text_col="review", label_col="tags", task=SINGLE_LABEL, label_sep="|")


# --------------------------------------------------------------------------- sentence pairs


def test_pair_encoding_carries_both_segments_with_token_types(pair_data, base):
    _, data = pair_data
    ref = resolve_base(base, data.labels, pairs=True)
    _, tokenizer = load_model(ref, seed=0)
    encoded = encode(tokenizer, data, ref.labels, ref.max_length)
    row, (first, second) = encoded.train[0], (data.train_texts[0], data.train_pairs[0])
    ids_first = tokenizer(first, add_special_tokens=False)["input_ids"]
    ids_second = tokenizer(second, add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert row["input_ids"] == [cls, *ids_first, sep, *ids_second, sep]
    assert row["token_type_ids"] == [0] * (len(ids_first) + 2) + [1] * (len(ids_second) + 1)
    assert row["labels"] == list(ref.labels).index(data.train_labels[0])


def test_pair_checkpoint_is_single_label_and_records_the_pair_column(pair, pair_data):
    _, data = pair_data
    config = json.loads((pair.out / "config.json").read_text())
    assert config["problem_type"] == "single_label_classification"
    assert inspect_checkpoint(pair.out).task == SINGLE_LABEL
    prov = load_provenance(pair.out)
    assert prov.pair_col == "hypothesis" and prov.record["data"]["pair_col"] == "hypothesis"
    assert "second text: 'hypothesis'" in summary(prov)["Task"]
    # the recorded validation accuracy is that of the saved model reading (premise, hypothesis)
    model, tokenizer = _model(pair.out)
    pred = _logits(model, tokenizer, data.val_texts, data.val_pairs).argmax(-1)
    gold = [model.config.label2id[label] for label in data.val_labels]
    assert pair.metrics["accuracy"] == pytest.approx(float(np.mean(pred == np.array(gold))))


def test_pairs_repeat_only_when_both_texts_repeat(workdir):
    frame = pd.DataFrame(
        {"premise": ["the film", "the film", "the film", "a plot"] * 3, "hypothesis": ["good", "good", "bad", "awful"] * 3, "label": ["p", "p", "n", "n"] * 3}
    )
    frame["premise"] = frame["premise"] + [f" {i}" for i in range(3) for _ in range(4)]
    data = prepare_data(write_csv(frame, workdir / "dups.csv"), text_col="premise", pair_col="hypothesis")
    assert data.info["data"]["duplicates_dropped"] == 3  # ("the film i", "good") twice per i; ("the film i", "bad") is another pair
    assert len(data.train_texts) + len(data.val_texts) == 9


def test_pair_training_on_a_tokenizer_that_cannot_mark_pairs_is_refused(workdir, pair_data):
    gpt2 = make_tiny_checkpoint(workdir / "gpt2", "gpt2", labels=None)
    _, data = pair_data
    with pytest.raises(CheckpointError, match="cannot take sentence pairs"):
        train_single(gpt2, data, workdir / "never", FAST, log=lambda m: None, progress=False)
    assert not (workdir / "never").exists()


# --------------------------------------------------------------------------- the command line


def test_cli_finetunes_multi_label_pairs_and_refuses_bad_options(workdir, base, capsys):
    from cli.main import main

    frame = tagged_rows(30, seed=2)
    frame["context"] = [" ".join(random.Random(i).sample(NEUTRAL, 3)) for i in range(len(frame))]
    data = write_csv(frame, workdir / "cli.csv")
    out = workdir / "cli-multi"
    common = ["finetune", "--base", str(base), "--data", str(data), "--text-col", "context", "--pair-col", "review", "--label-col", "tags"]
    search = ["--trials", "1", "--quiet", "--epochs", "1,1", "--batch-sizes", "8", "--store", str(workdir / "cli.db")]
    assert main([*common, "--task", "multi-label", "--out", str(out), *search]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    ref = inspect_checkpoint(out)
    assert ref.task == MULTI_LABEL and ref.labels == ("gripe", "praise")
    prov = load_provenance(out)
    assert prov.metric == "micro_f1" and prov.pair_col == "review" and prov.record["search"]["metric"] == "micro_f1"

    assert main([*common, "--task", "single-label", "--label-sep", ";", "--out", str(workdir / "bad"), *search]) == 2
    assert "describe multi-label data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*common, "--label-cols", "praise", "--out", str(workdir / "bad"), *search])
    assert "two or more column names" in capsys.readouterr().err
