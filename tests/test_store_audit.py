"""Sign-off records: what each holds, tamper evidence (`audit verify` names the first bad record),
staleness when checkpoint files change, schema versioning, the store URL setting and the CLI."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest
import sqlalchemy as sa
from store_support import BACKENDS, fresh_store_url, signoff

from cli.main import main
from store import audit
from store.audit import (
    GENESIS_HASH,
    SCHEMA_VERSION,
    AuditStore,
    SignoffRecord,
    StoreError,
    approval_status,
    canonical_json,
    current_fingerprint,
    freshness,
    resolve_store_url,
)


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    url, cleanup = fresh_store_url(request.param, tmp_path)
    yield url
    cleanup()


@pytest.fixture
def store(store_url):
    return AuditStore(store_url)


def run_sql(store: AuditStore, sql: str, **params) -> None:
    """What someone with direct database access could do, outside Veredicto."""
    with store.engine.connect() as conn, conn.begin():
        conn.execute(sa.text(sql), params)


# --------------------------------------------------------------------------- what a record holds


def test_record_holds_everything_needed_to_hold_up_later(store):
    record = store.append(**signoff(1))
    assert record.seq == 1 and record.prev_hash == GENESIS_HASH
    assert record.checkpoint_fingerprint == "a" * 64 and record.dataset_fingerprint == "b" * 64
    assert record.policy_text.startswith("version: 1") and len(record.policy_sha256) == 64
    assert record.metrics["macro_f1"] == 0.8123 and record.gates[0]["status"] == "pass"
    assert record.app_version == "0.1.0" and record.created_at.endswith("Z")
    assert record.timestamp.tzinfo is not None
    assert record.record_hash == record.computed_hash() == audit.sha256_text(canonical_json(record.payload()))
    stored = store.records()[0]
    assert stored.to_dict() == record.to_dict()  # exactly what was hashed comes back
    second = store.append(**signoff(2, reviewer="bob"))
    assert second.prev_hash == record.record_hash and second.seq == 2


def test_values_that_json_cannot_hold_are_normalised_before_hashing(store):
    import numpy as np

    record = store.append(**signoff(metrics={"ece": float("nan"), "n": np.int64(5), "f1": np.float32(0.5), "v": (1, 2)}))
    assert record.metrics == {"ece": None, "n": 5, "f1": 0.5, "v": [1, 2]}
    assert store.verify().ok


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"reviewer": "  "}, "needs a reviewer"),
        ({"decision": "maybe"}, "Unknown decision 'maybe'"),
        ({"decision": "reject", "comment": ""}, "needs a comment saying why"),
        ({"comment": "bad\x00byte"}, "NUL character"),
    ],
)
def test_invalid_signoffs_are_refused_and_nothing_is_written(store, overrides, message):
    with pytest.raises(StoreError, match=message):
        store.append(**signoff(**overrides))
    assert store.count() == 0 and store.verify().ok


def test_decision_aliases(store):
    assert store.append(**signoff(decision="Changes requested", comment="fix recall")).decision == "changes_requested"
    assert store.append(**signoff(decision="rejected", comment="no")).decision_label == "Reject"


# --------------------------------------------------------------------------- tamper evidence


def _three(store):
    for i, who in enumerate(("alice", "bob", "carol"), start=1):
        store.append(**signoff(i, reviewer=who))


def test_untouched_chain_verifies(store):
    _three(store)
    result = store.verify()
    assert result.ok and result.records == 3 and result.head_seq == 3
    assert result.head_hash == store.records()[-1].record_hash
    assert store.verify(expected_head=result.head_hash[:16]).ok


def test_edited_comment_is_detected_and_the_record_named(store):
    _three(store)
    run_sql(store, "UPDATE veredicto_signoffs SET comment = 'looks fine' WHERE seq = 2")
    result = store.verify()
    assert not result.ok and result.first_bad == 2
    assert "edited" in result.problem and "bob" in result.problem


def test_edited_decision_with_recomputed_hash_is_caught_by_the_next_link(store):
    _three(store)
    record = store.records()[0]  # alice's approval turned into a rejection, hash recomputed to match
    forged = audit.SignoffRecord(**{**record.payload(), "decision": "reject", "record_hash": ""})
    run_sql(store, "UPDATE veredicto_signoffs SET decision = 'reject', record_hash = :h WHERE seq = 1", h=forged.computed_hash())
    result = store.verify()
    assert not result.ok and result.first_bad == 1
    assert "record #2 links to" in result.problem and "rewritten" in result.problem


def test_edited_metrics_are_detected(store):
    _three(store)
    run_sql(store, """UPDATE veredicto_signoffs SET metrics_json = replace(metrics_json, '0.8123', '0.9123') WHERE seq = 3""")
    result = store.verify()
    assert not result.ok and result.first_bad == 3


def test_deleted_record_in_the_middle_is_named(store):
    _three(store)
    store.append(**signoff(4))
    run_sql(store, "DELETE FROM veredicto_signoffs WHERE seq = 2")
    result = store.verify()
    assert not result.ok and result.first_bad == 2
    assert "#2 is missing" in result.problem


def test_deleted_last_record_is_detected_through_the_head(store):
    _three(store)
    run_sql(store, "DELETE FROM veredicto_signoffs WHERE seq = 3")
    result = store.verify()
    assert not result.ok and result.first_bad == 3 and "deleted from the end" in result.problem


def test_rewritten_tail_with_moved_head_is_caught_only_with_the_expected_head(store):
    _three(store)
    head = store.verify().head_hash
    run_sql(store, "DELETE FROM veredicto_signoffs WHERE seq = 3")
    previous = store.records()[-1]
    run_sql(store, "UPDATE veredicto_head SET seq = 2, record_hash = :h", h=previous.record_hash)
    assert store.verify().ok  # self-consistent: this is what --expect-head is for
    result = store.verify(expected_head=head)
    assert not result.ok and "not the expected" in result.problem


def test_cli_audit_verify_exits_1_and_names_the_first_bad_record(store_url, capsys):
    store = AuditStore(store_url)
    _three(store)
    assert main(["audit", "verify", "--store", store_url]) == 0
    assert "OK: 3 record(s)" in capsys.readouterr().out
    run_sql(store, "UPDATE veredicto_signoffs SET reviewer = 'eve' WHERE seq = 2")
    assert main(["audit", "verify", "--store", store_url]) == 1
    out = capsys.readouterr().out
    assert "BROKEN: first bad record #2" in out


def test_an_anchor_holds_after_later_signoffs_and_catches_a_rewritten_history(store, store_url, capsys):
    """The attack: rewrite a record and recompute every later hash and the head; only an anchor kept outside catches it.
    --expect-head gave a false alarm after the next legitimate sign-off; --expect SEQ:HASH does not."""
    _three(store)
    assert main(["audit", "head", "--store", store_url]) == 0
    anchor = capsys.readouterr().out.strip()
    seq, digest = anchor.split(":")
    assert seq == "3" and digest == store.head()[1]
    store.append(**signoff(3))  # a later, legitimate sign-off: no alarm
    store.append(**signoff(4))
    assert store.verify(expect=anchor).ok and store.verify(expect=f"{seq}:{digest[:12]}").ok
    assert main(["audit", "verify", "--store", store_url, "--expect", anchor]) == 0
    assert "matches the anchor" in capsys.readouterr().out

    # rewrite #2 and recompute every hash after it, and the head: self-consistent, caught only by the anchor
    records = store.records()
    prev = records[0].record_hash
    run_sql(store, "DELETE FROM veredicto_signoffs WHERE seq >= 2")
    for record in records[1:]:
        fields = {**record.payload(), "comment": "rewritten" if record.seq == 2 else record.comment, "prev_hash": prev}
        forged = audit.SignoffRecord(**fields, record_hash="")
        forged = audit.SignoffRecord(**fields, record_hash=forged.computed_hash())
        row = {k: v for k, v in forged.payload().items() if k not in ("metrics", "gates")}
        row.update(metrics_json=canonical_json(forged.metrics), gates_json=canonical_json(list(forged.gates)), record_hash=forged.record_hash)
        with store.engine.connect() as conn, conn.begin():
            conn.execute(audit.signoffs.insert().values(**row))
            conn.execute(audit.head_table.update().values(seq=forged.seq, record_hash=forged.record_hash))
        prev = forged.record_hash
    assert store.verify().ok  # the rewrite is self-consistent
    result = store.verify(expect=anchor)
    assert not result.ok and result.first_bad == 3 and "rewritten" in result.problem
    assert main(["audit", "verify", "--store", store_url, "--expect", anchor]) == 1
    assert "BROKEN: first bad record #3" in capsys.readouterr().out


def test_anchor_from_before_a_truncation_is_caught(store):
    _three(store)
    anchor = store.anchor()
    run_sql(store, "DELETE FROM veredicto_signoffs WHERE seq = 3")
    run_sql(store, "UPDATE veredicto_head SET seq = 2, record_hash = :h", h=store.records()[-1].record_hash)
    result = store.verify(expect=anchor)
    assert not result.ok and "removed" in result.problem


def test_a_signed_anchor_needs_the_key_and_catches_a_forged_one(store, monkeypatch):
    _three(store)
    monkeypatch.delenv(audit.AUDIT_KEY_ENV, raising=False)
    with pytest.raises(StoreError, match="VEREDICTO_AUDIT_KEY"):
        store.anchor(sign=True)
    monkeypatch.setenv(audit.AUDIT_KEY_ENV, "k" * 32)
    signed = store.anchor(sign=True)
    assert store.verify(expect=signed).ok
    seq, digest, _mac = signed.split(":")
    forged = f"{seq}:{digest}:{'0' * 64}"  # someone who can edit the anchor's copy but has no key
    result = store.verify(expect=forged)
    assert not result.ok and "signature does not match" in result.problem
    monkeypatch.setenv(audit.AUDIT_KEY_ENV, "another key of enough length")
    assert not store.verify(expect=signed).ok


@pytest.mark.parametrize("text", ["3", "x:abcdefabcdef", "3:abc", "0:abcdefabcdef", "3:abcdefabcdef:ff", "3:zzzzzzzzzzzzzz"])
def test_a_malformed_anchor_is_refused_with_the_format(store, text):
    with pytest.raises(StoreError, match="SEQ:HASH"):
        store.verify(expect=text)


def test_expect_head_still_works_but_says_it_is_deprecated(store, store_url, capsys):
    _three(store)
    head = store.head()[1]
    assert main(["audit", "verify", "--store", store_url, "--expect-head", head]) == 0
    assert "deprecated" in capsys.readouterr().err


def test_verify_reads_the_head_and_the_records_in_one_snapshot(store):
    """The race: a sign-off committed between reading the head and reading the records looked like a broken chain
    (PostgreSQL read each statement at its own snapshot)."""
    _three(store)
    writer = AuditStore(store.url)
    state = {"armed": True}

    @sa.event.listens_for(store.engine, "after_cursor_execute")
    def sign_meanwhile(conn, cursor, statement, parameters, context, executemany):
        if state["armed"] and "FROM veredicto_head" in statement and "FOR UPDATE" not in statement and "veredicto_signoffs" not in statement:
            state["armed"] = False
            writer.append(**signoff(9))  # another connection, committed at once

    try:
        result = store.verify()
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", sign_meanwhile)
    assert not state["armed"], "the head was never read: the test did not exercise the race"
    assert result.ok and result.records == 3 and result.head_seq == 3
    assert store.verify().records == 4


# --------------------------------------------------------------------------- approvals and staleness


def test_each_reviewers_latest_decision_counts_on_these_exact_weights(store):
    fp = "a" * 64
    alice, bob, carol = "secrets:alice", "oidc:https://login.example.org|bob-1", "oidc:https://login.example.org|carol-7"
    assert store.status(fp, approvals_required=2).state == "unsigned"
    store.append(**signoff(reviewer="alice", identity=alice))
    assert store.status(fp, approvals_required=2).state == "pending"
    store.append(**signoff(reviewer="Alice R.", identity=alice))  # the same identity twice is one approval, whatever the name
    assert store.status(fp, approvals_required=2).approvals == 1
    store.append(**signoff(reviewer="bob", identity=bob, decision="changes_requested", comment="check rotten recall"))
    assert store.status(fp, approvals_required=2).state == "changes_requested"
    store.append(**signoff(reviewer="bob", identity=bob))
    status = store.status(fp, approvals_required=2)
    assert status.state == "approved" and set(status.approvers) == {"Alice R.", "bob"}
    store.append(**signoff(reviewer="carol", identity=carol, decision="reject", comment="bias on short reviews"))
    assert store.status(fp, approvals_required=2).state == "rejected"
    assert store.status("e" * 64, approvals_required=1).state == "unsigned"  # other weights: nothing counts


def test_a_look_alike_display_name_cannot_cancel_anothers_rejection(store):
    """The attack: an OIDC user whose `name` claim is "ana ruiz" approved over Ana Ruiz's rejection (keyed on the name)."""
    fp = "a" * 64
    store.append(**signoff(reviewer="Ana Ruiz", identity="secrets:Ana Ruiz", decision="reject", comment="rotten recall too low"))
    store.append(**signoff(reviewer="ana ruiz", identity="oidc:https://login.example.org|mallory-42"))
    status = store.status(fp, approvals_required=1)
    assert status.state == "rejected" and not status.approved and "Rejected by Ana Ruiz" in status.message
    assert len(status.latest) == 2  # two reviewers, one display name


def test_an_approval_counts_only_for_the_same_data_and_policy(store):
    """The attack: an approval given under a lax policy (or on easier data) carried over to the policy now in force."""
    fp, data, strict = "a" * 64, "b" * 64, "version: 1\ngates:\n  min_macro_f1: 0.95\n"
    lax = store.append(**signoff(identity="secrets:alice", policy_text="version: 1\ngates:\n  min_macro_f1: 0.1\n"))
    strict_sha = audit.sha256_text(strict)
    status = store.status(fp, approvals_required=1, dataset_fingerprint=data, policy_sha256=strict_sha)
    assert status.state == "unsigned" and status.approvals == 0 and "under another policy and do not count" in status.message
    assert store.status(fp, approvals_required=1, dataset_fingerprint=data, policy_sha256=lax.policy_sha256).approved
    store.append(**signoff(identity="secrets:bob", dataset_fingerprint="c" * 64, policy_text=strict))  # other data
    assert store.status(fp, approvals_required=1, dataset_fingerprint=data, policy_sha256=strict_sha).approvals == 0
    store.append(**signoff(identity="secrets:bob", policy_text=strict))  # the same weights, data and policy
    assert store.status(fp, approvals_required=1, dataset_fingerprint=data, policy_sha256=strict_sha).approved
    # a rejection stands whatever policy it was given under, until that reviewer decides again
    store.append(**signoff(identity="secrets:carol", decision="reject", comment="no", dataset_fingerprint="c" * 64))
    assert store.status(fp, approvals_required=1, dataset_fingerprint=data, policy_sha256=strict_sha).state == "rejected"


def test_an_edited_record_makes_the_status_fail_closed(store):
    """The attack: a rejection edited into an approval in the database; `audit verify` saw it, the status counted it."""
    store.append(**signoff(identity="secrets:alice"))
    store.append(**signoff(identity="secrets:bob", decision="reject", comment="too many false positives"))
    assert store.status("a" * 64).state == "rejected"
    run_sql(store, "UPDATE veredicto_signoffs SET decision = 'approve' WHERE seq = 2")
    status = store.status("a" * 64, approvals_required=1)
    assert status.state == "chain broken" and not status.approved and status.approvals == 0
    assert "record #2" in status.message and "veredicto audit verify" in status.message


def test_changed_checkpoint_files_make_an_approval_stale(store_url, tiny_bert, tmp_path, capsys):
    from models.checkpoints import inspect_checkpoint

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_bert, ckpt)
    ref = inspect_checkpoint(ckpt)
    store = AuditStore(store_url)
    record = store.append(**signoff(checkpoint_name=ref.name, checkpoint_path=str(ref.path), checkpoint_fingerprint=ref.fingerprint))
    assert store.status(ref.fingerprint, ref.path).state == "approved"
    assert freshness(record, current_fingerprint(ckpt)) == "current"

    config = json.loads((ckpt / "config.json").read_text())
    config["id2label"] = {"0": "negative", "1": "positive"}
    config["classifier_dropout"] = 0.3  # any change to the weights or config is a different model
    (ckpt / "config.json").write_text(json.dumps(config))
    now = current_fingerprint(ckpt)
    assert now != ref.fingerprint
    assert freshness(record, now) == "stale"
    status = store.status(now, ref.path)
    assert status.state == "stale" and not status.approved and "changed" in status.message

    assert main(["audit", "list", "--store", store_url]) == 0
    assert "CHANGED (stale)" in capsys.readouterr().out
    shutil.rmtree(ckpt)
    assert freshness(record, current_fingerprint(ckpt)) == "missing"


def test_approval_status_is_a_pure_function_of_records():
    rec = lambda seq, who, decision, fp="a" * 64, path="/m": audit.SignoffRecord(  # noqa: E731
        seq, "2025-01-01T00:00:00.000000Z", who, "", decision, "", "m", path, fp, "", "", "", "", {}, (), "0.1.0", "", ""
    )
    assert approval_status([rec(1, "a", "approve")], "a" * 64, 1).state == "approved"
    assert approval_status([rec(1, "a", "reject"), rec(2, "a", "approve")], "a" * 64, 1).state == "approved"
    assert approval_status([rec(1, "a", "approve", fp="b" * 64)], "a" * 64, 1, "/m").state == "stale"


# --------------------------------------------------------------------------- schema and settings


def test_new_store_is_at_the_current_schema_with_its_history(store):
    assert store.schema_version() == SCHEMA_VERSION
    assert [v for v, _, _ in store.schema_history()] == list(range(1, SCHEMA_VERSION + 1))


def test_old_store_upgrades_itself_and_keeps_its_records(store_url):
    store = AuditStore(store_url)
    _three(store)
    # Turn it into a version-1 store: no lookup indexes, no label-decision table, no later version rows.
    run_sql(store, "DROP INDEX ix_veredicto_signoffs_fp")
    run_sql(store, "DROP INDEX ix_veredicto_signoffs_path")
    run_sql(store, "DROP TABLE veredicto_label_decisions")
    run_sql(store, "DELETE FROM veredicto_schema WHERE version >= 2")
    assert store.schema_version() == 1
    reopened = AuditStore(store_url)
    assert reopened.schema_version() == SCHEMA_VERSION
    names = {ix["name"] for ix in sa.inspect(reopened.engine).get_indexes("veredicto_signoffs")}
    assert {"ix_veredicto_signoffs_fp", "ix_veredicto_signoffs_path"} <= names
    assert reopened.verify().ok and reopened.count() == 3


def test_store_from_a_newer_version_is_refused(store_url):
    store = AuditStore(store_url)
    run_sql(store, "INSERT INTO veredicto_schema (version, applied_at, app_version) VALUES (99, 'x', '9.9')")
    with pytest.raises(StoreError, match="newer Veredicto"):
        AuditStore(store_url)


def test_store_setting_accepts_url_directory_or_file_and_defaults_to_env(tmp_path, monkeypatch):
    assert resolve_store_url(str(tmp_path)) == f"sqlite:///{tmp_path}/veredicto.db"
    assert resolve_store_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path}/x.db"
    assert resolve_store_url("postgresql://u@h/db") == "postgresql://u@h/db"
    monkeypatch.setenv("VEREDICTO_STORE_URL", f"sqlite:///{tmp_path}/env.db")
    assert resolve_store_url(None) == f"sqlite:///{tmp_path}/env.db"
    monkeypatch.delenv("VEREDICTO_STORE_URL")
    monkeypatch.setenv("VEREDICTO_STORE_DIR", str(tmp_path / "dir"))
    assert resolve_store_url(None) == f"sqlite:///{tmp_path}/dir/veredicto.db"


def test_sqlite_store_uses_wal(tmp_path):
    store = AuditStore(tmp_path)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="Check that the database server is running"):
        AuditStore("postgresql+psycopg2://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_cli_audit_list_shows_records_newest_first(store_url, capsys):
    store = AuditStore(store_url)
    _three(store)
    assert main(["audit", "list", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert out.index("carol") < out.index("bob") < out.index("alice")
    assert "1/1 pass" in out and "missing" in out  # /models/sentiment-after does not exist here
    assert main(["audit", "list", "--store", store_url, "--json", "--limit", "1"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["reviewer"] == "carol" and line["seq"] == 3


# --- task kinds (issue 10): carried in the hashed metrics payload, no schema change ---------------------------------------


def _old_record(**changes) -> SignoffRecord:
    fields: dict[str, Any] = dict(
        seq=1,
        created_at="2026-01-05T09:30:00.000000Z",
        reviewer="alice",
        identity="cli:test",
        decision="approve",
        comment="old",
        checkpoint_name="sentiment-after",
        checkpoint_path="/models/sentiment-after",
        checkpoint_fingerprint="a" * 64,
        dataset_name="test.csv",
        dataset_fingerprint="b" * 64,
        policy_sha256="c" * 64,
        policy_text="version: 1",
        metrics={"macro_f1": 0.8123, "n": 200},
        gates=({"key": "min_macro_f1", "status": "pass"},),
        app_version="0.1.0",
        prev_hash=GENESIS_HASH,
        record_hash="",
    )
    return SignoffRecord(**(fields | changes))


def test_a_record_from_before_task_kinds_hashes_as_it_did_and_reads_as_single_label():
    old = _old_record()
    assert old.computed_hash() == "fe859a15d0d1ccdc7e581ee22e52da196bbbc8a6175b552b2de634725e079e23"  # computed by main at 0a03d7f
    assert (old.task, old.task_text) == ("single-label", "single-label")


def test_multi_label_sign_offs_record_task_and_thresholds_and_old_records_still_verify(store_url, capsys):
    store = AuditStore(store_url)
    store.append(**signoff(0))  # a record as every earlier version wrote it: no task in its metrics
    thresholds = {"values": [["toxic", 0.3], ["threat", 0.7]], "source": "tuned on val.csv (F1-best per label)"}
    store.append(**signoff(1, metrics={"n": 10, "task": "multi-label", "thresholds": thresholds, "micro_f1": 0.7}))
    assert store.verify().ok
    old, new = store.records()
    assert old.task == "single-label" and "task" not in old.metrics
    assert new.task_text == "multi-label, thresholds tuned on val.csv (F1-best per label): toxic 0.30, threat 0.70"
    assert main(["audit", "verify", "--store", store_url]) == 0
    assert main(["audit", "list", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "multi-label, thresholds tuned on val.csv (F1-best per label): toxic 0.30, threat 0.70" in out and "  single-label  " in out
