"""What the Data page shows and does, without Streamlit: the ranked label issues with the reviewers' decisions on them,
recording a decision (who may, then validate and store), the decision history and its CSV, and the headline numbers
as labelled and with the reviewers' corrections.

Each part of `DataView` is there only when it could be computed; `needs` says, in a sentence each, what the missing
parts need and how to give it, so the page never shows an empty box.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.metrics import Metrics, table_metrics
from analysis.predictions import PredictionTable
from models.protocol import InferenceLayer, Progress
from privacy.redact import redact_frame
from privacy.views import PiiSection, pii_section
from probes.views import PROBE_RESULTS, ResultCache
from quality.assess import DataQuality, assess
from quality.drift import DEFAULT_CAP, Drift
from quality.label_issues import LabelIssues, find_issues
from quality.leakage import DEFAULT_THRESHOLD
from quality.training import TrainingData
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

ISSUE_COLUMNS = ["row", "text", "gold", "suggested", "pred", "confidence", "gold_probability", "flagged_by"]
DECISION_COLUMNS = ["decision", "decided_by", "decided_at"]
EMBEDDINGS_NEEDED = (
    "The neighbour-based hints need the model's embeddings of the evaluation texts: compute them with the button above "
    "(or on the Robustness page). Until then only confident learning's flags are listed."
)


def ranked_issues(
    table: PredictionTable, index=None, *, index_key: Hashable | None = None, k: int = 10, threshold: float = 0.7, results: ResultCache = PROBE_RESULTS
) -> LabelIssues:
    """`quality.label_issues.find_issues`: cleanlab's confident learning merged with the neighbour hints of `index`
    (`probes.embeddings.label_noise(index, k, threshold)`), ranked, `flagged_by` naming the method(s). Kept for every
    session under the table and `index_key` (as `probes.views.embedding_state` names the index): the page reruns on every click."""
    if index is not None:  # the neighbours' labels must be this table's (an index may come from a page judging the other gold labels)
        from probes.embeddings import index_for_table

        index = index_for_table(index, table)
    if index is not None and index_key is None:
        return find_issues(table, index, k=k, threshold=threshold)
    key = (table.cache_key, index_key, k, threshold)
    found = results.get("label_issues", key)
    return found if found is not None else results.put("label_issues", key, find_issues(table, index, k=k, threshold=threshold))


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


def data_view(
    store: AuditStore,
    table: PredictionTable,
    index=None,
    *,
    index_key: Hashable | None = None,
    k: int = 10,
    threshold: float = 0.7,
    redact: bool = False,
    results: ResultCache = PROBE_RESULTS,
) -> DataView:
    """Read the decisions on `table`'s data once and lay out the page. `index`: the checkpoint's embeddings of the
    table (`probes.embeddings.EmbeddingIndex`) for the neighbour hints (`ranked_issues`, kept under `index_key`);
    None when they are not computed yet (the page then says what they need). `redact`: texts and notes shown and
    exported (the CSV) with their personal data masked (`privacy.redact`)."""
    if table.multi_label:
        return DataView(pd.DataFrame(columns=ISSUE_COLUMNS + DECISION_COLUMNS), "", 0, None, b"", None, (SINGLE_LABEL_ONLY,))
    found = ranked_issues(table, index, index_key=index_key, k=k, threshold=threshold, results=results)
    texts = table.frame["text"].tolist()
    decisions = decisions_of(store, table.data_fingerprint)
    latest = latest_decisions(decisions, table.data_fingerprint, texts)
    shown = found.frame[[c for c in found.frame.columns if c in (*ISSUE_COLUMNS, "text_pair")]]  # sentence pairs: the second text after the first
    issues = with_decisions(redact_frame(shown, ["text", "text_pair"]) if redact else shown, latest)
    n = len(issues)
    if n:
        decided_here = int((issues["decision"] != "").sum())
        summary = (
            f"**{n:,}** example{'s' * (n != 1)} to check, most suspicious first. {md(found.summary())} "
            f"{decided_here:,} of them {'has' if decided_here == 1 else 'have'} a reviewer's decision already."
        )
    else:
        summary = "Nothing to check: confident learning flags no gold label" + (" and no example's neighbours disagree with it." if index is not None else ".")
    gold = None
    fixed = corrected_tables(store, [table])
    if fixed.count:
        gold = GoldComparison(fixed.count, table_metrics(table), table_metrics(fixed.tables[0]))
    history = decisions_frame(decisions, texts, redact=redact).drop(columns=["Data", "Data fingerprint", "Text sha256"]) if decisions else None
    return DataView(
        issues=issues,
        summary=summary,
        decided=len(latest),
        history=history,
        csv=decisions_csv(decisions, texts, redact=redact) if decisions else b"",
        gold=gold,
        needs=() if index is not None else (EMBEDDINGS_NEEDED,),
    )


# --- leakage and drift against the training data ----------------------------------------------------------------------

DRIFT_COLUMNS = ["training", "evaluation"]


@dataclass(frozen=True, eq=False)
class QualitySection:
    """The Data page's leakage and drift sections (None where not measured; `needs` says why and what to do).

    Texts in the frames are masked (`privacy.redact`) when the page redacts; the numbers never change with it."""

    training: str  # where the training data came from (Markdown); empty when there is none
    leakage: str | None  # the leakage summary (Markdown)
    leaked: (
        pd.DataFrame | None
    )  # quality.leakage.MATCH_COLUMNS (+ text_pair, train_text_pair for pairs): each leaked evaluation row and its closest training text
    within: pd.DataFrame | None  # quality.leakage.WITHIN_COLUMNS (+ text_pair, first_text_pair): evaluation texts that repeat an earlier one
    clean: pd.DataFrame | None  # accuracy / macro-F1 / examples on all rows and without the leaked ones, side by side
    drift: str | None  # the drift summary, the domain classifier's AUC in plain words first (Markdown)
    drift_numbers: pd.DataFrame | None  # length, OOV and truncation per side (DRIFT_COLUMNS), as shown
    balance: pd.DataFrame | None  # label shares per side (quality.drift.label_balance); None without labels on both sides
    unlike: pd.DataFrame | None  # quality.drift.UNLIKE_COLUMNS: the evaluation texts most unlike the training data
    needs: tuple[str, ...]
    quality: DataQuality | None  # everything measured, for whoever needs more than the page shows


def _drift_numbers(drift: Drift) -> pd.DataFrame:
    lengths, sides = drift.lengths, ("train", "eval")
    rows = {
        "median length (tokens)": [f"{lengths.loc[s, 'median']:.0f}" for s in sides],
        "mean length (tokens)": [f"{lengths.loc[s, 'mean']:.1f}" for s in sides],
        "90th percentile length (tokens)": [f"{lengths.loc[s, 'p90']:.0f}" for s in sides],
        "out-of-vocabulary words": [f"{drift.oov_rate[s]:.1%}" for s in sides],
        f"truncated (over {drift.max_length} tokens)": [f"{drift.truncation_rate[s]:.1%}" for s in sides],
        "texts measured": [f"{drift.n_train:,} of {drift.n_train_total:,}", f"{drift.n_eval:,} of {drift.n_eval_total:,}"],
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=DRIFT_COLUMNS)


def measure_quality(
    predictor: InferenceLayer,
    table: PredictionTable,
    training: TrainingData,
    *,
    label_mapping: Mapping[str, str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    cap: int = DEFAULT_CAP,
    seed: int = 0,
    progress: Progress | None = None,
    results: ResultCache = PROBE_RESULTS,
) -> DataQuality:
    """`quality.assess` leakage and drift, computed once per (checkpoint, data, training data, parameters) for every session."""
    key = (table.cache_key, training.key, json.dumps(dict(label_mapping or {}), sort_keys=True), threshold, cap, seed)
    found = results.get("data_quality", key)
    if found is None:
        found = assess(
            predictor,
            table,
            training,
            checks=("leakage", "drift"),
            label_mapping=label_mapping,
            threshold=threshold,
            drift_cap=cap,
            seed=seed,
            progress=progress,
        )
        if training.available:  # without training data nothing was computed: nothing to keep
            results.put("data_quality", key, found)
    return found


def personal_data(evalset, *, redact: bool, results: ResultCache = PROBE_RESULTS) -> PiiSection:
    """`privacy.views.pii_section` of the evaluation data, scanned once per data and redaction for every session."""
    key = (evalset.fingerprint, redact)
    found = results.get("pii_section", key)
    return found if found is not None else results.put("pii_section", key, pii_section(evalset, redact=redact))


def training_personal_data(training: TrainingData, *, redact: bool, results: ResultCache = PROBE_RESULTS) -> PiiSection | None:
    """The personal-data section of the training data: `personal_data` of data in memory; a file read in chunks is scanned
    in one pass (`TrainingFile.scan_pii`), once per file version for every session. None without training data."""
    if training.evalset is not None:
        return personal_data(training.evalset, redact=redact, results=results)
    if training.file is None:
        return None
    scan = results.get("pii_scan", training.key)
    if scan is None:
        scan = results.put("pii_scan", training.key, training.file.scan_pii())
    return pii_section(scan, redact=redact)


def quality_section(quality: DataQuality | None, training: TrainingData, *, redact: bool) -> QualitySection:
    """Lay out what `measure_quality` found (`quality` None: not measured yet, e.g. no training data)."""
    if quality is None or not training.available:
        return QualitySection("", None, None, None, None, None, None, None, None, (md(training.message),) if training.message else (), quality)
    mask = (lambda frame, columns: redact_frame(frame, columns)) if redact else (lambda frame, columns: frame)
    leakage, drift, clean = quality.leakage, quality.drift, quality.clean_metrics
    balance = None
    if drift is not None and not drift.label_balance.empty and drift.label_balance[["train_share", "eval_share"]].notna().all(axis=None):
        balance = drift.label_balance
    return QualitySection(
        training=md(training.describe()),
        leakage=None if leakage is None else md(leakage.summary()),
        leaked=None if leakage is None else mask(leakage.matches, ["text", "text_pair", "train_text", "train_text_pair"]),
        within=None if leakage is None else mask(leakage.within_eval, ["text", "text_pair", "first_text", "first_text_pair"]),
        clean=None if clean is None else clean.table(),
        drift=None if drift is None else md(drift.summary()),
        drift_numbers=None if drift is None else _drift_numbers(drift),
        balance=balance,
        unlike=None if drift is None else mask(drift.most_unlike, ["text", "text_pair"]),
        needs=tuple(f"{check.replace('_', ' ').capitalize()}: {why}" for check, why in quality.missing.items()),
        quality=quality,
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
