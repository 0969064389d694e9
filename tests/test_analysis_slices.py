"""Slices: how examples are grouped, and the size / accuracy / gap of each group, checked by hand."""

import numpy as np
import pandas as pd
import pytest

from analysis.slices import (
    MISSING,
    Slice,
    categorical_slices,
    column_kind,
    confidence_slices,
    confident_mistakes,
    data_slices,
    describe_slice,
    keyword_mask,
    keyword_slices,
    length_slices,
    metadata_slices,
    numeric_slices,
    parse_keywords,
    slice_table,
    word_counts,
    worst_slices,
)
from analysis.stats import wilson_interval
from analysis.synthetic import probs_for, table_from_arrays


def names(slices):
    return [s.name for s in slices]


def sizes(slices):
    return [s.size for s in slices]


def test_categorical_top_values_then_other_then_missing():
    values = ["x"] * 5 + ["y"] * 3 + ["z"] * 2 + ["w"] + [None, ""]
    slices = categorical_slices(values, "genre", top=2)
    assert names(slices) == ["x", "y", "other (2 values)", MISSING]
    assert sizes(slices) == [5, 3, 3, 2]
    assert all(s.feature == "genre" for s in slices)
    # every example is in exactly one slice
    assert np.all(np.sum([s.mask for s in slices], axis=0) == 1)


def test_small_integer_categories_read_in_numeric_order():
    slices = categorical_slices(["5", "1", "1", "3", "5", "5"], "stars")
    assert names(slices) == ["1", "3", "5"]


def test_numeric_strings_from_a_csv_are_binned_by_quantile():
    frame = pd.DataFrame({"n_words": [str(v) for v in range(1, 13)]})  # CSVs load as text
    assert column_kind(frame, "n_words") == "numeric"
    slices = metadata_slices(frame, "n_words", bins=4)
    assert names(slices) == ["1–3", "4–6", "7–9", "10–12"]
    assert sizes(slices) == [3, 3, 3, 3]


def test_numeric_bins_never_split_ties_and_report_missing():
    values = [1, 1, 1, 1, 1, 1, 2, 3, np.nan]
    slices = numeric_slices(values, "score", bins=4)
    assert sum(sizes(slices)) == 9
    assert slices[-1].name == MISSING and slices[-1].size == 1
    first = slices[0]
    assert first.name.startswith("1") and first.size >= 6  # all the 1s together


def test_constant_numeric_column_gives_one_slice():
    slices = numeric_slices([4.0] * 5, "x")
    assert names(slices) == ["4"] and sizes(slices) == [5]


def test_float_bins_use_three_significant_digits():
    slices = numeric_slices(np.linspace(0, 1, 8), "ratio", bins=2)
    assert names(slices) == ["0–0.429", "0.571–1"]


def test_id_like_columns_are_recognised_and_left_out_of_data_slices():
    frame = pd.DataFrame({"text": [f"w{i} x" for i in range(30)], "id": [f"id{i}" for i in range(30)], "src": ["a", "b"] * 15})
    assert column_kind(frame, "id") == "id"
    features = {s.feature for s in data_slices(frame, ("id", "src"))}
    assert features == {"src", "text length (words)"}


def test_length_slices_in_words_and_tokens():
    frame = pd.DataFrame({"text": ["a", "a b", "a b c", "a b c d"], "n_tokens": [3, 4, 5, 9]})
    by_words = length_slices(frame, bins=2)
    assert names(by_words) == ["1–2 words", "3–4 words"]
    assert names(length_slices(frame, bins=2, unit="tokens")) == ["3–4 tokens", "5–9 tokens"]


EDGE_TEXTS = [
    *("", " ", "  a  b ", "a\tb\n c", "a\x1cb\x1fc", "a\x0bb\x0cc\rd", "\x08a\x00b\x1bc\x7f d", "end ", "x"),
    *("a\u00a0b", "a\u2003b", "\u3000x\u3000y", "a\x85b", "\u200bword", "naïve  café", "🙂 ok", "é"),
]  # the second line: Unicode spaces, NEL, a zero-width space that is no space, accents, an emoji


def split_counts(texts) -> list[int]:
    return [len(str(t).split()) for t in texts]


@pytest.mark.parametrize(
    "make",
    [
        lambda t: pd.Series(t, dtype="str"),  # Arrow strings, as the loader reads a file
        lambda t: pd.Series(t, dtype="str").iloc[3:],  # a slice: the Arrow array starts at an offset
        lambda t: pd.concat([pd.Series(t[:5], dtype="str"), pd.Series(t[5:], dtype="str")]),  # two Arrow chunks
        lambda t: pd.Series(t, dtype=object),
        list,
    ],
    ids=["arrow", "offset", "chunked", "object", "list"],
)
def test_word_counts_count_as_str_split_does(make):
    texts = make(EDGE_TEXTS)
    assert word_counts(texts).tolist() == split_counts(texts)


def test_word_counts_across_byte_blocks_and_of_cells_that_are_not_strings(monkeypatch):
    import analysis.slices

    rng = np.random.default_rng(0)
    alphabet = list("ab \t\n\x0b\x0c\r\x1c\x1f\x00\x7fé\u00a0\u2003")
    texts = ["".join(rng.choice(alphabet, rng.integers(0, 12))) for _ in range(3000)]
    monkeypatch.setattr(analysis.slices, "_WORD_BLOCK", 64)  # many blocks: words and texts cut at every block's edge
    assert word_counts(pd.Series(texts, dtype="str")).tolist() == split_counts(texts)
    for odd in ([1, None, "a b"], pd.Series(["a b", None], dtype="str"), [], pd.Series([], dtype="str")):
        assert word_counts(odd).tolist() == split_counts(odd)


def test_confidence_bins_are_right_closed_and_empty_ones_dropped():
    slices = confidence_slices(np.array([0.5, 0.55, 0.6, 0.95, 1.0], dtype=np.float32))
    assert names(slices) == ["≤ 0.50", "0.50–0.60", "0.90–1.00"]
    assert sizes(slices) == [1, 2, 2]


def test_keyword_is_whole_word_and_case_insensitive_by_default():
    texts = ["Bad film", "a badge", "not BAD at all", "good"]
    assert keyword_mask(texts, "bad").tolist() == [True, False, True, False]
    assert keyword_mask(texts, "bad", whole_word=False).tolist() == [True, True, True, False]
    assert keyword_mask(texts, "bad", case_sensitive=True).tolist() == [False, False, False, False]
    assert keyword_mask(["price (USD) rose"], "(usd)").tolist() == [True]  # regex characters are literal


def test_keyword_slices_with_several_keywords():
    assert parse_keywords(" bad, boring ,, Bad ") == ["bad", "boring"]
    frame = pd.DataFrame({"text": ["bad and boring", "boring", "great", "bad"]})
    slices = keyword_slices(frame, "bad, boring")
    assert names(slices) == ['contains "bad"', 'contains "boring"', "contains none of them"]
    assert sizes(slices) == [2, 2, 1]
    single = keyword_slices(frame, "great")
    assert names(single) == ['contains "great"', 'does not contain "great"']
    assert keyword_slices(frame, "  ") == []


def test_slice_table_by_hand():
    correct = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)  # overall 8/12
    a = Slice("src", "a", np.arange(12) < 10)  # 8 of 10 right
    b = Slice("src", "b", np.arange(12) >= 10)  # 0 of 2
    empty = Slice("src", "none", np.zeros(12, dtype=bool))
    table = slice_table([a, b, empty], correct)
    assert table["size"].tolist() == [10, 2, 0]
    assert table["errors"].tolist() == [2, 2, 0]
    assert table["accuracy"].iloc[0] == pytest.approx(0.8)
    assert table["gap"].iloc[0] == pytest.approx(0.8 - 8 / 12)
    assert table["gap"].iloc[1] == pytest.approx(-8 / 12)
    assert table["share"].iloc[0] == pytest.approx(10 / 12)
    assert np.isnan(table["accuracy"].iloc[2])
    # 95% Wilson interval for 8/10, as in published tables
    assert table["ci_low"].iloc[0] == pytest.approx(0.4902, abs=1e-4)
    assert table["ci_high"].iloc[0] == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_is_inside_zero_one_at_the_extremes():
    low, high = wilson_interval([0, 5], [5, 5])
    assert low[0] == pytest.approx(0.0, abs=1e-12) and 0 < high[0] < 0.6
    assert high[1] == pytest.approx(1.0) and 0.4 < low[1] < 1


def test_worst_slices_skip_small_ones_and_put_the_lowest_first():
    correct = np.array([1] * 20 + [0] * 20, dtype=bool)
    slices = [
        Slice("f", "good", np.r_[np.ones(20), np.zeros(20)].astype(bool)),
        Slice("f", "bad", np.r_[np.zeros(20), np.ones(20)].astype(bool)),
        Slice("f", "tiny", np.r_[np.zeros(39), np.ones(1)].astype(bool)),
    ]
    worst = worst_slices(slice_table(slices, correct), min_size=10)
    assert worst["slice"].tolist() == ["bad", "good"]


def test_describe_slice_mentions_uncertainty_for_small_slices():
    correct = np.array([1] * 8 + [0, 1], dtype=bool)
    small = slice_table([Slice("src", "b", np.arange(10) >= 8)], correct).iloc[0]
    text = describe_slice(small)
    assert text.startswith("src = b: 2 examples, accuracy 50%") and "too few examples" in text


def test_confident_mistakes_come_most_confident_first_with_gold_probability():
    labels = ("neg", "pos")
    probs = probs_for([1, 1, 0, 0, 1], 2, [0.99, 0.7, 0.8, 0.95, 0.6])
    gold = [0, 0, 0, 1, 1]  # mistakes: 0 (0.99), 1 (0.70), 3 (0.95)
    table = table_from_arrays(probs, gold, labels, texts=list("abcde"), metadata={"src": list("vwxyz")})
    mistakes = confident_mistakes(table)
    assert mistakes.index.tolist() == [0, 3, 1]
    assert mistakes["confidence"].tolist() == pytest.approx([0.99, 0.95, 0.7])
    assert mistakes["p_gold"].tolist() == pytest.approx([0.01, 0.05, 0.3], abs=1e-6)
    assert mistakes["src"].tolist() == ["v", "y", "w"]
    assert mistakes.loc[0, ["gold", "pred"]].tolist() == ["neg", "pos"]
    assert len(confident_mistakes(table, limit=1)) == 1


def test_numbers_parsed_per_distinct_value_equal_parsing_every_row():
    """`_as_numbers` parses each distinct value once (fast on 100k-row metadata); the result is what parsing every row gives."""
    from analysis.slices import _as_numbers

    values = pd.Series([" 3", "1.5", "", None, "2e3", "-4", " 3", "1.5", "x"] * 30 + ["7"] * 2000, index=np.arange(2270) * 3)
    text = values.astype("string").str.strip()
    present = values.notna() & (text != "")
    expected = pd.to_numeric(text.where(present), errors="coerce").astype(float)
    got = _as_numbers(values)
    assert got is not None
    pd.testing.assert_series_equal(got, expected, check_names=False)
    assert _as_numbers(pd.Series(["2024-01-02", "2024-01-03", "7"] * 50)) is None  # dates are not numbers
