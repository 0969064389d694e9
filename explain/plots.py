"""Figures for one explanation: pure functions, `Attribution` (or curve data) in, plotly `Figure` out.

Colour convention everywhere: red pushes *toward* the explained class, blue pushes *against* it,
white is neutral. "RdBu" reversed is a diverging scale that reads for the common forms of
colour blindness (it avoids red/green) and is centred at zero, so the colour of a word tells
the direction and its strength, and the hover gives the exact value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explain.attribution import Attribution

COLORSCALE = "RdBu_r"  # low = blue (against), high = red (toward)
TOWARD = "#b2182b"  # the ends of RdBu, used for bars so all views agree
AGAINST = "#2166ac"
NEUTRAL = "#bdbdbd"
METHOD_NAMES = {"shap": "SHAP", "lime": "LIME", "ig": "Integrated Gradients", "grad_input": "Gradient × Input"}
# What one bar's length is: SHAP and IG scores add up to probability differences, LIME's are a local linear fit's weights
SCORE_UNITS = {
    "shap": "SHAP value (probability points)",
    "lime": "LIME weight",
    "ig": "Integrated Gradients score (probability points)",
    "grad_input": "Gradient × Input score",
}
CURVE_COLORS = {"shap": "#d95f02", "lime": "#1b9e77", "ig": "#7570b3", "grad_input": "#e7298a", "random": "#7f7f7f"}  # Dark2: colour-blind friendly
CURVE_DASH = {"shap": "solid", "lime": "dash", "ig": "dashdot", "grad_input": "longdash", "random": "dot"}
_CHUNK = re.compile(r"\S+")
LINE_PX = 26  # height of one line of text in the heat figures


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method.upper())


def _fmt(value: float) -> str:
    return f"{value:+.4f}"


# --------------------------------------------------------------------------- text layout


@dataclass(frozen=True)
class Segment:
    """A piece of one token drawn on one line: columns [col, col + len(text))."""

    token: int  # index into attribution.tokens
    line: int
    col: int
    text: str


def layout_text(text: str, tokens: Sequence, width: int = 80) -> tuple[list[Segment], int]:
    """Wrap `text` into lines of at most `width` characters at whitespace (like a word processor).

    Returns one `Segment` per (token, line) with the token's visible characters, and the number
    of lines. Newlines in the text start a new line; a run of non-space characters longer than
    the width is cut hard. Whitespace-only tokens produce no segment.
    """
    width = max(int(width), 8)
    position: dict[int, tuple[int, int]] = {}  # char offset -> (line, col)
    line, col = 0, 0
    paragraphs = text.split("\n")
    offset = 0
    for p, paragraph in enumerate(paragraphs):
        if p:
            line, col = line + 1, 0
        for match in _CHUNK.finditer(paragraph):
            chunk_start = offset + match.start()
            chunk = match.group()
            gap = 1 if col else 0
            if col and col + gap + len(chunk) > width:
                line, col, gap = line + 1, 0, 0
            col += gap
            for k in range(len(chunk)):
                if col >= width:
                    line, col = line + 1, 0
                position[chunk_start + k] = (line, col)
                col += 1
        offset += len(paragraph) + 1
    n_lines = line + 1
    segments: list[Segment] = []
    for i, token in enumerate(tokens):
        run: list[tuple[int, int, str]] = []
        for offset in range(token.start, token.end):
            if offset in position:
                run.append((*position[offset], text[offset]))
        for line_no in sorted({r[0] for r in run}):
            cols = [(c, ch) for l, c, ch in run if l == line_no]
            first, last = cols[0][0], cols[-1][0]
            chars = [" "] * (last - first + 1)
            for c, ch in cols:
                chars[c - first] = ch
            segments.append(Segment(i, line_no, first, "".join(chars)))
    return segments, n_lines


def _symmetric_range(values: np.ndarray) -> float:
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    return peak if peak > 0 else 1.0


def layout_attribution(attribution: Attribution, width: int = 80) -> tuple[list[Segment], int, tuple[int, ...]]:
    """`layout_text` of every segment, the second text of a pair one blank line below the first.

    Returns the pieces (token = index into `attribution.tokens`), the number of lines, and the line each segment starts on.
    """
    pieces: list[Segment] = []
    starts: list[int] = []
    line = 0
    for segment in attribution.segments:
        index = [i for i, t in enumerate(attribution.tokens) if t.segment == segment]
        laid, n_lines = layout_text(attribution.segment_text(segment), [attribution.tokens[i] for i in index], width)
        starts.append(line)
        pieces += [Segment(index[p.token], p.line + line, p.col, p.text) for p in laid]
        line += n_lines + 1
    return pieces, line - 1, tuple(starts)


def _heat_trace(attribution: Attribution, label: str, width: int, coloraxis: str) -> tuple[go.Bar, int]:
    scores = attribution.scores_for(label)
    segments, n_lines, _ = layout_attribution(attribution, width)
    peak = _symmetric_range(scores)
    seg_scores = np.array([scores[s.token] for s in segments], dtype=float)
    # White text on strongly coloured cells, dark text elsewhere, so every word stays legible.
    font_colors = ["white" if abs(v) > 0.6 * peak else "#111111" for v in seg_scores]
    custom = [[attribution.tokens[s.token].text.strip() or attribution.tokens[s.token].text, scores[s.token], s.token] for s in segments]
    trace = go.Bar(
        orientation="h",
        y=[s.line for s in segments],
        x=[len(s.text) for s in segments],
        base=[s.col for s in segments],
        text=[s.text for s in segments],
        textposition="inside",
        insidetextanchor="middle",
        textangle=0,
        textfont=dict(family="DejaVu Sans Mono, Menlo, Consolas, monospace", size=12, color=font_colors),
        marker=dict(color=seg_scores, coloraxis=coloraxis, line=dict(width=0.5, color="#e0e0e0")),
        customdata=custom,
        hovertemplate=f"<b>%{{customdata[0]}}</b><br>score for '{label}': %{{customdata[1]:+.4f}}<br>token #%{{customdata[2]}}<extra></extra>",
        width=0.84,
        showlegend=False,
        name=method_name(attribution.method),
    )
    return trace, n_lines


def _coloraxis(attribution: Attribution, label: str, **colorbar) -> dict:
    """Symmetric diverging scale centred at 0; a thin horizontal colour bar under the text (keeps the width for words)."""
    peak = _symmetric_range(attribution.scores_for(label))
    bar = dict(
        title=dict(text=f"← against '{label}' · toward '{label}' →", side="top", font=dict(size=12)),
        orientation="h",
        x=0.5,
        xanchor="center",
        y=0,
        yanchor="top",
        ypad=0,
        len=0.6,
        thickness=10,
        tickfont=dict(size=10),
    )
    bar.update(colorbar)
    return dict(colorscale=COLORSCALE, cmin=-peak, cmax=peak, cmid=0, colorbar=bar)


def _heat_title(attribution: Attribution, label: str) -> str:
    p = attribution.probabilities[attribution.class_index(label)]
    title = f"{method_name(attribution.method)} — why '{label}' (p = {p:.2f})"
    if attribution.truncated:
        title += "<br><sup>The text is longer than the model reads: words past the limit were not seen and stay uncoloured.</sup>"
    return title


def token_heat_figure(attribution: Attribution, label: str | None = None, *, width: int = 80, title: str | None = None) -> go.Figure:
    """The text, wrapped into lines of `width` characters, each token coloured by its score for `label`.

    One horizontal bar per token (and line) sits exactly under the token's characters; the colour
    scale is centred at zero and symmetric, so white means "no effect". Hover shows the exact score.
    """
    label = attribution.target if label is None else label
    trace, n_lines = _heat_trace(attribution, label, width, "coloraxis")
    fig = go.Figure(trace)
    fig.update_layout(
        title=dict(text=title if title is not None else _heat_title(attribution, label), font=dict(size=15)),
        coloraxis=_coloraxis(attribution, label),
        height=(150 if attribution.truncated else 130) + LINE_PX * n_lines,
        margin=dict(l=10, r=10, t=70 if attribution.truncated else 50, b=75),
        plot_bgcolor="white",
        bargap=0.1,
        uniformtext=dict(minsize=10, mode="show"),
    )
    fig.update_xaxes(visible=False, range=[-0.5, width + 0.5], fixedrange=True)
    fig.update_yaxes(visible=False, range=[n_lines - 0.5, -0.5], autorange=False, fixedrange=True)
    _mark_segments(fig, attribution, width)
    return fig


def _mark_segments(fig: go.Figure, attribution: Attribution, width: int, **where) -> None:
    """For a sentence pair: a rule between the two texts, so the second reads as the pair's other half."""
    if not attribution.is_pair:
        return
    _, _, starts = layout_attribution(attribution, width)
    gap = starts[1] - 1
    fig.add_shape(type="line", x0=0, x1=width, y0=gap, y1=gap, line=dict(color="#9e9e9e", width=1, dash="dot"), **where)


def token_heat_comparison(attributions: Sequence[Attribution], label: str | None = None, *, width: int = 48, titles: Sequence[str] | None = None) -> go.Figure:
    """Two or more explanations of the same text side by side (e.g. SHAP and LIME, or before/after).

    Each panel keeps its own colour scale (SHAP scores are probability units, LIME weights are
    regression coefficients), so compare the pattern of colours, not the absolute values.
    """
    if not attributions:
        raise ValueError("nothing to compare")
    label = attributions[0].target if label is None else label
    n = len(attributions)
    titles = list(titles) if titles is not None else [_heat_title(a, label).split("<br>")[0] for a in attributions]
    fig = make_subplots(rows=1, cols=n, subplot_titles=titles, horizontal_spacing=0.04)
    max_lines = 1
    layout = {}
    for k, attribution in enumerate(attributions):
        axis = "coloraxis" if k == 0 else f"coloraxis{k + 1}"
        trace, n_lines = _heat_trace(attribution, label, width, axis)
        max_lines = max(max_lines, n_lines)
        fig.add_trace(trace, row=1, col=k + 1)
        _mark_segments(fig, attribution, width, row=1, col=k + 1)
        left = k / n
        layout[axis] = _coloraxis(attribution, label, x=left + 0.5 / n, len=0.8 / n)
    fig.update_layout(
        **layout,
        height=130 + LINE_PX * max_lines,
        margin=dict(l=10, r=10, t=50, b=75),
        plot_bgcolor="white",
        uniformtext=dict(minsize=10, mode="show"),
    )
    fig.update_xaxes(visible=False, range=[-0.5, width + 0.5], fixedrange=True)
    fig.update_yaxes(visible=False, range=[max_lines - 0.5, -0.5], autorange=False, fixedrange=True)
    return fig


# --------------------------------------------------------------------------- top tokens


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def top_words(attribution: Attribution, label: str | None = None, k: int = 10) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The k word units pushing most toward `label` and the k pushing most against it.

    Word units (\\w+ runs) make SHAP sub-word pieces and LIME words comparable. A word that occurs
    twice is listed per occurrence, with its position, so nothing is merged silently.
    """
    words = attribution.words(label)
    seen: dict[str, int] = {}
    named = []
    for word, _start, _end, score in words:
        seen[word] = seen.get(word, 0) + 1
        named.append((word if seen[word] == 1 else f"{word} ({_ordinal(seen[word])})", score))
    ordered = sorted(named, key=lambda item: item[1], reverse=True)
    toward = [item for item in ordered if item[1] > 0][:k]
    against = [item for item in reversed(ordered) if item[1] < 0][:k]
    return toward, against


def top_tokens_figure(attribution: Attribution, label: str | None = None, *, k: int = 10) -> go.Figure:
    """Horizontal bars: the words pushing toward the class (red, right) and against it (blue, left)."""
    label = attribution.target if label is None else label
    toward, against = top_words(attribution, label, k)
    rows = sorted(toward + against, key=lambda item: item[1])  # most negative at the bottom
    names = [w for w, _ in rows]
    values = [v for _, v in rows]
    peak = max((abs(v) for v in values), default=1.0) or 1.0
    fig = go.Figure(
        go.Bar(
            orientation="h",
            x=values,
            y=names,
            marker_color=[TOWARD if v > 0 else AGAINST for v in values],
            text=[_fmt(v) for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=f"<b>%{{y}}</b><br>score for '{label}': %{{x:+.4f}}<extra></extra>",
            showlegend=False,
        )
    )
    unit = SCORE_UNITS.get(attribution.method, "score")
    fig.update_layout(
        title=dict(text=f"{method_name(attribution.method)} — words for and against '{label}'", font=dict(size=15)),
        height=max(220, 90 + 24 * len(rows)),
        margin=dict(l=10, r=40, t=50, b=40),
        plot_bgcolor="white",
        xaxis=dict(
            title=f"{unit}: ← against '{label}' · toward '{label}' →",
            range=[-1.4 * peak, 1.4 * peak],  # room for the value labels on both sides
            zeroline=True,
            zerolinecolor="#555",
            gridcolor="#eee",
        ),
        yaxis=dict(type="category", automargin=True),
    )
    if not rows:
        fig.add_annotation(text="No word moved this prediction.", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


# --------------------------------------------------------------------------- deletion curves


def deletion_curve_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], label: str, *, original: float | None = None) -> go.Figure:
    """Probability of `label` as the top-ranked words are removed, one line per ranking.

    `curves` maps a ranking name ("shap", "lime", "random", …) to (fraction of words removed,
    probability of the class). A faithful explanation drops faster than the random order.
    """
    fig = go.Figure()
    for name, (fractions, probabilities) in curves.items():
        x = np.asarray(fractions, dtype=float) * 100
        y = np.asarray(probabilities, dtype=float)
        area = float(np.trapezoid(y, x / 100)) if len(x) > 1 else float("nan")
        display = "random order" if name == "random" else f"{method_name(name)} order"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers",
                name=f"{display} (area {area:.2f})",
                line=dict(color=CURVE_COLORS.get(name), dash=CURVE_DASH.get(name, "solid"), width=2.5),
                hovertemplate=f"{display}<br>%{{x:.0f}}% of words removed<br>p('{label}') = %{{y:.4f}}<extra></extra>",
            )
        )
    if original is not None:
        fig.add_hline(y=original, line=dict(color="#999", width=1, dash="dot"), annotation_text="full text", annotation_position="top right")
    fig.update_layout(
        title=dict(text=f"Deletion curve — p('{label}') as the most important words are removed", font=dict(size=15)),
        xaxis=dict(title="words removed (%)", range=[0, 100], gridcolor="#eee"),
        yaxis=dict(title=f"probability of '{label}'", range=[0, 1.02], gridcolor="#eee"),
        legend=dict(orientation="h", yanchor="bottom", y=-0.35, x=0),
        height=360,
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
    )
    return fig


# --------------------------------------------------------------------------- class probabilities


def _probability_title(predicted, gold, predicted_set) -> str:
    if predicted_set is None:
        return f"Prediction: '{predicted}'" + (f" · gold: '{gold}'" if gold is not None else "")
    golds = [gold] if isinstance(gold, str) else list(gold or ())
    return f"Predicted labels: {' | '.join(predicted_set) or '(none)'}" + (f" · gold: {' | '.join(golds) or '(none)'}" if gold is not None else "")


def probability_figure(
    labels: Sequence[str],
    probabilities: Sequence[float],
    *,
    gold: str | Sequence[str] | None = None,
    highlight: str | None = None,
    predicted_set: Sequence[str] | None = None,
) -> go.Figure:
    """The model's probability for every class; the gold class is marked, the explained class outlined.

    Multi-label: pass `predicted_set` (the labels at or above their thresholds) and `gold` as the gold labels; every
    predicted label is dark and every gold label marked (the bars are independent sigmoids, they need not sum to 1)."""
    probabilities = [float(p) for p in probabilities]
    golds = {gold} if isinstance(gold, str) else set(gold or ())
    predicted = labels[int(np.argmax(probabilities))] if labels else None
    dark = {predicted} if predicted_set is None else set(predicted_set)
    colors = ["#4d4d4d" if l in dark else NEUTRAL for l in labels]
    names = [f"{l} ✓ gold" if l in golds else l for l in labels]
    fig = go.Figure(
        go.Bar(
            orientation="h",
            x=probabilities,
            y=names,
            marker=dict(color=colors, line=dict(color=["#d95f02" if l == highlight else "rgba(0,0,0,0)" for l in labels], width=3)),
            text=[f"{p:.1%}" for p in probabilities],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_layout(
        title=dict(text=_probability_title(predicted, gold, predicted_set), font=dict(size=15)),
        xaxis=dict(title="probability", range=[0, 1.15], tickformat=".0%", gridcolor="#eee"),
        yaxis=dict(autorange="reversed", type="category", automargin=True),
        height=max(160, 80 + 30 * len(labels)),
        margin=dict(l=10, r=30, t=50, b=40),
        plot_bgcolor="white",
    )
    return fig
