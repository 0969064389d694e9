"""Task kinds: which checkpoints are taken (single-label, multi-label, either over sentence pairs) and which are refused.

Every number is checked against the model's own forward pass or scikit-learn, never against itself.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from tiny import make_tiny_checkpoint

from analysis.predictions import predict_table
from analysis.thresholds import Thresholds, best_f1_thresholds, parse_thresholds, tune_thresholds
from evaldata.loading import align_labels, data_fingerprint, detect_label_columns, load_eval_data
from models.checkpoints import inspect_checkpoint
from models.errors import CheckpointError, DataError
from models.inference import Predictor
from models.task import MULTI_LABEL, SINGLE_LABEL
from runtime import LRUCache

TAGS = ("toxic", "insult", "threat", "spam")


@pytest.fixture(scope="module")
def multi_dir(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ml") / "ml", labels=TAGS, problem_type="multi_label_classification")


@pytest.fixture(scope="module")
def multi(multi_dir):
    return Predictor(multi_dir, cache=None)


def _edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def test_problem_type_decides_the_task_and_the_override_wins(multi_dir, tmp_path):
    assert inspect_checkpoint(multi_dir).task == MULTI_LABEL
    single = make_tiny_checkpoint(tmp_path / "s")
    assert inspect_checkpoint(single).task == SINGLE_LABEL
    forced = inspect_checkpoint(single, task="multi_label")
    assert (forced.task, forced.task_source) == (MULTI_LABEL, "override")
    assert forced.scoring_key != inspect_checkpoint(single).scoring_key
    assert inspect_checkpoint(single).scoring_key == inspect_checkpoint(single).fingerprint  # single-label keys unchanged


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"problem_type": "regression"}, "problem_type: regression"),
        ({"num_labels": 1, "id2label": {"0": "score"}, "label2id": {"score": 0}}, "num_labels: 1"),
        ({"architectures": ["BertForTokenClassification"]}, "architectures"),
        ({"architectures": ["GPT2LMHeadModel"]}, "architectures"),
        ({"architectures": ["T5ForConditionalGeneration"]}, "architectures"),
    ],
)
def test_what_is_not_a_text_classifier_is_refused_naming_the_config_field(tmp_path, changes, field):
    path = make_tiny_checkpoint(tmp_path / "m")
    _edit_config(path, **changes)
    with pytest.raises(CheckpointError, match="refused") as info:
        inspect_checkpoint(path)
    assert field in str(info.value)


def test_an_unknown_task_name_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="Unknown task"):
        inspect_checkpoint(make_tiny_checkpoint(tmp_path / "m"), task="regression")


def test_multi_label_probabilities_are_an_independent_sigmoid_per_label(multi):
    texts = ["the film was good", "a terrible boring movie", ""]
    probs = multi.predict_proba(texts)
    enc = multi.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = torch.sigmoid(multi.model(**enc).logits).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert not np.allclose(probs.sum(axis=1), 1.0)


def test_the_same_weights_read_two_ways_never_share_a_cached_row(multi_dir):
    cache = LRUCache(100)
    as_multi = Predictor(inspect_checkpoint(multi_dir), cache=cache)
    as_single = Predictor(inspect_checkpoint(multi_dir, task="single-label"), cache=cache)
    m, s = as_multi.predict_proba(["good film"]), as_single.predict_proba(["good film"])
    assert as_single.stats.texts_forwarded == 1  # not a cache hit of the sigmoid row
    assert s.sum() == pytest.approx(1.0, abs=1e-5) and not np.allclose(m, s)


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_pairs_score_like_the_model_given_both_segments(tmp_path, kind):
    predictor = Predictor(make_tiny_checkpoint(tmp_path / kind, kind=kind), cache=None)
    pairs = [("the film was good", "I loved this story"), ("awful", "never again: the worst script of the year")]
    probs = predictor.predict_proba(pairs)
    enc = predictor.tokenizer([a for a, _ in pairs], [b for _, b in pairs], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = torch.softmax(predictor.model(**enc).logits, dim=-1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    if kind == "bert":  # the second segment is read as segment 1: dropping token types changes the scores
        enc.pop("token_type_ids")
        with torch.no_grad():
            untyped = torch.softmax(predictor.model(**enc).logits, dim=-1).numpy()
        assert not np.allclose(probs, untyped, atol=1e-4)
    assert predictor.token_counts(pairs)[0] == len(enc["input_ids"][0]) - int((enc["attention_mask"][0] == 0).sum())


def test_a_tokenizer_that_cannot_mark_a_pair_is_refused_and_a_mix_of_kinds_too(tmp_path):
    gpt2 = Predictor(make_tiny_checkpoint(tmp_path / "g", kind="gpt2"), cache=None)
    assert not gpt2.takes_pairs
    with pytest.raises(CheckpointError, match="cannot take sentence pairs"):
        gpt2.predict_proba([("a film", "good")])
    bert = Predictor(make_tiny_checkpoint(tmp_path / "b"), cache=LRUCache(10))
    with pytest.raises(DataError, match="mixed single texts and sentence pairs"):
        bert.predict_proba(["a film", ("a film", "good")])
    assert bert.stats.texts_forwarded == 0 and not bert.cached(["a film"]).any()


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_multi_label_gold_from_a_separator_column_or_indicator_columns_agree(tmp_path):
    joined = _write(tmp_path, "a.csv", "text,tags\nyou idiot,toxic|insult\nbuy now,spam\nhello,\nI will find you,threat | toxic\n")
    columns = _write(tmp_path, "b.csv", "text,toxic,insult,threat,spam\nyou idiot,1,1,0,0\nbuy now,0,0,0,1\nhello,0,0,0,0\nI will find you,true,0,1,0\n")
    a = load_eval_data(joined, label_col="tags", label_sep="|")
    b = load_eval_data(columns, label_cols=detect_label_columns(["text", *TAGS], TAGS))
    ga, gb = align_labels(a, TAGS, multi_label=True), align_labels(b, TAGS, multi_label=True)
    np.testing.assert_array_equal(ga, gb)
    np.testing.assert_array_equal(ga[2], [False] * 4)  # an empty cell is "no tag"
    assert ga[3].tolist() == [True, False, True, False]
    assert b.metadata == ()  # the indicator columns are the gold, not metadata


def test_an_unknown_tag_names_its_row_and_a_mapping_fixes_it(tmp_path):
    data = load_eval_data(_write(tmp_path, "a.csv", "text,tags\nx,toxic\ny,spam|obscene\n"), label_col="tags", label_sep="|")
    with pytest.raises(DataError, match=r"Row 2 .*'obscene'"):
        align_labels(data, TAGS, multi_label=True)
    assert align_labels(data, TAGS, {"obscene": "insult"}, multi_label=True)[1].tolist() == [False, True, False, True]


def test_single_label_data_works_on_a_multi_label_model(tmp_path):
    data = load_eval_data(_write(tmp_path, "a.csv", "text,label\nx,toxic\ny,spam\n"))
    assert align_labels(data, TAGS, multi_label=True).sum(axis=1).tolist() == [1, 1]


def test_indicator_cells_that_are_not_0_or_1_are_refused(tmp_path):
    path = _write(tmp_path, "a.csv", "text,toxic,insult\nx,1,maybe\n")
    with pytest.raises(DataError, match="'insult'.*0/1"):
        load_eval_data(path, label_cols=("toxic", "insult"))


def test_a_pair_column_gives_pair_inputs_and_warns_about_one_sided_pairs(tmp_path):
    data = load_eval_data(
        _write(tmp_path, "p.csv", "premise,hypothesis,label\na cat,an animal,entailment\nrain,,neutral\n"), text_col="premise", pair_col="hypothesis"
    )
    assert data.inputs == [("a cat", "an animal"), ("rain", "")]
    assert any("one side empty" in w for w in data.warnings)
    plain = load_eval_data(tmp_path / "p.csv", text_col="premise")
    assert plain.fingerprint != data.fingerprint  # reading a second column is another evaluation
    with pytest.raises(DataError, match="no pair text column 'nope'"):
        load_eval_data(tmp_path / "p.csv", text_col="premise", pair_col="nope")


def test_a_multi_label_table_matches_scikit_learn_and_thresholds_enter_the_fingerprint(multi, tmp_path):
    path = _write(tmp_path, "d.csv", "text,tags\nyou idiot,toxic|insult\nbuy now,spam\nhello,\nI will find you,threat|toxic\nthe film was good,\n")
    data = load_eval_data(path, label_col="tags", label_sep="|")
    table = predict_table(multi, data)
    expected = multi.predict_proba(data.texts) >= 0.5
    np.testing.assert_array_equal(table.pred_matrix, expected)
    np.testing.assert_array_equal(table.correct, (expected == table.gold_matrix).all(axis=1))
    with pytest.raises(TypeError, match="multi-label"):
        _ = table.pred_idx
    strict = predict_table(multi, data, thresholds=Thresholds.default(TAGS).with_values({"toxic": 0.99}, "test"))
    assert strict.data_fingerprint != table.data_fingerprint
    assert table.data_fingerprint == data_fingerprint(data, task=MULTI_LABEL)
    assert not strict.pred_matrix[:, 0].any() or (multi.predict_proba(data.texts)[:, 0] >= 0.99).any()


def test_thresholds_file_validation(tmp_path):
    assert parse_thresholds("toxic: 0.3\ndefault: 0.6\n", TAGS).as_dict() == {"toxic": 0.3, "insult": 0.6, "threat": 0.6, "spam": 0.6}
    for bad, message in [("toxc: 0.3", "not a label"), ("toxic: 1.5", "between 0 and 1"), ("- 0.3", "mapping"), ("toxic: yes", "between 0 and 1")]:
        with pytest.raises(DataError, match=message):
            parse_thresholds(bad, TAGS)


def test_tuned_thresholds_are_each_labels_f1_best_by_brute_force():
    rng = np.random.default_rng(0)
    probs = rng.random((60, 3))
    gold = rng.random((60, 3)) < probs  # informative
    gold[:, 2] = False  # no positive: keeps the default
    values, best = best_f1_thresholds(probs, gold)
    for c in range(2):
        brute = max(f1_score(gold[:, c], probs[:, c] >= t) for t in np.unique(probs[:, c]))
        assert best[c] == pytest.approx(brute)
        assert f1_score(gold[:, c], probs[:, c] >= values[c]) == pytest.approx(brute)
    assert values[2] == 0.5


def test_thresholds_are_never_tuned_on_the_evaluation_data_itself(multi, tmp_path):
    path = _write(tmp_path, "d.csv", "text,tags\nyou idiot,toxic|insult\nbuy now,spam\n")
    data = load_eval_data(path, label_col="tags", label_sep="|")
    with pytest.raises(DataError, match="same examples as the evaluation data"):
        tune_thresholds(multi, data, evaluation=load_eval_data(path, label_col="tags", label_sep="|"))
    tuned = tune_thresholds(multi, data)
    assert tuned.source.startswith("tuned on d.csv")
