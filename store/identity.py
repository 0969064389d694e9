"""Who is signing off: an OIDC login (`st.user`) or a reviewer listed in Streamlit secrets.

Secrets (`.streamlit/secrets.toml`)::

    [veredicto.reviewers]
    "Ana Ruiz" = "pbkdf2_sha256$600000$<salt>$<hash>"   # from `veredicto audit hash-password`
    "Bo Chen" = "a plain password"                       # accepted, but prefer a hash

Every comparison goes through `hmac.compare_digest` (constant time), and an unknown name costs the
same as a known one, so timing does not reveal which reviewers exist. Nothing here imports Streamlit:
the page passes `st.user` and `st.secrets` in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HASH_SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000  # OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256
_DUMMY = f"{HASH_SCHEME}$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


@dataclass(frozen=True)
class Reviewer:
    name: str  # shown and recorded as the reviewer
    identity: str  # how it was established, recorded too: "oidc:<email>" or "secrets:<name>"


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """A salted PBKDF2-SHA256 hash to paste into secrets instead of the password."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{HASH_SCHEME}${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(stored: str, given: str) -> bool:
    """`stored` is a `hash_password` string or a plain password; both are compared in constant time."""
    stored, given = str(stored), str(given)
    if stored.startswith(HASH_SCHEME + "$"):
        try:
            _, iterations, salt, expected = stored.split("$")
            digest = hashlib.pbkdf2_hmac("sha256", given.encode("utf-8"), base64.b64decode(salt), int(iterations))
            return hmac.compare_digest(digest, base64.b64decode(expected))
        except (ValueError, TypeError):
            return False
    return bool(stored) and hmac.compare_digest(stored.encode("utf-8"), given.encode("utf-8"))


def secrets_reviewers(secrets: Any) -> dict[str, str]:
    """`[veredicto.reviewers]` from Streamlit secrets as {name: hash or password}; {} when absent or unreadable."""
    try:
        section = secrets.get("veredicto", {}) if hasattr(secrets, "get") else {}
        reviewers = section.get("reviewers", {}) if hasattr(section, "get") else {}
        return {str(name): str(value) for name, value in dict(reviewers).items()}
    except Exception:  # noqa: BLE001 - no secrets.toml at all raises on access, with a type that varies across Streamlit versions
        return {}


def check_reviewer(reviewers: Mapping[str, str], name: str, password: str) -> Reviewer | None:
    """The reviewer if `password` matches their entry, else None (unknown names take as long as wrong passwords)."""
    stored = reviewers.get(name)
    ok = verify_password(stored if stored is not None else _DUMMY, password or "")
    return Reviewer(name, f"secrets:{name}") if ok and stored is not None else None


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
