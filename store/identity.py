"""Who is signing off: an OIDC login (`st.user`) or a reviewer listed in Streamlit secrets.

Secrets (`.streamlit/secrets.toml`)::

    [veredicto.reviewers]
    "Ana Ruiz" = "pbkdf2_sha256$600000$<salt>$<hash>"   # from `veredicto audit hash-password`

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


@dataclass(frozen=True)
class Reviewer:
    name: str  # shown and recorded as the reviewer
    identity: str  # how it was established, recorded too: "oidc:<email>" or "secrets:<name>"


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


def oidc_reviewer(user: Any) -> Reviewer | None:
    """The logged-in OIDC user (`st.user`) as a reviewer, or None when nobody is logged in."""
    try:
        info = dict(user.to_dict()) if hasattr(user, "to_dict") else dict(user)
    except Exception:  # noqa: BLE001 - st.user's shape varies across Streamlit versions; unreadable means not logged in
        return None
    if not info.get("is_logged_in"):
        return None
    email = str(info.get("email") or "").strip()
    subject = str(info.get("sub") or "").strip()
    name = str(info.get("name") or email or subject).strip()
    if not name:
        return None
    return Reviewer(name, f"oidc:{email or subject}")


def oidc_configured(secrets: Any) -> bool:
    """True when `[auth]` is set in Streamlit secrets (st.login can then reach an identity provider)."""
    try:
        return bool(secrets.get("auth")) if hasattr(secrets, "get") else False
    except Exception:  # noqa: BLE001 - as in secrets_reviewers: a missing secrets.toml raises on access
        return False
