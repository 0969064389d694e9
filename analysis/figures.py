"""Pure Plotly figures for the analysis pages: data in, `go.Figure` out, no Streamlit.

Colours come from the Okabe–Ito palette and single-hue sequential scales, which stay
distinguishable for the common forms of colour blindness. Every point that a page lets
the user click carries `customdata` that `analysis.selection` maps back to examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.metrics import Calibration

# Okabe & Ito (2008), "Color Universal Design".
BLUE = "#0072B2"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#999999"
PALETTE = (BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, "#F0E442", "#000000")
SEQUENTIAL = "Blues"  # single hue: reads in greyscale and for colour-blind users
FONT = dict(family="Source Sans Pro, sans-serif", size=13)


def _layout(fig: go.Figure, title: str, height: int, **kw) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left"),
        height=height,
        margin=dict(l=10, r=10, t=60, b=10),
        font=FONT,
        plot_bgcolor="white",
        **kw,
    )
    fig.update_xaxes(showline=True, linecolor="#444", gridcolor="#e5e5e5", automargin=True)
    fig.update_yaxes(showline=True, linecolor="#444", gridcolor="#e5e5e5", automargin=True)
    return fig


# --- confusion matrix ------------------------------------------------------------------------------------


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def confusion_matrix_figure(counts, labels: Sequence[str], *, title: str | None = None, plot_px: int | None = None) -> go.Figure:
    """A clickable confusion matrix: one square marker per (gold, predicted) cell, n_labels² in all, in row order.

    Colour: share of the gold class that lands in the cell (row-normalised, 0–1), so small classes
    read as clearly as big ones; the text is the count. `customdata` per point: [gold, predicted, count, share].

    Marker sizes are in pixels, so the figure has a fixed size (`layout.width`/`height`; show it with
    `st.plotly_chart(width="content")`): the plot area is `plot_px` square (default 280 px up to 6
    labels, 46 px per label beyond) and margins are computed from the label lengths, so the squares
    tile the plot exactly whatever the labels are.
    """
    counts = np.asarray(counts, dtype=int)
    labels = [str(l) for l in labels]
    k = len(labels)
    if counts.shape != (k, k):
        raise ValueError(f"counts must be {k}×{k}, got {counts.shape}")
    row_totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, row_totals, out=np.zeros(counts.shape, dtype=float), where=row_totals > 0)
    gold = [g for g in labels for _ in labels]
    pred = [p for _ in labels for p in labels]
    flat_counts = counts.ravel()
    flat_share = share.ravel()
    diagonal = np.repeat(np.arange(k), k) == np.tile(np.arange(k), k)

    side = int(plot_px or (280 if k <= 6 else min(46 * k, 900)))
    cell = side / max(k, 1)
    longest = max((len(_short(l)) for l in labels), default=1)
    char_px = 7.5
    angled = longest * char_px > cell * 0.95
    left = int(42 + char_px * longest)
    bottom = int(56 + (0.75 * char_px * longest if angled else 0))
    top, right = (96 if title else 70), 12
    text_colour = np.where(flat_share > 0.55, "white", "#111")
    fig = go.Figure(
        go.Scatter(
            x=pred,
            y=gold,
            mode="markers+text" if cell >= 26 else "markers",
            text=[f"{c:,}" for c in flat_counts],
            textfont=dict(color=list(text_colour), size=int(max(9, min(16, cell / 4)))),
            customdata=[[g, p, int(c), round(float(s), 4)] for g, p, c, s in zip(gold, pred, flat_counts, flat_share)],
            marker=dict(
                symbol="square",
                size=max(6, int(cell * 0.94)),
                color=[float(v) for v in flat_share],
                cmin=0.0,
                cmax=1.0,
                colorscale=SEQUENTIAL,
                line=dict(color=np.where(diagonal, "#222", "#bbb").tolist(), width=np.where(diagonal, 2, 1).tolist()),
                colorbar=dict(
                    title=dict(text="Share of the gold class", side="top"),
                    tickformat=".0%",
                    orientation="h",
                    x=0.5,
                    xanchor="center",
                    y=1.0,
                    yanchor="bottom",
                    len=0.9,
                    thickness=10,
                ),
            ),
            selected=dict(marker=dict(opacity=1.0)),
            unselected=dict(marker=dict(opacity=0.35)),
            hovertemplate="Gold <b>%{customdata[0]}</b>, predicted <b>%{customdata[1]}</b><br>"
            "%{customdata[2]} examples (%{customdata[3]:.0%} of gold %{customdata[0]})<extra></extra>",
            name="cells",
            showlegend=False,
        )
    )
    fig.update_layout(
        title=dict(text=title or "", x=0.01, xanchor="left", xref="container", y=0.99, yanchor="top", yref="container", font=dict(size=14)),
        width=left + side + right,
        height=top + side + bottom,
        margin=dict(l=left, r=right, t=top, b=bottom, autoexpand=False),
        font=FONT,
        plot_bgcolor="white",
        clickmode="event+select",
        dragmode=False,
    )
    axis = dict(
        type="category",
        categoryorder="array",
        categoryarray=labels,
        tickmode="array",
        tickvals=labels,
        ticktext=[_short(l) for l in labels],
        showgrid=False,
        zeroline=False,
        fixedrange=True,
        automargin=False,
        showline=True,
        linecolor="#444",
    )
    fig.update_xaxes(title_text="Predicted label", range=[-0.5, k - 0.5], tickangle=-45 if angled else 0, **axis)
    fig.update_yaxes(title_text="Gold label", range=[k - 0.5, -0.5], **axis)  # first label on top, like a table
    return fig


# --- calibration -------------------------------------------------------------------------------------------


def reliability_figure(cal: Calibration, *, title: str | None = None, height: int = 420, label: str | None = None) -> go.Figure:
    """Accuracy per confidence bin against the diagonal of perfect calibration; ECE in the title.

    With `label` (a multi-label checkpoint's per-label calibration): that label's probability against the share of
    examples where it is gold."""
    table = cal.table
    filled = table[table["count"] > 0]
    centre = (filled["lower"] + filled["upper"]) / 2
    width = (filled["upper"] - filled["lower"]) * 0.92
    if label is None:
        title = title or f"Reliability diagram — ECE {cal.ece:.3f} (0 = confidence matches accuracy)"
        x_title, y_title = "Confidence (probability of the predicted label)", "Accuracy (share predicted correctly)"
    else:
        title = title or f"Reliability of '{label}' — ECE {cal.ece:.3f} (0 = probability matches how often it is gold)"
        x_title, y_title = f"Probability of '{label}'", f"Share of examples where '{label}' is gold"
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=centre.tolist(),
            y=filled["accuracy"].tolist(),
            width=width.tolist(),
            name="Accuracy in bin",
            marker=dict(color=BLUE, line=dict(color="#003f63", width=1)),
            customdata=[[b, int(c), float(m), float(g)] for b, c, m, g in zip(filled["bin"], filled["count"], filled["mean_confidence"], filled["gap"])],
            hovertemplate="Confidence %{customdata[0]}<br>%{customdata[1]} examples<br>accuracy %{y:.1%}, mean confidence %{customdata[2]:.1%}<extra></extra>",
            text=[f"n={c}" for c in filled["count"]],
            textposition="outside",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=filled["mean_confidence"].tolist(),
            y=filled["accuracy"].tolist(),
            mode="markers",
            name="Mean confidence in bin",
            marker=dict(color=ORANGE, size=9, symbol="diamond", line=dict(color="#222", width=1)),
            hovertemplate="mean confidence %{x:.1%}, accuracy %{y:.1%}<extra></extra>",
        )
    )
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="Perfect calibration", line=dict(color="#444", dash="dash"), hoverinfo="skip"))
    _layout(fig, title, height, legend=dict(orientation="h", yanchor="bottom", y=-0.35, x=0), bargap=0)
    lower = float(filled["lower"].min()) if len(filled) else 0.0
    fig.update_xaxes(title_text=x_title, range=[(min(lower, 0.5) if label is None else 0.0) - 0.02, 1.02], tickformat=".0%")
    fig.update_yaxes(title_text=y_title, range=[0, 1.12], tickformat=".0%")
    return fig


# --- label co-occurrence ---------------------------------------------------------------------------------


def cooccurrence_figure(matrix, labels: Sequence[str], *, title: str, height: int | None = None) -> go.Figure:
    """A heatmap of a labels x labels count matrix (`analysis.metrics.CoOccurrence`): the count in each cell, darker for
    more; the diagonal is each label on its own. Not clickable (Plotly heatmaps emit no selection events)."""
    counts = np.asarray(matrix, dtype=int)
    labels = [str(l) for l in labels]
    if counts.shape != (len(labels), len(labels)):
        raise ValueError(f"matrix must be {len(labels)}×{len(labels)}, got {counts.shape}")
    fig = go.Figure(
        go.Heatmap(
            z=counts.tolist(),
            x=labels,
            y=labels,
            colorscale=SEQUENTIAL,
            zmin=0,
            text=[[f"{c:,}" for c in row] for row in counts],
            texttemplate="%{text}",
            hovertemplate="%{y} and %{x}: %{z:,} examples<extra></extra>",
            colorbar=dict(title="Examples"),
        )
    )
    _layout(fig, title, height or 160 + 40 * len(labels))
    fig.update_xaxes(type="category", showgrid=False)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    return fig


# --- class balance ----------------------------------------------------------------------------------------


def class_balance_figure(
    labels: Sequence[str], gold_counts, predicted: Mapping[str, Sequence[int]] | None = None, *, title: str = "Class balance", height: int = 360
) -> go.Figure:
    """Bars of examples per label in the gold data and, optionally, as predicted by each named checkpoint."""
    labels = [str(l) for l in labels]
    gold_counts = np.asarray(gold_counts, dtype=int)
    total = max(int(gold_counts.sum()), 1)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=gold_counts.tolist(),
            name="Gold labels",
            marker_color=GREY,
            text=[f"{c:,}" for c in gold_counts],
            textposition="outside",
            customdata=(gold_counts / total).round(4).tolist(),
            hovertemplate="%{x}: %{y:,} gold examples (%{customdata:.1%})<extra></extra>",
        )
    )
    for i, (name, predicted_counts) in enumerate((predicted or {}).items()):
        counts = np.asarray(predicted_counts, dtype=int)
        fig.add_trace(
            go.Bar(
                x=labels,
                y=counts.tolist(),
                name=f"Predicted by {name}",
                marker_color=PALETTE[i % len(PALETTE)],
                text=[f"{c:,}" for c in counts],
                textposition="outside",
                hovertemplate="%{x}: predicted %{y:,} times<extra>" + name + "</extra>",
            )
        )
    _layout(fig, title, height, barmode="group", legend=dict(orientation="h", yanchor="top", y=-0.25, x=0, xanchor="left"))
    fig.update_xaxes(title_text="Label", type="category")
    fig.update_yaxes(title_text="Examples", rangemode="tozero")
    return fig


# --- slices ---------------------------------------------------------------------------------------------------


def slice_accuracy_figure(slices: pd.DataFrame, overall: float, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of accuracy per slice (rows of `slice_table`), 95% interval whiskers, a dashed line at overall accuracy.

    Below-overall slices are vermillion, the rest blue. `customdata` per bar: [row position, feature, slice, size].
    Multi-label rows (with `micro_f1`) are drawn as subset accuracy, micro-F1 in the hover text.
    """
    slices = slices.reset_index(drop=True)
    multi = "micro_f1" in slices
    measure = "Subset accuracy" if multi else "Accuracy"
    extra = ", micro-F1 %{customdata[4]:.3f}" if multi else ""
    names = [f"{s} (n={n:,})" for s, n in zip(slices["slice"], slices["size"])]
    below = slices["gap"] < 0
    acc = slices["accuracy"].fillna(0)
    fig = go.Figure(
        go.Bar(
            y=names,
            x=acc.tolist(),
            orientation="h",
            marker_color=np.where(below, VERMILLION, BLUE).tolist(),
            error_x=dict(
                type="data",
                symmetric=False,
                array=(slices["ci_high"] - acc).clip(lower=0).fillna(0).tolist(),
                arrayminus=(acc - slices["ci_low"]).clip(lower=0).fillna(0).tolist(),
                color="#444",
                thickness=1.2,
            ),
            customdata=[
                [i, f, s, int(n), *([float(m)] if multi else [])]
                for i, (f, s, n, m) in enumerate(zip(slices["feature"], slices["slice"], slices["size"], slices.get("micro_f1", slices["size"])))
            ],
            hovertemplate="%{customdata[1]} = %{customdata[2]}<br>%{customdata[3]} examples, " + measure.lower() + " %{x:.1%}" + extra + "<extra></extra>",
            name="accuracy",
            showlegend=False,
        )
    )
    feature = ", ".join(dict.fromkeys(slices["feature"])) if len(slices) else ""
    title = title or f"{measure} by {feature}"
    _layout(fig, title, int(max(260, 110 + (34 if len(slices) <= 12 else 24) * len(slices))), clickmode="event+select", dragmode=False)
    fig.add_vline(
        x=float(overall),
        line=dict(color="#222", dash="dash", width=1.5),
        annotation=dict(text=f"overall {overall:.1%}", font=dict(size=11)),
        annotation_position="top",
    )
    fig.update_xaxes(title_text=measure, range=[0, 1.02], tickformat=".0%")
    fig.update_yaxes(title_text="", type="category", autorange="reversed")
    return fig


# --- before / after --------------------------------------------------------------------------------------------


def _delta_figure(names, delta, lo, hi, title: str, axis: str, flagged=None, customdata=None, height: int | None = None) -> go.Figure:
    delta = np.asarray(delta, dtype=float) * 100
    worse = delta < 0 if flagged is None else np.asarray(flagged, dtype=bool)
    error = None
    if lo is not None:
        lo = np.asarray(lo, dtype=float) * 100
        hi = np.asarray(hi, dtype=float) * 100
        error = dict(
            type="data",
            symmetric=False,
            array=np.clip(hi - delta, 0, None).tolist(),
            arrayminus=np.clip(delta - lo, 0, None).tolist(),
            color="#333",
            thickness=1.4,
        )
    fig = go.Figure(
        go.Bar(
            x=list(names),
            y=delta.tolist(),
            marker_color=np.where(worse, VERMILLION, GREEN).tolist(),
            marker_pattern_shape=np.where(worse, "/", "").tolist(),  # worse also reads without colour
            error_y=error,
            text=[f"{d:+.1f}" for d in delta],
            textposition="outside",
            customdata=customdata,
            hovertemplate="%{x}: %{y:+.1f} points<extra></extra>",
            showlegend=False,
        )
    )
    _layout(fig, title, height or 380)
    fig.add_hline(y=0, line=dict(color="#222", width=1))
    fig.update_xaxes(title_text="", type="category")
    fig.update_yaxes(title_text=axis, zeroline=True)
    return fig


def metric_delta_figure(deltas: pd.DataFrame, *, title: str = "Change after − before, with 95% bootstrap intervals") -> go.Figure:
    """Accuracy and macro-F1 deltas (rows of `Comparison.deltas`) in percentage points with CI error bars."""
    pretty = {"accuracy": "Accuracy", "macro_f1": "Macro-F1"}
    return _delta_figure(
        [pretty.get(m, m) for m in deltas.index],
        deltas["delta"],
        deltas["ci_low"],
        deltas["ci_high"],
        title,
        "Change (percentage points)",
        customdata=list(deltas.index),
    )


def class_delta_figure(per_class: pd.DataFrame, metric: str = "f1", *, title: str | None = None) -> go.Figure:
    """Per-class change of a metric (default F1) in points; error bars are the 95% paired-bootstrap interval (F1 only)."""
    has_ci = metric == "f1" and "f1_ci_low" in per_class
    name = {"f1": "F1", "precision": "precision", "recall": "recall"}.get(metric, metric)
    title = title or f"Per-class change in {name} (after − before){' with 95% intervals' if has_ci else ''}; hatched = worse"
    return _delta_figure(
        [str(i) for i in per_class.index],
        per_class[f"{metric}_delta"],
        per_class["f1_ci_low"] if has_ci else None,
        per_class["f1_ci_high"] if has_ci else None,
        title,
        f"Change in {name} (percentage points)",
        customdata=[str(i) for i in per_class.index],
    )


def slice_delta_figure(deltas: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Horizontal bars of accuracy change per slice (rows of `slice_deltas`), in the given order from the top.

    Slices that got worse are vermillion and hatched (readable without colour). `customdata`: row position.
    """
    deltas = deltas.reset_index(drop=True)
    names = [f"{f}: {s} (n={n})" for f, s, n in zip(deltas["feature"], deltas["slice"], deltas["size"])]
    values = (deltas["delta"].fillna(0).astype(float) * 100).tolist()
    worse = deltas["worse"].astype(bool).to_numpy()
    fig = go.Figure(
        go.Bar(
            y=names,
            x=values,
            orientation="h",
            marker_color=np.where(worse, VERMILLION, GREEN).tolist(),
            marker_pattern_shape=np.where(worse, "/", "").tolist(),
            customdata=list(range(len(deltas))),
            hovertemplate="%{y}: %{x:+.1f} points<extra></extra>",
            showlegend=False,
        )
    )
    title = title or "Accuracy change per slice (hatched: worse)"
    _layout(fig, title, int(max(300, 110 + 26 * len(deltas))))
    fig.add_vline(x=0, line=dict(color="#222", width=1))
    peak = max([abs(v) for v in values] + [1.0])
    fig.update_xaxes(title_text="Change in accuracy (percentage points, after − before)", range=[-peak * 1.1, peak * 1.1])
    fig.update_yaxes(title_text="", type="category", autorange="reversed")
    return fig


# --- explanation change --------------------------------------------------------------------------------------

TOWARD = "#b2182b"  # same ends of RdBu as explain.plots: red toward the class, blue against it
AGAINST = "#2166ac"


def attribution_change_figure(
    change: pd.DataFrame, label: str, *, before_name: str = "before", after_name: str = "after", method: str = "SHAP", k: int = 12
) -> go.Figure:
    """Bars of after − before contribution toward `label` for the words that moved most (rows of `attribution_change`).

    Red: the word now pushes more toward the class; blue: less (or more against it). Hover gives both scores.
    """
    order = change["change"].abs().sort_values(ascending=False, kind="stable").index[:k]
    top = change.loc[order].iloc[::-1]  # biggest at the top of a horizontal bar chart
    values = top["change"].astype(float).tolist()
    fig = go.Figure(
        go.Bar(
            x=values,
            y=top["word"].tolist(),
            orientation="h",
            marker_color=[TOWARD if v > 0 else AGAINST for v in values],
            customdata=[[float(b), float(a)] for b, a in zip(top["before"], top["after"])],
            hovertemplate="%{y}: %{customdata[0]:+.3f} → %{customdata[1]:+.3f} (change %{x:+.3f})<extra></extra>",
            showlegend=False,
        )
    )
    _layout(fig, f"Change toward '{label}': {after_name} − {before_name} ({method})", int(max(260, 120 + 26 * len(top))))
    fig.add_vline(x=0, line=dict(color="#222", width=1))
    fig.update_xaxes(title_text=f"← less · more toward '{label}' →")
    fig.update_yaxes(title_text="", type="category")
    return fig
