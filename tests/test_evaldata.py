"""Evaluation files: formats, column choice and every way a file can be wrong."""

import json

import pandas as pd
import pytest

from evaldata.loading import align_labels, guess_column, load_eval_data, parse_mapping
from models.errors import DataError

ROWS = [
    {"review": "good film", "sentiment": "positive", "genre": "drama"},
    {"review": "awful film", "sentiment": "negative", "genre": "comedy"},
    {"review": "Café 🎬", "sentiment": "positive", "genre": "drama"},
]


@pytest.fixture(params=["csv", "jsonl", "parquet"])
def data_file(request, tmp_path):
    path = tmp_path / f"eval.{request.param}"
    frame = pd.DataFrame(ROWS)
    if request.param == "csv":
        frame.to_csv(path, index=False)
    elif request.param == "jsonl":
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS), encoding="utf-8")
    else:
        frame.to_parquet(path)
    return path


def test_every_format_loads_the_same(data_file):
    evalset = load_eval_data(data_file)
    assert evalset.texts == ["good film", "awful film", "Café 🎬"]
    assert evalset.gold == ["positive", "negative", "positive"]
    assert evalset.metadata == ("genre",) and evalset.frame["genre"].tolist() == ["drama", "comedy", "drama"]
    assert len(evalset.fingerprint) == 64 and not evalset.warnings


def test_uploaded_bytes_load_like_files(tmp_path):
    raw = pd.DataFrame(ROWS).to_csv(index=False).encode()
    assert load_eval_data(raw, name="upload.csv").texts == ["good film", "awful film", "Café 🎬"]


def test_explicit_columns_and_missing_column_message(tmp_path):
    path = tmp_path / "e.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    assert load_eval_data(path, text_col="genre", label_col="sentiment").metadata == ("review",)
    with pytest.raises(DataError, match="no label column 'stars'. Its columns are: review, sentiment, genre"):
        load_eval_data(path, label_col="stars")


def test_no_guessable_text_column(tmp_path):
    path = tmp_path / "e.csv"
    pd.DataFrame({"a": ["x"], "label": ["y"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="no column that looks like the text.*Its columns are: a, label"):
        load_eval_data(path)
    assert guess_column(["Sentence", "Class"], "text") == "Sentence" and guess_column(["Sentence", "Class"], "label") == "Class"


def test_empty_file_and_header_only(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(DataError, match="is empty"):
        load_eval_data(tmp_path / "empty.csv")
    with pytest.raises(DataError, match="has a header \\(text, label\\) but no rows"):
        load_eval_data(tmp_path / "header.csv")


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ngood,pos\ncaf\xe9,pos\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8: byte 0xe9 on line 3.*Re-save the file as UTF-8"):
        load_eval_data(path)


def test_malformed_csv_and_unknown_extension(tmp_path):
    (tmp_path / "bad.csv").write_text('text,label\n"unclosed,pos\n')
    with pytest.raises(DataError, match="could not be read as CSV"):
        load_eval_data(tmp_path / "bad.csv")
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match="unknown extension"):
        load_eval_data(tmp_path / "data.xlsx")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="could not be read as PARQUET"):
        load_eval_data(tmp_path / "bad.parquet")


def test_empty_texts_and_duplicates_are_warned_not_dropped(tmp_path):
    path = tmp_path / "e.csv"
    pd.DataFrame({"text": ["a", "", "a", "  "], "label": ["x", "y", "x", "y"]}).to_csv(path, index=False)
    evalset = load_eval_data(path)
    assert len(evalset) == 4
    assert any("2 text(s) are empty or only whitespace (rows 2, 4)" in w for w in evalset.warnings)
    assert any("1 duplicate text(s) (rows 1, 3)" in w for w in evalset.warnings)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "parquet-strings"])
def test_missing_and_non_string_texts_are_kept_as_text_with_a_warning(tmp_path, fmt):
    """A JSONL cell that is null or a number, a Parquet column of objects or of strings with a null: each row is kept."""
    texts = ["fine", None, 7, "ok"] if fmt == "jsonl" else ["fine", None, "7", "ok"]
    labels = ["x", "y", "x", "y"]
    path = tmp_path / f"t.{fmt.split('-')[0]}"
    if fmt == "jsonl":
        path.write_text("\n".join(json.dumps({"text": t, "label": g}) for t, g in zip(texts, labels)), encoding="utf-8")
    else:
        pd.DataFrame({"text": pd.Series(texts, dtype="str" if fmt == "parquet-strings" else object), "label": labels}).to_parquet(path)
    evalset = load_eval_data(path)
    assert evalset.frame["text"].tolist() == ["fine", "", "7", "ok"]
    assert any("1 row(s) have no text; they are kept as empty text (rows 2)" in w for w in evalset.warnings), evalset.warnings


def test_missing_labels_are_refused(tmp_path):
    path = tmp_path / "e.csv"
    pd.DataFrame({"text": ["a", "b"], "label": ["x", ""]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="1 row\\(s\\) without a label.*rows 2"):
        load_eval_data(path)


def test_unknown_labels_list_both_sides_and_mapping_fixes_them(data_file):
    evalset = load_eval_data(data_file)
    with pytest.raises(DataError, match=r"'negative', 'positive'.*checkpoint's labels are: 'neg', 'pos'.*mapping"):
        align_labels(evalset, ("neg", "pos"))
    mapping = parse_mapping("positive=pos, negative=neg")
    assert align_labels(evalset, ("neg", "pos"), mapping).tolist() == [1, 0, 1]


def test_integer_labels_match_generic_checkpoints(tmp_path):
    path = tmp_path / "e.csv"
    pd.DataFrame({"text": ["a", "b"], "label": [1, 0]}).to_csv(path, index=False)
    assert align_labels(load_eval_data(path), ("LABEL_0", "LABEL_1")).tolist() == [1, 0]


def test_bad_mapping_syntax():
    with pytest.raises(DataError, match="has no '='"):
        parse_mapping("pos:positive")


def test_a_label_mismatch_without_values_repeats_nothing_from_the_file(tmp_path):
    """The attack: a JSON credentials file read as data, its secret chosen as the label column; the mismatch message
    (shown to whoever is in the browser) must not carry the secret in team mode, yet still say what to do."""
    from evaldata.loading import LabelMismatchError

    secret = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkq"
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps({"client_email": "bot@example.iam", "private_key": secret, "type": "service_account"}) + "\n")
    evalset = load_eval_data(path, text_col="client_email", label_col="private_key")
    with pytest.raises(LabelMismatchError) as caught:
        align_labels(evalset, ("fresh", "rotten"))
    safe = caught.value.without_values
    assert secret not in safe and "MIIE" not in safe and "bot@example" not in safe
    assert "1 value(s)" in safe and "fresh, rotten" in safe and "label mapping" in safe
    assert secret in str(caught.value)  # outside team mode, a user reading their own file still gets the full listing


def test_the_full_mismatch_listing_is_still_a_data_error():
    """Callers that catch DataError (the CLI, gates) keep working: the team-mode variant is a subclass, not a new kind."""
    from evaldata.loading import LabelMismatchError

    assert issubclass(LabelMismatchError, DataError)


# --------------------------------------------------------------------------- the data fingerprint covers the label mapping


def test_the_same_file_with_two_label_mappings_gets_two_fingerprints(data_file):
    """The attack: a swapped mapping (positive=neg) inverts every gold label of a file that a sign-off names by fingerprint."""
    from evaldata.loading import data_fingerprint

    evalset = load_eval_data(data_file)
    straight = data_fingerprint(evalset, {"positive": "pos", "negative": "neg"})
    swapped = data_fingerprint(evalset, {"positive": "neg", "negative": "pos"})
    assert len({straight, swapped, evalset.fingerprint}) == 3 and len(straight) == len(swapped) == 64
    assert data_fingerprint(evalset, {"negative": "neg", "positive": "pos"}) == straight  # the order it was typed in does not matter


def test_no_mapping_keeps_todays_fingerprint(data_file):
    """Sign-offs, gates and reports made without a mapping keep naming the same data."""
    from evaldata.loading import data_fingerprint

    evalset = load_eval_data(data_file)
    assert data_fingerprint(evalset) == data_fingerprint(evalset, {}) == data_fingerprint(evalset, None) == evalset.fingerprint
    assert data_fingerprint(evalset, {"positive": "positive"}) == evalset.fingerprint  # an identity pair changes nothing


def test_task_and_thresholds_enter_the_fingerprint(data_file):
    from evaldata.loading import data_fingerprint

    evalset = load_eval_data(data_file)
    values = {
        data_fingerprint(evalset),
        data_fingerprint(evalset, task="multi_label"),
        data_fingerprint(evalset, task="single_label"),
        data_fingerprint(evalset, task="multi_label", thresholds={"positive": 0.5}),
        data_fingerprint(evalset, task="multi_label", thresholds={"positive": 0.3}),
    }
    assert len(values) == 5


def test_prediction_table_gates_and_signoff_carry_the_mapped_fingerprint(tiny_bert_predictor, tmp_path):
    """Cache keys, the gate report (what the report and the sign-off record show) all read the one value."""
    from analysis.predictions import predict_table
    from evaldata.loading import data_fingerprint
    from store.audit import AuditStore
    from store.gates import evaluate_gates
    from store.policy import parse_policy

    path = tmp_path / "eval.csv"
    pd.DataFrame({"text": ["good film", "awful film"] * 5, "label": ["p", "n"] * 5}).to_csv(path, index=False)
    evalset = load_eval_data(path)
    straight = predict_table(tiny_bert_predictor, evalset, label_mapping={"p": "positive", "n": "negative"})
    swapped = predict_table(tiny_bert_predictor, evalset, label_mapping={"p": "negative", "n": "positive"})
    assert straight.data_fingerprint == data_fingerprint(evalset, {"p": "positive", "n": "negative"})
    assert straight.data_fingerprint != swapped.data_fingerprint and straight.cache_key != swapped.cache_key
    report = evaluate_gates(parse_policy("gates:\n  min_macro_f1: 0.0\n", "policy.yaml"), swapped)
    assert report.dataset_fingerprint == swapped.data_fingerprint  # what the HTML report prints
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    record = store.append(reviewer="ana", decision="approve", comment="", identity="cli:test", **report.signoff_fields())
    assert record.dataset_fingerprint == swapped.data_fingerprint != evalset.fingerprint
