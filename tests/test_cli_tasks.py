"""The data options every data-reading command shares (cli/common.py), end to end on tiny multi-label and pair checkpoints.

Each bad input exits 2 with a message that says what is wrong, before any scoring and without touching what is already written.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, hamming_loss
from tiny import make_tiny_checkpoint

from cli.main import main
from models.inference import Predictor

TAGS = ("toxic", "insult", "threat", "spam")
TEXTS = ["you idiot", "buy now cheap", "hello there", "I will find you", "the film was good", "a terrible boring movie"]
GOLD = ["toxic|insult", "spam", "", "threat|toxic", "", "toxic"]


@pytest.fixture(scope="module")
def multi_dir(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ml") / "tags", labels=TAGS, problem_type="multi_label_classification")


@pytest.fixture(scope="module")
def plain_multi_dir(tmp_path_factory):
    """A multi-label checkpoint whose config does not say so (no problem_type), as many published ones."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ml") / "untyped", labels=TAGS, seed=3)


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("g") / "g", kind="gpt2")


def _csv(path, **columns):
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def _predict(model, data, out, *extra):
    return main(["predict", "--model", str(model), "--data", str(data), "--out", str(out), *map(str, extra)])


def test_multi_label_predict_prints_metrics_equal_to_scikit_learn_and_each_rows_set(multi_dir, tmp_path, capsys):
    data = _csv(tmp_path / "d.csv", text=TEXTS, tags=GOLD)
    out = tmp_path / "p.parquet"
    assert _predict(multi_dir, data, out, "--label-col", "tags") == 0
    captured = capsys.readouterr()
    frame = pd.read_parquet(out)
    probs = Predictor(multi_dir).predict_proba(TEXTS)
    pred = probs >= 0.5
    gold = np.array([[t in g.split("|") for t in TAGS] for g in GOLD])
    np.testing.assert_allclose(frame[[f"p_{t}" for t in TAGS]].to_numpy(), probs, atol=1e-6)
    assert frame["pred"].tolist() == [" | ".join(t for t, on in zip(TAGS, row) if on) for row in pred]
    assert f"Hamming loss {hamming_loss(gold, pred):.4f}" in captured.out
    assert f"F1 micro {f1_score(gold, pred, average='micro', zero_division=0):.3f}" in captured.out
    assert f"macro {f1_score(gold, pred, average='macro', zero_division=0):.3f}" in captured.out
    assert f"samples {f1_score(gold, pred, average='samples', zero_division=1):.3f}" in captured.out  # a row with no tag, none predicted: 1
    first = "{" + ", ".join(t for t, on in zip(TAGS, pred[0]) if on) + "}"
    assert f"row 1: {first}" in captured.out
    assert "Thresholds: default (0.5 for every label)" in captured.err


def test_task_override_reads_a_config_without_problem_type_as_multi_label(plain_multi_dir, tmp_path, capsys):
    data = _csv(tmp_path / "d.csv", text=TEXTS, tags=GOLD)
    out = tmp_path / "p.parquet"
    assert _predict(plain_multi_dir, data, out, "--label-col", "tags", "--task", "multi-label") == 0
    frame = pd.read_parquet(out)
    assert not np.allclose(frame[[f"p_{t}" for t in TAGS]].sum(axis=1), 1.0)  # sigmoids, not one softmax
    assert "set by the user" in capsys.readouterr().out
    # without the override the same data is single-label, whose rows must hold exactly one known label
    assert _predict(plain_multi_dir, data, tmp_path / "q.parquet", "--label-col", "tags") == 2


def test_indicator_columns_are_detected_or_named_and_agree_with_a_separator_column(multi_dir, tmp_path):
    indicator = {t: [int(t in g.split("|")) for g in GOLD] for t in TAGS}
    detected = _csv(tmp_path / "i.csv", text=TEXTS, **indicator)
    named = _csv(tmp_path / "n.csv", text=TEXTS, **{f"is_{t}": v for t, v in indicator.items()})
    joined = _csv(tmp_path / "j.csv", text=TEXTS, labels=[g.replace("|", ";") for g in GOLD])
    assert _predict(multi_dir, detected, tmp_path / "a.parquet") == 0
    mapping = ",".join(f"is_{t}={t}" for t in TAGS)
    assert _predict(multi_dir, named, tmp_path / "b.parquet", "--label-cols", ",".join(f"is_{t}" for t in TAGS), "--label-map", mapping) == 0
    assert _predict(multi_dir, joined, tmp_path / "c.parquet", "--label-sep", ";") == 0
    a, b, c = (pd.read_parquet(tmp_path / f"{x}.parquet") for x in "abc")
    expected = [" | ".join(t for t in TAGS if t in g.split("|")) for g in GOLD]
    assert a["gold"].tolist() == b["gold"].tolist() == c["gold"].tolist() == expected


def test_thresholds_file_and_tuning_change_the_sets_and_say_where_they_came_from(multi_dir, tmp_path, capsys):
    data = _csv(tmp_path / "d.csv", text=TEXTS, tags=GOLD)
    (tmp_path / "t.yaml").write_text("toxic: 0.0\ndefault: 1.0\n")
    assert _predict(multi_dir, data, tmp_path / "p.parquet", "--label-col", "tags", "--thresholds", tmp_path / "t.yaml") == 0
    assert "Thresholds: file t.yaml: toxic 0, insult 1" in capsys.readouterr().err
    assert set(pd.read_parquet(tmp_path / "p.parquet")["pred"]) == {"toxic"}  # p >= 0 always, p >= 1 never for a sigmoid
    validation = _csv(
        tmp_path / "val.csv", text=["you are an idiot", "cheap pills", "good morning", "I know where you live"], tags=["toxic|insult", "spam", "", "threat"]
    )
    assert _predict(multi_dir, data, tmp_path / "q.parquet", "--label-col", "tags", "--tune-thresholds", validation) == 0
    assert "Thresholds: tuned on val.csv (F1-best per label)" in capsys.readouterr().err
    assert _predict(multi_dir, data, tmp_path / "r.parquet", "--label-col", "tags", "--tune-thresholds", data) == 2
    assert "same examples as the evaluation data" in capsys.readouterr().err


def test_pairs_are_scored_as_pairs_and_a_one_sided_pair_is_warned_about_and_scored(tiny_bert, tmp_path, capsys):
    data = _csv(tmp_path / "p.csv", premise=["a cat sat", "rain today"], hypothesis=["an animal sat", ""], label=["positive", "negative"])
    out = tmp_path / "p.parquet"
    assert _predict(tiny_bert, data, out, "--text-col", "premise", "--pair-col", "hypothesis") == 0
    frame = pd.read_parquet(out)
    expected = Predictor(tiny_bert).predict_proba([("a cat sat", "an animal sat"), ("rain today", "")])
    np.testing.assert_allclose(frame[["p_negative", "p_positive"]].to_numpy(), expected, atol=1e-6)
    assert frame["text_pair"].tolist() == ["an animal sat", ""]
    assert "warning: 1 pair(s) have one side empty (rows 2)" in capsys.readouterr().err


def test_unlabelled_multi_label_data_gets_each_rows_set(multi_dir, tmp_path, capsys):
    data = _csv(tmp_path / "u.csv", text=TEXTS)
    out = tmp_path / "u.parquet"
    assert _predict(multi_dir, data, out) == 0  # no label column, none named like the labels: predictions only
    probs = Predictor(multi_dir).predict_proba(TEXTS)
    frame = pd.read_parquet(out)
    assert frame["pred"].tolist() == [" | ".join(t for t, on in zip(TAGS, row) if on) for row in probs >= 0.5]
    np.testing.assert_allclose(frame["confidence"], np.where(probs >= 0.5, probs, 1 - probs).prod(axis=1), rtol=1e-6)
    assert "correct" not in frame and "row 6: {" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown_tag", "Row 2 of 'd.csv' has the tag 'obscene'"),
        ("gpt2_pair", "cannot take sentence pairs"),
        ("thresholds_on_single", "--thresholds sets per-label thresholds of a multi-label checkpoint"),
        ("threshold_not_a_label", "'toxc' is not a label"),
        ("label_cols_on_single", "--label-cols gives one 0/1 column per label"),
        ("regression", "problem_type: regression"),
        ("token_classification", "architectures"),
        ("missing_pair_col", "no pair text column 'nope'"),
    ],
)
def test_bad_input_exits_2_naming_what_is_wrong_and_keeps_what_was_written(case, message, multi_dir, gpt2_dir, tiny_bert, tmp_path, capsys):
    import shutil

    model, extra = multi_dir, ["--label-col", "tags"]
    data = _csv(tmp_path / "d.csv", text=["a", "b"], other=["c", "d"], tags=["toxic", "spam|obscene" if case == "unknown_tag" else "spam"])
    (tmp_path / "t.yaml").write_text("toxc: 0.3\n" if case == "threshold_not_a_label" else "toxic: 0.3\n")
    if case == "gpt2_pair":
        model, extra = gpt2_dir, ["--label-col", "", "--pair-col", "other"]
    if case == "thresholds_on_single":
        model, extra = tiny_bert, ["--label-col", "", "--thresholds", tmp_path / "t.yaml"]
    if case == "threshold_not_a_label":
        extra += ["--thresholds", tmp_path / "t.yaml"]
    if case == "label_cols_on_single":
        model, extra = tiny_bert, ["--label-cols", "other"]
    if case in ("regression", "token_classification"):
        model = tmp_path / "m"
        shutil.copytree(tiny_bert, model)
        config = json.loads((model / "config.json").read_text())
        config.update({"problem_type": "regression"} if case == "regression" else {"architectures": ["BertForTokenClassification"]})
        (model / "config.json").write_text(json.dumps(config))
    if case == "missing_pair_col":
        extra += ["--pair-col", "nope"]
    out = tmp_path / "p.parquet"
    out.write_bytes(b"earlier results")
    assert _predict(model, data, out, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith("veredicto predict: ")
    assert out.read_bytes() == b"earlier results"


def test_every_data_reading_command_takes_the_same_data_options():
    from cli.main import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in ("predict", "gate", "report", "probe"):
        options = {o for a in commands[name]._actions for o in a.option_strings}
        assert {"--task", "--pair-col", "--label-sep", "--label-cols", "--thresholds", "--tune-thresholds", "--label-map"} <= options, name
    options = {o for a in commands["precompute"]._actions for o in a.option_strings}
    assert {"--task", "--pair-col"} <= options


def test_gate_json_says_the_pair_column_and_task_it_judged(tiny_bert, tmp_path):
    data = _csv(tmp_path / "p.csv", premise=["a cat sat", "rain today"], hypothesis=["an animal sat", "it is dry"], label=["positive", "negative"])
    (tmp_path / "policy.yaml").write_text("gates:\n  min_macro_f1: 0.0\n")
    out = tmp_path / "g.json"
    code = main(
        [
            "gate",
            "--model",
            str(tiny_bert),
            "--policy",
            str(tmp_path / "policy.yaml"),
            "--data",
            str(data),
            "--text-col",
            "premise",
            "--pair-col",
            "hypothesis",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    payload = json.loads(out.read_text())
    assert (payload["task"], payload["pair"], payload["thresholds"]) == ("single-label", True, None)


def test_gate_json_says_which_thresholds_judged_the_checkpoint(multi_dir, tmp_path):
    data = _csv(tmp_path / "d.csv", text=TEXTS, tags=GOLD)
    (tmp_path / "t.json").write_text('{"toxic": 0.4}')
    (tmp_path / "policy.yaml").write_text("gates:\n  min_macro_f1: 0.0\n")
    out = tmp_path / "g.json"
    code = main(
        [
            "gate",
            "--model",
            str(multi_dir),
            "--policy",
            str(tmp_path / "policy.yaml"),
            "--data",
            str(data),
            "--label-col",
            "tags",
            "--thresholds",
            str(tmp_path / "t.json"),
            "--json",
            str(out),
        ]
    )
    assert code in (0, 1)
    payload = json.loads(out.read_text())
    assert payload["task"] == "multi-label"
    assert payload["thresholds"] == {"source": "file t.json", "values": {"toxic": 0.4, "insult": 0.5, "threat": 0.5, "spam": 0.5}}


def test_precompute_refuses_pairs_a_tokenizer_cannot_mark_before_opening_the_cache(gpt2_dir, tmp_path, capsys):
    data = _csv(tmp_path / "p.csv", text=["a", "b"], other=["c", "d"])
    cache = tmp_path / "cache"
    assert main(["precompute", "--model", str(gpt2_dir), "--data", str(data), "--pair-col", "other", "--cache-dir", str(cache), "--limit", "1"]) == 2
    assert "cannot take sentence pairs" in capsys.readouterr().err
    assert not cache.exists()
