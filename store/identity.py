"""Who is signing off: an OIDC login (`st.user`) or a reviewer listed in Streamlit secrets.

Secrets (`.streamlit/secrets.toml`)::

    [veredicto.reviewers]
    "Ana Ruiz" = "pbkdf2_sha256$600000$<salt>$<hash>"   # from `veredicto audit hash-password`

    [veredicto.team]                                    # who may sign, and who may approve
    approvers = ["oidc:https://login.example.org|0a1b2c", "secrets:Ana Ruiz"]
    reviewers = ["oidc:https://login.example.org|9f8e7d"]   # may reject or request changes, not approve

A reviewer IS their identity: `oidc:<issuer>|<subject>` for an OIDC login (the token's `iss` and `sub`, which the
provider never reassigns) or `secrets:<account>` for a password account. The display name (the `name` claim, the
account name) is only shown, never compared: two people called "Ana Ruiz" are two reviewers. A token that carries an
e-mail must say `email_verified: true`. OIDC sign-offs need `[veredicto.team]` (fail closed: without it nobody signs);
password accounts without it keep working, the configured accounts being the allow-list and each one an approver.

A plain-text password (or anything else that is not such a hash) is refused at login with a message naming the
entry. Every comparison goes through `hmac.compare_digest` (constant time), and an unknown name runs the same
PBKDF2 work as a known one (same algorithm, same iteration count), so timing does not reveal which reviewers
exist. Failed logins are throttled per name (known or not) and per client by one `LoginThrottle` per process,
owned by the runtime. Nothing here imports Streamlit: the page passes `st.user`, `st.secrets` and the client in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from models.errors import VeredictoError
from runtime import current

HASH_SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000  # OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256
_SALT_BYTES = 16
_DIGEST = "sha256"


class LoginRefused(VeredictoError):
    """A login that was not checked or did not succeed; the message says why and what to do (never a secret)."""


class TeamConfigError(VeredictoError):
    """`[veredicto.team]` in secrets is malformed; the message names the key and shows the expected format."""


@dataclass(frozen=True)
class Reviewer:
    name: str  # shown and recorded as the reviewer's display name; never used to tell reviewers apart
    identity: str  # who it is, recorded and compared: "oidc:<issuer>|<subject>" or "secrets:<account>"


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """A salted PBKDF2-SHA256 hash to paste into secrets instead of the password."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    salt = salt if salt is not None else os.urandom(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac(_DIGEST, password.encode("utf-8"), salt, iterations)
    return _encode(iterations, salt, digest)


def _encode(iterations: int, salt: bytes, digest: bytes) -> str:
    return f"{HASH_SCHEME}${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _parse(stored: str) -> tuple[int, bytes, bytes] | None:
    """(iterations, salt, digest) of a `hash_password` string, or None for anything else (a plain password, a typo)."""
    parts = str(stored).split("$")
    if len(parts) != 4 or parts[0] != HASH_SCHEME:
        return None
    try:
        iterations, salt, digest = int(parts[1]), base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
    except (ValueError, TypeError):
        return None
    return (iterations, salt, digest) if iterations > 0 and salt and digest else None


def is_password_hash(stored: str) -> bool:
    """True for a well-formed `hash_password` string; plain-text passwords and malformed hashes are False."""
    return _parse(stored) is not None


def _dummy_hash(iterations: int) -> str:
    """What an unknown name is checked against: built by the same encoder as real entries, with the same salt and
    digest sizes and the given iteration count, so the PBKDF2 work is the same (no real password matches it)."""
    return _encode(iterations, bytes(_SALT_BYTES), bytes(hashlib.new(_DIGEST).digest_size))


def verify_password(stored: str, given: str) -> bool:
    """True when `given` matches the `hash_password` string `stored` (constant-time comparison).

    Anything else in `stored` — a plain-text password, a malformed hash — never matches: `check_reviewer` refuses
    such entries with a message, and nothing here compares a password with a plain-text one.
    """
    parsed = _parse(stored)
    if parsed is None:
        return False
    iterations, salt, expected = parsed
    digest = hashlib.pbkdf2_hmac(_DIGEST, str(given).encode("utf-8"), salt, iterations)
    return hmac.compare_digest(digest, expected)


def _unknown_name_iterations(reviewers: Mapping[str, str]) -> int:
    """The iteration count an unknown name is checked with: that of the configured hashes (the largest, should they
    differ), else `DEFAULT_ITERATIONS` — the count `hash_password` and `veredicto audit hash-password` use."""
    counts = [parsed[0] for parsed in map(_parse, reviewers.values()) if parsed is not None]
    return max(counts, default=DEFAULT_ITERATIONS)


def secrets_reviewers(secrets: Any) -> dict[str, str]:
    """`[veredicto.reviewers]` from Streamlit secrets as {name: hash or password}; {} when absent or unreadable."""
    try:
        section = secrets.get("veredicto", {}) if hasattr(secrets, "get") else {}
        reviewers = section.get("reviewers", {}) if hasattr(section, "get") else {}
        return {str(name): str(value) for name, value in dict(reviewers).items()}
    except Exception:  # noqa: BLE001 - no secrets.toml at all raises on access, with a type that varies across Streamlit versions
        return {}


def plaintext_refusal(name: str) -> str:
    """The message for a `[veredicto.reviewers]` entry that is not a password hash (it never quotes the value)."""
    return (
        f"The [veredicto.reviewers] entry for {json.dumps(name)} in .streamlit/secrets.toml is not a password hash "
        f"(plain-text passwords are refused). Replace it with the line printed by "
        f"`veredicto audit hash-password --name {json.dumps(name)}`; nothing was recorded."
    )


def check_reviewer(reviewers: Mapping[str, str], name: str, password: str) -> Reviewer | None:
    """The reviewer if `password` matches their entry, else None.

    An unknown name runs the same PBKDF2 work as a known one. An entry that is not a `hash_password` string (e.g. a
    plain-text password) raises `LoginRefused` naming the entry, without comparing anything.
    """
    stored = reviewers.get(name)
    if stored is not None and not is_password_hash(stored):
        raise LoginRefused(plaintext_refusal(name))
    ok = verify_password(stored if stored is not None else _dummy_hash(_unknown_name_iterations(reviewers)), password or "")
    return Reviewer(name, f"secrets:{name}") if ok and stored is not None else None


# --- throttling failed logins ----------------------------------------------------------------------------------------

MAX_FAILURES_PER_NAME = 5  # failed logins for one reviewer name within WINDOW_SECONDS before it is locked
MAX_FAILURES_PER_CLIENT = 20  # failed logins from one client (any names) within WINDOW_SECONDS before it is locked
WINDOW_SECONDS = 15 * 60
COOLDOWN_SECONDS = 5 * 60
MAX_TRACKED = 10_000  # keys kept at most (oldest dropped), so a spray of made-up names cannot grow memory


class _Counter:
    __slots__ = ("failures", "locked_until")

    def __init__(self) -> None:
        self.failures: list[float] = []
        self.locked_until = 0.0


class LoginThrottle:
    """Counts failed logins per reviewer name (known or not, so a lock reveals nothing) and per client, and refuses
    further attempts for `cooldown` seconds once `max_per_name` / `max_per_client` failures fall within `window`
    seconds. Thread-safe; one per process (`login_throttle()`), shared by every session. `clock` is injectable so
    tests need no sleeping. A successful login clears its name's count (not the client's: an attacker with an account
    of their own could otherwise reset it between guesses at someone else's)."""

    def __init__(
        self,
        *,
        max_per_name: int = MAX_FAILURES_PER_NAME,
        max_per_client: int = MAX_FAILURES_PER_CLIENT,
        window: float = WINDOW_SECONDS,
        cooldown: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
    ):
        self.max_per_name, self.max_per_client = max_per_name, max_per_client
        self.window, self.cooldown, self.clock, self.max_tracked = window, cooldown, clock, max_tracked
        self._counters: OrderedDict[tuple[str, str], _Counter] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, name: str, client: str | None) -> list[tuple[tuple[str, str], int]]:
        keys = [(("name", name), self.max_per_name)]
        if client:
            keys.append((("client", client), self.max_per_client))
        return keys

    def refusal(self, name: str, client: str | None = None) -> str | None:
        """Why an attempt for `name` from `client` is refused right now, or None when it may be checked."""
        now = self.clock()
        with self._lock:
            for key, _ in self._keys(name, client):
                counter = self._counters.get(key)
                if counter is not None and now < counter.locked_until:
                    minutes = max(1, math.ceil((counter.locked_until - now) / 60))
                    who = "this reviewer" if key[0] == "name" else "this client"
                    return f"Too many failed attempts for {who}; try again in {minutes} min. Nothing was recorded."
        return None

    def failed(self, name: str, client: str | None = None) -> None:
        now = self.clock()
        with self._lock:
            for key, limit in self._keys(name, client):
                counter = self._counters.pop(key, None) or _Counter()
                self._counters[key] = counter  # most recently used last
                counter.failures = [t for t in counter.failures if now - t < self.window] + [now]
                if len(counter.failures) >= limit:
                    counter.locked_until, counter.failures = now + self.cooldown, []
            while len(self._counters) > self.max_tracked:
                self._counters.popitem(last=False)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._counters.pop(("name", name), None)


def login_throttle() -> LoginThrottle:
    """The process's one `LoginThrottle`, owned by the runtime and shared by every session."""
    return current().shared("login_throttle", LoginThrottle)


def login(reviewers: Mapping[str, str], name: str, password: str, *, client: str | None = None, throttle: LoginThrottle | None = None) -> Reviewer:
    """The reviewer for `name` and `password`, or `LoginRefused` saying why not: throttled (checked first, so a
    locked name gets no password check at all), an entry that is not a hash, or a wrong reviewer or password."""
    throttle = throttle if throttle is not None else login_throttle()
    refusal = throttle.refusal(name, client)
    if refusal:
        raise LoginRefused(refusal)
    reviewer = check_reviewer(reviewers, name, password)
    if reviewer is None:
        throttle.failed(name, client)
        raise LoginRefused("Wrong reviewer or password; nothing was recorded.")
    throttle.succeeded(name)
    return reviewer


def _claim_true(value: Any) -> bool:
    """A boolean claim as providers send it: true, or (some providers) the string "true"."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def oidc_reviewer(user: Any) -> Reviewer | None:
    """The logged-in OIDC user (`st.user`) as a reviewer identified by issuer + subject, or None when nobody is logged in.

    Raises `LoginRefused` for a login that cannot identify a reviewer: no `iss` or `sub` claim, or an e-mail the
    provider has not verified (`email_verified` is not true) — anyone could otherwise register a look-alike address.
    """
    try:
        info = dict(user.to_dict()) if hasattr(user, "to_dict") else dict(user)
    except Exception:  # noqa: BLE001 - st.user's shape varies across Streamlit versions; unreadable means not logged in
        return None
    if not info.get("is_logged_in"):
        return None
    issuer = str(info.get("iss") or "").strip()
    subject = str(info.get("sub") or "").strip()
    if not issuer or not subject:
        raise LoginRefused(
            "Your login carries no issuer or subject (`iss`/`sub` claims), so it cannot identify you as a reviewer. "
            "Ask the administrator to check the identity provider's ID token settings; nothing was recorded."
        )
    email = str(info.get("email") or "").strip()
    if email and not _claim_true(info.get("email_verified")):
        raise LoginRefused(
            "Your identity provider has not verified your e-mail address (`email_verified` is not true), so you cannot sign off. "
            "Verify the address with the provider, then log out and in again; nothing was recorded."
        )
    name = str(info.get("name") or email or subject).strip()
    return Reviewer(name, oidc_identity(issuer, subject))


def oidc_identity(issuer: str, subject: str) -> str:
    """The identity of an OIDC reviewer, as written in `[veredicto.team]` and recorded: `oidc:<issuer>|<subject>`."""
    return f"oidc:{issuer.strip()}|{subject.strip()}"


# --- who may sign, who may approve --------------------------------------------------------------------------------

TEAM_HELP = (
    "Add a [veredicto.team] table to .streamlit/secrets.toml listing identities: "
    '`approvers = ["oidc:<issuer>|<subject>", "secrets:<account>"]` (may approve) and `reviewers = [...]` (may sign, not approve); '
    "see docs/signoff.md."
)


def _shown(identity: str) -> str:
    """An identity inside a message, as a code span (no backticks from the token can end it)."""
    return "`" + identity.replace("`", "'") + "`"


@dataclass(frozen=True)
class Team:
    """The allow-list: identities that may sign at all (`reviewers` and `approvers`) and those that may approve."""

    approvers: frozenset[str]
    reviewers: frozenset[str] = frozenset()

    def role(self, identity: str) -> str | None:
        """ "approver", "reviewer" (may reject or request changes) or None (may not sign)."""
        if identity in self.approvers:
            return "approver"
        return "reviewer" if identity in self.reviewers else None


def _identities(section: Mapping[str, Any], key: str) -> frozenset[str]:
    value = section.get(key, [])
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TeamConfigError(f"[veredicto.team] {key} must be a list of identities in quotes. {TEAM_HELP}")
    out = set()
    for i, item in enumerate(value):
        text = str(item).strip() if isinstance(item, str) else ""
        ok = text.startswith("secrets:") and len(text) > len("secrets:")
        if text.startswith("oidc:"):
            issuer, bar, subject = text[len("oidc:") :].rpartition("|")
            ok = bool(bar and issuer.strip() and subject.strip())
        if not ok:
            raise TeamConfigError(
                f"[veredicto.team] {key}, entry {i + 1}, is not an identity: write `oidc:<issuer>|<subject>` (the ID token's iss and sub) "
                f"or `secrets:<account>` (a [veredicto.reviewers] name). {TEAM_HELP}"
            )
        out.add(text)
    return frozenset(out)


def team_config(secrets: Any) -> Team | None:
    """`[veredicto.team]` from Streamlit secrets, or None when it is absent. A malformed section raises `TeamConfigError`
    (never silently an empty list: that would lock everyone out without saying why, or worse, be read as "no list")."""
    try:
        section = secrets.get("veredicto", {}) if hasattr(secrets, "get") else {}
        team = section.get("team") if hasattr(section, "get") else None
    except Exception:  # noqa: BLE001 - as in secrets_reviewers: a missing secrets.toml raises on access
        return None
    if team is None:
        return None
    if not hasattr(team, "get"):
        raise TeamConfigError(f"[veredicto.team] must be a table. {TEAM_HELP}")
    unknown = sorted(set(dict(team)) - {"approvers", "reviewers"})
    if unknown:
        raise TeamConfigError(f"[veredicto.team] has unknown key(s) {', '.join(json.dumps(k) for k in unknown)}; use approvers and reviewers. {TEAM_HELP}")
    return Team(approvers=_identities(team, "approvers"), reviewers=_identities(team, "reviewers"))


def authorize(reviewer: Reviewer, decision: str, team: Team | None) -> None:
    """Raise `LoginRefused` unless `reviewer` may record `decision` (a key of store.audit.DECISIONS).

    With `[veredicto.team]`: only listed identities sign, only approvers approve. Without it, password accounts may
    sign and approve (the configured accounts are the allow-list); anyone else — an OIDC login — is refused (fail
    closed: a provider lets in everyone in the organisation, not just the reviewers).
    """
    if team is None:
        if reviewer.identity.startswith("secrets:"):
            return
        raise LoginRefused(
            f"No reviewer allow-list is configured, so OIDC logins cannot sign off. Your identity is {_shown(reviewer.identity)}. {TEAM_HELP} Nothing was recorded."
        )
    role = team.role(reviewer.identity)
    if role is None:
        raise LoginRefused(
            f"{_shown(reviewer.identity)} is not on the reviewer allow-list ([veredicto.team] in secrets), so it cannot sign off. "
            "Ask the administrator to add it; nothing was recorded."
        )
    if decision == "approve" and role != "approver":
        raise LoginRefused(
            f"{_shown(reviewer.identity)} may reject or request changes but not approve: only identities listed under "
            "[veredicto.team] approvers may approve. Nothing was recorded."
        )


def oidc_configured(secrets: Any) -> bool:
    """True when `[auth]` is set in Streamlit secrets (st.login can then reach an identity provider)."""
    try:
        return bool(secrets.get("auth")) if hasattr(secrets, "get") else False
    except Exception:  # noqa: BLE001 - as in secrets_reviewers: a missing secrets.toml raises on access
        return False
