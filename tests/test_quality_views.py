"""The Data page's view model without Streamlit: the ranking of label issues, the decisions shown on them, who may
record one, and the numbers as labelled and with the corrections."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score
from test_store_labels import ANA, LABELS, make_table

from probes.embeddings import index_from_vectors
from probes.views import ResultCache
from quality.label_issues import CONFIDENT_LEARNING, NEIGHBOURS
from quality.views import EMBEDDINGS_NEEDED, data_view, ranked_issues, record_decision
from store.audit import AuditStore
from store.identity import LoginThrottle, hash_password
from store.labels import decisions_of


@pytest.fixture
def store(tmp_path):
    return AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")


# row 4 (gold positive) lies in the cluster of rows 0, 3 and 6 (all gold negative): only it has all 3 neighbours on another label
VECTORS = [[1, 0], [0, 1], [0, 1], [1, 0], [1, 0.01], [0, 1], [1, 0], [0, 1]]


def test_confident_learning_and_the_neighbours_are_merged_and_each_row_says_which_flagged_it(store):
    from cleanlab.filter import find_label_issues

    # gold [0,1,2,0,1,2,0,1] vs pred [0,1,1,0,0,2,2,1] at 0.8: cleanlab's confident learning flags the three mistakes
    table = make_table()
    flagged = find_label_issues(labels=table.gold_idx, pred_probs=table.probs, return_indices_ranked_by="self_confidence")
    assert sorted(flagged.tolist()) == [2, 4, 6]
    alone = data_view(store, table).issues
    assert alone["row"].tolist() == flagged.tolist() and set(alone["flagged_by"]) == {CONFIDENT_LEARNING}
    assert alone["suggested"].tolist() == [table.labels[p] for p in (1, 0, 2)]  # the most probable label other than the gold one

    index = index_from_vectors(pd.DataFrame(VECTORS).to_numpy(dtype=float), table)
    results = ResultCache()
    view = data_view(store, table, index, index_key=("ckpt", "data"), k=3, threshold=1.0, results=results)
    assert view.issues["row"].tolist()[0] == 4  # both methods flag it: first
    assert view.issues["flagged_by"].tolist() == [f"{CONFIDENT_LEARNING} + {NEIGHBOURS}", CONFIDENT_LEARNING, CONFIDENT_LEARNING]
    assert "Confident learning flags 3 of 8 gold labels (37.5%)" in view.summary and "the embedding neighbours flag 1, 1 of them the same rows" in view.summary
    # kept for the next rerun: the same table, index and settings are not ranked again
    kept = ranked_issues(table, index, index_key=("ckpt", "data"), k=3, threshold=1.0, results=results)
    assert kept is results.get("label_issues", (table.cache_key, True, 3, 1.0))


def test_the_view_shows_decisions_with_who_and_when_and_both_numbers(store):
    table = make_table()
    view = data_view(store, table)
    assert view.needs == (EMBEDDINGS_NEEDED,) and view.gold is None and view.history is None and view.csv == b""
    assert (view.issues["decision"] == "").all() and "**3** examples to check" in view.summary

    outcome = record_decision(store, table, row=2, verdict="wrong", corrected="positive", team_mode=False, name=" Ana ", note="plainly positive")
    assert outcome.error is None and outcome.decision is not None and "#2" in outcome.message
    view = data_view(store, table)
    assert "1 of them has a reviewer's decision already." in view.summary
    row = view.issues.set_index("row").loc[2]
    assert (row["decision"], row["decided_by"]) == ("gold label wrong → positive", "Ana")
    assert row["decided_at"] == outcome.decision.created_at[:19].replace("T", " ")
    assert view.history is not None and view.history["Text"].tolist() == ["text number 2"] and view.csv
    assert view.gold is not None and view.gold.corrections == 1
    pred = [0, 1, 1, 0, 0, 2, 2, 1]
    assert view.gold.as_labelled.accuracy == pytest.approx(accuracy_score([0, 1, 2, 0, 1, 2, 0, 1], pred))
    assert view.gold.corrected.accuracy == pytest.approx(accuracy_score([0, 1, 1, 0, 1, 2, 0, 1], pred))
    assert view.choices[2] == "#2: text number 2 (gold neutral, suggested positive)"


def test_the_view_uses_the_neighbour_hints_when_embeddings_exist(store):
    table = make_table()
    index = index_from_vectors(pd.DataFrame(VECTORS).to_numpy(dtype=float), table)
    results = ResultCache()
    view = data_view(store, table, index, index_key=("ckpt", "data"), k=3, threshold=1.0, results=results)
    assert view.needs == ()
    hinted = view.issues[view.issues["flagged_by"].str.contains(NEIGHBOURS)]
    assert hinted["row"].tolist() == [4] and hinted["suggested"].tolist() == ["negative"]

    # the same vectors indexed by a page that judged against corrected labels (row 4 relabelled "negative"): the hints
    # still read this table's gold labels, so row 4 is flagged
    from analysis.predictions import with_corrected_gold

    corrected = index_from_vectors(index.vectors, with_corrected_gold(table, {4: "negative"}))
    view = data_view(store, table, corrected, index_key=("ckpt", "data", "other"), k=3, threshold=1.0, results=ResultCache())
    assert view.issues[view.issues["flagged_by"].str.contains(NEIGHBOURS)]["row"].tolist() == [4]


def test_recording_says_what_is_missing_and_checks_who_decides(store):
    table = make_table()
    assert record_decision(store, table, row=None, verdict="right", team_mode=False, name="Ana").error == "Choose the example to decide on."
    assert "right or wrong" in (record_decision(store, table, row=1, verdict=None, team_mode=False, name="Ana").error or "")
    assert "enter your name" in (record_decision(store, table, row=1, verdict="right", team_mode=False, name="  ").error or "")
    assert "log in first" in (record_decision(store, table, row=1, verdict="right", team_mode=True, name="Ana").error or "")
    assert "not one of the checkpoint's labels" in (
        record_decision(store, table, row=1, verdict="wrong", corrected="spam", team_mode=False, name="Ana").error or ""
    )
    accounts = {"Ana Ruiz": hash_password("correct horse", iterations=1_000)}
    throttle = LoginThrottle()
    refused = record_decision(store, table, row=1, verdict="right", team_mode=True, reviewers=accounts, name="Ana Ruiz", password="nope", throttle=throttle)
    assert "Wrong reviewer or password" in (refused.error or "")
    assert decisions_of(store) == []
    ok = record_decision(store, table, row=1, verdict="right", team_mode=True, reviewers=accounts, name="Ana Ruiz", password="correct horse", throttle=throttle)
    assert ok.error is None and ok.decision is not None and (ok.decision.reviewer, ok.decision.identity) == ("Ana Ruiz", ANA.identity)


def test_a_multi_label_table_has_no_single_gold_label_to_decide_on(store):
    import numpy as np

    from analysis.predictions import build_table
    from models.task import MULTI_LABEL
    from store.audit import StoreError
    from store.labels import SINGLE_LABEL_ONLY, corrected_tables, record_label_decision

    table = build_table(
        checkpoint_name="tags",
        fingerprint="c" * 64,
        data_name="tags.csv",
        data_fingerprint="t" * 64,
        labels=LABELS,
        probs=np.full((2, 3), 0.7),
        gold=np.array([[True, False, True], [False, True, False]]),
        texts=["a", "b"],
        n_tokens=np.array([1, 1]),
        truncated=np.zeros(2, dtype=bool),
        task=MULTI_LABEL,
    )
    with pytest.raises(StoreError, match="single-label checkpoints"):
        record_label_decision(store, table, row=0, verdict="right", reviewer=ANA)
    assert corrected_tables(store, [table]).count == 0
    view = data_view(store, table)
    assert view.needs == (SINGLE_LABEL_ONLY,) and view.issues.empty and view.gold is None


def test_leakage_and_drift_are_computed_once_per_training_file_and_texts_are_masked_when_redacting(tiny_bert_predictor, tmp_path):
    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data
    from quality.training import TrainingData, training_data
    from quality.views import measure_quality, quality_section

    labels = list(tiny_bert_predictor.labels)
    evals = pd.DataFrame({"text": [f"mail ana.lopez@example.com about order {i} please" for i in range(6)] + ["a plain text", "another plain one"]})
    evals["label"] = [labels[i % len(labels)] for i in range(len(evals))]
    evals.to_csv(tmp_path / "eval.csv", index=False)
    table = predict_table(tiny_bert_predictor, load_eval_data(tmp_path / "eval.csv"))
    pd.DataFrame({"text": [evals["text"].iat[2], "something else entirely here", "and more training text"]}).to_csv(tmp_path / "train.csv", index=False)
    training = training_data(None, tmp_path / "train.csv")

    results = ResultCache()
    calls = []
    quality = measure_quality(tiny_bert_predictor, table, training, cap=50, results=results, progress=lambda d, t: calls.append((d, t)))
    assert calls  # progress reported while embedding and hashing
    assert measure_quality(tiny_bert_predictor, table, training, cap=50, results=results) is quality  # kept: not measured again
    assert measure_quality(tiny_bert_predictor, table, training, cap=40, results=results) is not quality  # other parameters: measured

    plain = quality_section(quality, training, redact=False)
    assert plain.leaked is not None and plain.leaked["row"].tolist() == [2] and "ana.lopez@example.com" in plain.leaked["text"].iat[0]
    assert plain.within is not None and len(plain.within) == 0  # "order 0" .. "order 5" differ in one word: Jaccard 4/10 of word 3-grams
    assert plain.clean is not None and plain.clean.loc["examples", "without leaked rows"] == 7
    assert plain.drift_numbers is not None and plain.drift_numbers.loc["texts measured"].tolist() == ["3 of 3", "8 of 8"]
    assert plain.balance is None  # the training file has no labels
    masked = quality_section(quality, training, redact=True)
    assert masked.leaked is not None and "<EMAIL>" in masked.leaked["text"].iat[0] and "<EMAIL>" in masked.leaked["train_text"].iat[0]
    assert masked.unlike is not None and not masked.unlike["text"].str.contains("ana.lopez", regex=False).any()

    none = TrainingData(None, "", "No training data was given. Pass it.")
    assert measure_quality(tiny_bert_predictor, table, none, results=results).leakage is None
    empty = quality_section(None, none, redact=False)
    assert empty.needs == ("No training data was given. Pass it.",) and empty.leakage is None and empty.drift is None


def test_with_redaction_both_texts_of_leaked_pairs_are_masked(tmp_path):
    from privacy_support import leaks

    from evaldata.loading import load_eval_data
    from quality.assess import DataQuality
    from quality.leakage import find_leakage
    from quality.training import TrainingData
    from quality.views import quality_section

    pairs = [("Is this the refund desk?", "Write to maria.lopez@example.com about it."), ("Who called?", "Jennifer Okafor called on +44 20 7946 0958.")]
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": [a for a, _ in pairs], "text_pair": [b for _, b in pairs]}).to_csv(path, index=False)
    training = TrainingData(load_eval_data(path, label_col="", pair_col="text_pair"), "file")
    quality = DataQuality(training, leakage=find_leakage(training.evalset.inputs, [*pairs, pairs[0]]))
    section = quality_section(quality, training, redact=True)
    assert section.leaked is not None and section.within is not None and len(section.leaked) == 3 and len(section.within) == 1
    shown = section.leaked.to_csv() + section.within.to_csv()
    assert leaks(shown) == [] and "<EMAIL>" in section.leaked["train_text_pair"].iat[0] and "<NAME>" in section.leaked["text_pair"].iat[1]
    assert leaks(quality_section(quality, training, redact=False).leaked.to_csv())  # off: as they are


def test_label_issues_of_sentence_pairs_show_the_second_text_masked_like_the_first_when_redacting(store):
    """Each flagged row carries its own second text (rows 2, 4, 6 are flagged); with redaction both texts are masked.
    Fails when the issues drop `text_pair`, misalign it, or mask only the first text."""
    import dataclasses

    table = make_table(texts=[f"Is row {i} about a refund?" for i in range(8)])
    frame = table.frame.copy()
    frame.insert(1, "text_pair", [f"Write to person{i}@example.com about row {i}." for i in range(8)])
    pairs = dataclasses.replace(table, frame=frame)
    assert pairs.pair

    shown = data_view(store, pairs, results=ResultCache()).issues
    assert list(shown.columns[:3]) == ["row", "text", "text_pair"]
    assert shown[["row", "text_pair"]].values.tolist() == [[r, f"Write to person{r}@example.com about row {r}."] for r in shown["row"]]
    assert sorted(shown["row"]) == [2, 4, 6]

    masked = data_view(store, pairs, redact=True, results=ResultCache()).issues
    assert masked["row"].tolist() == shown["row"].tolist()
    assert masked["text_pair"].tolist() == [f"Write to <EMAIL> about row {r}." for r in shown["row"]]
    assert not masked.to_csv().count("@example.com")
    # one text per row: no second-text column at all
    assert "text_pair" not in data_view(store, table, results=ResultCache()).issues.columns
