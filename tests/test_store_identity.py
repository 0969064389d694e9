"""Reviewer identity: hashed passwords from secrets (constant-time checks, no plain text, throttled), OIDC users
from st.user. Each test is the attack it prevents."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from runtime import current
from store.identity import (
    DEFAULT_ITERATIONS,
    LoginRefused,
    LoginThrottle,
    Reviewer,
    Team,
    TeamConfigError,
    authorize,
    check_reviewer,
    hash_password,
    login,
    login_throttle,
    oidc_configured,
    oidc_reviewer,
    secrets_reviewers,
    team_config,
    verify_password,
)


class Clock:
    """An injectable clock: tests move time forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_hashed_password_round_trip_and_salting():
    first, second = hash_password("pw", iterations=1000), hash_password("pw", iterations=1000)
    assert first != second and first.startswith("pbkdf2_sha256$1000$")  # salted
    assert verify_password(first, "pw") and verify_password(second, "pw")
    assert not verify_password(first, "pW") and not verify_password(first, "")


def test_a_plain_text_or_malformed_entry_never_matches():
    assert not verify_password("plain", "plain")  # knowing a plain-text entry's value is not enough
    assert not verify_password("", "")  # an empty entry never matches
    assert not verify_password("pbkdf2_sha256$x$y", "anything")
    assert not verify_password("pbkdf2_sha256$1000$not base64!$AAAA", "anything")


def test_a_plain_text_password_in_secrets_is_refused_naming_the_entry_not_the_value():
    reviewers = {"Ana": hash_password("pw", iterations=1000), "Bo Chen": "hunter2"}
    with pytest.raises(LoginRefused) as refused:
        check_reviewer(reviewers, "Bo Chen", "hunter2")  # even the right plain password gets no login
    message = str(refused.value)
    assert '"Bo Chen"' in message and "hunter2" not in message
    assert 'veredicto audit hash-password --name "Bo Chen"' in message and "plain-text" in message
    assert check_reviewer(reviewers, "Ana", "pw") == Reviewer("Ana", "secrets:Ana")  # other reviewers are unaffected


def test_check_reviewer_uses_compare_digest(monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    reviewers = {"Ana": hash_password("pw", iterations=1000)}
    assert check_reviewer(reviewers, "Ana", "pw") == Reviewer("Ana", "secrets:Ana")
    assert check_reviewer(reviewers, "Ana", "wrong") is None
    assert check_reviewer(reviewers, "Eve", "pw") is None  # unknown names still run a comparison
    assert len(calls) == 3


@pytest.fixture
def pbkdf2_calls(monkeypatch):
    """Records every PBKDF2 call's (algorithm, salt length, iterations) and stands in a fast digest for the real one."""
    calls: list[tuple[str, int, int]] = []

    def fake(name, password, salt, iterations):
        calls.append((name, len(salt), iterations))
        return hashlib.sha256(password + salt).digest()

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", fake)
    return calls


def test_an_unknown_name_runs_the_same_pbkdf2_work_as_a_known_one(pbkdf2_calls):
    """The timing attack: an unknown name must not answer faster. Counted, not timed: same algorithm, salt size and
    iteration count for a wrong password on a known name, an unknown name, and the right password."""
    reviewers = {"Ana": hash_password("pw"), "Bo": hash_password("other")}  # as `veredicto audit hash-password` makes them
    pbkdf2_calls.clear()
    check_reviewer(reviewers, "Ana", "wrong")
    known = pbkdf2_calls.pop()
    check_reviewer(reviewers, "Eve", "wrong")
    unknown = pbkdf2_calls.pop()
    check_reviewer(reviewers, "Ana", "pw")
    right = pbkdf2_calls.pop()
    assert known == unknown == right == ("sha256", 16, DEFAULT_ITERATIONS) and pbkdf2_calls == []


def test_the_unknown_name_cost_follows_the_configured_hashes(pbkdf2_calls):
    """Entries hashed with another count (an older default, a test setting): unknown names follow them, not a constant."""
    check_reviewer({"Ana": hash_password("pw", iterations=1234)}, "Eve", "x")
    check_reviewer({}, "Eve", "x")  # nobody configured: the count hash-password uses
    assert [c[2] for c in pbkdf2_calls] == [1234, 1234, DEFAULT_ITERATIONS]


@pytest.fixture
def reviewers(pbkdf2_calls):
    """Ana's entry, hashed with the same (fast, recording) PBKDF2 the test's logins run."""
    return {"Ana": hash_password("right", iterations=1000)}


def test_guessing_a_password_is_locked_out_after_a_few_failures_then_allowed_again(pbkdf2_calls, reviewers):
    clock = Clock()
    throttle = LoginThrottle(max_per_name=3, window=600, cooldown=240, clock=clock)
    for _ in range(3):
        with pytest.raises(LoginRefused, match="Wrong reviewer or password"):
            login(reviewers, "Ana", "guess", throttle=throttle)
    checks = len(pbkdf2_calls)
    with pytest.raises(LoginRefused) as refused:
        login(reviewers, "Ana", "right", throttle=throttle)  # even the right password is refused while locked
    assert str(refused.value) == "Too many failed attempts for this reviewer; try again in 4 min. Nothing was recorded."
    assert len(pbkdf2_calls) == checks  # a locked name gets no password check at all: no oracle while locked
    clock.now += 239
    with pytest.raises(LoginRefused, match="try again in 1 min"):
        login(reviewers, "Ana", "right", throttle=throttle)
    clock.now += 1
    assert login(reviewers, "Ana", "right", throttle=throttle) == Reviewer("Ana", "secrets:Ana")


def test_failures_outside_the_window_do_not_add_up():
    clock = Clock()
    throttle = LoginThrottle(max_per_name=3, window=600, clock=clock)
    for _ in range(2):
        throttle.failed("Ana")
    clock.now += 601
    throttle.failed("Ana")
    assert throttle.refusal("Ana") is None


def test_a_successful_login_resets_the_count(reviewers):
    throttle = LoginThrottle(max_per_name=3, clock=Clock())
    for _ in range(2):
        with pytest.raises(LoginRefused):
            login(reviewers, "Ana", "typo", throttle=throttle)
    login(reviewers, "Ana", "right", throttle=throttle)
    for _ in range(2):
        with pytest.raises(LoginRefused, match="Wrong reviewer"):
            login(reviewers, "Ana", "typo", throttle=throttle)  # two more typos are not a lockout


def test_unknown_names_are_throttled_exactly_like_known_ones(reviewers):
    """Otherwise the lockout itself would tell an attacker which names exist."""
    outcomes = {}
    for name in ("Ana", "Nobody"):
        throttle = LoginThrottle(max_per_name=3, clock=Clock())
        seen = []
        for _ in range(4):
            with pytest.raises(LoginRefused) as refused:
                login(reviewers, name, "guess", throttle=throttle)
            seen.append(str(refused.value))
        outcomes[name] = seen
    assert outcomes["Ana"] == outcomes["Nobody"] and "Too many failed attempts for this reviewer" in outcomes["Ana"][-1]


def test_one_client_spraying_many_names_is_locked_out(reviewers):
    throttle = LoginThrottle(max_per_name=3, max_per_client=4, clock=Clock())
    for i in range(4):
        with pytest.raises(LoginRefused, match="Wrong reviewer"):
            login(reviewers, f"name{i}", "guess", client="203.0.113.9", throttle=throttle)
    with pytest.raises(LoginRefused, match="Too many failed attempts for this client; try again in 5 min"):
        login(reviewers, "Ana", "right", client="203.0.113.9", throttle=throttle)
    assert login(reviewers, "Ana", "right", client="198.51.100.1", throttle=throttle).name == "Ana"  # another client is not


def test_a_spray_of_made_up_names_cannot_grow_memory_without_bound():
    throttle = LoginThrottle(max_tracked=50, clock=Clock())
    for i in range(500):
        throttle.failed(f"made-up-{i}")
    assert len(throttle._counters) <= 50


def test_the_throttle_is_one_per_process_shared_by_every_session():
    assert login_throttle() is login_throttle() is current().shared("login_throttle", LoginThrottle)


def test_secrets_sections_are_read_safely():
    assert secrets_reviewers({"veredicto": {"reviewers": {"Ana": "x"}}}) == {"Ana": "x"}
    assert secrets_reviewers({}) == {}

    class Broken:
        def get(self, *_):
            raise FileNotFoundError("no secrets.toml")

    assert secrets_reviewers(Broken()) == {} and oidc_configured(Broken()) is False
    assert oidc_configured({"auth": {"client_id": "x"}}) is True and oidc_configured({}) is False


ISS = "https://login.example.org"


def test_oidc_reviewer_is_issuer_and_subject_and_the_name_only_for_display():
    assert oidc_reviewer({"is_logged_in": False}) is None
    assert oidc_reviewer({"email": "test@example.com"}) is None  # no login state: not logged in
    ana = {"is_logged_in": True, "iss": ISS, "sub": "0a1b", "name": "Ana Ruiz", "email": "ana@x.org", "email_verified": True}
    assert oidc_reviewer(ana) == Reviewer("Ana Ruiz", f"oidc:{ISS}|0a1b")
    # the attack: someone sets their name claim (or e-mail) to Ana's; they are still someone else
    mallory = {**ana, "sub": "m-42", "name": "ana ruiz"}
    assert oidc_reviewer(mallory).identity != oidc_reviewer(ana).identity
    # the same subject at another issuer is another person
    assert oidc_reviewer({**ana, "iss": "https://evil.example.com"}).identity != oidc_reviewer(ana).identity
    assert oidc_reviewer({"is_logged_in": True, "iss": ISS, "sub": "s9"}) == Reviewer("s9", f"oidc:{ISS}|s9")  # no e-mail: nothing to verify
    assert oidc_reviewer({**ana, "email_verified": "true"}) is not None  # some providers send the claim as a string


@pytest.mark.parametrize("verified", [None, False, "false", "", 0])
def test_an_unverified_email_cannot_sign(verified):
    """The attack: register ana@x.org at a provider that does not verify addresses, and sign as "ana@x.org"."""
    info = {"is_logged_in": True, "iss": ISS, "sub": "m-42", "email": "ana@x.org"}
    if verified is not None:
        info["email_verified"] = verified
    with pytest.raises(LoginRefused, match="not verified your e-mail"):
        oidc_reviewer(info)


@pytest.mark.parametrize("missing", ["iss", "sub"])
def test_a_login_without_issuer_or_subject_cannot_sign(missing):
    info = {"is_logged_in": True, "iss": ISS, "sub": "0a1b", "name": "Ana"}
    info.pop(missing)
    with pytest.raises(LoginRefused, match="no issuer or subject"):
        oidc_reviewer(info)


TEAM = Team(approvers=frozenset({f"oidc:{ISS}|0a1b", "secrets:Ana"}), reviewers=frozenset({f"oidc:{ISS}|bo-2"}))


def test_an_unlisted_subject_cannot_sign_and_a_reviewer_cannot_approve():
    authorize(Reviewer("Ana", f"oidc:{ISS}|0a1b"), "approve", TEAM)
    authorize(Reviewer("Ana", "secrets:Ana"), "approve", TEAM)
    authorize(Reviewer("Bo", f"oidc:{ISS}|bo-2"), "reject", TEAM)
    authorize(Reviewer("Bo", f"oidc:{ISS}|bo-2"), "changes_requested", TEAM)
    with pytest.raises(LoginRefused, match="may reject or request changes but not approve"):
        authorize(Reviewer("Bo", f"oidc:{ISS}|bo-2"), "approve", TEAM)
    for outsider in (Reviewer("Ana", f"oidc:{ISS}|m-42"), Reviewer("Ana", "secrets:Bo"), Reviewer("Ana", "oidc:https://evil.example.com|0a1b")):
        for decision in ("approve", "reject"):
            with pytest.raises(LoginRefused, match="not on the reviewer allow-list"):
                authorize(outsider, decision, TEAM)


def test_without_an_allow_list_oidc_fails_closed_and_password_accounts_keep_working():
    with pytest.raises(LoginRefused, match=r"No reviewer allow-list.*\[veredicto.team\]") as refused:
        authorize(Reviewer("Ana", f"oidc:{ISS}|0a1b"), "reject", None)
    assert f"oidc:{ISS}|0a1b" in str(refused.value)  # the message tells the user what to ask the administrator to add
    authorize(Reviewer("Ana", "secrets:Ana"), "approve", None)  # the configured accounts are the allow-list


def test_team_config_from_secrets():
    assert team_config({}) is None and team_config({"veredicto": {"reviewers": {}}}) is None
    team = team_config({"veredicto": {"team": {"approvers": [f"oidc:{ISS}|0a1b", "secrets:Ana"], "reviewers": [f"oidc:{ISS}|bo-2"]}}})
    assert team == TEAM and team.role("secrets:Ana") == "approver" and team.role(f"oidc:{ISS}|bo-2") == "reviewer" and team.role("secrets:Eve") is None
    assert team_config({"veredicto": {"team": {"approvers": []}}}) == Team(frozenset(), frozenset())  # listed, empty: nobody signs


@pytest.mark.parametrize(
    "team, match",
    [
        ({"approvers": "secrets:Ana"}, "must be a list"),
        ({"approvers": ["ana@x.org"]}, "entry 1, is not an identity"),
        ({"approvers": [f"oidc:{ISS}"]}, "is not an identity"),
        ({"approvers": ["secrets:"]}, "is not an identity"),
        ({"approver": ["secrets:Ana"]}, "unknown key"),
        ("secrets:Ana", "must be a table"),
    ],
)
def test_a_malformed_team_section_is_refused_with_the_format(team, match):
    with pytest.raises(TeamConfigError, match=match) as refused:
        team_config({"veredicto": {"team": team}})
    assert "oidc:<issuer>|<subject>" in str(refused.value)


def test_cli_hash_password_prints_a_secrets_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "audit", "hash-password", "--name", "Ana Ruiz"], input="s3cret\n", capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    import tomllib

    parsed = tomllib.loads(result.stdout)
    stored = parsed["veredicto"]["reviewers"]["Ana Ruiz"]
    assert verify_password(stored, "s3cret") and not verify_password(stored, "s3cret ")
    assert stored.startswith(f"pbkdf2_sha256${DEFAULT_ITERATIONS}$")  # the cost unknown names are checked with too
