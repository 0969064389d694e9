"""The Overview, Errors, Explore and Compare view models (analysis.views), on hand-made prediction tables: no model, no Streamlit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.browse import ExampleFilter, browse_examples
from analysis.predictions import build_table
from analysis.views import (
    ALL_EXAMPLES,
    ALL_MISTAKES,
    cell_options,
    cell_selection,
    class_balance,
    errors_summary,
    example_probabilities,
    examples_of,
    explanation_difference,
    explore_listing,
    flip_choices,
    flip_summary,
    headline,
    sentence_prediction,
    truncated_count,
)
from explain.attribution import Attribution, Token

LABELS = ("neg", "pos", "neu")


def table(probs, gold, name="ckpt", metadata=None, truncated=None):
    probs = np.asarray(probs, dtype=float)
    n = len(probs)
    return build_table(
        checkpoint_name=name,
        fingerprint=f"fp-{name}",
        data_name="d.csv",
        data_fingerprint="data-fp",
        labels=LABELS,
        probs=probs,
        gold=np.asarray(gold),
        texts=[f"text {i}" for i in range(n)],
        n_tokens=np.full(n, 5),
        truncated=np.zeros(n, dtype=bool) if truncated is None else np.asarray(truncated),
        metadata=metadata,
    )


# rows:        0 right   1 wrong .95  2 wrong .60  3 right .70  4 wrong .95  5 right .99
PROBS = [[0.8, 0.1, 0.1], [0.95, 0.03, 0.02], [0.2, 0.6, 0.2], [0.1, 0.7, 0.2], [0.02, 0.95, 0.03], [0.005, 0.005, 0.99]]
GOLD = [0, 1, 0, 1, 2, 2]


@pytest.fixture
def t():
    return table(PROBS, GOLD, metadata={"source": ["a", "b", "a", "b", "a", "b"]}, truncated=[False, True, False, False, True, False])


def test_errors_summary_counts_mistakes_and_the_top_confusion(t):
    s = errors_summary(t)
    assert s.n_wrong == 3 and s.confident_wrong == 2  # rows 1 and 4 at 0.95; row 2 at 0.60 is not confident
    assert s.metrics.accuracy == pytest.approx(3 / 6)
    assert s.counts.tolist() == [[1, 1, 0], [1, 1, 0], [0, 1, 1]]
    # three off-diagonal cells hold one mistake each: the first of them (row-major) is reported, as 1 of 3 mistakes
    assert (s.top_confusion.gold, s.top_confusion.pred, s.top_confusion.count) == ("neg", "pos", 1)
    assert s.top_confusion.share_of_mistakes == pytest.approx(1 / 3)
    assert s.calibration.n == 6


def test_errors_summary_without_mistakes_has_no_confusion():
    s = errors_summary(table([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]], [0, 1]))
    assert s.n_wrong == 0 and s.confident_wrong == 0 and s.top_confusion is None


def test_examples_of_lists_mistakes_most_confident_first_then_the_rest(t):
    shown = examples_of(t, np.ones(6, dtype=bool))
    assert list(shown.index) == [1, 4, 2, 5, 0, 3]  # mistakes by confidence (ties keep file order), then correct ones
    assert list(shown.columns) == ["text", "gold", "pred", "confidence", "p_gold", "correct", "source"]
    assert list(shown["correct"]) == [False, False, False, True, True, True]
    assert shown.loc[1, "p_gold"] == pytest.approx(0.03) and shown.loc[5, "p_gold"] == pytest.approx(0.99)
    assert shown.index.name == "example"


def test_examples_of_keeps_only_the_masked_rows(t):
    mask = np.array([True, False, True, False, False, True])
    assert list(examples_of(t, mask).index) == [2, 5, 0]
    assert list(examples_of(t, np.array([True, False, False, True, False, False])).index) == [0, 3]  # no mistakes
    assert list(examples_of(t, ~t.correct).index) == [1, 4, 2]  # no correct rows
    assert examples_of(t, np.zeros(6, dtype=bool)).empty


def test_headline_intervals_contain_the_estimates(t):
    h = headline(t)
    assert h.metrics.accuracy == pytest.approx(0.5)
    lo, hi = h.accuracy_ci
    assert lo < 0.5 < hi and lo >= 0 and hi <= 1
    # Wilson interval for 3 of 6, by hand: (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)
    z, n, p = 1.959963984540054, 6, 0.5
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (lo, hi) == pytest.approx((centre - half, centre + half))
    f_lo, f_hi = h.macro_f1_ci
    assert f_lo <= h.metrics.macro_f1 <= f_hi


def test_class_balance_counts_gold_and_each_checkpoints_predictions(t):
    other = table([[0.1, 0.1, 0.8]] * 6, GOLD, name="other")
    b = class_balance([t, other])
    assert b.labels == LABELS and b.gold.tolist() == [2, 2, 2]
    assert b.predicted["ckpt"].tolist() == [2, 3, 1] and b.predicted["other"].tolist() == [0, 0, 6]
    assert b.truncated == 2
    assert b.predicted_counts == {"ckpt": [2, 3, 1], "other": [0, 0, 6]}


def test_flip_summary_counts_fixed_and_broken():
    before = table([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]], [0, 1, 1, 0], name="before")
    after = table([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05]], [0, 1, 1, 0], name="after")
    flips = flip_summary(before, after)
    assert (flips.fixed, flips.broken) == (2, 1)  # rows 1 and 3 fixed, row 0 broken, row 2 unchanged
    assert list(flips.first_broken.index) == [0]


def test_explore_listing_preselects_the_linked_example_or_the_demo_default(t):
    listing = explore_listing(t, ExampleFilter(), "file", "3")
    assert listing.from_query == 3 and listing.position == 3
    listing = explore_listing(t, ExampleFilter(), "file", "junk")
    assert listing.from_query is None and listing.fallback == 1 and listing.position == 1  # the most confident mistake
    filtered = explore_listing(t, ExampleFilter(correct=True), "file", "1")
    assert list(filtered.shown.index) == [0, 3, 5] and filtered.position is None  # example 1 is filtered out


def test_compare_verdict_is_green_only_for_a_significant_improvement():
    from analysis.compare import compare_tables
    from analysis.views import compare_verdict, per_class_changes

    n = 40
    gold = np.zeros(n, dtype=int)
    wrong, right = [[0.1, 0.8, 0.1]] * n, [[0.8, 0.1, 0.1]] * n
    before, after = table(wrong, gold, name="before"), table(right, gold, name="after")  # 40 fixed, none broken
    verdict = compare_verdict(compare_tables(before, after, n_boot=50))
    assert verdict.tone == "success" and "before" in verdict.text and "after" in verdict.text
    assert compare_verdict(compare_tables(after, before, n_boot=50)).tone == "error"
    assert compare_verdict(compare_tables(before, before, n_boot=50)).tone == "info"
    changes = per_class_changes(compare_tables(before, after, n_boot=50)).set_index("Class")
    assert list(changes.columns) == ["Flag", "Examples", "F1 before", "F1 after", "F1 change", "95% interval", "Precision change", "Recall change"]
    assert changes.loc["neg", "F1 before"] == 0 and changes.loc["neg", "F1 after"] == 1 and changes.loc["neg", "F1 change"] == pytest.approx(100)


def test_error_slices_by_metadata_show_accuracy_gaps_and_the_examples_of_a_slice(t):
    from analysis.views import error_slices

    s = error_slices(t, "metadata", "source")
    assert list(s.display.columns) == ["Slice", "Examples", "Accuracy", "Gap", "95% range", "Mistakes"]
    shown = s.display.set_index("Slice")
    # source a: rows 0 (right), 2 and 4 (wrong) -> 1/3; source b: rows 1 (wrong), 3 and 5 (right) -> 2/3; overall 1/2
    assert shown.loc["a", "Examples"] == 3 and shown.loc["a", "Accuracy"] == pytest.approx(100 / 3) and shown.loc["a", "Mistakes"] == 2
    assert shown.loc["a", "Gap"] == pytest.approx(100 / 3 - 50) and shown.loc["b", "Gap"] == pytest.approx(200 / 3 - 50)
    assert s.overall == pytest.approx(0.5) and s.clearly_worse == ()  # three examples: the range is far too wide to be sure
    a = list(s.rows["slice"]).index("a")
    heading, examples = s.examples(t, a)
    assert heading == "**source = a** — 3 examples, 2 mistakes (mistakes first):"
    assert list(examples.index) == [4, 2, 0]  # the mistakes, most confident first, then the correct one


def test_error_slices_flag_a_slice_clearly_below_overall_and_list_the_weakest_spots():
    from analysis.views import error_slices, weakest_spots

    n = 60  # 30 'x' all wrong, 30 'y' all right: x's whole range lies below the overall 50%
    gold = [0] * n
    probs = [[0.2, 0.7, 0.1]] * 30 + [[0.8, 0.1, 0.1]] * 30
    big = table(probs, gold, metadata={"source": ["x"] * 30 + ["y"] * 30})
    s = error_slices(big, "metadata", "source")
    assert len(s.clearly_worse) == 1 and s.clearly_worse[0].startswith("source = x: 30 examples")
    spots = weakest_spots(big, error_slices(big, "all"))
    assert spots and spots[0].startswith("source = x") and all("below" in line for line in spots)
    assert error_slices(big, "keyword", keywords=("nothing-like-this",)).rows["size"].tolist() == [0, 60]


def test_metadata_columns_and_calibration_rows(t):
    from analysis.metrics import table_calibration
    from analysis.views import calibration_rows, metadata_columns

    assert metadata_columns(t) == {"source": "categorical"}
    rows = calibration_rows(table_calibration(t, 10))
    assert list(rows.columns) == ["Confidence", "Examples", "Accuracy", "Gap"] and rows["Examples"].sum() == 6 and (rows["Examples"] > 0).all()
    # the 0.9-1.0 bin holds rows 1 and 4 (0.95, wrong) and 5 (0.99, right): accuracy 1/3, minus the mean confidence 0.9633
    top = rows.iloc[-1]
    assert top["Examples"] == 3 and top["Accuracy"] == pytest.approx(100 / 3) and top["Gap"] == pytest.approx(100 / 3 - (0.95 + 0.95 + 0.99) / 3 * 100)


def deltas_frame(rows):
    import pandas as pd

    columns = ["feature", "slice", "size", "accuracy_before", "accuracy_after", "delta", "fixed", "broken", "p_value", "worse", "clearly_worse"]
    return pd.DataFrame([dict(zip(columns, r)) for r in rows])


def test_slice_changes_name_the_worse_slices_worst_first_and_skip_empty_ones():
    from analysis.views import slice_changes

    deltas = deltas_frame(
        [
            ("gold", "neg", 20, 0.9, 0.8, -0.1, 0, 2, 0.5, True, False),
            ("source", "web", 30, 0.5, 0.9, 0.4, 12, 0, 0.001, False, False),
            ("source", "mail", 10, 0.8, 0.4, -0.4, 0, 4, 0.04, True, True),
            ("keyword", "refund", 0, float("nan"), float("nan"), float("nan"), 0, 0, float("nan"), False, False),
        ]
    )
    changes = slice_changes(deltas, accuracy_improved=True)
    assert changes.tone == "error"  # one slice is clearly worse
    assert changes.message == (
        "Although accuracy improved overall, these slices got worse: source = mail (10 examples, 80% → 40%); gold = neg (20 examples, 90% → 80%)"
    )
    assert list(changes.table["Slice"]) == ["mail", "neg", "web"] and list(changes.chart["slice"]) == ["mail", "neg", "web"]
    assert list(changes.table["Flag"]) == ["⚠ clearly worse", "⚠ worse", ""]
    assert changes.table["Change (points)"].tolist() == pytest.approx([-40, -10, 40])
    only_worse = slice_changes(deltas.iloc[[0, 1]], accuracy_improved=False)
    assert only_worse.tone == "warning" and only_worse.message.startswith("These slices got worse: gold = neg")
    many = slice_changes(deltas_frame([("f", str(i), 10, 0.9, 0.5, -0.4, 0, 4, 0.2, True, False) for i in range(8)]), False)
    assert many.message.endswith("; and 2 more (see the table)") and many.message.count("examples") == 6
    none = slice_changes(deltas.iloc[[1]], True)
    assert (none.tone, none.message) == ("success", "No slice got worse.")


def test_cell_options_list_every_confusion_cell_that_holds_an_example(t):
    counts = errors_summary(t).counts  # [[1, 1, 0], [1, 1, 0], [0, 1, 1]]
    assert cell_options(t.labels, counts) == [
        ALL_MISTAKES,
        ALL_EXAMPLES,
        "neg → neg",
        "neg → pos",
        "pos → neg",
        "pos → pos",
        "neu → pos",
        "neu → neu",
    ]


def test_cell_selection_clicked_cells_win_over_the_show_choice(t):
    mask, heading = cell_selection(t, [("neg", "pos"), ("neu", "neu")], ALL_EXAMPLES)
    assert np.flatnonzero(mask).tolist() == [2, 5] and heading == "Clicked: gold neg → predicted pos; neu predicted correctly"
    mask, heading = cell_selection(t, [], ALL_MISTAKES)
    assert np.flatnonzero(mask).tolist() == [1, 2, 4] and heading == "All mistakes, most confident first"
    mask, heading = cell_selection(t, [], ALL_EXAMPLES)
    assert mask.all() and len(mask) == 6 and heading == "All examples, mistakes first"
    mask, heading = cell_selection(t, [], "neu → pos")
    assert np.flatnonzero(mask).tolist() == [4] and heading == "Gold neu, predicted pos"


def test_example_probabilities_and_the_truncated_count(t):
    probs = example_probabilities(t, 2)
    assert probs["label"].tolist() == list(LABELS) and probs["probability"].tolist() == pytest.approx([0.2, 0.6, 0.2])
    assert truncated_count(t) == 2 and truncated_count(table(PROBS, GOLD)) == 0


class Predictor:
    labels = ("neg", "pos")

    def predict_proba(self, texts):
        return np.array([[0.25, 0.75] for _ in texts])


def test_sentence_prediction_names_the_most_likely_label():
    said = sentence_prediction(Predictor(), "fine film")
    assert (said.label, said.confidence) == ("pos", pytest.approx(0.75))
    assert said.probabilities.columns.tolist() == ["neg", "pos"] and said.probabilities.iloc[0].tolist() == pytest.approx([0.25, 0.75])


def test_flip_choices_offer_still_wrong_changes_only_when_there_are_some():
    flips = pd.DataFrame({"status": ["fixed", "fixed", "broken"]}, index=[4, 7, 9])
    choices = flip_choices(flips)
    assert choices.options == ("fixed", "broken", "all")
    assert [choices.label(s) for s in choices.options] == ["Fixed (2)", "Broken (1)", "All flips (3)"]
    assert choices.rows("broken").index.tolist() == [9] and len(choices.rows("all")) == 3
    assert choices.label("changed, still wrong") == "Changed, still wrong (0)"
    assert choices.empty_message("all") == "No all examples: the two checkpoints agree on every example here."
    assert choices.empty_message("fixed") == "No fixed examples."
    more = flip_choices(pd.DataFrame({"status": ["changed, still wrong", "broken"]}))
    assert more.options == ("fixed", "broken", "changed, still wrong", "all") and more.label("fixed") == "Fixed (0)"


def attribution(pieces, pos_scores, probabilities):
    tokens, start = [], 0
    for piece in pieces:
        tokens.append(Token(piece, start, start + len(piece)))
        start += len(piece)
    scores = np.column_stack([-np.asarray(pos_scores, float), np.asarray(pos_scores, float)])
    return Attribution("".join(pieces), tuple(tokens), ("neg", "pos"), scores, np.zeros(2), np.array(probabilities), "pos", "shap", {}, 1, 0.0, "fp")


def test_explanation_difference_titles_each_side_with_its_probability_and_lists_the_biggest_changes():
    before = attribution(["good", " ", "not", " ", "good"], [0.3, 0, -0.1, 0, 0.3], [0.3, 0.7])
    after = attribution(["good", " ", "not", " ", "good"], [0.2, 0, -0.5, 0, 0.45], [0.1, 0.9])
    diff = explanation_difference(before, after, "pos", "base", "tuned")
    assert diff.titles == ("base (before): p('pos') = 0.70", "tuned (after): p('pos') = 0.90")
    assert diff.change["change"].tolist() == pytest.approx([-0.1, -0.4, 0.15])
    assert diff.biggest.columns.tolist() == ["word", "before", "after", "change"] and diff.biggest["word"].tolist() == ["not", "good (2nd)", "good"]
    assert "'tuned' leans more on 'good (2nd)' toward 'pos'" in diff.description
    neg = explanation_difference(before, after, "neg", "base", "tuned")
    assert neg.titles[1] == "tuned (after): p('neg') = 0.10"


def test_compare_headline_and_per_label_table_follow_the_checkpoints_kind():
    from multilabel_support import random_pair
    from sklearn.metrics import hamming_loss

    from analysis.compare import compare_tables
    from analysis.views import compare_headline, explained_label, flip_label_options, per_class_changes

    before, after = random_pair(n=60)
    comp = compare_tables(before, after, n_boot=200)
    numbers = {n.label: n for n in compare_headline(comp)}
    assert list(numbers) == ["Subset accuracy (candidate)", "Micro-F1 (candidate)", "Macro-F1 (candidate)", "Hamming loss (candidate)", "Fixed", "Broken"]
    hamming = numbers["Hamming loss (candidate)"]
    assert hamming.value == f"{hamming_loss(after.gold_matrix, after.pred_matrix):.3f}" and hamming.lower_is_better
    assert hamming.delta == f"{comp.delta('hamming_loss'):+.3f}"
    table = per_class_changes(comp)
    assert list(table["Label"]) == list(comp.labels) and (table["Fixed"].to_numpy() == comp.per_class["fixed"].to_numpy()).all()
    assert flip_label_options(comp) == ("every label", *comp.labels)
    row = pd.Series({"gold": "toxic | threat", "broken_labels": "", "fixed_labels": "threat"})
    assert explained_label(row, comp.labels) == "threat"  # the label that flipped, not the first gold one
    assert explained_label(pd.Series({"gold": "pos"}), ("neg", "pos")) == "pos"


def test_single_label_compare_headline_is_accuracy_and_macro_f1():
    from analysis.compare import compare_tables
    from analysis.synthetic import probs_for, table_from_arrays
    from analysis.views import compare_headline, flip_label_options

    gold = np.tile([0, 1], 20)
    before = table_from_arrays(probs_for(np.where(np.arange(40) % 5 == 0, 1 - gold, gold), 2), gold, ("neg", "pos"), checkpoint_name="b", data_fingerprint="d")
    after = table_from_arrays(probs_for(gold, 2), gold, ("neg", "pos"), checkpoint_name="a", data_fingerprint="d")
    comp = compare_tables(before, after, n_boot=100)
    numbers = {n.label: n for n in compare_headline(comp)}
    assert list(numbers) == ["Accuracy (candidate)", "Macro-F1 (candidate)", "Fixed", "Broken"]
    assert numbers["Accuracy (candidate)"].value == "100.0%" and numbers["Accuracy (candidate)"].delta == "+20.0 points"
    assert numbers["Fixed"].value == "8" and numbers["Broken"].delta is None and flip_label_options(comp) == ()


def test_explore_listing_sends_one_page_and_opens_on_the_page_of_the_linked_example():
    """100k rows were 24 MB of Arrow per rerun: the listing holds PAGE_ROWS rows, the page that holds the preselected example."""
    from analysis.synthetic import synthetic_pair
    from analysis.views import PAGE_ROWS

    _, table = synthetic_pair(2 * PAGE_ROWS + 10, seed=2)
    everything = browse_examples(table, ExampleFilter(), "confident")
    linked = int(everything.index[PAGE_ROWS + 5])  # on the second page
    listing = explore_listing(table, ExampleFilter(), "confident", str(linked))
    assert (listing.total, listing.pages, listing.page, listing.position) == (2 * PAGE_ROWS + 10, 3, 1, 5)
    pd.testing.assert_frame_equal(listing.shown, everything.iloc[PAGE_ROWS : 2 * PAGE_ROWS])
    assert listing.describe_page() == f"rows {PAGE_ROWS + 1:,}–{2 * PAGE_ROWS:,} of {2 * PAGE_ROWS + 10:,} (page 2 of 3)"
    last = explore_listing(table, ExampleFilter(), "confident", str(linked), page=7)  # clamped to the last page
    assert last.page == 2 and len(last.shown) == 10 and last.position is None  # the linked example is on another page
    one = explore_listing(table, ExampleFilter(search="review ba "), "file", None)  # a filter that leaves one page
    assert one.pages == 1 and one.describe_page() == "" and len(one.shown) == one.total
