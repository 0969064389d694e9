"""Pure Plotly figures of a PII scan (data in, figure out)."""

from __future__ import annotations

import plotly.graph_objects as go

from privacy.pii import KIND_NAMES, KINDS, PiiScan


def pii_counts_figure(scan: PiiScan) -> go.Figure:
    """Horizontal bars: how many values of each kind were found, one bar per column scanned (stacked)."""
    kinds = [k for k in KINDS if scan.totals.get(k)] or list(KINDS)
    fig = go.Figure()
    for column in scan.columns:
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=[KIND_NAMES[k] for k in kinds],
                x=[column.counts.get(k, 0) for k in kinds],
                name=column.column,
                hovertemplate=f"<b>%{{y}}</b> in '{column.column}': %{{x:,}}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        title=dict(text=f"Personal data found: {scan.rows_with_pii:,} of {scan.rows:,} rows ({scan.rate:.1%})", font=dict(size=15)),
        height=max(220, 80 + 30 * len(kinds)),
        margin=dict(l=10, r=20, t=50, b=40),
        plot_bgcolor="white",
        xaxis=dict(title="values found", gridcolor="#eee", rangemode="tozero"),
        yaxis=dict(type="category", automargin=True, autorange="reversed"),
        legend=dict(title="column"),
    )
    return fig
