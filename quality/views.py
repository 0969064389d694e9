"""What the Data page shows and does, without Streamlit: the ranked label issues with the reviewers' decisions on them,
recording a decision (who may, then validate and store), the decision history and its CSV, and the headline numbers
as labelled and with the reviewers' corrections.

Each part of `DataView` is there only when it could be computed; `needs` says, in a sentence each, what the missing
parts need and how to give it, so the page never shows an empty box.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.metrics import Metrics, table_metrics
from analysis.predictions import PredictionTable
from models.protocol import InferenceLayer, Progress
from privacy.pii import EXAMPLES_PER_KIND, PiiScan, scan_evalset
from privacy.redact import redact_frame
from privacy.views import PiiSection, pii_section
from probes.views import PROBE_RESULTS, ResultCache
from quality.assess import DataQuality, assess
from quality.drift import DEFAULT_CAP, Drift
from quality.label_issues import LabelIssues, find_issues
from quality.leakage import DEFAULT_THRESHOLD
from quality.stored import read, stored
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
    table: PredictionTable,
    index=None,
    *,
    index_key: Hashable | None = None,
    k: int = 10,
    threshold: float = 0.7,
    results: ResultCache = PROBE_RESULTS,
    store=None,
) -> LabelIssues:
    """`quality.label_issues.find_issues`: cleanlab's confident learning merged with the neighbour hints of `index`
    (`probes.embeddings.label_noise(index, k, threshold)`), ranked, `flagged_by` naming the method(s). Kept for every
    session (the page reruns on every click) and in the results store (`store`, default the shared one; payload
    "label_issues", keyed by `_issue_params`), so a restart reads it. Without `index`, the issues with neighbour hints are shown when kept (`kept_issues`). An index
    given without `index_key` (a caller's own) is used as it is, nothing kept."""
    if index is not None:  # the neighbours' labels must be this table's (an index may come from a page judging the other gold labels)
        from probes.embeddings import index_for_table

        index = index_for_table(index, table)
        if index_key is None:
            return find_issues(table, index, k=k, threshold=threshold)
    else:
        kept = kept_issues(table, k=k, threshold=threshold, results=results, store=store)
        if kept is not None:
            return kept
    key = (table.cache_key, index is not None, k, threshold)  # the neighbours come from the checkpoint's embeddings of these texts: the table names them
    found = results.get("label_issues", key)
    if found is None:
        params = _issue_params(table, index is not None, k, threshold)
        found = stored("label_issues", _checkpoint_key(table), params, lambda: _without_texts(find_issues(table, index, k=k, threshold=threshold)), store=store)
        found = results.put("label_issues", key, _with_texts(found, table))
    return found


def kept_issues(table: PredictionTable, *, k: int = 10, threshold: float = 0.7, results: ResultCache = PROBE_RESULTS, store=None) -> LabelIssues | None:
    """`table`'s label issues with the neighbour hints when some session or `veredicto precompute --what quality` computed
    them (memory, then the results store; then kept in memory), else None: nothing is computed. The Data page asks first,
    so a filled store needs no embedding index."""
    key = (table.cache_key, True, k, threshold)
    found = results.get("label_issues", key)
    if found is None and not table.multi_label:
        found = read("label_issues", _checkpoint_key(table), _issue_params(table, True, k, threshold), store=store)
        if found is not None:
            found = results.put("label_issues", key, _with_texts(found, table))
    return found


TEXTS = ("text", "text_pair")  # stored issues leave them out (the table holds them): a smaller payload, and the texts are always the table's


def _without_texts(issues: LabelIssues) -> LabelIssues:
    return dataclasses.replace(issues, frame=issues.frame.drop(columns=[c for c in TEXTS if c in issues.frame.columns]))


def _with_texts(issues: LabelIssues, table: PredictionTable) -> LabelIssues:
    """Stored issues with their rows' texts from `table`, where `find_issues` puts them (after rank and row)."""
    frame = issues.frame.copy()
    rows = frame["row"].to_numpy(dtype=int)
    for at, column in enumerate([c for c in TEXTS if c in table.frame.columns and c not in frame.columns], start=2):
        frame.insert(at, column, table.frame[column].to_numpy()[rows])
    return dataclasses.replace(issues, frame=frame)


def _issue_params(table: PredictionTable, neighbours: bool, k: int, threshold: float) -> dict:
    """What stored label issues depend on besides the checkpoint: the table as judged (data, label mapping, gold labels) and its
    probabilities, whether neighbour hints were merged in, their parameters and sample, and cleanlab's version."""
    from cleanlab import __version__ as cleanlab_version

    from probes.embeddings import LABEL_NOISE_SAMPLE

    probs = hashlib.sha1(np.ascontiguousarray(table.probs).tobytes()).hexdigest()  # what cleanlab reads (the fingerprint names it; a ms at 100k rows)
    return {
        "table": table.cache_key,
        "probs": probs,
        "neighbours": neighbours,
        "k": k,
        "threshold": threshold,
        "sample": LABEL_NOISE_SAMPLE,
        "cleanlab": cleanlab_version,
    }


def _checkpoint_key(table: PredictionTable) -> str:
    """The results store's key for a table's checkpoint: its fingerprint and task (as `store.gates.evaluation_key` names it without a predictor)."""
    return f"{table.fingerprint}:{table.task}"


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
    choices: Mapping[int, str]  # row -> how the issue reads in the picker (`issue_choices`)


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
    results_store=None,
) -> DataView:
    """Read the decisions on `table`'s data once and lay out the page. `index`: the checkpoint's embeddings of the
    table (`probes.embeddings.EmbeddingIndex`) for the neighbour hints (`ranked_issues`, kept under `index_key`);
    None when they are not computed yet (the page then says what they need, unless issues with the hints are kept:
    `kept_issues`). `redact`: texts and notes shown and exported (the CSV) with their personal data masked
    (`privacy.redact`). `results_store`: the results store the issues are read from and kept in (default the shared one)."""
    if table.multi_label:
        return DataView(pd.DataFrame(columns=ISSUE_COLUMNS + DECISION_COLUMNS), "", 0, None, b"", None, (SINGLE_LABEL_ONLY,), {})
    found = ranked_issues(table, index, index_key=index_key, k=k, threshold=threshold, results=results, store=results_store)
    hinted = found.neighbour_count is not None  # from `index`, or kept from an earlier run
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
        summary = "Nothing to check: confident learning flags no gold label" + (" and no example's neighbours disagree with it." if hinted else ".")
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
        needs=() if hinted else (EMBEDDINGS_NEEDED,),
        choices=issue_choices(issues),
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
    store=None,
) -> DataQuality:
    """`quality.assess` leakage and drift, computed once per (checkpoint, data, training data, parameters) for every session
    and kept in the results store (`store`, default the shared one; payload "data_quality"), so a restart reads it."""
    params = _quality_params(table, training, label_mapping, threshold, cap, seed)
    key = json.dumps(params, sort_keys=True)
    found = results.get("data_quality", key)
    if found is not None:
        return found

    def compute() -> DataQuality:
        return assess(
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

    if not training.available:  # without training data nothing is computed: nothing to keep
        return compute()
    found = stored("data_quality", predictor.ref.scoring_key, params, compute, externals={"training": training}, store=store)
    return results.put("data_quality", key, found)


def _quality_params(table: PredictionTable, training: TrainingData, label_mapping: Mapping[str, str] | None, threshold: float, cap: int, seed: int) -> dict:
    """What stored leakage and drift depend on besides the checkpoint: the table as judged, the training data's key (a file:
    path, version and columns), the label mapping and the parameters."""
    mapping = json.dumps(dict(label_mapping or {}), sort_keys=True)
    return {"table": table.cache_key, "training": list(training.key), "mapping": mapping, "threshold": threshold, "cap": cap, "seed": seed}


def personal_data(evalset, *, redact: bool, results: ResultCache = PROBE_RESULTS, store=None) -> PiiSection:
    """`privacy.views.pii_section` of the evaluation data, scanned once per data for every session and kept in the results
    store (`store`, default the shared one; payload "pii"), so a restart reads the scan."""
    source = _pii_source(evalset)
    assert source is not None  # an EvalSet always has one
    return pii_section(_pii_scan(source, results, store), redact=redact)


def training_personal_data(training: TrainingData, *, redact: bool, results: ResultCache = PROBE_RESULTS, store=None) -> PiiSection | None:
    """The personal-data section of the training data: `personal_data` of data in memory; a file read in chunks is scanned
    in one pass (`TrainingFile.scan_pii`), once per file version for every session and kept in the results store. None
    without training data."""
    source = _pii_source(training)
    return None if source is None else pii_section(_pii_scan(source, results, store), redact=redact)


PiiSource = tuple[str, dict, Callable[[], PiiScan]]  # (store key, params, scan)


def _pii_source(data) -> PiiSource | None:
    """How the scan of `data` (an `EvalSet`, or `TrainingData`: in memory, a file read in chunks, or none) is named and made.
    The key is the data's fingerprint (a file: its path, version and columns); the params its name, the examples kept per
    kind and the word lists' digest (the name detector reads them)."""
    from probes.views import wordlists_digest

    if isinstance(data, TrainingData):
        file = data.file
        if data.evalset is None and file is None:
            return None
        if file is not None and data.evalset is None:
            return json.dumps(list(file.key)), {"name": file.name, "examples": EXAMPLES_PER_KIND, "wordlists": wordlists_digest()}, file.scan_pii
        data = data.evalset
    evalset = data
    return evalset.fingerprint, {"name": evalset.name, "examples": EXAMPLES_PER_KIND, "wordlists": wordlists_digest()}, lambda: scan_evalset(evalset)


def _pii_scan(source: PiiSource, results: ResultCache, store) -> PiiScan:
    """The scan `source` names: from memory, else the results store, else made (then kept in both)."""
    key, params, scan = source
    found = results.get("pii_scan", (key, params["name"]))
    return found if found is not None else results.put("pii_scan", (key, params["name"]), stored("pii", key, params, scan, store=store))


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


def issue_choices(issues: pd.DataFrame) -> dict[int, str]:
    """How each issue reads in the page's picker, by row: `#row: text… (gold g, suggested s)`. Made once per page run (a
    lookup per option made the picker's labels quadratic: 6 s at 20k issues)."""
    out: dict[int, str] = {}
    for row, text, gold, suggested in zip(issues["row"].tolist(), issues["text"].astype(str).tolist(), issues["gold"].tolist(), issues["suggested"].tolist()):
        out.setdefault(int(row), f"#{row}: {text[:70]}{'…' if len(text) > 70 else ''} (gold {gold}, suggested {suggested})")
    return out


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


# --- filled ahead (`veredicto precompute --what quality`, `veredicto demo`) ---------------------------------------------


def fill_quality(predictor: InferenceLayer, table: PredictionTable, evalset, training: TrainingData, *, store, progress: Progress | None = None) -> list[str]:
    """Store what the Data page computes on open for `table` (the candidate's predictions on `evalset`, read as the app
    reads it) and `training` (what the page picks by default: the checkpoint's provenance file), through the page's own
    functions, so the keys are the page's: the label issues with the neighbour hints (`predictor`'s embeddings, read from
    `store` when stored), leakage and drift, and the PII scans of both data sets. What `store` holds already is read, not
    recomputed. Returns one line per part, saying whether it was computed or found stored."""
    from probes.embeddings import build_index

    memory = ResultCache(keep=1)  # not the process's: each part is looked up in the store, as a fresh app process would
    lines = []

    def part(what: str, found: object, run: Callable[[], object]) -> None:
        if found is None:
            run()
        lines.append(f"{what}: {'computed and stored' if found is None else 'already stored, skipped'}.")

    if not table.multi_label:
        part(
            "Label issues (confident learning and neighbour hints)",
            kept_issues(table, results=memory, store=store),
            lambda: ranked_issues(table, build_index(predictor, table, progress=progress), index_key="precompute", results=memory, store=store),
        )
    if training.available:
        params = _quality_params(table, training, None, DEFAULT_THRESHOLD, DEFAULT_CAP, 0)
        part(
            "Leakage and drift against the training data",
            read("data_quality", predictor.ref.scoring_key, params, externals={"training": training}, store=store),
            lambda: measure_quality(predictor, table, training, results=memory, store=store, progress=progress),
        )
    for what, source in (("evaluation data", _pii_source(evalset)), ("training data", _pii_source(training))):
        if source is not None:
            key, named, scan = source
            part(f"Personal data in the {what}", read("pii", key, named, store=store), functools.partial(stored, "pii", key, named, scan, store=store))
    return lines
