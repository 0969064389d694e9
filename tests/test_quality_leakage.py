"""Train–evaluation leakage: planted exact and near-duplicates are found and nothing else, LSH agrees with a
brute-force exact Jaccard, and metrics without the leaked rows equal scikit-learn's on the filtered arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from analysis.synthetic import probs_for, table_from_arrays
from models.errors import VeredictoError
from quality.leakage import find_leakage, jaccard, metrics_without_leaked, normalise_input, normalise_text, shingles

VOCAB = [f"w{i}" for i in range(3000)]


def sentences(n: int, seed: int, words: int = 40) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(VOCAB, size=words)) for _ in range(n)]


def test_normalisation_ignores_case_spacing_punctuation_and_unicode_forms():
    assert normalise_text("  The FILM,  was\tgreat!! ") == "the film was great"
    assert normalise_text("ﬁne — “quoted”") == normalise_text("FINE quoted")  # NFKC turns the ﬁ ligature into fi
    assert normalise_text("...!?") == ""
    assert shingles("a b c d") == frozenset({"a b c", "b c d"}) and shingles("a b") == frozenset({"a b"})


def test_planted_exact_and_near_duplicates_are_found_and_nothing_else():
    train = sentences(300, seed=1)
    evals = sentences(100, seed=2)
    words = train[10].split()
    evals[5] = "  " + train[10].upper().replace(" ", "  ") + "!!"  # exact after normalisation
    evals[20] = train[42] + "."  # exact
    evals[33] = " ".join([*words[:-1], "changed"])  # one word of 40 changed at the end: Jaccard 37/39
    evals[60] = " ".join([*words[:20], "x", *words[21:]])  # one word in the middle: Jaccard 35/41
    evals[61] = " ".join(w if i % 4 else "y" for i, w in enumerate(train[99].split()))  # every 4th word: far below 0.8
    evals[80] = evals[7].lower() + "?"  # within the evaluation data only
    leak = find_leakage(train, evals, threshold=0.8)

    assert leak.matches["row"].tolist() == [5, 20, 33, 60]
    assert leak.matches["train_row"].tolist() == [10, 42, 10, 10]
    assert leak.matches["kind"].tolist() == ["exact", "exact", "near", "near"]
    np.testing.assert_allclose(leak.matches["similarity"], [1.0, 1.0, 37 / 39, 35 / 41])
    assert leak.rate == pytest.approx(4 / 100) and leak.exact_count == 2 and leak.near_count == 2
    # Within the evaluation data: row 80 repeats row 7; rows 33 and 60 are near-duplicates of row 5 (all three from train[10]).
    within = {(r, f, k) for r, f, k in leak.within_eval[["row", "first_row", "kind"]].itertuples(index=False)}
    assert within == {(80, 7, "exact"), (33, 5, "near"), (60, 5, "near")}
    assert "4 of 100 evaluation texts (4.0%)" in leak.summary()


def test_empty_or_punctuation_only_texts_are_never_duplicates():
    leak = find_leakage(["", "!!!", "a real text here"], ["", "?", "another text entirely"])
    assert leak.matches.empty and leak.within_eval.empty


def brute_force(train: list[str], evals: list[str], threshold: float) -> dict[int, float]:
    """Best exact Jaccard of each evaluation text against every training text, kept when ≥ threshold."""
    train_sets = [shingles(normalise_text(t)) for t in train]
    best = {}
    for row, text in enumerate(evals):
        s = shingles(normalise_text(text))
        top = max(jaccard(s, t) for t in train_sets)
        if top >= threshold:
            best[row] = top
    return best


def test_lsh_results_equal_a_brute_force_exact_jaccard():
    train = sentences(60, seed=3, words=30)
    rng = np.random.default_rng(4)
    evals = []
    for i in range(120):  # variants of training texts with 0..12 words replaced: Jaccard from 1.0 down to ~0.1
        words = train[i % 60].split()
        for j in rng.choice(30, size=i % 13, replace=False):
            words[j] = f"new{i}_{j}"
        evals.append(" ".join(words))
    leak = find_leakage(train, evals, threshold=0.7)
    expected = brute_force(train, evals, 0.7)
    assert len(expected) > 20 and len(expected) < 120  # the set spans both sides of the threshold
    assert dict(zip(leak.matches["row"], leak.matches["similarity"])) == pytest.approx(expected)


def test_metrics_without_leaked_rows_equal_scikit_learn_on_the_filtered_arrays():
    rng = np.random.default_rng(5)
    n = 200
    gold = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.7, gold, rng.integers(0, 3, n))
    evals = sentences(n, seed=6)
    leaked = [3, 17, 18, 150]
    train = [*sentences(50, seed=7), *(evals[r] for r in leaked)]
    table = table_from_arrays(probs_for(pred, 3, np.full(n, 0.8)), gold, ("a", "b", "c"), texts=evals)
    clean = metrics_without_leaked(table, find_leakage(train, evals))
    keep = np.setdiff1d(np.arange(n), leaked)
    assert clean.removed == 4 and clean.without_leaked.n == n - 4
    assert clean.without_leaked.accuracy == pytest.approx(accuracy_score(gold[keep], pred[keep]))
    assert clean.without_leaked.macro_f1 == pytest.approx(f1_score(gold[keep], pred[keep], average="macro"))
    assert clean.all_rows.accuracy == pytest.approx(accuracy_score(gold, pred))
    assert clean.table().loc["examples", "change"] == -4


def test_bad_parameters_and_mismatched_tables_say_what_is_wrong():
    with pytest.raises(VeredictoError, match="Jaccard similarity between 0 and 1"):
        find_leakage(["a"], ["b"], threshold=80)
    table = table_from_arrays(probs_for(np.array([0, 1]), 2, np.full(2, 0.9)), np.array([0, 1]), ("a", "b"))
    with pytest.raises(VeredictoError, match="scan the same evaluation data"):
        metrics_without_leaked(table, find_leakage(["x y z"], ["x y z", "a", "b"]))


LONG_FIRST = " ".join(f"w{i}" for i in range(20))
LONG_SECOND = " ".join(f"v{i}" for i in range(20))
PAIR_TRAIN = [
    ("A man is sleeping on the couch.", "Someone rests indoors."),
    ("Two dogs run in a park.", "Animals are outside."),
    (LONG_FIRST, LONG_SECOND),
]
PAIR_EVAL = [
    ("a MAN is sleeping on the couch", "someone rests  indoors!"),  # 0: the same pair after normalising
    ("A man is sleeping on the couch.", "Nobody is at home."),  # 1: the same premise with another hypothesis: a new example
    ("Someone rests indoors.", "A man is sleeping on the couch."),  # 2: the two texts swapped: a new example
    (LONG_FIRST, LONG_SECOND.replace("v19", "changed")),  # 3: one word of the second text changed
    ("Two dogs run in a park.", "Animals are outside."),  # 4: exact
    ("a man is sleeping on the couch", "someone rests indoors"),  # 5: repeats evaluation pair 0 (and so training pair 0)
]


def test_a_sentence_pair_is_leaked_only_when_both_its_texts_are_in_training_together():
    """The failure: comparing first texts only calls row 1 (the same premise with a new hypothesis) leaked."""
    leak = find_leakage(PAIR_TRAIN, PAIR_EVAL, threshold=0.8)
    assert leak.matches["row"].tolist() == [0, 3, 4, 5]
    assert leak.matches["train_row"].tolist() == [0, 2, 1, 0] and leak.matches["kind"].tolist() == ["exact", "near", "exact", "exact"]
    # the joined pair is 41 words (20 + the pair mark + 20): 39 word 3-grams; changing the last word changes one of them
    np.testing.assert_allclose(leak.matches["similarity"], [1.0, 38 / 40, 1.0, 1.0])
    assert list(leak.matches.columns) == ["row", "text", "text_pair", "train_row", "train_text", "train_text_pair", "similarity", "kind"]
    first = leak.matches.iloc[0]
    assert (first["text"], first["text_pair"], first["train_text_pair"]) == (*PAIR_EVAL[0], "Someone rests indoors.")
    assert leak.within_eval[["row", "first_row", "kind"]].values.tolist() == [[5, 0, "exact"]]
    assert leak.within_eval["first_text_pair"].tolist() == ["someone rests  indoors!"]
    # what one text per row would have said: row 1's first text is a training first text
    assert 1 in find_leakage([a for a, _ in PAIR_TRAIN], [a for a, _ in PAIR_EVAL]).leaked_rows


def test_near_duplicate_pairs_equal_a_brute_force_jaccard_over_the_joined_pair():
    rng = np.random.default_rng(8)
    train = list(zip(sentences(40, seed=9, words=12), sentences(40, seed=10, words=12)))
    evals = []
    for i in range(80):
        first, second = (t.split() for t in train[i % 40])
        for j in rng.choice(12, size=i % 6, replace=False):
            second[j] = f"new{i}_{j}"  # only the second text changes: the first texts are all in training
        evals.append((" ".join(first), " ".join(second)))
    leak = find_leakage(train, evals, threshold=0.7)
    train_sets = [shingles(normalise_input(t)) for t in train]
    expected = {r: max(jaccard(shingles(normalise_input(e)), t) for t in train_sets) for r, e in enumerate(evals)}
    expected = {r: s for r, s in expected.items() if s >= 0.7}
    assert 10 < len(expected) < 80
    assert dict(zip(leak.matches["row"], leak.matches["similarity"])) == pytest.approx(expected)


def test_pairs_on_one_side_only_are_refused_with_what_to_give():
    with pytest.raises(VeredictoError, match="--train-pair-col"):
        find_leakage(["a text"], [("a text", "its pair")])
    with pytest.raises(VeredictoError, match="--pair-col"):
        find_leakage([("a text", "its pair")], ["a text"])
    assert normalise_input(("", "!!")) == "" and find_leakage([("", "")], [("", "?")]).matches.empty


def _brute_force(train: list[str], evals: list[str], threshold: float) -> dict[int, tuple[int, float]]:
    """Every evaluation row against every training row with the exact Jaccard: row -> (best training row, similarity)."""
    norm_train = [normalise_text(t) for t in train]
    sets = [shingles(n) for n in norm_train]
    out = {}
    for row, text in enumerate(evals):
        norm = normalise_text(text)
        if not norm:
            continue
        if norm in norm_train:
            out[row] = (norm_train.index(norm), 1.0)
            continue
        scored = [(jaccard(shingles(norm), s), -t) for t, s in enumerate(sets)]
        sim, neg_t = max(scored)
        if sim >= threshold:
            out[row] = (-neg_t, sim)
    return out


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_training_texts_given_in_chunks_give_the_brute_force_answer_and_the_same_as_all_at_once(chunk, monkeypatch):
    from quality.leakage import LeakageScan

    monkeypatch.setattr("quality.leakage.MINHASH_BATCH", 11)  # sketch batches that cut through the chunks too

    train = sentences(200, seed=3, words=12)
    evals = sentences(80, seed=4, words=12)
    for i in range(0, 80, 5):  # copies (some exact, some with one word changed) of training rows spread over the chunks
        words = train[(i * 37) % 200].split()
        evals[i] = " ".join(words) if i % 10 else " ".join([*words[:-1], "changed"])
    train[150] = train[(5 * 37) % 200]  # a later duplicate in the training data: the earliest row is reported
    scan = LeakageScan(evals, threshold=0.7)
    for start in range(0, len(train), chunk):
        scan.add_train(train[start : start + chunk])
    chunked, whole = scan.result(), find_leakage(train, evals, threshold=0.7)
    assert chunked.as_dict() == whole.as_dict()
    assert chunked.matches.equals(whole.matches) and chunked.within_eval.equals(whole.within_eval)
    expected = _brute_force(train, evals, 0.7)
    assert {r.row: r.train_row for r in chunked.matches.itertuples()} == {row: t for row, (t, _) in expected.items()}
    assert chunked.matches["similarity"].tolist() == pytest.approx([expected[r][1] for r in sorted(expected)])
    assert len(expected) == 16 and chunked.n_train == 200
