"""Reviewer identity: hashed or plain passwords from secrets (constant-time checks), OIDC users from st.user."""

from __future__ import annotations

import subprocess
import sys

from store.identity import (
    Reviewer,
    check_reviewer,
    hash_password,
    oidc_configured,
    oidc_reviewer,
    secrets_reviewers,
    verify_password,
)


def test_hashed_password_round_trip_and_salting():
    first, second = hash_password("pw", iterations=1000), hash_password("pw", iterations=1000)
    assert first != second and first.startswith("pbkdf2_sha256$1000$")  # salted
    assert verify_password(first, "pw") and verify_password(second, "pw")
    assert not verify_password(first, "pW") and not verify_password(first, "")


def test_plain_password_and_malformed_hash():
    assert verify_password("plain", "plain") and not verify_password("plain", "plain ")
    assert not verify_password("", "")  # an empty entry never matches
    assert not verify_password("pbkdf2_sha256$x$y", "anything")


def test_check_reviewer_uses_compare_digest(monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    reviewers = {"Ana": hash_password("pw", iterations=1000), "Bo": "plain"}
    assert check_reviewer(reviewers, "Ana", "pw") == Reviewer("Ana", "secrets:Ana")
    assert check_reviewer(reviewers, "Bo", "plain") == Reviewer("Bo", "secrets:Bo")
    assert check_reviewer(reviewers, "Bo", "wrong") is None
    assert check_reviewer(reviewers, "Eve", "pw") is None  # unknown names still run a comparison
    assert len(calls) == 4


def test_secrets_sections_are_read_safely():
    assert secrets_reviewers({"veredicto": {"reviewers": {"Ana": "x"}}}) == {"Ana": "x"}
    assert secrets_reviewers({}) == {}

    class Broken:
        def get(self, *_):
            raise FileNotFoundError("no secrets.toml")

    assert secrets_reviewers(Broken()) == {} and oidc_configured(Broken()) is False
    assert oidc_configured({"auth": {"client_id": "x"}}) is True and oidc_configured({}) is False


def test_oidc_reviewer_from_user_info():
    assert oidc_reviewer({"is_logged_in": False}) is None
    assert oidc_reviewer({"email": "test@example.com"}) is None  # no login state: not logged in
    assert oidc_reviewer({"is_logged_in": True, "name": "Ana", "email": "ana@x.org"}) == Reviewer("Ana", "oidc:ana@x.org")
    assert oidc_reviewer({"is_logged_in": True, "email": "bo@x.org"}) == Reviewer("bo@x.org", "oidc:bo@x.org")


def test_cli_hash_password_prints_a_secrets_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "audit", "hash-password", "--name", "Ana Ruiz"], input="s3cret\n", capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    import tomllib

    parsed = tomllib.loads(result.stdout)
    stored = parsed["veredicto"]["reviewers"]["Ana Ruiz"]
    assert verify_password(stored, "s3cret") and not verify_password(stored, "s3cret ")
