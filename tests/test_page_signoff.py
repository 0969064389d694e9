"""The Sign-off page as a reviewer sees it: gates with measured values, metrics, where to look, the decision
form with secrets or OIDC identity, the history (stale rows marked) and the report download."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_pages_support import LABELS, app_test, build_fixture, predictions

from analysis.metrics import classification_metrics
from runtime.escaping import md
from store.audit import AuditStore
from store.identity import hash_password

PAGE = "pages/signoff.py"
POLICY = """version: 1
name: page test policy
gates:
  min_macro_f1: 0.0
  max_ece: 1.0
  max_drop_vs_baseline: 1.0
  max_slice_drop_vs_baseline: 1.0
  min_faithfulness: 0.0
  approvals_required: 1
settings:
  slice_min_size: 5
  faithfulness_sample: 2
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("signoff-page")
    env = build_fixture(root)
    env["policy"] = root / "policy.yaml"
    env["policy"].write_text(POLICY)
    return env


@pytest.fixture
def page(env, tmp_path, monkeypatch):
    """A fresh audit store per test; the page opened with two checkpoints (baseline tiny-before, candidate tiny-after)."""
    monkeypatch.setenv("VEREDICTO_STORE_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    monkeypatch.setenv("VEREDICTO_POLICY", str(env["policy"]))
    at = app_test(env, monkeypatch, PAGE)
    at.store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    return at


def with_reviewers(at):
    at.secrets["veredicto"] = {
        "reviewers": {"Ana Ruiz": hash_password("correct horse", iterations=1000), "Bo Chen": hash_password("plain-pw", iterations=1000)}
    }
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def submit(at, reviewer=None, password=None, decision="approve", comment=""):
    if reviewer is not None:
        at.selectbox(key="signoff_reviewer").select(reviewer)
        at.text_input(key="signoff_password").input(password)
    at.radio(key="signoff_decision").set_value(decision)
    at.text_area(key="signoff_comment").input(comment)
    at.button(key="FormSubmitter:signoff_form-Record sign-off").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def table_with(at, column: str):
    """The dataframe on the page that has `column` (st.dataframe without selection carries no key in AppTest)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, f"{len(found)} tables with a '{column}' column"
    return found[0]


def gates_table(at):
    frame = table_with(at, "Gate").set_index("Gate")
    frame["Result"] = frame["Result"].str.split().str[-1]  # "✅ PASS" -> "PASS"
    return frame


def test_gates_show_measured_values_from_the_models_predictions(page, env):
    frame = gates_table(page)
    assert list(frame.index) == [
        "Macro-F1",
        "Expected calibration error",
        "Drop vs baseline",
        "Worst slice drop vs baseline",
        "Explanation faithfulness",
        "Approvals",
    ]
    _, after = predictions(env, "tiny-after")
    _, before = predictions(env, "tiny-before")
    gold = env["frame"]["label"].to_numpy()
    f1_after = classification_metrics(gold, after, LABELS).macro_f1
    f1_before = classification_metrics(gold, before, LABELS).macro_f1
    assert frame.loc["Macro-F1", "Measured"] == f"{f1_after:.3f}" and frame.loc["Macro-F1", "Result"] == "PASS"
    assert frame.loc["Drop vs baseline", "Measured"] == f"{f1_before - f1_after:.3f}"
    assert frame.loc["Approvals", "Result"] == "FAIL" and frame.loc["Approvals", "Measured"] == "0"
    faith = frame.loc["Explanation faithfulness"]
    assert "2 sampled texts" in faith["How it was measured"]
    assert faith["Result"] == ("PASS" if float(faith["Measured"]) >= 0 else "FAIL")
    failing = int((frame["Result"] == "FAIL").sum())
    assert any(f"Gates blocked: {failing} of 6 gate(s) fail" in e.value for e in page.error)
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Macro-F1"] == f"{f1_after:.3f}" and metrics["Examples"] == "60"
    assert any("Sign-off status: unsigned." in i.value for i in page.info)


def test_links_to_the_worst_slices_and_flipped_examples(page, env):
    links = [(p.proto.page, p.proto.label, p.proto.query_string) for p in page.get("page_link")]
    pages = [p for p, _, _ in links]
    assert "errors" in pages and "compare" in pages
    _, after = predictions(env, "tiny-after")
    _, before = predictions(env, "tiny-before")
    gold = env["frame"]["label"].to_numpy()
    broken = np.flatnonzero((before == gold) & (after != gold))
    shown = [(p, label, query) for p, label, query in links if label.startswith("Broken #")]
    assert len(shown) == min(5, len(broken))
    for p, label, query in shown:
        index = int(label.split("#")[1].split(":")[0])
        assert p == "explore" and query == f"example={index}" and index in broken


def test_without_any_identity_configured_signing_is_disabled(page):
    assert any("No reviewer identity is configured" in w.value for w in page.warning)
    assert not list(page.get("form"))


def test_wrong_password_records_nothing(page):
    at = with_reviewers(page)
    submit(at, "Ana Ruiz", "wrong", "approve")
    assert any("Wrong reviewer or password; nothing was recorded." in e.value for e in at.error)
    assert at.store.count() == 0


def test_approval_with_secrets_is_recorded_with_what_was_judged(page, env):
    at = with_reviewers(page)
    submit(at, "Ana Ruiz", "correct horse", "approve", "Looks good on every slice I checked.")
    assert at.store.count() == 1
    (record,) = at.store.records()
    from models.checkpoints import inspect_checkpoint

    ref = inspect_checkpoint(env["checkpoints"] / "tiny-after")
    assert record.reviewer == "Ana Ruiz" and record.identity == "secrets:Ana Ruiz" and record.decision == "approve"
    assert record.checkpoint_fingerprint == ref.fingerprint and record.checkpoint_path == str(ref.path)
    assert record.policy_text == POLICY and record.metrics["baseline"]["name"] == "tiny-before"
    assert [g["key"] for g in record.gates][-1] == "approvals_required"
    assert any("Recorded sign-off #1: **Approve** by Ana Ruiz" in s.value for s in at.success)
    assert any("Sign-off status: approved." in s.value for s in at.success)
    assert gates_table(at).loc["Approvals", "Result"] == "PASS"  # re-counted after the sign-off
    history = table_with(at, "Reviewer")
    assert history.iloc[0]["Reviewer"] == "Ana Ruiz" and history.iloc[0]["Weights"] == "these weights"
    assert at.store.verify().ok


def test_rejection_needs_a_comment(page):
    at = with_reviewers(page)
    submit(at, "Bo Chen", "plain-pw", "reject", "")
    assert any("needs a comment saying why" in e.value for e in at.error)
    assert at.store.count() == 0
    submit(at, "Bo Chen", "plain-pw", "reject", "Recall on 'negative' is too low for production.")
    assert at.store.records()[0].decision == "reject"
    assert any("Sign-off status: rejected." in e.value for e in at.error)


def test_oidc_identity_comes_from_st_user(page):
    at = page
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x",
        "client_id": "id",
        "client_secret": "s",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    }
    at.user = {"is_logged_in": False}
    at.run()
    assert any("Log in with your organisation's account" in i.value for i in at.info)
    assert [b.label for b in at.button if b.key == "signoff_login"] == ["Log in"]
    ana = {"is_logged_in": True, "iss": "https://idp.example", "sub": "0a1b", "name": "Ana Ruiz", "email": "ana@example.org", "email_verified": False}
    at.user = ana
    at.run()
    assert any("not verified your e-mail" in e.value for e in at.error) and not at.get("form")  # an unverified e-mail cannot sign
    at.user = {**ana, "email_verified": True}
    at.run()
    identity = "oidc:https://idp.example|0a1b"
    assert any(f"Signed in as **Ana Ruiz** ({md(identity)}; not on the reviewer allow-list)" in c.value for c in at.caption)  # Markdown: escaped
    assert any("No reviewer allow-list" in w.value for w in at.warning) and not at.get("form")  # fail closed without [veredicto.team]
    at.secrets["veredicto"] = {"team": {"reviewers": [identity]}}
    at.run()
    assert any(f"({md(identity)}; may reject or request changes, not approve)" in c.value for c in at.caption)
    submit(at, decision="changes_requested", comment="Check the 'mail' source slice first.")
    (record,) = at.store.records()
    assert record.identity == identity and record.reviewer == "Ana Ruiz" and record.decision == "changes_requested"


def test_a_signoff_for_other_weights_at_the_same_path_shows_as_stale(page, env):
    from models.checkpoints import inspect_checkpoint

    ref = inspect_checkpoint(env["checkpoints"] / "tiny-after")
    page.store.append(
        reviewer="Old Reviewer",
        decision="approve",
        checkpoint_name=ref.name,
        checkpoint_path=str(ref.path),
        checkpoint_fingerprint="0" * 64,
        dataset_name="data.csv",
        dataset_fingerprint="d" * 64,
    )
    page.run()
    assert any("Sign-off status: stale." in w.value and "have not been reviewed" in w.value for w in page.warning)
    history = table_with(page, "Reviewer")
    assert history.iloc[0]["Weights"] == "STALE: 000000000000"
    assert gates_table(page).loc["Approvals", "Result"] == "FAIL"  # a stale approval never counts


def test_bad_policy_file_is_named_with_its_line(page, env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("gates:\n  min_macro_f1: 0.5\n  max_ec: 0.1\n")
    page.text_input(key="signoff_policy_path").input(str(bad))
    page.run()
    # shown as Markdown, escaped: the path's underscores and the like come out as typed
    assert any(md(f"{bad}, line 3: unknown gate 'max_ec'. Did you mean 'max_ece'?") in e.value for e in page.error)


def test_report_button_builds_a_self_contained_file(page):
    at = with_reviewers(page)
    submit(at, "Ana Ruiz", "correct horse", "approve", "ok")
    at.button(key="signoff_build_report").click()
    at.run()
    assert not at.exception
    _, html = at.session_state["signoff_report"]
    assert "Release report: tiny-after" in html and "<script src=" not in html
    assert "Ana Ruiz" in html and 'id="fig-ex1-shap-heat"' in html
    assert list(at.get("download_button")), "the download button is shown"


ML_POLICY = """version: 1
gates:
  min_micro_f1: 0.0
  min_label_recall: 0.0
  max_hamming_loss: 1.0
  min_class_recall: 0.0
"""


def test_a_multi_label_candidate_shows_its_own_metrics_and_the_sign_off_records_the_task(tmp_path_factory, tmp_path, monkeypatch):
    from multilabel_support import build_multilabel_fixture, predicted_sets_of
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss

    env = build_multilabel_fixture(tmp_path_factory.mktemp("signoff-ml"))
    (tmp_path / "ml.yaml").write_text(ML_POLICY)
    monkeypatch.setenv("VEREDICTO_STORE_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    monkeypatch.setenv("VEREDICTO_POLICY", str(tmp_path / "ml.yaml"))
    at = with_reviewers(app_test(env, monkeypatch, PAGE))
    gold, pred = predicted_sets_of(env, "ml-after")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Subset accuracy"] == f"{accuracy_score(gold, pred):.1%}" and metrics["Micro-F1"] == f"{f1_score(gold, pred, average='micro'):.3f}"
    assert metrics["Hamming loss"] == f"{hamming_loss(gold, pred):.3f}" and "Accuracy" not in metrics
    assert any(c.value.startswith("Task: multi-label") and "toxic 0.50" in c.value for c in at.caption)
    gates = gates_table(at)
    assert gates.loc["Micro-F1", "Result"] == "PASS" and gates.loc["Recall of every class", "Result"] == "N/A"
    assert "Use min_label_recall instead" in gates.loc["Recall of every class", "How it was measured"]
    assert "Label" in table_with(at, "Recall 95% low").columns
    submit(at, "Ana Ruiz", "correct horse", "reject", "multi-label check")
    record = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}").records()[-1]
    assert record.task == "multi-label" and record.metrics["thresholds"]["values"] == [["toxic", 0.5], ["insult", 0.5], ["threat", 0.5]]
    assert table_with(at, "Task")["Task"].iloc[0].startswith("multi-label, thresholds default")


def test_a_signoff_judged_with_the_reviewers_corrections_records_how_many(page, env):
    from analysis.predictions import predict_table
    from dashboard.state import GOLD_KEY
    from evaldata.loading import load_eval_data
    from models import Predictor
    from store.identity import Reviewer
    from store.labels import record_label_decision

    table = predict_table(Predictor(str(env["checkpoints"] / "tiny-after"), device="cpu"), load_eval_data(env["data"]))
    wrong = "positive" if table.frame["gold"].iat[0] == "negative" else "negative"
    record_label_decision(page.store, table, row=0, verdict="wrong", corrected=wrong, reviewer=Reviewer("Bo", "local:Bo"))
    at = with_reviewers(page)
    submit(at, "Ana Ruiz", "correct horse", "approve")  # as labelled: nothing to note
    at.session_state[GOLD_KEY] = True
    at.run()
    assert any("use 1 reviewer correction(s)" in c.value for c in at.caption), [c.value for c in at.caption]
    submit(at, "Ana Ruiz", "correct horse", "approve")
    first, second = at.store.records()
    assert "gold_label_corrections" not in first.metrics and second.metrics["gold_label_corrections"] == 1
    assert at.store.verify().ok

    # the report keeps its convention (numbers as labelled, the corrections beside them), whatever the sidebar shows
    at.button(key="signoff_build_report").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    _, html = at.session_state["signoff_report"]
    gold, pred = table.frame["gold"].to_numpy(), table.frame["pred"].to_numpy()
    corrected = gold.copy()
    corrected[0] = wrong
    assert f"As labelled: accuracy {(gold == pred).mean():.1%}" in html
    assert f"with the corrections: accuracy {(corrected == pred).mean():.1%}" in html
