"""The Data page as a reviewer uses it: record "gold label wrong -> X" through the widgets, see it listed with who and
when, export it; then the Overview's "Gold labels" switch shows the accuracy with that correction."""

from __future__ import annotations

import pytest
from analysis_pages_support import app_test, build_fixture, predictions
from sklearn.metrics import accuracy_score

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

    # the Overview switches every checkpoint's numbers to the corrected gold labels
    at.switch_page("pages/overview.py").run()
    assert not at.exception, [e.message for e in at.exception]
    expected = {name: predictions(env, name)[1] for name in ("tiny-before", "tiny-after")}
    accuracy = lambda: [m.value for m in at.metric if m.label == "Accuracy"]  # noqa: E731
    assert accuracy() == [f"{accuracy_score(gold, p):.1%}" for p in expected.values()]  # as labelled by default
    switch = at.radio(key="overview_gold")
    assert switch.options == ["as labelled", "with 1 reviewer correction"]
    switch.set_value("corrected").run()
    assert not at.exception, [e.message for e in at.exception]
    assert accuracy() == [f"{accuracy_score(corrected_gold, p):.1%}" for p in expected.values()]
    assert accuracy() != [f"{accuracy_score(gold, p):.1%}" for p in expected.values()]


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
