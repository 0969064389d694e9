"""The stakeholder report: one self-contained HTML file that opens offline and prints cleanly to PDF.

Plotly's JavaScript is embedded once, inline (no CDN, no network); every chart is a figure from
`analysis.figures` or `explain.plots`, every number comes from the `GateReport` evidence the gates
judged, so the report, the sign-off page and the audit record agree. Print CSS keeps tables and
charts whole on A4/Letter pages (charts are drawn 700 px wide, which fits both).

    html = make_report(gate_report, candidate_table, baseline=..., predictor=..., store=...)
    Path("report.html").write_text(html, encoding="utf-8")
"""

from __future__ import annotations

import contextlib
import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.compare import flipped_examples, macro_f1_interval
from analysis.figures import (
    class_delta_figure,
    confusion_matrix_figure,
    cooccurrence_figure,
    metric_delta_figure,
    reliability_figure,
    slice_accuracy_figure,
    slice_delta_figure,
)
from analysis.metrics import confusion, describe_calibration, label_cooccurrence
from analysis.predictions import TAG_JOIN, PredictionTable
from analysis.slices import confident_mistakes, describe_slice
from analysis.stats import wilson_interval
from models.errors import VeredictoError
from store.audit import ApprovalStatus, SignoffRecord, VerifyResult, app_version, approval_status, freshness
from store.gates import FAIL, NOT_EVALUATED, PASS, Evidence, GateReport, worst_slice_rows

FIG_WIDTH = 700  # px: fits an A4 or Letter page in portrait with 12 mm margins
FLIP_SAMPLE = 30  # flipped examples listed at most: the report's size must not grow with the data
DEFAULT_METHODS = ("shap", "lime", "ig")  # Integrated Gradients costs a fraction of a second per example
SIZE_NOTE = (
    "Every chart shows aggregates (counts, calibration bins, slices), never one mark per example, and every table of examples "
    "is a capped sample that says so: the report stays a few megabytes whatever the size of the data."
)
TRUST_HEADINGS = {"agreement": "Agreement between the methods", "most_faithful": "Most faithful here"}


METRIC_NAMES = {"accuracy": "Accuracy", "macro_f1": "Macro-F1", "micro_f1": "Micro-F1", "samples_f1": "Samples-F1", "hamming_loss": "Hamming loss"}


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def pct(x: float, digits: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 100:.{digits}f}%"


def num(x: float, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def short(text: str, limit: int = 220) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- explained examples


@dataclass(frozen=True, eq=False)
class ExplainedExample:
    index: int  # position in the evaluation set
    reason: str  # why this example is in the report
    text: str
    gold: str
    pred: str
    confidence: float
    attributions: tuple  # explain.Attribution, one per method, all for the predicted class
    trust: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (method or "agreement", plain sentences) from explain.trust
    text_pair: str | None = None  # the second text of a sentence pair
    target: str | None = None  # the class explained (multi-label: one label of the set); None = `pred`


def pick_examples(candidate: PredictionTable, baseline: PredictionTable | None = None, n: int = 3) -> list[tuple[int, str]]:
    """A few telling examples: the most confident mistake, a prediction fine-tuning broke (or fixed),
    a confident correct prediction, then more confident mistakes. Deterministic; no duplicates."""
    picks: list[tuple[int, str]] = []

    def add(index: int, reason: str) -> None:
        if len(picks) < n and all(index != i for i, _ in picks):
            picks.append((int(index), reason))

    mistakes = confident_mistakes(candidate)
    if len(mistakes):
        add(mistakes.index[0], f"the most confident mistake (confidence {mistakes['confidence'].iloc[0]:.0%})")
    if baseline is not None:
        flips = flipped_examples(baseline, candidate)
        for status, reason in (("broken", "right before fine-tuning, wrong after"), ("fixed", "wrong before fine-tuning, right after")):
            fresh = [i for i in flips.index[flips["status"] == status] if all(i != j for j, _ in picks)]
            if fresh:
                add(fresh[0], reason)
    correct = np.flatnonzero(candidate.correct)
    if len(correct):
        confidence = candidate.frame["confidence"].to_numpy()
        best = correct[np.argsort(-confidence[correct], kind="stable")]
        add(best[0], f"a confident correct prediction (confidence {confidence[best[0]]:.0%})")
    for index, row in mistakes.iloc[1:].iterrows():
        add(index, f"a confident mistake (confidence {row['confidence']:.0%})")
    return picks


def explain_examples(
    predictor,
    candidate: PredictionTable,
    picks: Sequence[tuple[int, str]],
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    cache=None,
    explain_params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[ExplainedExample]:
    """Explain each picked example's predicted class with every method (through the attribution cache when given).

    Multi-label: the first predicted label (or the first gold label when none is predicted) is explained. Sentence pairs
    are explained over both texts.
    """
    from store.gates import explain_one

    out: list[ExplainedExample] = []
    total, done = len(picks) * len(methods), 0
    for index, reason in picks:
        row = candidate.frame.iloc[index]
        target = _explained_label(row, candidate)
        second = str(row["text_pair"]) if candidate.pair else None
        attributions = []
        shown = str(row["text"]) if second is None else (str(row["text"]), second)
        for method in methods:
            with contextlib.suppress(VeredictoError):  # an empty or one-token text has nothing to explain; the report says so
                attributions.append(explain_one(predictor, shown, method, target, seed=seed, cache=cache, params=(explain_params or {}).get(method)))
            done += 1
            if progress:
                progress(done, total)
        trust: list[tuple[str, tuple[str, ...]]] = []
        if attributions:
            from explain.trust import trust_report

            found = trust_report(predictor, {a.method: a for a in attributions}, target)
            trust = [(method, tuple(sentences)) for method, sentences in found.sentences.items()]
            if found.agreement:
                trust.append(("agreement", (found.agreement,)))
            if found.most_faithful:
                trust.append(("most_faithful", (found.most_faithful,)))
            trust += [("note", (p,)) for p in found.problems]
        out.append(
            ExplainedExample(
                int(index), reason, row["text"], row["gold"], row["pred"], float(row["confidence"]), tuple(attributions), tuple(trust), second, target
            )
        )
    return out


# --------------------------------------------------------------------------- redaction (--redact)


@dataclass(frozen=True, eq=False)
class RedactedInputs:
    """What `build_report` shows, with personal data masked; `masked` counts the values masked in the evaluation data, per kind."""

    gates: GateReport
    candidate: PredictionTable
    baseline: PredictionTable | None
    examples: tuple[ExplainedExample, ...]
    records: tuple[SignoffRecord, ...] | None
    masked: Mapping[str, int]


def redact_inputs(
    gates: GateReport,
    candidate: PredictionTable,
    baseline: PredictionTable | None,
    examples: Sequence[ExplainedExample],
    records: Sequence[SignoffRecord] | None,
) -> RedactedInputs:
    """The one place `--redact` acts: every text the report takes from data passes through `privacy.redact` here.

    The tables' text and string metadata columns (so flipped examples, confident mistakes and anything else drawn
    from them), the explained examples' texts and tokens (`Attribution.redacted`) and trust notes (with the words they
    quote from personal data, `redact_quoted`), the slice values
    in the gate evidence and the gates' details, and sign-off comments. Everything was computed on the original
    text before this; only what is shown changes. The counts are taken over the candidate's data once."""
    from dataclasses import replace

    from privacy.pii import text_columns
    from privacy.redact import Tally, redact, redact_frame, redact_quoted

    def text(value: str) -> str:
        return redact(value).text

    tally = Tally()
    columns = text_columns(candidate.frame, candidate.metadata)
    shown = replace(candidate, frame=redact_frame(candidate.frame, columns, tally))
    before = replace(baseline, frame=redact_frame(baseline.frame, columns)) if baseline is not None else None  # the same data: not counted twice
    ev = _evidence(gates)
    evidence = replace(
        ev,
        slices=redact_frame(ev.slices, ["slice"]),
        slice_deltas=redact_frame(ev.slice_deltas, ["slice"]) if ev.slice_deltas is not None else None,
    )
    masked_gates = replace(gates, results=tuple(replace(r, detail=text(r.detail)) for r in gates.results), evidence=evidence)
    masked_examples = tuple(
        replace(
            e,
            text=text(e.text),
            attributions=tuple(a.redacted() for a in e.attributions),
            trust=tuple((method, tuple(redact_quoted(text(line), e.text) for line in sentences)) for method, sentences in e.trust),
        )
        for e in examples
    )
    masked_records = tuple(replace(r, comment=text(r.comment)) for r in records) if records is not None else None
    return RedactedInputs(masked_gates, shown, before, masked_examples, masked_records, tally.by_kind())


def _redaction_notice(masked: Mapping[str, int]) -> str:
    from privacy.pii import KIND_NAMES
    from privacy.redact import PLACEHOLDERS

    found = ", ".join(f"{n:,} {KIND_NAMES[k]} ({PLACEHOLDERS[k]})" for k, n in masked.items())
    return (
        '<div class="verdict na" id="redaction"><strong>Redacted report: personal data is masked.</strong> '
        + (
            f"{sum(masked.values()):,} value(s) in the evaluation data's texts and metadata are shown as typed placeholders: {esc(found)}."
            if masked
            else "No personal data was found in the evaluation data's texts and metadata."
        )
        + " The same masking applies to the explained examples, slices and sign-off comments. "
        "The models scored and explained the original texts; only what this report shows is masked.</div>"
    )


def _explained_label(row: pd.Series, table: PredictionTable) -> str:
    if not table.multi_label:
        return str(row["pred"])
    for tags in (row["pred"], row["gold"]):
        if tags:
            return str(tags).split(TAG_JOIN)[0]
    return table.labels[0]


# --------------------------------------------------------------------------- figures


def sample_rows(frame: pd.DataFrame, column: str, cap: int, what: str, *, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """At most `cap` rows of `frame`, stratified by `column` (every value as early as possible, then in proportion:
    `explain.global_importance.sample_indices`), and the sentence that says which rows the table shows."""
    if len(frame) <= cap:
        return frame, f"All {len(frame):,} {what}:" if len(frame) else ""
    from explain.global_importance import sample_indices

    picked = sample_indices(frame[column].astype(str).tolist(), cap, seed=seed)
    return frame.iloc[picked], f"Showing {cap:,} of {len(frame):,} {what}, a sample stratified by {column} (seed {seed}):"


def _evidence(gates: GateReport) -> Evidence:
    """The numbers behind the gates; `evaluate_gates` always attaches them, so a report without is refused, not half drawn."""
    if gates.evidence is None:
        raise VeredictoError("This gate report carries no evidence (metrics, slices) to report on; evaluate the gates again.")
    return gates.evidence


def report_figures(gates: GateReport, candidate: PredictionTable, baseline: PredictionTable | None = None) -> dict[str, go.Figure]:
    """Every chart of the report except the explanations, keyed by section name. Pure: data in, figures out."""
    ev = _evidence(gates)
    figures: dict[str, go.Figure] = {}
    if candidate.multi_label:  # the per-label table and label co-occurrence stand in for one confusion matrix
        co = label_cooccurrence(candidate)
        figures["cooccurrence_gold"] = cooccurrence_figure(co.gold, co.labels, title="Labels that are gold together (examples)")
        figures["cooccurrence_missed"] = cooccurrence_figure(co.missed, co.labels, title="Labels missed together: both gold, neither predicted (examples)")
    else:
        figures["confusion"] = confusion_matrix_figure(
            confusion(candidate.gold_idx, candidate.pred_idx, candidate.labels),
            candidate.labels,
            title="Confusion matrix (rows: gold, columns: predicted)",
        )
    if ev.calibration is not None:
        figures["reliability"] = reliability_figure(ev.calibration)
    worst = worst_slice_rows(gates, limit=8)
    if len(worst):
        overall = float(np.mean(candidate.correct))
        figures["worst_slices"] = slice_accuracy_figure(worst, overall, title=f"Weakest slices (bars: 95% interval; line: overall {overall:.1%})")
    if ev.comparison is not None:
        figures["metric_delta"] = metric_delta_figure(ev.comparison.deltas)
        figures["class_delta"] = class_delta_figure(ev.comparison.per_class)
        if ev.slice_deltas is not None:
            big = ev.slice_deltas[ev.slice_deltas["size"] >= int(gates.policy.settings["slice_min_size"])]
            if len(big):
                shown = big.sort_values("delta", kind="stable").head(15)
                figures["slice_delta"] = slice_delta_figure(shown, title="Accuracy change per slice (after − before)")
    return figures


def _figure_html(fig: go.Figure, div_id: str) -> str:
    fig = go.Figure(fig)  # a copy: the caller's figure keeps its size
    fig.update_layout(width=FIG_WIDTH, autosize=False)
    div_id = re.sub(r"[^A-Za-z0-9_-]", "_", div_id)  # Plotly writes it unescaped into an id attribute and a script string
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config={"displayModeBar": False, "responsive": False, "staticPlot": False})
    return f'<div class="figure">{body}</div>'


# --------------------------------------------------------------------------- HTML pieces


# The only CSS classes a table row may carry; anything else (a decision edited in the database, say) gets none, so
# no stored value ever reaches an attribute.
ROW_CLASSES = frozenset({"pass", "fail", "na", "stale", "approve", "reject", "changes_requested"})


def _row_class(value: Any) -> str:
    return value if isinstance(value, str) and value in ROW_CLASSES else ""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] | None = None, numeric: Sequence[int] = ()) -> str:
    """`rows` are cells of HTML the caller built (escaping every value it took from data); `classes` come from ROW_CLASSES."""
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{_row_class(classes[r])}"' if classes and _row_class(classes[r]) else ""
        cells = "".join(f"<td{' class=num' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _badge(status: str) -> str:
    text = {PASS: "PASS", FAIL: "FAIL", NOT_EVALUATED: "NOT EVALUATED"}.get(status, status.upper())
    cls = {PASS: "pass", FAIL: "fail"}.get(status, "na")
    return f'<span class="badge {cls}">{esc(text)}</span>'


def _per_class_rows(gates: GateReport) -> list[list[str]]:
    per_class = _evidence(gates).metrics.per_class
    rows = []
    for label, row in per_class.iterrows():
        tp = round(row["recall"] * row["support"])
        p_lo, p_hi = wilson_interval(tp, row["predicted"])
        r_lo, r_hi = wilson_interval(tp, row["support"])
        rows.append(
            [
                esc(label),
                f"{num(row['precision'])} <span class=ci>({num(float(p_lo), 2)}–{num(float(p_hi), 2)})</span>",
                f"{num(row['recall'])} <span class=ci>({num(float(r_lo), 2)}–{num(float(r_hi), 2)})</span>",
                num(row["f1"]),
                f"{int(row['support']):,}",
                f"{int(row['predicted']):,}",
            ]
        )
    return rows


def _signoff_rows(records: Sequence[SignoffRecord], fingerprint: str) -> tuple[list[list[str]], list[str]]:
    rows, classes = [], []
    for r in records:
        state = freshness(r, fingerprint)
        now = "these weights" if state == "current" else "other weights (stale)"
        decision = esc(r.decision_label) + (" <em>(stale: does not apply to these weights)</em>" if state != "current" else "")
        rows.append(
            [
                esc(r.seq),
                esc(r.created_at[:19].replace("T", " ")) + " UTC",
                esc(r.reviewer),
                decision,
                f"<code>{esc(r.checkpoint_fingerprint[:12])}</code> · {esc(now)}",
                f"{esc(r.gates_passed)}/{esc(r.gates_total)}",
                esc(short(r.comment, 300)),
            ]
        )
        classes.append("stale" if state != "current" else _row_class(r.decision))
    return rows, classes


CSS = """
:root { --ink:#1d1d1f; --muted:#5f6368; --line:#d9dce1; --pass:#0b7a3e; --fail:#b3261e; --na:#8a5a00; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.5 -apple-system, "Segoe UI", "Source Sans Pro", Roboto, Helvetica, Arial, sans-serif; color:var(--ink); background:#fff; }
main { max-width: 780px; margin: 0 auto; padding: 28px 24px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 16px; margin: 20px 0 6px; } p { margin: 6px 0 10px; } .muted, .ci { color: var(--muted); } .ci { font-size: 12px; }
code, pre { font-family: "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
pre { background: var(--bg); border: 1px solid var(--line); padding: 10px; white-space: pre-wrap; word-break: break-word; }
dl.meta { display: grid; grid-template-columns: 150px 1fr; gap: 2px 12px; margin: 14px 0; font-size: 13px; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; word-break: break-all; }
nav.toc { font-size: 13px; margin: 10px 0 0; } nav.toc a { margin-right: 12px; color: #0b57d0; text-decoration: none; }
.verdict { border-radius: 8px; padding: 14px 16px; margin: 12px 0; border: 2px solid; }
.verdict.pass { border-color: var(--pass); background: #e9f6ee; } .verdict.fail { border-color: var(--fail); background: #fcebea; }
.verdict.na { border-color: var(--na); background: #fff5e0; } .verdict strong { font-size: 17px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: var(--bg); }
.card .k { font-size: 12px; color: var(--muted); } .card .v { font-size: 22px; font-weight: 600; } .card .s { font-size: 12px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 6px; text-align: left; vertical-align: top; }
th { background: var(--bg); font-weight: 600; } td.num, th.num { text-align: right; white-space: nowrap; }
tr.fail td:first-child { border-left: 4px solid var(--fail); } tr.pass td:first-child { border-left: 4px solid var(--pass); }
tr.na td:first-child, tr.stale td:first-child { border-left: 4px solid var(--na); } tr.stale { color: var(--muted); }
tr.reject td:first-child { border-left: 4px solid var(--fail); } tr.approve td:first-child { border-left: 4px solid var(--pass); }
tr.changes_requested td:first-child { border-left: 4px solid var(--na); }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 11px; font-weight: 700; color: #fff; white-space: nowrap; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); } .badge.na { background: var(--na); }
.figure { margin: 8px 0 16px; width: 700px; max-width: 100%; overflow: hidden; }
.example { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin: 14px 0; }
.example blockquote { margin: 6px 0; padding: 6px 10px; background: var(--bg); border-left: 3px solid var(--line); }
.note { font-size: 12px; color: var(--muted); } h4 { font-size: 14px; margin: 10px 0 4px; } ul.trust { font-size: 13px; }
footer { margin-top: 40px; font-size: 12px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 8px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { font-size: 11pt; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; } h3 { break-after: avoid; page-break-after: avoid; }
  .figure, .card, .verdict, tr, blockquote { break-inside: avoid; page-break-inside: avoid; }
  .example h3 + p, .example h3 { break-after: avoid; page-break-after: avoid; }
  section.page { break-before: page; page-break-before: always; }
  a { color: inherit; text-decoration: none; }
  .modebar-container { display: none !important; }
}
"""


def _quality_section(quality) -> str:
    """Data quality (leakage, drift, label issues) as the sentences `quality.assess.DataQuality.lines` gives, plus
    the metrics without the leaked rows and the rows to look at. Row numbers only: texts stay out of the report."""
    out = '<section id="data-quality"><h2>Data quality</h2><p>Can these numbers be believed? Leakage and drift compare the evaluation data with the training data.</p>'
    out += "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in quality.lines()) + "</ul>"
    if quality.clean_metrics is not None:
        t = quality.clean_metrics.table()
        out += _table(
            ["Metric", "All rows", "Without leaked rows", "Change"],
            [[esc(m), num(t.loc[m, "all rows"]), num(t.loc[m, "without leaked rows"]), f"{t.loc[m, 'change']:+.3f}"] for m in ("accuracy", "macro_f1")],
            numeric=(1, 2, 3),
        )
    if quality.leakage is not None and len(quality.leakage.matches):
        rows = ", ".join(str(int(r) + 1) for r in quality.leakage.leaked_rows[:30])
        leaked = len(quality.leakage.leaked_rows)
        shown = f"; the first 30 of {leaked:,}" if leaked > 30 else ""
        out += f"<p>Leaked evaluation rows (1-based{shown}): {esc(rows)}{' …' if leaked > 30 else ''}.</p>"
    if quality.label_issues is not None and len(quality.label_issues.frame):
        head = quality.label_issues.frame.head(10)
        total = len(quality.label_issues.frame)
        out += (
            f"<p>The {len(head)} most likely wrong gold labels of {total:,} flagged (1-based rows; the texts and the full list are on the Data page "
            "and in <code>veredicto quality</code>):</p>"
        )
        out += _table(
            ["Row", "Gold", "Suggested", "P(gold)", "Flagged by"],
            [[str(int(r["row"]) + 1), esc(r["gold"]), esc(r["suggested"]), num(r["gold_probability"]), esc(r["flagged_by"])] for _, r in head.iterrows()],
            numeric=(0, 3),
        )
    return out + "</section>"


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _single_label_metrics_html(gates: GateReport, ev: Evidence, figures: dict[str, go.Figure], m, lo: float, hi: float, candidate: PredictionTable) -> str:
    assert ev.calibration is not None  # single-label tables always carry it
    f1_lo, f1_hi = macro_f1_interval(candidate.gold_idx, candidate.pred_idx, len(candidate.labels)) if len(candidate) else (math.nan, math.nan)
    return (
        '<section id="metrics" class="page"><h2>Metrics</h2>'
        f"<p class=muted>{SIZE_NOTE}</p>"
        f"<p>On {m.n:,} examples: accuracy {pct(m.accuracy)} (95% Wilson interval {pct(lo)}–{pct(hi)}), "
        f"macro-F1 {num(m.macro_f1)} (95% bootstrap interval {num(f1_lo)}–{num(f1_hi)}, 2,000 resamples of the examples). "
        "Per class, the intervals in brackets are 95% Wilson intervals for precision (among the examples predicted as the class) "
        "and recall (among the examples that are the class).</p>"
        + _table(["Class", "Precision (95% CI)", "Recall (95% CI)", "F1", "Gold examples", "Predicted"], _per_class_rows(gates), numeric=(3, 4, 5))
        + _figure_html(figures["confusion"], "fig-confusion")
        + f"<h3>Calibration</h3><p>{esc(describe_calibration(ev.calibration))}</p>"
        + _figure_html(figures["reliability"], "fig-reliability")
        + "</section>"
    )


def _multi_label_metrics_html(gates: GateReport, m, lo: float, hi: float, figures: dict[str, go.Figure]) -> str:
    """Multi-label metrics: micro / macro / samples F1, subset accuracy, Hamming loss, the thresholds and where they came from,
    and the per-label table (with each label's threshold)."""
    t = gates.thresholds
    threshold_of = dict(zip(t.labels, t.values)) if t is not None else {}
    rows = [[*row, num(threshold_of[label], 2) if label in threshold_of else "—"] for label, row in zip(m.labels, _per_class_rows(gates))]
    return (
        '<section id="metrics" class="page"><h2>Metrics</h2>'
        f"<p class=muted>{SIZE_NOTE}</p>"
        f"<p>A multi-label checkpoint: each label has its own sigmoid probability and is predicted at or above its threshold "
        f"({esc(t.source if t is not None else 'default')}). On {m.n:,} examples: micro-F1 {num(m.micro_f1)} (over every example and label), "
        f"macro-F1 {num(m.macro_f1)} (every label counts equally), samples-F1 {num(m.samples_f1)} (per example, averaged), "
        f"subset accuracy {pct(m.subset_accuracy)} (the whole set of labels right; 95% Wilson interval {pct(lo)}–{pct(hi)}), "
        f"Hamming loss {num(m.hamming_loss)} (the share of wrong example-label decisions). "
        "Per label, the intervals in brackets are 95% Wilson intervals for precision and recall.</p>"
        + _table(["Label", "Precision (95% CI)", "Recall (95% CI)", "F1", "Gold examples", "Predicted", "Threshold"], rows, numeric=(3, 4, 5, 6))
        + "<h3>Label co-occurrence</h3><p>How often two labels are gold on the same example, and how often both are missed together "
        "(the diagonal: each label on its own).</p>"
        + _figure_html(figures["cooccurrence_gold"], "fig-cooccurrence-gold")
        + _figure_html(figures["cooccurrence_missed"], "fig-cooccurrence-missed")
        + "</section>"
    )


def build_report(
    gates: GateReport,
    candidate: PredictionTable,
    *,
    baseline: PredictionTable | None = None,
    examples: Sequence[ExplainedExample] = (),
    records: Sequence[SignoffRecord] | None = None,
    chain: VerifyResult | None = None,
    approval: ApprovalStatus | None = None,
    generated_at: datetime | None = None,
    title: str | None = None,
    store_url: str = "",
    corrected: PredictionTable | None = None,
    corrections: int = 0,
    redact: bool = False,
) -> str:
    """Assemble the HTML. Everything it shows is passed in; nothing here runs a model or a query.

    `corrected`: `candidate` judged against the gold labels reviewers corrected (`corrections` of them; see
    store.labels): the summary then shows the headline numbers both ways (only numbers, no texts, come from it).
    redact: mask personal data in everything shown from the data (`redact_inputs`); the report says so and counts it."""
    generated = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    title = title or f"Release report: {gates.checkpoint_name}"
    policy = gates.policy
    if approval is None and records is not None:
        approval = approval_status(
            records,
            gates.fingerprint,
            int(policy.gates.get("approvals_required", 1) or 1),
            gates.checkpoint_path or None,
            dataset_fingerprint=gates.dataset_fingerprint,
            policy_sha256=policy.sha256,
            chain=chain,
        )
    notice = ""
    if redact:  # after the approval status: it is judged on the records as stored
        masked = redact_inputs(gates, candidate, baseline, examples, records)
        gates, candidate, baseline, examples, records = masked.gates, masked.candidate, masked.baseline, masked.examples, masked.records
        notice = _redaction_notice(masked.masked)
    ev = _evidence(gates)
    figures = report_figures(gates, candidate, baseline)
    m = ev.metrics
    parts: list[str] = []
    add = parts.append

    # ---- header
    add(
        f"<header><h1>{esc(title)}</h1><p class=muted>Generated {esc(generated)} by Veredicto {esc(app_version())}. "
        "Every number below was computed on the exact weights and data named here.</p>"
    )
    meta = [
        ("Checkpoint", f"{esc(gates.checkpoint_name)} <code>{esc(gates.fingerprint)}</code>"),
        (
            "Baseline",
            f"{esc(gates.baseline_name)} <code>{esc(gates.baseline_fingerprint)}</code>" if gates.baseline_name else "none (no before/after comparison)",
        ),
        ("Evaluation data", f"{esc(gates.dataset_name)} · {gates.n:,} examples <code>{esc(gates.dataset_fingerprint)}</code>"),
        ("Task", esc(gates.task_text) + (" · sentence pairs (two texts per example)" if candidate.pair else "")),
        ("Policy", f"{esc(policy.name or policy.source)} <code>sha256 {esc(policy.sha256)}</code>"),
    ]
    if gates.checkpoint_path:
        meta.insert(1, ("Checkpoint path", f"<code>{esc(gates.checkpoint_path)}</code>"))
    add("<dl class=meta>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta) + "</dl>")
    toc = [("summary", "Summary"), ("gates", "Gates"), ("metrics", "Metrics")]
    if ev.comparison is not None:
        toc.append(("comparison", "Before / after"))
    toc += [("slices", "Worst slices"), ("explanations", "Explained examples"), ("signoffs", "Sign-off history"), ("policy", "Policy")]
    add("<nav class=toc>" + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in toc) + "</nav>" + notice + "</header>")

    # ---- summary
    verdict_cls = "na" if gates.not_evaluated else ("fail" if gates.failed else "pass")
    lines = [f"<strong>Gates: {esc(gates.verdict)}.</strong>"]
    for r in gates.failed:
        lines.append(f"Fails <em>{esc(r.title)}</em>: measured {esc(r.measured_text)}, required {esc(r.threshold_text)}.")
    for r in gates.not_evaluated:
        lines.append(f"Not evaluated: <em>{esc(r.title)}</em> ({esc(r.detail)})")
    if approval is not None:
        lines.append(f"<strong>Sign-off: {esc(approval.state.replace('_', ' '))}.</strong> {esc(approval.message)}")
    add('<section id="summary"><h2>Summary</h2>' + f'<div class="verdict {verdict_cls}">' + "<br>".join(lines) + "</div>")
    lo, hi = ev.accuracy_ci
    if gates.multi_label:
        cards = [
            ("Subset accuracy", pct(m.subset_accuracy), f"whole set right; 95% CI {pct(lo)}–{pct(hi)}"),
            ("Micro-F1", num(m.micro_f1), "every (example, label) decision"),
            ("Macro-F1", num(m.macro_f1), f"{len(m.labels)} labels"),
            ("Hamming loss", num(m.hamming_loss), "share of wrong decisions"),
        ]
    else:
        cards = [("Accuracy", pct(m.accuracy), f"95% CI {pct(lo)}–{pct(hi)}"), ("Macro-F1", num(m.macro_f1), f"{len(m.labels)} classes")]
    if ev.calibration is not None:
        cards.append(("Calibration error", num(ev.calibration.ece), f"ECE, {ev.calibration.n_bins} bins"))
    cards.append(("Examples", f"{m.n:,}", esc(gates.dataset_name)))
    corrected_text = ""
    if corrected is not None and corrections:
        from analysis.views import headline

        fixed = headline(corrected)
        c_lo, c_hi = fixed.accuracy_ci
        plural = "s" * (corrections != 1)
        cards.insert(1, (f"Accuracy with {corrections:,} label correction{plural}", pct(fixed.metrics.accuracy), f"95% CI {pct(c_lo)}–{pct(c_hi)}"))
        corrected_text = (
            f"Reviewers corrected {corrections:,} gold label{plural}. As labelled: accuracy {pct(m.accuracy)}, macro-F1 {num(m.macro_f1)}; "
            f"with the corrections: accuracy {pct(fixed.metrics.accuracy)} (95% CI {pct(c_lo)}–{pct(c_hi)}), macro-F1 {num(fixed.metrics.macro_f1)}. "
            "The gates and every other number in this report use the gold labels as labelled."
        )
    add(
        "<div class=cards>"
        + "".join(f"<div class=card><div class=k>{k}</div><div class=v>{v}</div><div class=s>{s}</div></div>" for k, v, s in cards)
        + "</div>"
    )
    bullets = [describe_calibration(ev.calibration)] if ev.calibration is not None else []
    if corrected_text:
        bullets.insert(0, corrected_text)
    if ev.comparison is not None:
        from analysis.compare import describe_comparison, describe_mcnemar

        bullets.insert(0, describe_comparison(ev.comparison))
        bullets.insert(1, describe_mcnemar(ev.comparison.mcnemar, ev.comparison.before_name, ev.comparison.after_name))
    worst = worst_slice_rows(gates, limit=3)
    if len(worst):
        bullets.append("Weakest slice: " + describe_slice(worst.iloc[0]))
    add("<ul>" + "".join(f"<li>{esc(b)}</li>" for b in bullets) + "</ul></section>")

    # ---- gates
    rows = [[esc(r.title), _badge(r.status), esc(r.measured_text), esc(r.threshold_text), esc(r.detail)] for r in gates.results]
    add(
        '<section id="gates"><h2>Release gates</h2>'
        f"<p>Policy <strong>{esc(policy.name or policy.source)}</strong>: {len(gates.results)} gate(s). "
        "A gate that could not be evaluated counts as not passed.</p>"
        + _table(
            ["Gate", "Result", "Measured", "Threshold", "How it was measured"],
            rows,
            classes=[{PASS: "pass", FAIL: "fail"}.get(r.status, "na") for r in gates.results],
            numeric=(2,),
        )
        + "</section>"
    )

    # ---- metrics
    if gates.multi_label:
        add(_multi_label_metrics_html(gates, m, lo, hi, figures))
    else:
        add(_single_label_metrics_html(gates, ev, figures, m, lo, hi, candidate))

    # ---- before / after
    if ev.comparison is not None:
        from analysis.compare import describe_comparison, describe_mcnemar

        comp = ev.comparison
        delta_rows = [
            [
                esc(METRIC_NAMES.get(k, k) if not comp.multi_label or k != "accuracy" else "Subset accuracy"),
                num(r["before"]),
                num(r["after"]),
                f"{r['delta']:+.3f}",
                f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}",
            ]
            for k, r in comp.deltas.iterrows()
        ]
        flips = flipped_examples(baseline, candidate) if baseline is not None else pd.DataFrame()
        counts = flips["status"].value_counts() if len(flips) else pd.Series(dtype=int)
        shown_flips, flips_note = sample_rows(flips, "status", FLIP_SAMPLE, "flipped examples", seed=int(policy.settings["seed"]))
        pair = "text_pair" in flips
        flip_rows = [
            [
                esc(r["status"]),
                esc(short(r["text"], 160)),
                *([esc(short(r["text_pair"], 160))] if pair else []),
                esc(r["gold"]),
                esc(r["pred_before"]),
                esc(r["pred_after"]),
                *([esc(r["fixed_labels"]), esc(r["broken_labels"])] if comp.multi_label else []),
            ]
            for _, r in shown_flips.iterrows()
        ]
        flip_headers = [
            "Status",
            "Text",
            *(["Second text"] if pair else []),
            "Gold",
            "Before",
            "After",
            *(["Labels fixed", "Labels broken"] if comp.multi_label else []),
        ]
        worse = comp.per_class[comp.per_class["worse"]]
        kind = "Labels" if comp.multi_label else "Classes"
        per_label = ""
        if comp.multi_label:
            pc = comp.per_class
            per_label = (
                "<h3>Per label</h3><p>Fixed / broken: examples where that label went from wrong to right / right to wrong; p: exact McNemar test on them.</p>"
                + _table(
                    ["Label", "F1 before", "F1 after", "Change", f"{int(comp.level * 100)}% paired bootstrap CI", "Fixed", "Broken", "McNemar p"],
                    [
                        [
                            esc(label),
                            num(r["f1_before"]),
                            num(r["f1_after"]),
                            f"{r['f1_delta']:+.3f}",
                            f"{r['f1_ci_low']:+.3f} to {r['f1_ci_high']:+.3f}",
                            f"{int(r['fixed']):,}",
                            f"{int(r['broken']):,}",
                            f"{r['p_value']:.3g}",
                        ]
                        for label, r in pc.iterrows()
                    ],
                    numeric=(1, 2, 3, 4, 5, 6, 7),
                )
            )
        add(
            '<section id="comparison" class="page"><h2>Before / after</h2>'
            f"<p>{esc(describe_comparison(comp))}</p><p>{esc(describe_mcnemar(comp.mcnemar, comp.before_name, comp.after_name))}</p>"
            + _table(
                ["Metric", f"Before ({comp.before_name})", f"After ({comp.after_name})", "Change", f"{int(comp.level * 100)}% paired bootstrap CI"],
                delta_rows,
                numeric=(1, 2, 3, 4),
            )
            + _figure_html(figures["metric_delta"], "fig-metric-delta")
            + (
                f"<p>{kind} whose F1 went down: {esc(', '.join(map(str, worse.index)))}.</p>"
                if len(worse)
                else f"<p>No {kind.lower()[:-1]} got a lower F1.</p>"
            )
            + per_label
            + _figure_html(figures["class_delta"], "fig-class-delta")
            + (_figure_html(figures["slice_delta"], "fig-slice-delta") if "slice_delta" in figures else "")
            + f"<h3>Flipped predictions</h3><p>{int(counts.get('fixed', 0))} fixed, {int(counts.get('broken', 0))} broken, "
            f"{int(counts.get('changed, still wrong', 0))} changed but still wrong. {esc(flips_note)}</p>"
            + (_table(flip_headers, flip_rows) if flip_rows else "<p>No prediction changed.</p>")
            + "</section>"
        )

    # ---- worst slices
    worst = worst_slice_rows(gates, limit=8)
    min_size = int(policy.settings["slice_min_size"])
    slice_html = f'<section id="slices"><h2>Worst slices</h2><p>Slices of the data (metadata values, text length) with at least {min_size} examples whose accuracy is below the overall accuracy, lowest first.</p>'
    if len(worst):
        slice_html += "<ul>" + "".join(f"<li>{esc(describe_slice(r))}</li>" for _, r in worst.head(5).iterrows()) + "</ul>"
        slice_html += _table(
            ["Feature", "Slice", "Examples", "Accuracy", "95% CI", "vs overall"],
            [
                [
                    esc(r["feature"]),
                    esc(r["slice"]),
                    f"{int(r['size']):,}",
                    pct(r["accuracy"]),
                    f"{pct(r['ci_low'])}–{pct(r['ci_high'])}",
                    f"{r['gap'] * 100:+.1f} pts",
                ]
                for _, r in worst.iterrows()
            ],
            numeric=(2, 3, 4, 5),
        )
        slice_html += _figure_html(figures["worst_slices"], "fig-worst-slices")
    else:
        slice_html += (
            f"<p>No slice with {min_size} or more examples is below the overall accuracy. "
            "Lower <code>settings.slice_min_size</code> in the policy to look at smaller slices.</p>"
        )
    add(slice_html + "</section>")
    if ev.quality is not None:
        add(_quality_section(ev.quality))

    # ---- explanations
    exp_html = (
        '<section id="explanations" class="page"><h2>Explained examples</h2>'
        "<p>Why the model predicted what it did on a few telling examples. Red words push toward the predicted class, blue words against it. "
        "SHAP values are in probability points and add up to the prediction; LIME weights come from a local linear fit, so compare the "
        "pattern of colours between the two methods, not the sizes. Integrated Gradients is a gradient method: its scores are in probability "
        "points too and add up to the prediction minus that of a blank (padding) input, up to a small error stated under each example "
        "(its completeness). When the methods disagree, trust none of them blindly.</p>"
    )
    if not examples:
        exp_html += "<p class=note>No explanations in this report (no model was loaded to compute them).</p>"
    from explain.plots import METHOD_NAMES, method_name, token_heat_figure, top_tokens_figure

    for k, example in enumerate(examples, start=1):
        verdict = "correct" if example.gold == example.pred else "wrong"
        exp_html += (
            f'<div class="example"><h3>Example {k}: {esc(example.reason)}</h3>'
            f"<p>Example #{example.index} · gold <strong>{esc(example.gold)}</strong> · predicted <strong>{esc(example.pred)}</strong> "
            f"({example.confidence:.0%}, {verdict})</p><blockquote>{esc(short(example.text, 1200))}</blockquote>"
            + (f"<p class=muted>Second text:</p><blockquote>{esc(short(example.text_pair, 1200))}</blockquote>" if example.text_pair is not None else "")
        )
        if not example.attributions:
            exp_html += "<p class=note>This text could not be explained (empty or a single token).</p>"
        for attribution in example.attributions:
            name = method_name(attribution.method)
            target = example.target or example.pred
            exp_html += _figure_html(token_heat_figure(attribution, target, width=70), f"fig-ex{k}-{attribution.method}-heat")
            exp_html += _figure_html(top_tokens_figure(attribution, target, k=8), f"fig-ex{k}-{attribution.method}-top")
            exp_html += (
                f"<p class=note>{esc(name)}: {attribution.n_model_calls:,} model calls"
                + (", text truncated to what the model reads" if attribution.truncated else "")
                + "."
                + (" A gradient method; how closely its scores add up (its completeness) is stated below." if attribution.method == "ig" else "")
                + "</p>"
            )
        if example.trust:
            exp_html += "<h4>How far to trust these explanations</h4><ul class=trust>"
            for method, sentences in example.trust:
                who = METHOD_NAMES.get(method) or TRUST_HEADINGS.get(method, "Note")
                exp_html += f"<li><strong>{esc(who)}:</strong> {esc(' '.join(sentences))}</li>"
            exp_html += "</ul>"
        exp_html += "</div>"
    add(exp_html + "</section>")

    # ---- sign-offs
    so_html = '<section id="signoffs" class="page"><h2>Sign-off history</h2>'
    if store_url:
        so_html += f"<p class=muted>Audit store: <code>{esc(store_url)}</code></p>"
    if chain is not None:
        if chain.ok:
            so_html += (
                f'<div class="verdict pass">Audit chain verified: {esc(chain.records)} record(s), every hash and link checks out. '
                f"Head <code>{esc(chain.head_hash)}</code>.</div>"
            )
        else:
            so_html += f'<div class="verdict fail"><strong>Audit chain BROKEN</strong> at record #{esc(chain.first_bad)}: {esc(chain.problem)} Do not rely on the history below.</div>'
    if records is None:
        so_html += "<p class=note>No audit store was consulted.</p>"
    elif not records:
        so_html += "<p>No sign-off yet for this checkpoint.</p>"
    else:
        rows, classes = _signoff_rows(records, gates.fingerprint)
        so_html += _table(["#", "When", "Reviewer", "Decision", "Weights", "Gates passed", "Comment"], rows, classes=classes)
        if any(c == "stale" for c in classes):
            so_html += (
                "<p class=note>Stale sign-offs were given to other weights at the same path: the checkpoint files changed afterwards, so they do not count.</p>"
            )
    add(so_html + "</section>")

    # ---- policy
    add(
        f'<section id="policy"><h2>Policy</h2><p>The exact policy file, <code>{esc(policy.source)}</code> (sha256 <code>{esc(policy.sha256)}</code>):</p>'
        f"<pre>{esc(policy.text)}</pre></section>"
    )
    add(
        f"<footer>Veredicto {esc(app_version())} · report generated {esc(generated)} · checkpoint <code>{esc(gates.fingerprint)}</code> · "
        f"data <code>{esc(gates.dataset_fingerprint)}</code></footer>"
    )

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{_plotly_js()}</script></head>'
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


def make_report(
    gates: GateReport,
    candidate: PredictionTable,
    *,
    baseline: PredictionTable | None = None,
    predictor=None,
    store=None,
    cache=None,
    n_examples: int = 3,
    methods: Sequence[str] = DEFAULT_METHODS,
    explain_params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    title: str | None = None,
    redact: bool = False,
) -> str:
    """Gather what the report shows (explanations if a predictor is given, sign-offs if a store is) and build it.

    redact: mask personal data in what is shown (the explanations are still computed on the original texts)."""
    examples: list[ExplainedExample] = []
    if predictor is not None and n_examples > 0:
        picks = pick_examples(candidate, baseline, n_examples)
        examples = explain_examples(
            predictor, candidate, picks, methods=methods, cache=cache, explain_params=explain_params, seed=int(gates.policy.settings["seed"]), progress=progress
        )
    records = chain = approval = None
    store_url = ""
    fixed = None
    if store is not None:
        from store.labels import corrected_tables

        fixed = corrected_tables(store, [candidate])
        records = store.records(checkpoint_fingerprint=gates.fingerprint, checkpoint_path=gates.checkpoint_path or None)
        chain = store.verify()
        approval = store.status(
            gates.fingerprint,
            gates.checkpoint_path or None,
            int(gates.policy.gates.get("approvals_required", 1) or 1),
            dataset_fingerprint=gates.dataset_fingerprint,
            policy_sha256=gates.policy.sha256,
            chain=chain,
        )
        store_url = store.display_url
    return build_report(
        gates,
        candidate,
        baseline=baseline,
        examples=examples,
        records=records,
        chain=chain,
        approval=approval,
        title=title,
        store_url=store_url,
        corrected=fixed.tables[0] if fixed is not None and fixed.count else None,
        corrections=fixed.count if fixed is not None else 0,
        redact=redact,
    )
