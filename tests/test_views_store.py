"""The Sign-off page's workflow and chain check (store.views), on a real SQLite audit store: no Streamlit."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
from store_support import signoff

from store.audit import AuditStore
from store.identity import LoginThrottle, Reviewer, Team, hash_password
from store.views import ChainChecks, history_frame, record_signoff, signoff_view

REVIEWERS = {"alice": hash_password("s3cret", iterations=1_000), "bob": hash_password("pw", iterations=1_000)}


def judged(**overrides) -> dict:
    fields = signoff(**overrides)
    for who in ("reviewer", "decision", "comment", "identity"):
        fields.pop(who)
    return fields


def store_at(tmp_path) -> AuditStore:
    return AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")


def test_a_wrong_password_records_nothing(tmp_path):
    store = store_at(tmp_path)
    outcome = record_signoff(store, judged(), decision="approve", comment="", reviewers=REVIEWERS, name="alice", password="nope")
    assert outcome.record is None and outcome.error == "Wrong reviewer or password; nothing was recorded."
    outcome = record_signoff(store, judged(), decision="approve", comment="", reviewers=REVIEWERS, name=None, password="")
    assert outcome.error == "Choose your name and enter your password."
    assert store.count() == 0


def test_a_brute_force_through_the_form_is_locked_out_and_records_nothing(tmp_path):
    store = store_at(tmp_path)
    throttle = LoginThrottle(max_per_name=3, cooldown=240, clock=lambda: 0.0)

    def attempt(password):
        return record_signoff(
            store, judged(), decision="approve", comment="", reviewers=REVIEWERS, name="alice", password=password, client="203.0.113.9", throttle=throttle
        )

    assert [attempt(guess).error for guess in ("a", "b", "c")] == ["Wrong reviewer or password; nothing was recorded."] * 3
    outcome = attempt("s3cret")  # the right password, too late
    assert outcome.record is None and outcome.error == "Too many failed attempts for this reviewer; try again in 4 min. Nothing was recorded."
    assert store.count() == 0


def test_a_plain_text_entry_is_refused_at_the_form_without_echoing_it(tmp_path):
    store = store_at(tmp_path)
    reviewers = {**REVIEWERS, "carol": "letmein"}
    outcome = record_signoff(store, judged(), decision="approve", comment="", reviewers=reviewers, name="carol", password="letmein", throttle=LoginThrottle())
    assert outcome.record is None and store.count() == 0
    assert '"carol"' in outcome.error and "letmein" not in outcome.error and "veredicto audit hash-password" in outcome.error


def test_a_decision_is_required(tmp_path):
    store = store_at(tmp_path)
    outcome = record_signoff(store, judged(), decision=None, comment="fine", reviewers=REVIEWERS, name="alice", password="s3cret")
    assert outcome.error == "Choose a decision: approve, reject or changes requested." and store.count() == 0


def test_an_approval_is_recorded_with_what_was_judged(tmp_path):
    store = store_at(tmp_path)
    outcome = record_signoff(store, judged(), decision="approve", comment="looks good", reviewers=REVIEWERS, name="alice", password="s3cret")
    assert outcome.error is None
    record = outcome.record
    assert (record.seq, record.reviewer, record.identity, record.decision, record.comment) == (1, "alice", "secrets:alice", "approve", "looks good")
    assert record.checkpoint_fingerprint == "a" * 64 and record.dataset_name == "test.csv"
    assert outcome.message.startswith("Recorded sign-off #1: **") and "by alice for sentiment-after (`aaaaaaaaaaaa`)" in outcome.message
    assert store.count() == 1


CAROL = Reviewer("Carol", "oidc:https://login.example.org|carol-7")
TEAM = Team(approvers=frozenset({"secrets:alice"}), reviewers=frozenset({CAROL.identity}))


def test_a_known_reviewer_skips_the_password_and_store_refusals_come_back_as_errors(tmp_path):
    store = store_at(tmp_path)
    outcome = record_signoff(store, judged(), decision="reject", comment="", reviewer=CAROL, team=TEAM)
    assert outcome.record is None and outcome.error and "comment" in outcome.error.lower()  # rejecting needs a reason
    outcome = record_signoff(store, judged(), decision="reject", comment="F1 on 'neutral' dropped", reviewer=CAROL, team=TEAM)
    assert outcome.record.identity == CAROL.identity and outcome.record.reviewer == "Carol" and store.count() == 1


def test_oidc_without_an_allow_list_cannot_sign(tmp_path):
    """Fail closed: an identity provider lets in the whole organisation, not just the reviewers."""
    store = store_at(tmp_path)
    outcome = record_signoff(store, judged(), decision="reject", comment="no", reviewer=CAROL)
    assert outcome.record is None and "No reviewer allow-list" in outcome.error and "[veredicto.team]" in outcome.error
    assert store.count() == 0


def test_an_unlisted_subject_cannot_sign_and_a_listed_reviewer_cannot_approve(tmp_path):
    store = store_at(tmp_path)
    mallory = Reviewer("Carol", "oidc:https://login.example.org|m-42")  # Carol's display name, another subject
    outcome = record_signoff(store, judged(), decision="reject", comment="no", reviewer=mallory, team=TEAM)
    assert outcome.record is None and "not on the reviewer allow-list" in outcome.error
    outcome = record_signoff(store, judged(), decision="approve", comment="", reviewer=CAROL, team=TEAM)
    assert outcome.record is None and "not approve" in outcome.error
    outcome = record_signoff(store, judged(), decision="approve", comment="", reviewers=REVIEWERS, name="bob", password="pw", team=TEAM)
    assert outcome.record is None and "`secrets:bob` is not on the reviewer allow-list" in outcome.error  # the right password is not enough
    assert store.count() == 0
    outcome = record_signoff(store, judged(), decision="approved", comment="", reviewers=REVIEWERS, name="alice", password="s3cret", team=TEAM)
    assert outcome.record is not None and outcome.record.identity == "secrets:alice"


class CountingStore:
    """The store, counting full chain walks."""

    def __init__(self, store: AuditStore):
        self.store, self.walks = store, 0
        self.url = store.url

    def head(self):
        return self.store.head()

    def verify(self):
        self.walks += 1
        return self.store.verify()


def test_the_chain_is_walked_once_per_head(tmp_path):
    store = store_at(tmp_path)
    store.append(**signoff(0))
    counting, checks = CountingStore(store), ChainChecks()
    first = checks.verify(counting)
    assert first.ok and first.records == 1 and checks.verify(counting) == first and counting.walks == 1
    store.append(**signoff(1))  # the head moves: walk again
    second = checks.verify(counting)
    assert second.ok and second.records == 2 and counting.walks == 2


def test_tampering_shows_once_the_head_moves(tmp_path):
    store = store_at(tmp_path)
    store.append(**signoff(0))
    checks = ChainChecks()
    assert checks.verify(store).ok
    with store.engine.begin() as conn:  # rewrite record #1 behind the store's back
        conn.execute(sa.text("UPDATE veredicto_signoffs SET comment = 'edited' WHERE seq = 1"))
    store.append(**signoff(1))
    result = checks.verify(store)
    assert not result.ok and result.first_bad == 1


def test_tampering_shows_once_the_result_ages_out_even_if_nobody_signs(tmp_path):
    store = store_at(tmp_path)
    store.append(**signoff(0))
    now = [0.0]
    checks = ChainChecks(max_age=60, clock=lambda: now[0])
    assert checks.verify(store).ok
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE veredicto_signoffs SET comment = 'edited' WHERE seq = 1"))
    now[0] = 59.0
    assert checks.verify(store).ok  # still the cached walk: same head, not yet stale
    now[0] = 61.0
    result = checks.verify(store)
    assert not result.ok and result.first_bad == 1


def test_the_check_cache_is_bounded(tmp_path):
    checks = ChainChecks(keep=2)
    stores = [AuditStore(f"sqlite:///{tmp_path / f'audit{i}.db'}") for i in range(3)]
    for store in stores:
        checks.verify(store)
    assert len(checks._results) == 2


def test_history_marks_records_for_other_weights_stale(tmp_path):
    store = store_at(tmp_path)
    store.append(**signoff(0))
    store.append(**signoff(1, checkpoint_fingerprint="c" * 64))
    history = history_frame(store.records(newest_first=True), "c" * 64)
    assert list(history["#"]) == [2, 1]
    assert list(history["Weights"]) == ["these weights", "STALE: aaaaaaaaaaaa"]
    assert list(history["Comment"]) == ["record 1", "record 0"] and list(history["Gates passed"]) == ["1/1", "1/1"]


def gated_tables():
    """A baseline and a candidate on 40 examples: the candidate fixes examples 0-3 and breaks 4-5 (metadata 'genre': the
    first 20 'drama', where all of the candidate's 4 remaining mistakes sit)."""
    import numpy as np

    from analysis.synthetic import probs_for, table_from_arrays

    gold = np.tile([0, 1], 20)
    before_pred, after_pred = gold.copy(), gold.copy()
    before_pred[[0, 1, 2, 3, 10, 11]] = 1 - gold[[0, 1, 2, 3, 10, 11]]
    after_pred[[4, 5, 10, 11]] = 1 - gold[[4, 5, 10, 11]]
    genre = np.repeat(["drama", "comedy"], 20)

    def made(name, pred):
        return table_from_arrays(
            probs_for(pred, 2, np.full(40, 0.8)),
            gold,
            ("neg", "pos"),
            texts=[f"text {i}" for i in range(40)],
            metadata={"genre": genre},
            checkpoint_name=name,
            data_name="d.csv",
            data_fingerprint="d" * 64,
        )

    return made("before", before_pred), made("after", after_pred)


class Ref:
    def __init__(self, report):
        self.fingerprint, self.path = report.fingerprint, report.checkpoint_path


def test_signoff_view_reads_gates_flips_chain_and_history_in_one_call(tmp_path):
    from store.gates import evaluate_gates
    from store.policy import parse_policy

    before, after = gated_tables()
    policy = parse_policy(
        "version: 1\nname: p\ngates:\n  min_macro_f1: 0.95\n  max_ece: 1.0\n  approvals_required: 1\nsettings:\n  slice_min_size: 5\n", "p.yaml"
    )
    report = evaluate_gates(policy, after, baseline=before)
    store = store_at(tmp_path)
    view = signoff_view(report, store, Ref(report), baseline=before, table=after, chain_checks=ChainChecks())
    assert view.gates_tone == "error" and view.gates_text == "**Gates blocked: 2 of 3 gate(s) fail:** Macro-F1 0.900 (needs ≥ 0.950); Approvals 0 (needs ≥ 1)."
    assert list(view.gates.columns) == ["Gate", "Result", "Measured", "Threshold", "How it was measured"]
    assert list(view.gates["Result"]) == ["❌ FAIL", "✅ PASS", "❌ FAIL"]  # 36/40 right < 0.95; no approval yet
    assert list(view.per_class.columns) == ["Class", "Precision", "Recall", "Recall 95% low", "Recall 95% high", "F1", "Gold examples"]
    assert list(view.per_class["Gold examples"]) == [20, 20]
    assert list(view.worst_slices.columns) == ["Feature", "Slice", "Examples", "Accuracy", "vs overall"]
    drama = view.worst_slices.set_index("Slice").loc["drama"]
    assert drama["Examples"] == 20 and drama["Accuracy"] == pytest.approx(16 / 20) and drama["vs overall"] == pytest.approx(16 / 20 - 36 / 40)
    assert (view.flips.fixed, view.flips.broken, list(view.flips.first_broken.index)) == (4, 2, [4, 5])
    assert view.history is None and view.n_records == 0 and view.chain.ok and view.approval.state == "unsigned"

    store.append(reviewer="alice", identity="secrets:alice", decision="approve", comment="ok", **report.signoff_fields())
    seen = []
    view = signoff_view(report, store, Ref(report), baseline=before, table=after, flips=lambda b, t: seen.append((b, t)) or "flips")
    assert seen == [(before, after)] and view.flips == "flips"  # the caller's (cached) flip function is the one used
    assert view.n_records == 1 and list(view.history["Weights"]) == ["these weights"] and view.chain.records == 1
    assert view.approval.state == "approved" and list(view.gates["Result"])[-1] == "✅ PASS"  # approvals re-counted from the store


def test_signoff_view_without_a_baseline_has_no_flips_and_says_when_gates_pass(tmp_path):
    from store.gates import evaluate_gates
    from store.policy import parse_policy

    _, after = gated_tables()
    report = evaluate_gates(parse_policy("version: 1\nname: p\ngates:\n  max_ece: 1.0\n", "p.yaml"), after)
    view = signoff_view(report, store_at(tmp_path), Ref(report), table=after, flips=lambda b, t: pytest.fail("no baseline, no flips"))
    assert view.flips is None and view.gates_tone == "success" and view.gates_text == "**Gates: all 1 gate(s) pass.**"


def test_signoff_view_fails_closed_on_a_broken_chain(tmp_path):
    """An edited record: the history said "chain broken" while the status above it still said "approved"."""
    from store.gates import evaluate_gates
    from store.policy import parse_policy

    _, after = gated_tables()
    report = evaluate_gates(parse_policy("version: 1\nname: p\ngates:\n  approvals_required: 1\n", "p.yaml"), after)
    store = store_at(tmp_path)
    store.append(reviewer="alice", identity="secrets:alice", decision="reject", comment="no", **report.signoff_fields())
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE veredicto_signoffs SET decision = 'approve' WHERE seq = 1"))
    view = signoff_view(report, store, Ref(report), table=after, chain_checks=ChainChecks())
    assert not view.chain.ok and view.approval.state == "chain broken" and not view.approval.approved
    assert list(view.gates["Result"]) == ["❌ FAIL"] and view.gates_tone == "error"


def test_signoff_view_of_a_multi_label_candidate_shows_its_own_headline_and_thresholds(tmp_path):
    from multilabel_support import TAGS, random_pair

    from analysis.thresholds import Thresholds
    from store.gates import evaluate_gates
    from store.policy import parse_policy

    before, after = random_pair(n=50)
    after = dataclasses.replace(after, thresholds=Thresholds(TAGS, (0.5, 0.4, 0.5), "from t.yaml"))
    report = evaluate_gates(parse_policy("version: 1\ngates:\n  min_label_recall: 0.0\n", "p.yaml"), after, baseline=before)
    view = signoff_view(report, store_at(tmp_path), Ref(report), baseline=before, table=after, flips=lambda b, t: None)
    m = report.evidence.metrics
    assert [(h.label, h.value) for h in view.headline] == [
        ("Subset accuracy", f"{m.subset_accuracy:.1%}"),
        ("Micro-F1", f"{m.micro_f1:.3f}"),
        ("Macro-F1", f"{m.macro_f1:.3f}"),
        ("Hamming loss", f"{m.hamming_loss:.3f}"),
        ("Examples", "50"),
    ]
    assert view.headline[1].delta == f"{report.evidence.comparison.delta('micro_f1') * 100:+.1f} points vs baseline"
    assert view.task == "multi-label; a label is predicted at or above its threshold (from t.yaml): toxic 0.50, insult 0.40, threat 0.50"
    assert list(view.per_class["Label"]) == list(TAGS)
