"""Plotly figures for the Robustness page: pure functions, data in, `go.Figure` out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from probes.run import ProbeReport

BEFORE_COLOR = "#8c8c8c"
AFTER_COLOR = "#1f77b4"
SERIES_COLORS = (BEFORE_COLOR, AFTER_COLOR, "#ff7f0e", "#2ca02c")
CORRECT_COLORS = {"correct": "#2ca02c", "wrong": "#d62728"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
COLOR_BY = ("gold", "pred", "correct")
MAP_POINTS = 20_000  # points the embedding map draws at most


def _label(report: ProbeReport, role: str | None) -> str:
    return f"{role}: {report.checkpoint_name}" if role else report.checkpoint_name


def failure_rate_figure(reports: Sequence[ProbeReport] | Mapping[str, ProbeReport], *, title: str | None = None) -> go.Figure:
    """Grouped bars: failure rate per test, one series per checkpoint, 95% Wilson intervals as error bars.

    `reports` is a list (first = before) or a mapping {series name: report}. A test that did not apply
    to any example has no bar and says "n/a" in its hover text.
    """
    if isinstance(reports, Mapping):
        named = list(reports.items())
    else:
        roles = ("before", "after") if len(reports) == 2 else (None,) * len(reports)
        named = [(_label(r, role), r) for r, role in zip(reports, roles)]
    tests: list[str] = []
    titles: dict[str, str] = {}
    for _, report in named:
        for r in report.results:
            if r.test not in titles:
                tests.append(r.test)
                titles[r.test] = r.title
    fig = go.Figure()
    for k, (name, report) in enumerate(named):
        by = {r.test: r for r in report.results}
        y, low, high, text, hover = [], [], [], [], []
        for test in tests:
            result = by.get(test)
            rate = result.failure_rate if result else math.nan
            lo, hi = result.interval if result else (math.nan, math.nan)
            y.append(None if math.isnan(rate) else rate)
            low.append(0 if math.isnan(rate) else rate - lo)
            high.append(0 if math.isnan(rate) else hi - rate)
            if result is None:
                text.append("")
                hover.append(f"{titles[test]}: not run")
            elif not result.n_tried:
                text.append("n/a")
                hover.append(f"{titles[test]}: n/a — {result.note}")
            else:
                text.append(f"{rate:.0%}")
                hover.append(f"{titles[test]}: {result.n_failed}/{result.n_tried} failed ({rate:.1%}, 95% CI {lo:.0%}–{hi:.0%})<br>{result.expectation}")
        fig.add_trace(
            go.Bar(
                name=name,
                x=[titles[t] for t in tests],
                y=y,
                text=text,
                textposition="outside",
                marker_color=SERIES_COLORS[k % len(SERIES_COLORS)],
                customdata=tests,
                error_y=dict(type="data", symmetric=False, array=high, arrayminus=low, thickness=1, width=3),
                hovertext=hover,
                hoverinfo="text",
            )
        )
    top = max([v for tr in fig.data for v in tr.y if v is not None] + [0.1])
    fig.update_layout(
        barmode="group",
        title=title or "Failure rate per probe (lower is better)",
        yaxis=dict(title="failure rate", tickformat=".0%", range=[0, min(1.0, top * 1.25 + 0.05)]),
        xaxis_title=None,
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        margin=dict(t=70, b=40),
    )
    return fig


def _short(text: str, width: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def embedding_map_figure(
    frame: pd.DataFrame, color_by: str = "gold", *, highlight: Sequence[int] = (), title: str | None = None, max_points: int = MAP_POINTS
) -> go.Figure:
    """Scatter of the 2-D embedding map, one trace per value of `color_by` (gold, pred or correct).

    Every point's customdata is its example row, so a selection on the chart gives back rows
    (`probes.embeddings.rows_from_selection`). Rows in `highlight` get a black ring.
    Above `max_points` examples the map draws a sample stratified by `color_by` (seeded; highlighted rows always kept)
    and its title says so: 100k points were 22 MB of figure JSON per rerun and seconds to build.
    """
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {COLOR_BY}, got {color_by!r}")
    total, sampled = len(frame), ""
    if total > max_points:
        from explain.global_importance import sample_indices

        keep = set(sample_indices(frame[color_by].astype(str).tolist(), max_points))
        keep |= set(np.flatnonzero(frame["row"].isin(list(highlight)).to_numpy()).tolist())
        frame = frame.iloc[sorted(keep)]
        sampled = f" · showing {len(frame):,} of {total:,} examples, a sample stratified by {color_by}"
    fig = go.Figure()
    if color_by == "correct":
        groups = [("correct", frame["correct"].astype(bool)), ("wrong", ~frame["correct"].astype(bool))]
        colors = CORRECT_COLORS
    else:
        values = sorted(frame[color_by].astype(str).unique())
        groups = [(v, frame[color_by].astype(str) == v) for v in values]
        colors = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(values)}
    scatter = go.Scattergl if len(frame) > 5000 else go.Scatter
    for name, mask in groups:
        part = frame[mask.to_numpy()]
        if not len(part):
            continue
        hover = [
            f"row {r} · gold {g} · predicted {p} ({c:.0%})<br>{_short(t)}"
            for r, g, p, c, t in zip(part["row"], part["gold"], part["pred"], part["confidence"].astype(float), part["text"])
        ]
        fig.add_trace(
            scatter(
                x=part["x"].astype(float).tolist(),
                y=part["y"].astype(float).tolist(),
                mode="markers",
                name=f"{color_by}: {name}" if color_by != "correct" else name,
                customdata=[int(r) for r in part["row"]],
                hovertext=hover,
                hoverinfo="text",
                marker=dict(size=7, opacity=0.8, color=colors[name]),
            )
        )
    if len(highlight):
        part = frame[frame["row"].isin(list(highlight))]
        fig.add_trace(
            go.Scatter(
                x=part["x"].astype(float).tolist(),
                y=part["y"].astype(float).tolist(),
                mode="markers",
                name="selected",
                customdata=[int(r) for r in part["row"]],
                marker=dict(size=13, color="rgba(0,0,0,0)", line=dict(color="black", width=2)),
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        title=(title or f"Embedding map (coloured by {'gold label' if color_by == 'gold' else 'prediction' if color_by == 'pred' else 'correctness'})")
        + sampled,
        xaxis=dict(title=None, showticklabels=False, zeroline=False),
        yaxis=dict(title=None, showticklabels=False, zeroline=False),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        dragmode="lasso",
        margin=dict(t=70, b=20),
    )
    return fig
