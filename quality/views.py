"""What the Data page shows and does, without Streamlit: the ranked label issues with the reviewers' decisions on them,
recording a decision (who may, then validate and store), the decision history and its CSV, and the headline numbers
as labelled and with the reviewers' corrections.

Each part of `DataView` is there only when it could be computed; `needs` says, in a sentence each, what the missing
parts need and how to give it, so the page never shows an empty box.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.metrics import Metrics, table_metrics
from analysis.predictions import PredictionTable
from analysis.slices import confident_mistakes
from probes.views import PROBE_RESULTS, ResultCache
from runtime.escaping import md
from store.audit import AuditStore, StoreError
from store.identity import LoginRefused, LoginThrottle, Reviewer, Team, login
from store.labels import (
    SINGLE_LABEL_ONLY,
    LabelDecision,
    authorize_labeller,
    corrected_tables,
    decisions_csv,
    decisions_frame,
    decisions_of,
    latest_decisions,
    record_label_decision,
)

MODEL, NEIGHBOURS = "model's confident mistake", "neighbours"
ISSUE_COLUMNS = ["row", "text", "gold", "suggested", "pred", "confidence", "flagged_by"]
DECISION_COLUMNS = ["decision", "decided_by", "decided_at"]
MISTAKES_LIMIT = 50  # the model's most confident mistakes listed (the neighbour hints are all listed)
EMBEDDINGS_NEEDED = (
    "The neighbour-based hints need the model's embeddings of the evaluation texts: compute them with the button above "
    "(or on the Robustness page). Until then only the model's confident mistakes are listed."
)


def ranked_issues(table: PredictionTable, noise: pd.DataFrame | None = None, *, limit: int = MISTAKES_LIMIT) -> pd.DataFrame:
    """Examples whose gold label may be wrong, most suspicious first (ISSUE_COLUMNS; `row` is the example's position).

    `noise`: `probes.embeddings.label_noise` (examples whose nearest neighbours mostly carry one other gold label). Rows
    both it and the model's own confident mistakes (`analysis.slices.confident_mistakes`, the `limit` most confident)
    flag come first, then the neighbour hints in their own order, then the other mistakes, most confident first. The
    suggested label is the neighbours' label where they flag the row, else the model's prediction.
    """
    mistakes = confident_mistakes(table, limit=limit)
    hints = noise.set_index("row") if noise is not None and len(noise) else pd.DataFrame(columns=["suggested"])
    model_rows = [int(r) for r in mistakes.index]
    hint_rows = [int(r) for r in hints.index]
    both = [r for r in model_rows if r in hints.index]
    order = both + [r for r in hint_rows if r not in both] + [r for r in model_rows if r not in both]
    frame = table.frame
    rows = []
    for r in order:
        flagged = [name for name, hit in ((MODEL, r in mistakes.index), (NEIGHBOURS, r in hints.index)) if hit]
        rows.append(
            {
                "row": r,
                "text": frame["text"].iat[r],
                "gold": frame["gold"].iat[r],
                "suggested": str(hints.loc[r, "suggested"]) if r in hints.index else frame["pred"].iat[r],
                "pred": frame["pred"].iat[r],
                "confidence": float(frame["confidence"].iat[r]),
                "flagged_by": " + ".join(flagged),
            }
        )
    return pd.DataFrame(rows, columns=ISSUE_COLUMNS)


def with_decisions(issues: pd.DataFrame, latest: Mapping[int, LabelDecision]) -> pd.DataFrame:
    """`issues` with each row's latest decision: what was decided, by whom, when (UTC); empty where nobody decided yet."""
    out = issues.copy()
    found = [latest.get(int(r)) for r in out["row"]]
    out["decision"] = [d.described if d else "" for d in found]
    out["decided_by"] = [d.reviewer if d else "" for d in found]
    out["decided_at"] = [d.created_at[:19].replace("T", " ") if d else "" for d in found]
    return out


@dataclass(frozen=True)
class GoldComparison:
    """The headline numbers of one checkpoint as labelled and with the reviewers' corrections (`corrections` rows relabelled)."""

    corrections: int
    as_labelled: Metrics
    corrected: Metrics


@dataclass(frozen=True)
class DataView:
    """Everything the Data page reads, in the order it shows it.

    `issues`: ranked label issues with the latest decision per row (ISSUE_COLUMNS + DECISION_COLUMNS). `history`: every
    decision on this data, newest first (None before the first one); `csv` the same as a spreadsheet-safe CSV.
    `gold`: the numbers both ways, None while no reviewer has corrected a label. `needs`: what missing parts need.
    """

    issues: pd.DataFrame
    summary: str
    decided: int  # rows of this data with a decision that applies
    history: pd.DataFrame | None
    csv: bytes
    gold: GoldComparison | None
    needs: tuple[str, ...]


def neighbour_hints(index, index_key: Hashable | None, k: int, threshold: float, results: ResultCache = PROBE_RESULTS) -> pd.DataFrame:
    """`probes.embeddings.label_noise(index, k, threshold)`, computed once per index (`index_key`, as
    `probes.views.embedding_state` names it) and kept for every session: the page reruns on every click."""
    from probes.embeddings import label_noise

    if index_key is None:
        return label_noise(index, k=k, threshold=threshold)
    key = (index_key, k, threshold)
    found = results.get("label_noise", key)
    return found if found is not None else results.put("label_noise", key, label_noise(index, k=k, threshold=threshold))


def data_view(
    store: AuditStore,
    table: PredictionTable,
    index=None,
    *,
    index_key: Hashable | None = None,
    k: int = 10,
    threshold: float = 0.7,
    results: ResultCache = PROBE_RESULTS,
) -> DataView:
    """Read the decisions on `table`'s data once and lay out the page. `index`: the checkpoint's embeddings of the
    table (`probes.embeddings.EmbeddingIndex`) for the neighbour hints (`neighbour_hints`, kept under `index_key`);
    None when they are not computed yet (the page then says what they need)."""
    if table.multi_label:
        return DataView(pd.DataFrame(columns=ISSUE_COLUMNS + DECISION_COLUMNS), "", 0, None, b"", None, (SINGLE_LABEL_ONLY,))
    noise = neighbour_hints(index, index_key, k, threshold, results) if index is not None else None
    texts = table.frame["text"].tolist()
    decisions = decisions_of(store, table.data_fingerprint)
    latest = latest_decisions(decisions, table.data_fingerprint, texts)
    issues = with_decisions(ranked_issues(table, noise), latest)
    n = len(issues)
    if n:
        decided_here = int((issues["decision"] != "").sum())
        by_model = int(issues["flagged_by"].str.contains(MODEL, regex=False).sum())
        by_neighbours = int(issues["flagged_by"].str.contains(NEIGHBOURS, regex=False).sum())
        summary = (
            f"**{n:,}** example{'s' * (n != 1)} to check, most suspicious first: {by_model:,} the model gets wrong with high confidence"
            + (f", {by_neighbours:,} whose nearest neighbours mostly carry another gold label" if noise is not None else "")
            + f". {decided_here:,} of them {'has' if decided_here == 1 else 'have'} a reviewer's decision already."
        )
    else:
        summary = "Nothing to check: the model agrees with every gold label" + (" and no example's neighbours disagree with it." if noise is not None else ".")
    gold = None
    fixed = corrected_tables(store, [table])
    if fixed.count:
        gold = GoldComparison(fixed.count, table_metrics(table), table_metrics(fixed.tables[0]))
    history = decisions_frame(decisions, texts).drop(columns=["Data", "Data fingerprint", "Text sha256"]) if decisions else None
    return DataView(
        issues=issues,
        summary=summary,
        decided=len(latest),
        history=history,
        csv=decisions_csv(decisions, texts) if decisions else b"",
        gold=gold,
        needs=() if noise is not None else (EMBEDDINGS_NEEDED,),
    )


def issue_choice(issues: pd.DataFrame, row: int) -> str:
    """How an issue reads in the page's picker: `#row: text… (gold → suggested)`."""
    found = issues[issues["row"] == row]
    if found.empty:
        return f"#{row}"
    r = found.iloc[0]
    text = str(r["text"])
    return f"#{row}: {text[:70]}{'…' if len(text) > 70 else ''} (gold {r['gold']}, suggested {r['suggested']})"


# --- recording a decision --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelOutcome:
    """What pressing "Record decision" did: `decision` when it was stored, else `error` says why not."""

    decision: LabelDecision | None = None
    error: str | None = None

    @property
    def message(self) -> str:
        d = self.decision
        if d is None:
            return ""
        return f"Recorded for example #{d.row}: **{md(d.described)}** (was {md(d.gold)}), by {md(d.reviewer)} at {md(d.created_at[:19].replace('T', ' '))} UTC."


def record_decision(
    store: AuditStore,
    table: PredictionTable,
    *,
    row: int | None,
    verdict: str | None,
    corrected: str | None = None,
    note: str = "",
    team_mode: bool,
    reviewer: Reviewer | None = None,
    reviewers: Mapping[str, Any] | None = None,
    name: str | None = None,
    password: str | None = None,
    client: str | None = None,
    throttle: LoginThrottle | None = None,
    team: Team | None = None,
) -> LabelOutcome:
    """Who decides, then validate and store, as the Sign-off page does (`store.views.record_signoff`).

    The reviewer is already known (`reviewer`, an OIDC login), or checked against `reviewers` (password accounts from
    secrets: `name` and `password`, throttled), or, outside team mode with no accounts configured, whoever typed `name`
    (recorded as `local:<name>`)."""
    if row is None:
        return LabelOutcome(error="Choose the example to decide on.")
    if verdict is None:
        return LabelOutcome(error="Choose whether the gold label is right or wrong.")
    try:
        if reviewer is None and reviewers:
            if not name:
                return LabelOutcome(error="Choose your name and enter your password.")
            reviewer = login(reviewers, name, password or "", client=client, throttle=throttle)
        elif reviewer is None and not team_mode and name and name.strip():
            reviewer = Reviewer(name.strip(), f"local:{name.strip()}")
        authorize_labeller(reviewer, team_mode=team_mode, team=team)
        assert reviewer is not None  # authorize_labeller refuses None
        decision = record_label_decision(store, table, row=int(row), verdict=verdict, corrected=corrected, reviewer=reviewer, note=note)
    except (LoginRefused, StoreError) as exc:
        return LabelOutcome(error=str(exc))
    return LabelOutcome(decision=decision)


def accuracy_delta(gold: GoldComparison) -> str:
    """The change in accuracy the corrections make, as the page's metric delta ("+2.5 points")."""
    return f"{(gold.corrected.accuracy - gold.as_labelled.accuracy) * 100:+.1f} points"
