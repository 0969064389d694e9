"""The Data page as a reviewer uses it: record "gold label wrong -> X" through the widgets, see it listed with who and
when, export it; then the Overview's "Gold labels" switch shows the accuracy with that correction."""

from __future__ import annotations

import pytest
from analysis_pages_support import app_test, build_fixture, predictions
from sklearn.metrics import accuracy_score, f1_score

from dashboard.state import GOLD_KEY
from store.audit import AuditStore
from store.labels import decisions_of

PAGE = "pages/data.py"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("data-page"))


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("VEREDICTO_STORE_URL", url)
    return url


def frame(at, column: str):
    """The table on the page that has `column` (st.dataframe without selection exposes no key)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def _a_mistake(at, env) -> tuple[int, str]:
    """The first listed example the candidate gets wrong, and the label it predicts there."""
    _, pred = predictions(env, "tiny-after")
    gold = env["frame"]["label"].to_numpy()
    rows = [int(r) for r in frame(at, "flagged_by")["row"]]
    row = next(r for r in rows if pred[r] != gold[r])
    return row, str(pred[row])


def test_a_decision_recorded_on_the_page_is_stored_listed_and_changes_the_overview(env, store_url, monkeypatch):
    at = app_test(env, monkeypatch, PAGE)
    issues = frame(at, "flagged_by")
    assert len(issues) and (issues["decision"] == "").all()  # nothing decided yet
    row, label = _a_mistake(at, env)
    gold = env["frame"]["label"].to_numpy()
    at.selectbox(key="data_row").set_value(row)
    at.radio(key="data_verdict").set_value("wrong").run()
    at.selectbox(key="data_corrected").set_value(label)
    at.text_input(key="data_name").input("Ana Ruiz")
    at.text_input(key="data_note").input("=HYPERLINK(1) the text is plainly " + label)
    at.button(key="data_record").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(f"Recorded for example #{row}" in s.value for s in at.success), [s.value for s in at.success]

    stored = decisions_of(AuditStore(store_url))
    assert [(d.row, d.gold, d.verdict, d.corrected, d.reviewer, d.identity) for d in stored] == [(row, gold[row], "wrong", label, "Ana Ruiz", "local:Ana Ruiz")]
    listed = frame(at, "flagged_by").set_index("row").loc[row]
    assert (listed["decision"], listed["decided_by"]) == (f"gold label wrong → {label}", "Ana Ruiz") and listed["decided_at"]
    history = frame(at, "Reviewer")
    assert history[["Row", "Gold label", "Corrected label", "Reviewer"]].values.tolist() == [[row, gold[row], label, "Ana Ruiz"]]
    assert history["When (UTC)"].iat[0] == stored[0].created_at[:19].replace("T", " ")
    assert [b.proto.label for b in at.get("download_button")] == ["Download the decisions (CSV)"]

    # the accuracy with the correction, recomputed here with scikit-learn
    _, pred_after = predictions(env, "tiny-after")
    corrected_gold = gold.copy()
    corrected_gold[row] = label
    shown = {m.label: m.value for m in at.metric}
    assert shown["Accuracy as labelled"] == f"{accuracy_score(gold, pred_after):.1%}"
    assert shown["Accuracy with 1 reviewer correction(s)"] == f"{accuracy_score(corrected_gold, pred_after):.1%}"

    # the sidebar's one choice switches every checkpoint's numbers to the corrected gold labels, on every page
    at.switch_page("pages/overview.py").run()
    assert not at.exception, [e.message for e in at.exception]
    expected = {name: predictions(env, name)[1] for name in ("tiny-before", "tiny-after")}
    accuracy = lambda: [m.value for m in at.metric if m.label == "Accuracy"]  # noqa: E731
    assert accuracy() == [f"{accuracy_score(gold, p):.1%}" for p in expected.values()]  # as labelled by default
    assert not [i for i in at.info if "reviewer correction" in i.value]
    at.session_state[GOLD_KEY] = True
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert accuracy() == [f"{accuracy_score(corrected_gold, p):.1%}" for p in expected.values()]
    assert accuracy() != [f"{accuracy_score(gold, p):.1%}" for p in expected.values()]
    assert any("with 1 reviewer correction" in i.value for i in at.info), [i.value for i in at.info]

    # Errors follows the same choice (the candidate's accuracy and mistakes), and says so
    at.switch_page("pages/errors.py").run()
    assert not at.exception, [e.message for e in at.exception]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Accuracy"] == f"{accuracy_score(corrected_gold, pred_after):.1%}"
    assert shown["Mistakes"] == f"{int((corrected_gold != pred_after).sum()):,}"
    assert any("with 1 reviewer correction" in i.value for i in at.info), [i.value for i in at.info]
    # the Data page keeps the labels as in the file: decisions are made on them
    at.switch_page(PAGE).run()
    assert {m.label: m.value for m in at.metric}["Accuracy as labelled"] == f"{accuracy_score(gold, pred_after):.1%}"
    at.session_state[GOLD_KEY] = False
    at.switch_page("pages/errors.py").run()
    assert {m.label: m.value for m in at.metric}["Accuracy"] == f"{accuracy_score(gold, pred_after):.1%}"
    assert not [i for i in at.info if "reviewer correction" in i.value]


def test_without_a_name_nothing_is_recorded(env, store_url, monkeypatch):
    at = app_test(env, monkeypatch, PAGE)
    row = int(frame(at, "flagged_by")["row"].iat[0])
    at.selectbox(key="data_row").set_value(row)
    at.radio(key="data_verdict").set_value("right")
    at.button(key="data_record").click().run()
    assert any("enter your name" in e.value for e in at.error), [e.value for e in at.error]
    assert decisions_of(AuditStore(store_url)) == []
    assert not [d for d in at.dataframe if "Reviewer" in d.value.columns]


def test_team_mode_without_reviewer_identities_records_nothing_and_says_why(env, store_url, monkeypatch):
    monkeypatch.setenv("VEREDICTO_TEAM_MODE", "1")
    monkeypatch.setenv("VEREDICTO_CHECKPOINT_ROOTS", str(env["checkpoints"]))
    monkeypatch.setenv("VEREDICTO_DATA_ROOTS", str(env["data"].parent))
    at = app_test(env, monkeypatch, PAGE)
    assert any("label decisions are disabled in team mode" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not [b for b in at.button if b.key == "data_record"]


# --- leakage and drift against a training file ------------------------------------------------------------------------


LEAKED = [3, 11, 23]  # evaluation rows planted in the training file


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny checkpoints on 60 distinct evaluation texts, and train.csv beside them: 40 texts unlike them, exact copies of
    evaluation rows 3 and 11 (re-cased, re-punctuated) and row 23 with one word added (word 3-gram Jaccard 10/11)."""
    import numpy as np
    import pandas as pd

    root = tmp_path_factory.mktemp("data-page-training")
    env = build_fixture(root)
    rng = np.random.default_rng(7)
    words = [
        "good",
        "bad",
        "movie",
        "film",
        "plot",
        "actor",
        "scene",
        "great",
        "awful",
        "boring",
        "fun",
        "slow",
        "music",
        "ending",
        "story",
        "cast",
        "script",
        "dull",
        "funny",
        "sad",
    ]
    texts = [" ".join(rng.choice(words, 12)) + f" review{i}" for i in range(60)]
    frame = env["frame"].assign(text=texts)
    frame.to_csv(env["data"], index=False)
    other = [f"completely different training sentence number {i} about weather and trains" for i in range(40)]
    copies = [texts[3].upper(), texts[11] + " !!", texts[23] + " indeed"]
    train = root / "train.csv"
    pd.DataFrame({"text": other + copies, "label": ["negative", "positive"] * 20 + ["negative"] * 3}).to_csv(train, index=False)
    return {**env, "frame": frame, "train": train}


def test_a_training_file_shows_the_leaked_rows_the_metrics_without_them_and_the_drift(trained, store_url, monkeypatch):
    env, path, leaked = trained, trained["train"], LEAKED
    at = app_test(env, monkeypatch, PAGE)
    assert any("no provenance.json naming its training file" in i.value and "'Training data' picker on the Data page" in i.value for i in at.info), [
        i.value for i in at.info
    ]
    at.text_input(key="training_file").input(str(path)).run()
    assert not at.exception, [e.message for e in at.exception]

    shown = frame(at, "train_text")
    assert shown["row"].tolist() == leaked and shown["train_row"].tolist() == [40, 41, 42]
    assert shown["kind"].tolist() == ["exact", "exact", "near"]
    assert any("3 of 60 evaluation texts (5.0%) also appear in the training data (43 texts): 2 exactly" in m.value.replace("\\:", ":") for m in at.markdown)

    # the headline beside the numbers without the leaked rows, recomputed here with scikit-learn
    gold = env["frame"]["label"].to_numpy()
    _, pred = predictions(env, "tiny-after")
    keep = [i for i in range(len(gold)) if i not in leaked]
    clean = frame(at, "without leaked rows")
    assert clean.loc["accuracy", "all rows"] == pytest.approx(accuracy_score(gold, pred))
    assert clean.loc["accuracy", "without leaked rows"] == pytest.approx(accuracy_score(gold[keep], pred[keep]))
    assert clean.loc["examples", "without leaked rows"] == 57

    # drift: the domain classifier in plain words, lengths / OOV / truncation per side, label balance, the most unlike texts
    assert any("a simple classifier tells training from evaluation texts apart" in m.value.lower() for m in at.markdown)
    numbers = frame(at, "evaluation")
    assert numbers.loc["texts measured"].tolist() == ["43 of 43", "60 of 60"]
    assert {"out-of-vocabulary words", "median length (tokens)"} <= set(numbers.index)
    balance = frame(at, "train_share")
    assert balance.loc["negative", "train_share"] == pytest.approx(23 / 43)
    assert balance.loc["negative", "eval_share"] == pytest.approx((gold == "negative").mean())
    assert len(frame(at, "p_eval")) == 10
    # the training file is scanned for personal data too
    assert any(m.value.startswith("**In the training data:** No personal data found in 43 rows") for m in at.markdown), [m.value for m in at.markdown]


def test_a_missing_training_file_says_so_and_the_rest_of_the_page_stays(env, store_url, monkeypatch, tmp_path):
    at = app_test(env, monkeypatch, PAGE)
    at.text_input(key="training_file").input(str(tmp_path / "nope.csv")).run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Training file 'nope.csv' does not exist" in e.value for e in at.error), [e.value for e in at.error]
    assert frame(at, "flagged_by") is not None  # the label issues are still there


def test_team_mode_offers_training_files_only_under_the_shared_roots(trained, store_url, monkeypatch):
    env = trained
    monkeypatch.setenv("VEREDICTO_TEAM_MODE", "1")
    monkeypatch.setenv("VEREDICTO_CHECKPOINT_ROOTS", str(env["checkpoints"]))
    monkeypatch.setenv("VEREDICTO_DATA_ROOTS", str(env["data"].parent))
    at = app_test(env, monkeypatch, PAGE)
    picker = at.selectbox(key="team_training_file")
    root = env["data"].parent.resolve().name
    assert f"{root}/train.csv" in picker.options and all(o == "(the checkpoint's provenance)" or o.startswith(f"{root}/") for o in picker.options)
    picker.set_value(str(env["train"].resolve())).run()
    assert not at.exception, [e.message for e in at.exception]
    assert frame(at, "train_text")["row"].tolist() == LEAKED


@pytest.mark.parametrize("page", ["pages/explore.py", "pages/compare.py", "pages/signoff.py"])
def test_every_page_says_when_its_numbers_use_the_corrections(env, store_url, monkeypatch, page):
    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data
    from models import Predictor
    from store.identity import Reviewer
    from store.labels import record_label_decision

    table = predict_table(Predictor(str(env["checkpoints"] / "tiny-after"), device="cpu"), load_eval_data(env["data"]))
    wrong = "positive" if env["frame"]["label"].iat[0] == "negative" else "negative"
    record_label_decision(AuditStore(store_url), table, row=0, verdict="wrong", corrected=wrong, reviewer=Reviewer("Ana", "local:Ana"))
    note = lambda at: [i.value for i in at.info if "with 1 reviewer correction" in i.value]  # noqa: E731
    assert note(app_test(env, monkeypatch, page, state={GOLD_KEY: True}))
    assert not note(app_test(env, monkeypatch, page))  # as labelled unless chosen


def test_the_signoff_gates_are_evaluated_again_when_the_corrections_are_chosen(env, store_url, monkeypatch):
    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data
    from models import Predictor
    from store.identity import Reviewer
    from store.labels import record_label_decision

    table = predict_table(Predictor(str(env["checkpoints"] / "tiny-after"), device="cpu"), load_eval_data(env["data"]))
    store = AuditStore(store_url)
    mistakes = [r for r in range(len(table)) if table.frame["pred"].iat[r] != table.frame["gold"].iat[r]][:10]
    for row in mistakes:  # the model was right after all: enough corrections to move the candidate's accuracy
        record_label_decision(store, table, row=row, verdict="wrong", corrected=str(table.frame["pred"].iat[row]), reviewer=Reviewer("Ana", "local:Ana"))
    gold = table.frame["gold"].to_numpy().copy()
    corrected = gold.copy()
    corrected[mistakes] = table.frame["pred"].to_numpy()[mistakes]
    at = app_test(env, monkeypatch, "pages/signoff.py")
    macro_f1 = lambda: next(d.value for d in at.dataframe if "Gate" in d.value.columns).set_index("Gate").loc["Macro-F1", "Measured"]  # noqa: E731
    assert macro_f1() == f"{f1_score(gold, table.frame['pred'], average='macro'):.3f}"
    at.session_state[GOLD_KEY] = True
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    # evaluated again on the corrected labels (one cache entry per data as judged would show the numbers as labelled)
    assert macro_f1() == f"{f1_score(corrected, table.frame['pred'], average='macro'):.3f}"


def test_the_training_file_chosen_on_the_data_page_reaches_the_signoff_gates(trained, store_url, monkeypatch):
    at = app_test(trained, monkeypatch, PAGE)
    at.text_input(key="training_file").input(str(trained["train"])).run()
    at.switch_page("pages/signoff.py").run()
    assert not at.exception, [e.message for e in at.exception]
    gates = next(d.value for d in at.dataframe if "Gate" in d.value.columns).set_index("Gate")
    assert gates.loc["Train–evaluation leakage", "Measured"] == f"{3 / 60:.3f}"
    assert "N/A" not in gates.loc["Train–evaluation drift", "Result"]


def test_sentence_pairs_are_leaked_only_as_pairs_and_the_tables_show_both_texts(tmp_path_factory, store_url, monkeypatch):
    """A data file with a `text_pair` column is read as sentence pairs (the sidebar's default); the training file typed in
    the picker is read with the same second-text column. Training holds evaluation pair 3 (re-cased) and evaluation row
    5's first text with another second text: only row 3 is leaked."""
    import pandas as pd

    root = tmp_path_factory.mktemp("data-page-pairs")
    env = build_fixture(root)
    firsts = [f"premise {i} about a film and its cast" for i in range(60)]
    seconds = [f"hypothesis {i} on the plot and the ending" for i in range(60)]
    env["frame"].assign(text=firsts, text_pair=seconds).to_csv(env["data"], index=False)
    train = root / "train.csv"
    rows = {"text": [f"unrelated training premise {i}" for i in range(30)], "text_pair": [f"unrelated hypothesis {i}" for i in range(30)]}
    rows["text"] += [firsts[3].upper(), firsts[5]]
    rows["text_pair"] += [seconds[3] + "!", "a second text of its own"]
    pd.DataFrame(rows).to_csv(train, index=False)

    at = app_test(env, monkeypatch, PAGE)
    at.text_input(key="training_file").input(str(train)).run()
    assert not at.exception, [e.message for e in at.exception]
    shown = frame(at, "train_text")
    assert shown["row"].tolist() == [3] and shown["train_row"].tolist() == [30]
    assert shown[["text_pair", "train_text_pair"]].values.tolist() == [[seconds[3], seconds[3] + "!"]]
    unlike = frame(at, "p_eval")
    assert "text_pair" in unlike.columns and all(t in seconds for t in unlike["text_pair"])


def test_an_uploaded_training_file_is_compared_and_stays_chosen_for_the_signoff_gates(trained, store_url, monkeypatch):
    at = app_test(trained, monkeypatch, PAGE)
    at.radio(key="training_source").set_value("Upload").run()
    assert any("Upload the training file" in i.value for i in at.info), [i.value for i in at.info]
    at.file_uploader(key="training_upload").set_value(("train.csv", trained["train"].read_bytes(), "text/csv")).run()
    assert not at.exception, [e.message for e in at.exception]
    shown = frame(at, "train_text")
    assert shown["row"].tolist() == LEAKED and shown["train_row"].tolist() == [40, 41, 42]  # the same rows as the file on disk gives
    assert any("train.csv" in c.value and "43 rows, given explicitly" in c.value for c in at.caption), [c.value for c in at.caption]

    at.switch_page("pages/signoff.py").run()  # the uploader's widget state is dropped here; the upload stays the choice
    assert not at.exception, [e.message for e in at.exception]
    gates = next(d.value for d in at.dataframe if "Gate" in d.value.columns).set_index("Gate")
    assert gates.loc["Train–evaluation leakage", "Measured"] == f"{3 / 60:.3f}"
    at.switch_page(PAGE).run()
    assert at.radio(key="training_source").value == "Upload" and frame(at, "train_text")["row"].tolist() == LEAKED

    at.radio(key="training_source").set_value("File on this machine").run()  # back to a file: the provenance again, not the upload
    assert not [d for d in at.dataframe if "train_text" in d.value.columns]
    assert any("no provenance.json naming its training file" in i.value for i in at.info)


def test_a_bad_training_upload_in_team_mode_says_what_to_do_without_its_contents(trained, store_url, monkeypatch):
    env = trained
    monkeypatch.setenv("VEREDICTO_TEAM_MODE", "1")
    monkeypatch.setenv("VEREDICTO_CHECKPOINT_ROOTS", str(env["checkpoints"]))
    monkeypatch.setenv("VEREDICTO_DATA_ROOTS", str(env["data"].parent))
    at = app_test(env, monkeypatch, PAGE)
    at.radio(key="training_source").set_value("Upload").run()
    at.file_uploader(key="training_upload").set_value(("secrets.csv", b"password,owner\nhunter2-secret,root\n", "text/csv")).run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("has no column that looks like the text" in e and "--train-text-col" in e for e in errors), errors
    assert not any("hunter2-secret" in str(getattr(el, "value", "")) for el in at.main), "a cell of the upload was shown"
    assert frame(at, "flagged_by") is not None  # the rest of the page stays


def test_a_training_file_on_disk_is_read_in_chunks_with_progress_and_gives_what_the_whole_file_gives(trained, store_url, monkeypatch, tmp_path):
    """The same training file uploaded (read whole, in memory) and typed as a path (read 7 rows at a time,
    VEREDICTO_TRAIN_CHUNK_ROWS): every table on the page is the same (leaked rows, metrics without them, drift numbers,
    label balance, most unlike texts, PII counts and examples), the page never holds more than 7 training rows at a time
    nor loads the file whole, and each pass over the file shows its progress."""
    import pandas as pd
    import streamlit as st

    import quality.training as training_module

    source = pd.read_csv(trained["train"])
    source.loc[[0, 5, 9], "text"] = [f"{t} write to ana.ruiz{i}@example.com" for i, t in zip((0, 5, 9), source.loc[[0, 5, 9], "text"])]
    path = tmp_path / "train-pii.csv"
    source.to_csv(path, index=False)

    whole = app_test(trained, monkeypatch, PAGE)
    whole.radio(key="training_source").set_value("Upload").run()
    whole.file_uploader(key="training_upload").set_value(("train-pii.csv", path.read_bytes(), "text/csv")).run()
    assert not whole.exception, [e.message for e in whole.exception]

    monkeypatch.setenv("VEREDICTO_TRAIN_CHUNK_ROWS", "7")
    held: list[int] = []
    stream = training_module.stream_eval_data

    def spy(*args, **kwargs):
        for chunk in stream(*args, **kwargs):
            held.append(len(chunk.frame))
            yield chunk

    def never(*args, **kwargs):
        raise AssertionError("the training file was loaded whole")

    progress: list[str] = []
    real_progress = st.progress

    class Bar:  # records what every bar says, as it is updated
        def __init__(self, value, text=None, **kw):
            progress.append(str(text))
            self.bar = real_progress(value, text=text, **kw)

        def progress(self, value, text=None):
            progress.append(str(text))
            return self.bar.progress(value, text=text)

        def empty(self):
            return self.bar.empty()

    monkeypatch.setattr(training_module, "stream_eval_data", spy)
    monkeypatch.setattr(training_module, "load_training_file", never)
    monkeypatch.setattr(st, "progress", Bar)
    chunked = app_test(trained, monkeypatch, PAGE)
    chunked.text_input(key="training_file").input(str(path)).run()
    assert not chunked.exception, [e.message for e in chunked.exception]

    assert held and max(held) <= 7 and sum(held) >= 3 * len(source)  # three passes: leakage and labels, the drift sample, PII
    passes = [t for t in progress if "Reading the training data in chunks, pass" in t]
    assert {f"pass {n}: {len(source):,} rows (100% of the file)" for n in (1, 2, 3)} <= {t.split(", ", 1)[1] for t in passes}, passes

    tables = lambda at: [d.value for d in at.dataframe if "flagged_by" not in d.value.columns]  # noqa: E731 - the training side and PII
    expected, shown = tables(whole), tables(chunked)
    assert len(shown) == len(expected) == 7  # metrics without leaked rows, leaked, drift numbers, balance, unlike, PII counts, PII examples
    for want, got in zip(expected, shown):
        pd.testing.assert_frame_equal(got, want)
    assert frame(chunked, "train_text")["row"].tolist() == LEAKED
    pii = [m.value for m in chunked.markdown if m.value.startswith("**In the training data:**")]
    assert pii == [m.value for m in whole.markdown if m.value.startswith("**In the training data:**")] and "3 of 43 rows" in pii[0], pii
