"""Reviewers' decisions on gold labels: "gold label right" or "gold label wrong -> X", kept in the audit store.

A decision names the data as judged (`PredictionTable.data_fingerprint`) and the row twice: by position AND by the
sha256 of its text, so a decision never lands on another text (a row whose text differs is simply not matched). It
records the gold label as it was, who decided (`store.identity.Reviewer`: name and identity, as sign-offs do), when
(UTC) and an optional note. Every decision is kept; per row the latest one counts (`latest_decisions`).

    record_label_decision(store, table, row=3, verdict="wrong", corrected="positive", reviewer=reviewer)
    latest = table_decisions(store, table)                                  # row -> its latest decision
    corrected = analysis.predictions.with_corrected_gold(table, corrections(latest))   # every metric "with the corrections"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from runtime.escaping import csv_bytes
from store.audit import MAX_COMMENT_CHARS, AuditStore, StoreError, _clean, sha256_text, utc_now
from store.identity import LoginRefused, Reviewer, Team, authorize

VERDICTS = {"right": "gold label right", "wrong": "gold label wrong"}
SINGLE_LABEL_ONLY = "Gold-label decisions are for single-label checkpoints: a multi-label example has a set of gold labels, not one to mark right or wrong."
CSV_COLUMNS = {
    "id": "Decision",
    "created_at": "When (UTC)",
    "data_name": "Data",
    "data_fingerprint": "Data fingerprint",
    "row": "Row",
    "text_sha256": "Text sha256",
    "gold": "Gold label",
    "verdict": "Verdict",
    "corrected": "Corrected label",
    "reviewer": "Reviewer",
    "identity": "Identity",
    "note": "Note",
}


@dataclass(frozen=True)
class LabelDecision:
    """One stored decision. `corrected` is the label the row should carry ("" when the gold label was judged right)."""

    id: int
    created_at: str
    data_name: str
    data_fingerprint: str
    row: int
    text_sha256: str
    gold: str
    verdict: str  # a key of VERDICTS
    corrected: str
    reviewer: str
    identity: str
    note: str = ""

    @property
    def label(self) -> str:
        """The label the row carries after this decision."""
        return self.corrected if self.verdict == "wrong" else self.gold

    @property
    def described(self) -> str:
        return f"gold label wrong → {self.corrected}" if self.verdict == "wrong" else "gold label right"


def decision_from_row(row: Mapping[str, Any]) -> LabelDecision:
    return LabelDecision(
        id=int(row["id"]),
        created_at=str(row["created_at"]),
        data_name=str(row["data_name"]),
        data_fingerprint=str(row["data_fingerprint"]),
        row=int(row["row_index"]),
        text_sha256=str(row["text_sha256"]),
        gold=str(row["gold_label"]),
        verdict=str(row["verdict"]),
        corrected=str(row["corrected_label"]),
        reviewer=str(row["reviewer"]),
        identity=str(row["identity"]),
        note=str(row["note"]),
    )


def authorize_labeller(reviewer: Reviewer | None, *, team_mode: bool, team: Team | None = None) -> None:
    """Raise `LoginRefused` when `reviewer` may not record label decisions. Outside team mode anyone named may; in team
    mode a verified identity is required and, as for sign-offs (`store.identity.authorize`), one on the allow-list
    (or a password account when there is none): a label decision changes the numbers a sign-off is based on."""
    if reviewer is None or not reviewer.name.strip():
        raise LoginRefused("Say who you are: " + ("log in first; " if team_mode else "enter your name; ") + "nothing was recorded.")
    if team_mode:
        if not reviewer.identity.startswith(("oidc:", "secrets:")):
            raise LoginRefused("In team mode a label decision needs a verified identity (an OIDC login or a reviewer account); nothing was recorded.")
        authorize(reviewer, "changes_requested", team)


def record_label_decision(
    store: AuditStore,
    table,
    *,
    row: int,
    verdict: str,
    reviewer: Reviewer,
    corrected: str | None = None,
    note: str = "",
) -> LabelDecision:
    """Validate one decision on `table`'s row `row` and store it. `verdict` "right" or "wrong"; "wrong" needs `corrected`,
    one of the checkpoint's labels other than the gold label. The caller has checked who may decide (`authorize_labeller`)."""
    if table.multi_label:
        raise StoreError(SINGLE_LABEL_ONLY)
    verdict = str(verdict).strip().lower()
    if verdict not in VERDICTS:
        raise StoreError(f"Unknown label verdict '{verdict}'. Use one of: {', '.join(VERDICTS)}.")
    if not 0 <= int(row) < len(table):
        raise StoreError(f"Row {row} is outside the evaluation data (0..{len(table) - 1}); nothing was recorded.")
    gold = str(table.frame["gold"].iat[int(row)])
    corrected = "" if corrected is None else str(corrected)
    if verdict == "wrong":
        if corrected not in table.labels:
            raise StoreError(f"The corrected label '{corrected}' is not one of the checkpoint's labels ({', '.join(table.labels)}); nothing was recorded.")
        if corrected == gold:
            raise StoreError(f"The corrected label '{corrected}' is the gold label already; choose another, or mark the gold label right.")
    else:
        corrected = ""
    values = dict(
        created_at=utc_now(),
        data_name=_clean("data name", table.data_name),
        data_fingerprint=_clean("data fingerprint", table.data_fingerprint, required=True, limit=64),
        row_index=int(row),
        text_sha256=sha256_text(str(table.frame["text"].iat[int(row)])),
        gold_label=gold,
        verdict=verdict,
        corrected_label=corrected,
        reviewer=_clean("reviewer", reviewer.name, required=True, limit=200),
        identity=_clean("identity", reviewer.identity, limit=500),
        note=_clean("comment", note, limit=MAX_COMMENT_CHARS),
    )
    return decision_from_row({**values, "id": store.insert_label_decision(values)})


def decisions_of(store: AuditStore, data_fingerprint: str | None = None) -> list[LabelDecision]:
    """Every decision (on this data), oldest first: the history."""
    return [decision_from_row(r) for r in store.label_decision_rows(data_fingerprint)]


def latest_decisions(decisions: Iterable[LabelDecision], data_fingerprint: str, texts: Sequence[str]) -> dict[int, LabelDecision]:
    """Per row of the data `data_fingerprint` (whose texts are `texts`, in order), the latest decision that applies to it:
    made on that data, on that very text (by sha256). A decision about another text at that position never applies."""
    out: dict[int, LabelDecision] = {}
    hashes: dict[int, str] = {}
    for d in sorted(decisions, key=lambda d: d.id):
        if d.data_fingerprint != data_fingerprint or not 0 <= d.row < len(texts):
            continue
        if d.row not in hashes:
            hashes[d.row] = sha256_text(str(texts[d.row]))
        if hashes[d.row] == d.text_sha256:
            out[d.row] = d
    return out


def table_decisions(store: AuditStore, table) -> dict[int, LabelDecision]:
    """The decisions that apply to `table` (a PredictionTable), latest per row."""
    return latest_decisions(decisions_of(store, table.data_fingerprint), table.data_fingerprint, table.frame["text"].tolist())


def corrections(latest: Mapping[int, LabelDecision]) -> dict[int, str]:
    """Row -> corrected gold label, for the decisions that say the gold label is wrong."""
    return {row: d.corrected for row, d in latest.items() if d.verdict == "wrong"}


REDACTED_COLUMNS = ("Text", "Note")  # what a decision carries from the data (a reviewer's note may quote it); the rest is the record


def decisions_frame(decisions: Sequence[LabelDecision], texts: Sequence[str] | None = None, *, redact: bool = False) -> pd.DataFrame:
    """The decisions as a table with readable column names (CSV_COLUMNS), newest first; with `texts` (the data they were
    made on, row for row) also each row's text, where the row still holds the text decided on. `redact`: personal data
    in the texts and notes masked (`privacy.redact`), for a page or an export with redaction on."""
    rows = [
        {
            "id": d.id,
            "created_at": d.created_at[:19].replace("T", " "),
            "data_name": d.data_name,
            "data_fingerprint": d.data_fingerprint,
            "row": d.row,
            "text_sha256": d.text_sha256,
            "gold": d.gold,
            "verdict": VERDICTS.get(d.verdict, d.verdict),
            "corrected": d.corrected,
            "reviewer": d.reviewer,
            "identity": d.identity,
            "note": d.note,
        }
        for d in sorted(decisions, key=lambda d: d.id, reverse=True)
    ]
    frame = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    if texts is not None:
        frame.insert(5, "text", [_text_if_same(texts, r, h) for r, h in zip(frame["row"], frame["text_sha256"])])
    frame = frame.rename(columns={**CSV_COLUMNS, "text": "Text"})
    if redact:
        from privacy.redact import redact_frame

        frame = redact_frame(frame, REDACTED_COLUMNS)
    return frame


def _text_if_same(texts: Sequence[str], row: int, digest: str) -> str:
    text = str(texts[row]) if 0 <= row < len(texts) else ""
    return text if text and sha256_text(text) == digest else ""


def decisions_csv(decisions: Sequence[LabelDecision], texts: Sequence[str] | None = None, *, redact: bool = False) -> bytes:
    """The decisions as CSV a spreadsheet opens safely (`runtime.escaping.csv_bytes`: no cell runs as a formula);
    `redact`: personal data in the texts and notes masked."""
    return csv_bytes(decisions_frame(decisions, texts, redact=redact))


@dataclass(frozen=True, eq=False)
class CorrectedTables:
    """Prediction tables judged against the reviewers' corrections: `count` rows relabelled, `tables` row for row with the input."""

    count: int
    tables: tuple


def corrected_tables(store: AuditStore, tables: Sequence) -> CorrectedTables:
    """The same tables (one evaluation set, any checkpoints) with the gold labels reviewers said were wrong replaced."""
    from analysis.predictions import with_corrected_gold

    if not tables or any(t.multi_label for t in tables):  # no single gold label to correct (record_label_decision refuses them)
        return CorrectedTables(0, tuple(tables))
    fixed = corrections(table_decisions(store, tables[0]))
    return CorrectedTables(len(fixed), tuple(with_corrected_gold(t, fixed) for t in tables))


def corrected_count(as_labelled, judged) -> int:
    """How many gold labels `judged` (a PredictionTable, e.g. one of `corrected_tables`) differs from `as_labelled` in:
    the corrections a sign-off judged with (0: as labelled). Multi-label tables are never corrected."""
    if as_labelled.multi_label or judged.multi_label:
        return 0
    return int((as_labelled.gold_idx != judged.gold_idx).sum())


def with_corrections_noted(judged_fields: Mapping, corrections: int) -> dict:
    """`GateReport.signoff_fields()` with the number of reviewer corrections in the recorded metrics when there are any,
    so the audit trail says the numbers were judged against corrected gold labels (absent: as labelled)."""
    fields = dict(judged_fields)
    if corrections:
        fields["metrics"] = {**fields["metrics"], "gold_label_corrections": int(corrections)}
    return fields
