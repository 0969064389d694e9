"""The Sign-off page's workflow and chain check (store.views), on a real SQLite audit store: no Streamlit."""
from __future__ import annotations

import sqlalchemy as sa

from store.audit import AuditStore
from store.identity import Reviewer, hash_password
from store.views import ChainChecks, history_frame, record_signoff
from store_support import signoff

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


def test_a_known_reviewer_skips_the_password_and_store_refusals_come_back_as_errors(tmp_path):
    store = store_at(tmp_path)
    oidc = Reviewer("Carol", "oidc:carol@example.org")
    outcome = record_signoff(store, judged(), decision="reject", comment="", reviewer=oidc)
    assert outcome.record is None and outcome.error and "comment" in outcome.error.lower()  # rejecting needs a reason
    outcome = record_signoff(store, judged(), decision="reject", comment="F1 on 'neutral' dropped", reviewer=oidc)
    assert outcome.record.identity == "oidc:carol@example.org" and store.count() == 1


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
