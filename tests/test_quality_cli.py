"""`veredicto quality`, the data-quality gates through `veredicto gate`, the report's data-quality section, and the
messages for training data that is missing, unreadable or shaped differently."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.synthetic import probs_for, table_from_arrays
from cli.main import main
from evaldata.loading import load_eval_data
from models.errors import DataError
from quality.training import TrainingData, load_training_file, training_data
from store.gates import NOT_EVALUATED, PASS, evaluate_gates
from store.policy import parse_policy
from store.report import build_report

WORDS = ["good", "bad", "great", "awful", "fine", "poor", "film", "story", "acting", "plot"]


def review(i: int) -> str:
    rng = np.random.default_rng(i)
    return " ".join(rng.choice(WORDS, size=12)) + f" number {i}"


@pytest.fixture
def files(tmp_path):
    """eval.csv (40 rows) and train.csv (60 other rows plus exact copies of eval rows 3 and 11, one re-cased)."""
    evals = pd.DataFrame({"text": [review(i) for i in range(40)], "label": ["positive", "negative"] * 20})
    train = pd.DataFrame({"text": [review(100 + i) for i in range(60)], "label": ["negative", "positive"] * 30})
    copies = pd.DataFrame({"text": [evals.text[3], evals.text[11].upper() + "!"], "label": ["negative", "negative"]})
    (eval_path, train_path) = (tmp_path / "eval.csv", tmp_path / "train.csv")
    evals.to_csv(eval_path, index=False)
    pd.concat([train, copies]).to_csv(train_path, index=False)
    return eval_path, train_path


def test_quality_command_prints_leakage_drift_and_label_issues(tiny_bert, files, capsys):
    eval_path, train_path = files
    code = main(["quality", "--model", str(tiny_bert), "--data", str(eval_path), "--train-data", str(train_path), "--drift-sample", "50"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Leakage: 2 of 40 evaluation texts (5.0%) also appear in the training data (62 texts): 2 exactly" in out
    assert "tells training from evaluation texts apart" in out and "Confident learning flags" in out
    assert "Leaked evaluation rows" in out and "row=3 | train_row=60" in out and "row=11 | train_row=61" in out

    code = main(["quality", "--model", str(tiny_bert), "--data", str(eval_path), "--train-data", str(train_path), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["leakage"]["leaked"] == 2 and result["leakage"]["rate"] == 0.05
    assert [r["row"] for r in result["leaked_examples"]] == [3, 11] and 0 <= result["drift"]["domain_auc"] <= 1
    assert result["metrics_without_leaked"]["examples"]["without leaked rows"] == 38


def test_quality_command_without_training_data_says_how_to_give_it(tiny_bert, files, capsys):
    code = main(["quality", "--model", str(tiny_bert), "--data", str(files[0])])
    out = capsys.readouterr().out
    assert code == 0  # label issues need no training data
    assert "Leakage: not measured." in out and "--train-data FILE" in out and "Confident learning flags" in out


def write_policy(tmp_path, gates: str):
    path = tmp_path / "policy.yaml"
    path.write_text("gates:\n" + gates)
    return path


def test_gate_passes_and_fails_on_the_data_quality_gates(tiny_bert, files, tmp_path, capsys):
    eval_path, train_path = files
    common = ["gate", "--model", str(tiny_bert), "--data", str(eval_path), "--train-data", str(train_path)]
    loose = write_policy(tmp_path, "  max_leakage_rate: 0.05\n  max_label_issue_rate: 1.0\n  max_drift_auc: 1.0\n")
    out_json = tmp_path / "gates.json"
    assert main([*common, "--policy", str(loose), "--json", str(out_json)]) == 0, capsys.readouterr()
    printed = capsys.readouterr().out
    assert "Train–evaluation leakage" in printed and "Label issues" in printed and "Train–evaluation drift" in printed
    saved = json.loads(out_json.read_text())
    assert (
        [g["status"] for g in saved["gates"]] == ["pass"] * 3
        and saved["gates"][0]["measured"] == 0.05
        and saved["metrics"]["data_quality"]["leakage"]["leaked"] == 2
    )

    strict = write_policy(tmp_path, "  max_leakage_rate: 0.04\n")
    assert main([*common, "--policy", str(strict)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_gate_without_training_data_is_not_evaluated_and_says_what_it_needs(tiny_bert, files, tmp_path, capsys):
    policy = write_policy(tmp_path, "  max_leakage_rate: 0.5\n  max_drift_auc: 0.9\n  max_label_issue_rate: 1.0\n")
    code = main(["gate", "--model", str(tiny_bert), "--data", str(files[0]), "--policy", str(policy)])
    captured = capsys.readouterr()
    assert code == 2 and "2 gate(s) could not be evaluated" in captured.err and "--train-data FILE" in captured.err
    assert "Label issues" in captured.out  # evaluated: it needs only the model's probabilities


def provenance(directory, data: dict) -> None:
    record = {
        "format": 1,
        "kind": "single run",
        "status": "complete",
        "base": {},
        "data": data,
        "hyperparameters": {},
        "trials": [],
        "curves": {},
        "versions": {},
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "provenance.json").write_text(json.dumps(record))


def test_training_data_comes_from_the_provenance_when_readable(tmp_path, files):
    _, train_path = files
    provenance(tmp_path / "ok", {"path": str(train_path), "text_col": "text", "label_col": None})
    found = training_data(tmp_path / "ok")
    assert found.source == "provenance" and len(found.evalset) == 62 and "provenance.json" in found.describe()
    provenance(tmp_path / "moved", {"path": str(tmp_path / "elsewhere.csv")})
    moved = training_data(tmp_path / "moved")
    assert moved.evalset is None and "elsewhere.csv" in moved.message and "not readable here" in moved.message and "--train-data" in moved.message
    none = training_data(tmp_path / "no-provenance")
    assert none.evalset is None and "no provenance.json" in none.message
    assert training_data(tmp_path / "moved", train_path).source == "file"  # an explicit file wins


def test_training_files_shaped_differently_get_clear_messages(tmp_path):
    other = tmp_path / "other.csv"
    pd.DataFrame({"utterance_text": ["a b c", "d e f"], "tag": ["x", "y"]}).to_csv(other, index=False)
    with pytest.raises(DataError, match="--train-text-col"):
        load_training_file(other)
    explicit = load_training_file(other, text_col="utterance_text", label_col="tag")
    assert explicit.texts == ["a b c", "d e f"] and explicit.gold == ["x", "y"]
    unlabelled = tmp_path / "unlabelled.csv"
    pd.DataFrame({"text": ["a b c"]}).to_csv(unlabelled, index=False)
    assert "label" not in load_training_file(unlabelled).frame  # no label column: fine for leakage and drift
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"text": ["", " "], "label": ["x", "y"]}).to_csv(empty, index=False)
    with pytest.raises(DataError, match="every text in 'empty.csv' is empty"):
        load_training_file(empty)
    with pytest.raises(DataError, match="does not exist"):
        load_training_file(tmp_path / "missing.csv")


def test_cli_bad_training_input_exits_2_and_other_labels_are_reported_not_fatal(tiny_bert, files, tmp_path, capsys):
    eval_path, _ = files
    code = main(["quality", "--model", str(tiny_bert), "--data", str(eval_path), "--train-data", str(tmp_path / "nope.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("veredicto quality: ") and "nope.csv" in err and "Traceback" not in err
    spam = tmp_path / "spam.csv"
    pd.DataFrame({"text": [review(200 + i) for i in range(20)], "label": ["spam", "negative"] * 10}).to_csv(spam, index=False)
    code = main(["quality", "--model", str(tiny_bert), "--data", str(eval_path), "--train-data", str(spam), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["drift"]["unknown_train_labels"] == ["spam"]
    assert result["drift"]["label_balance"]["spam"]["train_share"] == 0.5 and result["drift"]["label_balance"]["spam"]["in_checkpoint"] is False


def test_report_has_a_data_quality_section_with_rows_not_texts(tmp_path, files):
    eval_path, train_path = files
    evalset = load_eval_data(eval_path)
    gold = np.array([0, 1] * 20)
    table = table_from_arrays(probs_for(gold, 2, np.full(40, 0.9)), gold, ("negative", "positive"), texts=evalset.texts)
    policy = parse_policy("gates:\n  max_leakage_rate: 0.1\n  max_label_issue_rate: 0.5\n  max_drift_auc: 0.9\n", "p.yaml")
    gates = evaluate_gates(policy, table, training=TrainingData(load_training_file(train_path), "file"))
    assert [r.status for r in gates.results] == [PASS, PASS, NOT_EVALUATED]  # drift needs the checkpoint's embeddings
    assert "needs the checkpoint" in gates.result("max_drift_auc").detail
    html = build_report(gates, table)
    section = html[html.index('<section id="data-quality">') :]
    section = section[: section.index("</section>")]
    assert "2 of 40 evaluation texts (5.0%)" in section and "Leaked evaluation rows (1-based): 4, 12." in section
    assert evalset.texts[3] not in html and "Without the 2 leaked rows" in section


@pytest.fixture
def pair_files(tmp_path):
    """NLI-style files (premise, hypothesis, label): training holds evaluation pair 2 (re-cased) and evaluation premise 5
    with another hypothesis, and a one-text training file."""
    evals = pd.DataFrame(
        {"premise": [review(i) for i in range(30)], "hypothesis": [review(500 + i) for i in range(30)], "label": ["positive", "negative"] * 15}
    )
    train = pd.DataFrame(
        {
            "premise": [*(review(100 + i) for i in range(40)), evals.premise[2].upper(), evals.premise[5]],
            "hypothesis": [*(review(200 + i) for i in range(40)), evals.hypothesis[2] + "!", "a hypothesis of its own, unlike any"],
            "label": ["negative", "positive"] * 21,
        }
    )
    paths = tmp_path / "eval.csv", tmp_path / "train.csv", tmp_path / "train-one-text.csv"
    evals.to_csv(paths[0], index=False)
    train.to_csv(paths[1], index=False)
    train[["premise", "label"]].to_csv(paths[2], index=False)
    return paths


def test_quality_command_compares_sentence_pairs_as_pairs(tiny_bert, pair_files, capsys):
    eval_path, train_path, one_text = pair_files
    args = ["quality", "--model", str(tiny_bert), "--data", str(eval_path), "--text-col", "premise", "--pair-col", "hypothesis", "--json"]
    code = main([*args, "--train-data", str(train_path), "--train-text-col", "premise"])  # the training pair column defaults to --pair-col
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["leakage"]["leaked"] == 1 and [r["row"] for r in result["leaked_examples"]] == [2]  # not premise-only row 5
    leaked = result["leaked_examples"][0]
    assert leaked["train_row"] == 40 and leaked["text_pair"] == review(502) and leaked["train_text_pair"] == review(502) + "!"
    assert result["drift"]["n_eval"] == 30 and "text_pair" in result["most_unlike_training"][0]

    code = main([*args, "--train-data", str(one_text), "--train-text-col", "premise"])  # no second text column in the training file
    err = capsys.readouterr().err
    assert code == 2 and "Training data:" in err and "--train-pair-col" in err


def test_pairs_on_one_side_are_not_measured_and_the_provenance_gives_the_pair_column(tmp_path, pair_files):
    from quality.assess import assess

    eval_path, train_path, one_text = pair_files
    provenance(tmp_path / "nli", {"path": str(train_path), "text_col": "premise", "label_col": "label", "pair_col": "hypothesis"})
    recorded = training_data(tmp_path / "nli")
    assert recorded.evalset is not None and recorded.evalset.pair and recorded.evalset.inputs[40] == (review(2).upper(), review(502) + "!")
    evals = load_eval_data(eval_path, text_col="premise", pair_col="hypothesis")
    table = table_from_arrays(probs_for(np.zeros(30, dtype=int), 2, np.full(30, 0.9)), evals.gold, ("negative", "positive"), texts=evals.texts)
    table = type(table)(**{**table.__dict__, "frame": table.frame.assign(text_pair=evals.frame["text_pair"])})
    assert table.pair and assess(None, table, recorded, checks=("leakage",)).leakage.leaked_rows.tolist() == [2]
    single = TrainingData(load_training_file(one_text, text_col="premise"), "file")
    quality = assess(None, table, single, checks=("leakage", "drift"))
    assert quality.leakage is None and quality.drift is None and list(quality.missing) == ["leakage", "drift"]
    assert "sentence pairs" in quality.missing["leakage"] and "--train-pair-col" in quality.missing["leakage"]


def test_quality_command_with_redact_prints_no_personal_data(tiny_bert, tmp_path, capsys):
    from privacy_support import leaks, planted_file, planted_frame

    data = planted_file(tmp_path)
    train = tmp_path / "train.csv"
    planted_frame().to_csv(train, index=False)  # every evaluation text is in training: all leaked, all listed
    args = ["quality", "--model", str(tiny_bert), "--data", str(data), "--train-data", str(train), "--top", "100"]
    assert main([*args, "--redact"]) == 0
    out = capsys.readouterr().out
    assert "Leaked evaluation rows" in out and "<EMAIL>" in out and leaks(out) == []
    assert main([*args, "--redact", "--json"]) == 0
    assert leaks(capsys.readouterr().out) == []
    assert main(args) == 0 and leaks(capsys.readouterr().out)  # without it: the texts as they are


def test_a_training_file_read_in_chunks_gives_the_same_leakage_and_drift_holding_at_most_k_rows(tiny_bert_predictor, tmp_path):
    from analysis.predictions import predict_table
    from quality.assess import assess

    labels = list(tiny_bert_predictor.labels)
    evals = pd.DataFrame({"text": [review(i) for i in range(30)], "label": [labels[i % len(labels)] for i in range(30)]})
    evals.to_csv(tmp_path / "eval.csv", index=False)
    table = predict_table(tiny_bert_predictor, load_eval_data(tmp_path / "eval.csv"))
    train = pd.DataFrame({"text": [review(200 + i) for i in range(90)], "label": ["pos", "neg", "neg"] * 30})
    train.loc[[5, 44, 83], "text"] = [evals.text[3], evals.text[17].upper(), evals.text[3]]  # leaked rows in three different chunks
    train.to_json(tmp_path / "train.jsonl", orient="records", lines=True)
    mapping = {"pos": labels[1], "neg": labels[0]}

    sizes: list[int] = []

    def record(chunks):
        for chunk in chunks:
            sizes.append(len(chunk.frame))
            yield chunk

    streamed = training_data(None, tmp_path / "train.jsonl", chunk_rows=8, wrap=record)
    assert streamed.evalset is None and streamed.file is not None and "8 rows at a time" in streamed.describe()
    whole = training_data(None, tmp_path / "train.jsonl")
    kwargs = {"checks": ("leakage", "drift"), "label_mapping": mapping, "drift_cap": 40, "seed": 3}  # a cap below the 90 rows: a seeded sample
    a, b = assess(tiny_bert_predictor, table, streamed, **kwargs), assess(tiny_bert_predictor, table, whole, **kwargs)
    assert sizes and max(sizes) <= 8 and sum(sizes) == 2 * 90  # two passes (leakage and label counts, then the drift sample), 8 rows at most
    assert a.leakage is not None and b.leakage is not None and a.leakage.as_dict() == b.leakage.as_dict() and a.leakage.matches.equals(b.leakage.matches)
    assert a.leakage.matches["train_row"].tolist() == [5, 44] and a.leakage.n_train == 90
    assert a.drift is not None and b.drift is not None and a.drift.as_dict() == b.drift.as_dict() and a.drift.most_unlike.equals(b.drift.most_unlike)
    assert a.drift.n_train == 40 and a.drift.n_train_total == 90 and a.drift.label_balance.loc[labels[1], "train_share"] == pytest.approx(1 / 3)


def test_a_training_file_of_pairs_read_in_chunks_gives_the_same_leakage_and_drift_as_in_memory(tiny_bert_predictor, pair_files, tmp_path):
    """The failure: a chunked reader that drops the second text compares premises only (row 5 leaks too) or refuses the
    pairs; a drift sample without the pairs measures other inputs than the in-memory one."""
    from analysis.predictions import predict_table
    from quality.assess import assess

    eval_path, train_path, _ = pair_files
    table = predict_table(tiny_bert_predictor, load_eval_data(eval_path, text_col="premise", pair_col="hypothesis"))
    sizes: list[int] = []

    def record(chunks):
        for chunk in chunks:
            sizes.append(len(chunk.frame))
            yield chunk

    streamed = training_data(None, train_path, text_col="premise", pair_col="hypothesis", chunk_rows=8, wrap=record)
    whole = training_data(None, train_path, text_col="premise", pair_col="hypothesis")
    assert streamed.file is not None and streamed.pair and whole.evalset is not None and whole.pair
    kwargs = {"checks": ("leakage", "drift"), "drift_cap": 20, "seed": 1}  # a cap below the 42 training rows: a seeded sample
    a, b = assess(tiny_bert_predictor, table, streamed, **kwargs), assess(tiny_bert_predictor, table, whole, **kwargs)
    assert sizes and max(sizes) <= 8 and sum(sizes) == 2 * 42  # the leakage pass, then the drift sample's pass
    assert a.leakage is not None and b.leakage is not None and a.leakage.matches.equals(b.leakage.matches) and a.leakage.as_dict() == b.leakage.as_dict()
    assert a.leakage.matches[["row", "train_row", "kind"]].values.tolist() == [[2, 40, "exact"]]  # not premise-only row 5
    assert a.leakage.matches[["text_pair", "train_text_pair"]].values.tolist() == [[review(502), review(502) + "!"]]
    assert a.drift is not None and b.drift is not None and a.drift.as_dict() == b.drift.as_dict() and a.drift.most_unlike.equals(b.drift.most_unlike)
    assert a.drift.n_train == 20 and a.drift.n_train_total == 42 and "text_pair" in a.drift.most_unlike

    provenance(tmp_path / "nli", {"path": str(train_path), "text_col": "premise", "label_col": "label", "pair_col": "hypothesis"})
    assert training_data(tmp_path / "nli", chunk_rows=8).file.pair_col == "hypothesis"
    with pytest.raises(DataError, match="no second text column 'hyp'.*--train-pair-col"):
        training_data(None, train_path, text_col="premise", pair_col="hyp", chunk_rows=8)


def test_bad_training_rows_mid_file_are_named_and_the_command_exits_2(tiny_bert, files, tmp_path, capsys):
    eval_path, _ = files
    bad = tmp_path / "train.jsonl"
    bad.write_text(
        "".join(json.dumps({"text": review(i), "label": "x"}) + "\n" for i in range(10)) + 3 * (json.dumps({"body": "no text key", "label": "x"}) + "\n")
    )
    code = main(["quality", "--model", str(tiny_bert), "--data", str(eval_path), "--train-data", str(bad), "--train-chunk-rows", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "Training data:" in err and "rows 11–13" in err and "same keys on every line" in err


def test_a_training_file_read_in_chunks_with_only_empty_texts_is_refused(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + " ,a\n" * 7)
    streamed = training_data(None, path, chunk_rows=3)
    assert streamed.file is not None
    with pytest.raises(DataError, match="every text in 'train.csv' is empty.*--train-text-col"):
        streamed.file.read()
    with pytest.raises(DataError, match="Training data: .*has no text column 'body'.*"):
        training_data(None, path, text_col="body", chunk_rows=3)  # a wrong column fails when chosen, before any scoring
