"""What the Sign-off page shows and does, without Streamlit: the decision workflow (validate, then record), the
audit-chain check reused until the chain's head moves, and the history as rows.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from store.audit import AuditStore, SignoffRecord, StoreError, VerifyResult, freshness
from store.identity import check_reviewer


# --- the decision ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignoffOutcome:
    """What submitting the form did: `record` when something was recorded, else `error` says why not."""

    record: SignoffRecord | None = None
    error: str | None = None

    @property
    def message(self) -> str:
        """The confirmation shown after a recorded sign-off."""
        r = self.record
        if r is None:
            return ""
        return (
            f"Recorded sign-off #{r.seq}: **{r.decision_label}** by {r.reviewer} for "
            f"{r.checkpoint_name} (`{r.checkpoint_fingerprint[:12]}`), hash `{r.record_hash[:16]}…`."
        )


def record_signoff(
    store: AuditStore, judged: Mapping[str, Any], *, decision: str | None, comment: str, reviewer=None,
    reviewers: Mapping[str, Any] | None = None, name: str | None = None, password: str | None = None,
) -> SignoffOutcome:
    """Validate a submitted decision and append it to the audit chain.

    The reviewer is either already known (`reviewer`, e.g. from an OIDC login) or checked here against `reviewers`
    (name and password). `judged` is what the reviewer saw (`GateReport.signoff_fields()`), recorded with the decision.
    """
    if reviewer is None:
        reviewer = check_reviewer(reviewers or {}, name or "", password or "")
        if reviewer is None:
            return SignoffOutcome(error="Wrong reviewer or password; nothing was recorded." if name else "Choose your name and enter your password.")
    if decision is None:
        return SignoffOutcome(error="Choose a decision: approve, reject or changes requested.")
    try:
        record = store.append(reviewer=reviewer.name, identity=reviewer.identity, decision=decision, comment=comment, **judged)
    except StoreError as exc:
        return SignoffOutcome(error=str(exc))
    return SignoffOutcome(record=record)


# --- the chain check ------------------------------------------------------------------------------------------------

class ChainChecks:
    """`AuditStore.verify()` re-hashes every record: do it once per (store, chain head) and reuse the result until the
    head moves (a new sign-off, or records removed from the end). Bounded; safe to share between sessions.

    Editing an older record in place leaves the head as it is, so that is caught on the next check after the head
    moves (and always by `veredicto audit verify`), not on every rerun of the page.
    """

    def __init__(self, keep: int = 32):
        self.keep = keep
        self._lock = threading.Lock()
        self._results: OrderedDict[tuple[str, tuple[int, str]], VerifyResult] = OrderedDict()

    def verify(self, store: AuditStore) -> VerifyResult:
        key = (store.url, store.head())
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        result = store.verify()
        with self._lock:
            self._results[key] = result
            while len(self._results) > self.keep:
                self._results.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._results.clear()


CHAIN_CHECKS = ChainChecks()  # process-wide for now; meant to be owned by the app's runtime object


# --- the history ----------------------------------------------------------------------------------------------------

def history_frame(records: list[SignoffRecord], fingerprint_now: str) -> pd.DataFrame:
    """The sign-off history as shown: one row per record, records for other weights marked STALE."""
    return pd.DataFrame([
        {"#": r.seq, "When (UTC)": r.created_at[:19].replace("T", " "), "Reviewer": r.reviewer, "Identity": r.identity,
         "Decision": r.decision_label, "Weights": "these weights" if freshness(r, fingerprint_now) == "current" else f"STALE: {r.checkpoint_fingerprint[:12]}",
         "Gates passed": f"{r.gates_passed}/{r.gates_total}", "Comment": r.comment}
        for r in records
    ])
