"""What the model relies on across a dataset: per class, per word, how strongly and how often.

Built from per-example `Attribution`s (SHAP or LIME, usually read from the persistent cache):

- every explanation is cut into *units*: runs of word characters ("movie", "10") and single
  punctuation marks ("!", ":"), so punctuation cues are visible too; a token's score is shared
  between the units it overlaps in proportion to the characters it covers (SHAP's sub-word
  pieces add up to their word, nothing is counted twice);
- per class and per unit (lower-cased by default): mean |score|, mean signed score, total |score|,
  number of occurrences and of distinct examples;
- units that are likely *spurious cues* are flagged with the reason in plain words: numbers,
  punctuation, names (capitalised in the middle of a sentence, or found in a metadata column such
  as `movie_name`);
- drill-down: which examples contain a unit, and what it contributed in each.

Nothing here runs a model; `sample_indices` and `estimate_cost` help a page say what a sample
will cost before computing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explain.attribution import Attribution
from explain.plots import AGAINST, TOWARD, method_name
from models.cost import CostEstimate

UNIT = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?…:;\"“”()\[\]\n]\s*$")
SORT_KEYS = {
    "total_abs": "overall impact (mean |score| × occurrences)",
    "mean_abs": "strength per occurrence (mean |score|)",
    "mean_signed": "direction (mean signed score)",
    "count": "frequency (occurrences)",
}


def explained_end(attribution: Attribution) -> int:
    """Character offset where the explained part stops (the tail of a truncated text scores 0 by design)."""
    for key in ("explained_chars", "explained_end", "truncated_at"):
        value = attribution.extra.get(key) if attribution.extra else None
        if isinstance(value, (int, np.integer)) and 0 < value <= len(attribution.text):
            return int(value)
    if attribution.truncated and len(attribution.tokens) > 1:
        tail = attribution.tokens[-1]
        if not np.any(attribution.scores[-1]):
            return tail.start
    return len(attribution.text)


def unit_scores(attribution: Attribution, segment: int = 0) -> tuple[list[tuple[str, int, int]], np.ndarray]:
    """The units of the explained part of one segment's text (the second text of a pair: segment 1) and their scores
    for every class, (n_units, n_labels).

    A token covering characters of several units (e.g. LIME's "don't" spans, or a BPE piece with
    its leading space) gives each unit the share of its score that matches the characters covered.
    """
    text = attribution.segment_text(segment)
    end = explained_end(attribution) if segment == 0 else len(text)
    units = [(m.group(), m.start(), m.end()) for m in UNIT.finditer(text) if m.end() <= end]
    owner = np.full(len(text), -1, dtype=np.int64)
    for u, (_, s, e) in enumerate(units):
        owner[s:e] = u
    out = np.zeros((len(units), len(attribution.labels)), dtype=np.float64)
    mine = [t for t, token in enumerate(attribution.tokens) if token.segment == segment]
    if not units or not mine:
        return units, out
    # every character of the segment, by the token it belongs to (tokens cover the text exactly, in order)
    spans = np.array([(attribution.tokens[t].start, attribution.tokens[t].end) for t in mine], dtype=np.int64)
    token_of = np.repeat(np.arange(len(mine)), spans[:, 1] - spans[:, 0])  # tokens are contiguous from 0 (Attribution checks)
    if len(token_of) != len(text) or spans[0, 0] != 0:
        raise ValueError("the tokens do not cover the text exactly")
    inside = (owner >= 0) & (token_of >= 0)
    chars_unit, chars_token = owner[inside], token_of[inside]
    covered = np.bincount(chars_token, minlength=len(mine))  # characters of each token that lie in some unit
    share = attribution.scores[mine][chars_token] / covered[chars_token][:, None]  # each character's share of its token's score
    for c in range(out.shape[1]):
        out[:, c] = np.bincount(chars_unit, weights=share[:, c], minlength=len(units))
    return units, out


def _mid_sentence_capital(text: str, start: int, surface: str) -> bool:
    """Capitalised although not at the start of a sentence: a hint that the word is a name."""
    if len(surface) < 2 or not surface[:1].isupper() or surface.isupper():
        return False  # "I", acronyms and lower-case words are not taken for names
    before = text[:start]
    return bool(before.strip()) and not _SENTENCE_END.search(before)


def name_hints_from_metadata(frame: pd.DataFrame, columns: Iterable[str] | None = None, max_values: int = 5000) -> dict[str, str]:
    """Words found in text-valued metadata columns (e.g. `movie_name`), mapped to the column name.

    A model that relies on them has learnt *which item* a text is about, not what it says.
    """
    hints: dict[str, str] = {}
    for column in columns if columns is not None else frame.columns:
        if column in ("text", "label", "gold", "pred") or column not in frame:
            continue
        series = frame[column]
        if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
            continue
        for value in series.dropna().astype(str).unique()[:max_values]:
            for word in re.findall(r"\w+", value):
                if len(word) > 2 and not word.isdigit():
                    hints.setdefault(word.lower(), column)
    return hints


@dataclass(frozen=True, eq=False)
class GlobalImportance:
    """Per-class, per-word statistics over a sample of explanations.

    `table` columns: label, word, mean_abs, mean_signed, total_abs, count, n_examples, cue, cue_reason.
    `occurrences` columns: example, label, word, surface, start, end, score, segment (one row per unit, class; start/end
    index into the segment's text: 0 the text, 1 a sentence pair's second text). Multi-label: one set of rows per label,
    each from that label's own sigmoid probability. None when not kept (a whole evaluation set's are millions of rows; a
    stored aggregate holds the table only): `explain.views.word_examples` then finds a word's examples from their texts,
    and `private` names the words that lie inside personal data (`privacy.redact.private_words`), found while aggregating.
    """

    labels: tuple[str, ...]
    method: str
    n_examples: int
    table: pd.DataFrame
    occurrences: pd.DataFrame | None
    private: Mapping[str, str] | None = None

    def to_payload(self) -> dict:
        """Plain JSON data of everything but the occurrences (the results store keeps it, see `explain.insights`)."""
        return {
            "labels": list(self.labels),
            "method": self.method,
            "n_examples": self.n_examples,
            "table": {c: self.table[c].tolist() for c in self.table.columns},
            "private": dict(self.private or {}),
        }

    @classmethod
    def from_payload(cls, data: Mapping) -> GlobalImportance:
        table = pd.DataFrame(data["table"], columns=TABLE_COLUMNS).astype(
            {"mean_abs": float, "mean_signed": float, "total_abs": float, "count": int, "n_examples": int}
        )
        return cls(tuple(data["labels"]), str(data["method"]), int(data["n_examples"]), table, None, dict(data.get("private") or {}))

    def for_label(self, label: str, *, by: str = "total_abs", min_count: int = 1, k: int | None = None, flagged_only: bool = False) -> pd.DataFrame:
        """This class's words, strongest first by `by` (see SORT_KEYS); ties broken by count then word."""
        if label not in self.labels:
            raise KeyError(f"Unknown label '{label}'. Choose one of: {', '.join(self.labels)}.")
        if by not in SORT_KEYS:
            raise KeyError(f"Unknown ordering '{by}'. Choose one of: {', '.join(SORT_KEYS)}.")
        rows = self.table[(self.table["label"] == label) & (self.table["count"] >= min_count)]
        if flagged_only:
            rows = rows[rows["cue"] != ""]
        key = (rows[by].abs() if by == "mean_signed" else rows[by]).round(12)  # float noise must not break ties
        rows = rows.assign(_key=key).sort_values(["_key", "count", "word"], ascending=[False, False, True]).drop(columns="_key")
        rows = rows.reset_index(drop=True)
        return rows if k is None else rows.head(k)

    def examples_with(self, word: str) -> pd.DataFrame:
        """Drill-down: one row per example containing `word`, with its occurrences and summed score per class.

        Columns: example, occurrences, then `score_<label>` per class; strongest effect on any class first.
        """
        if self.occurrences is None:
            raise ValueError("This aggregate keeps no occurrences: find the word's examples with explain.views.word_examples.")
        key = word if word in set(self.table["word"]) else word.lower()
        hits = self.occurrences[self.occurrences["word"] == key]
        if hits.empty:
            return pd.DataFrame(columns=["example", "occurrences", *[f"score_{l}" for l in self.labels]])
        wide = hits.pivot_table(index="example", columns="label", values="score", aggfunc="sum").reindex(columns=list(self.labels))
        wide.columns = [f"score_{l}" for l in wide.columns]
        first_label = self.labels[0]
        counts = hits[hits["label"] == first_label].groupby("example").size().rename("occurrences")
        out = wide.join(counts).reset_index()
        out = out[["example", "occurrences", *[c for c in out.columns if c.startswith("score_")]]]
        strength = out[[c for c in out.columns if c.startswith("score_")]].abs().max(axis=1)
        return out.assign(_s=strength).sort_values(["_s", "example"], ascending=[False, True]).drop(columns="_s").reset_index(drop=True)


def global_importance(
    attributions: Sequence[Attribution] | Mapping[object, Attribution],
    *,
    lowercase: bool = True,
    name_hints: Mapping[str, str] | None = None,
) -> GlobalImportance:
    """Aggregate explanations into per-class word statistics.

    `attributions` is a sequence (example ids are positions) or a mapping {example id: Attribution}
    (e.g. dataset row numbers, so the drill-down points back to the table). All must share one
    method and one label set.
    """
    items = list(attributions.items()) if isinstance(attributions, Mapping) else list(enumerate(attributions))
    if not items:
        raise ValueError("No explanations to aggregate: choose a sample of at least one example.")
    aggregate = Aggregate(lowercase=lowercase)
    occurrences = aggregate.add(items)
    return aggregate.result(name_hints, occurrences)


class Aggregate:
    """Word statistics built a part at a time (`add`), so a whole evaluation set's explanations never sit in memory at
    once: per (label, word) sums of |score| and score, occurrences and examples, and per word its mid-sentence capitals.
    The parts' example ids must be distinct (each example in one part). `result` gives the `GlobalImportance`."""

    def __init__(self, *, lowercase: bool = True):
        self.lowercase = lowercase
        self.labels: tuple[str, ...] | None = None
        self.method: str | None = None
        self.n_examples = 0
        self.parts: list[pd.DataFrame] = []
        self.capital: dict[str, list[int]] = {}  # word -> [uses capitalised mid-sentence, uses]
        self.private: dict[str, str] = {}  # word -> what a page shows instead (`privacy.redact.private_words`), when `add` had the frame
        self.private_counts: dict[str, int] = {}

    def add(self, items: Sequence[tuple[object, Attribution]], frame: pd.DataFrame | None = None, *, keep_occurrences: bool = True) -> pd.DataFrame | None:
        """Count one part's (example id, Attribution) pairs in; returns the part's occurrences (see `GlobalImportance`),
        unless not `keep_occurrences`. With `frame` (the prediction table's: example id = row position), the words inside
        personal data are noted too."""
        if not items:
            return pd.DataFrame(columns=OCCURRENCE_COLUMNS) if keep_occurrences else None
        labels = self.labels or items[0][1].labels
        methods = {a.method for _, a in items} | ({self.method} if self.method else set())
        if any(a.labels != labels for _, a in items):
            raise ValueError("Explanations come from checkpoints with different labels; aggregate one checkpoint at a time.")
        if len(methods) > 1:
            raise ValueError(f"Explanations mix methods ({', '.join(sorted(methods))}); aggregate one method at a time.")
        self.labels, self.method = tuple(labels), methods.pop()
        examples: list = []
        words: list[str] = []
        surfaces: list[str] = []
        spans: list[tuple[int, int]] = []
        segments: list[int] = []
        rows: list[np.ndarray] = []
        for example, attribution in items:
            for segment in attribution.segments:  # a sentence pair: the words of both texts
                units, scores = unit_scores(attribution, segment)
                text = attribution.segment_text(segment)
                for surface, start, end in units:
                    word = surface.lower() if self.lowercase else surface
                    seen = self.capital.setdefault(word, [0, 0])
                    seen[0] += _mid_sentence_capital(text, start, surface)
                    seen[1] += 1
                    words.append(word)
                    surfaces.append(surface)
                    spans.append((start, end))
                examples += [example] * len(units)
                segments += [segment] * len(units)
                rows.append(scores)
        scores = np.vstack(rows)  # (units, labels)
        example_ids = pd.Series(examples).to_numpy()  # int64 for row positions, as before
        # per (label, word) sums, counted with bincount over word codes: no row per unit and label is built
        codes, vocabulary = pd.factorize(np.asarray(words, dtype=object))
        example_codes, distinct = pd.factorize(example_ids)
        n_words = len(vocabulary)
        pairs = np.unique(codes.astype(np.int64) * max(1, len(distinct)) + example_codes)
        in_examples = np.bincount(pairs // max(1, len(distinct)), minlength=n_words)
        count = np.bincount(codes, minlength=n_words)
        self.parts.append(
            pd.concat(
                [
                    pd.DataFrame(
                        {
                            "label": label,
                            "word": vocabulary,
                            "total_abs": np.bincount(codes, weights=np.abs(scores[:, c]), minlength=n_words),
                            "total_signed": np.bincount(codes, weights=scores[:, c], minlength=n_words),
                            "count": count,
                            "n_examples": in_examples,
                        }
                    )
                    for c, label in enumerate(labels)
                ],
                ignore_index=True,
            )
        )
        self.n_examples += len(items)
        n_labels = len(labels)

        def occurrences_of(keep: np.ndarray | slice = slice(None)) -> pd.DataFrame:
            """One row per unit and class (the units `keep` selects), units in text order, classes within."""
            where = np.asarray(spans, dtype=np.int64).reshape(-1, 2)[keep]
            return pd.DataFrame(
                {
                    "example": np.repeat(example_ids[keep], n_labels),
                    "label": np.tile(np.asarray(labels, dtype=object), len(where)),
                    "word": np.repeat(np.asarray(words, dtype=object)[keep], n_labels),
                    "surface": np.repeat(np.asarray(surfaces, dtype=object)[keep], n_labels),
                    "start": np.repeat(where[:, 0], n_labels),
                    "end": np.repeat(where[:, 1], n_labels),
                    "score": scores[keep].ravel(),
                    "segment": np.repeat(np.asarray(segments, dtype=np.int64)[keep], n_labels),
                },
                columns=OCCURRENCE_COLUMNS,
            )

        if frame is not None:
            from privacy.pii import find_pii
            from privacy.redact import private_words

            columns = [c for c in ("text", "text_pair") if c in frame]
            flagged = {ex for ex in distinct if any(find_pii(str(frame[c].iat[int(ex)])) for c in columns)}  # few texts hold personal data
            if flagged:
                found = private_words(occurrences_of(np.isin(example_ids, list(flagged))), frame)
                for word, name in found.items():  # numbered per part: renumbered across parts
                    if word not in self.private:
                        placeholder = name.rsplit(" ", 1)[0]
                        self.private_counts[placeholder] = self.private_counts.get(placeholder, 0) + 1
                        self.private[word] = f"{placeholder} {self.private_counts[placeholder]}"
        return occurrences_of() if keep_occurrences else None

    def result(self, name_hints: Mapping[str, str] | None = None, occurrences: pd.DataFrame | None = None) -> GlobalImportance:
        """The statistics of every part added; `occurrences` as the drill-down's (None: not kept, see `GlobalImportance`)."""
        if self.labels is None or self.method is None:
            raise ValueError("No explanations to aggregate: choose a sample of at least one example.")
        parts = self.parts[0] if len(self.parts) == 1 else pd.concat(self.parts).groupby(["label", "word"], sort=False).sum().reset_index()
        table = parts.assign(
            mean_abs=parts["total_abs"] / parts["count"], mean_signed=parts["total_signed"] / parts["count"], count=parts["count"].astype(int)
        )[["label", "word", "mean_abs", "mean_signed", "total_abs", "count", "n_examples"]]
        hints = {k.lower(): v for k, v in (name_hints or {}).items()}
        cues = {word: _cue(word, n_cap, n, hints) for word, (n_cap, n) in self.capital.items()}
        table["cue"] = table["word"].map(lambda w: cues[w][0])
        table["cue_reason"] = table["word"].map(lambda w: cues[w][1])
        table["n_examples"] = table["n_examples"].astype(int)
        return GlobalImportance(
            labels=self.labels, method=self.method, n_examples=self.n_examples, table=table, occurrences=occurrences, private=dict(self.private)
        )


OCCURRENCE_COLUMNS = ["example", "label", "word", "surface", "start", "end", "score", "segment"]
TABLE_COLUMNS = ["label", "word", "mean_abs", "mean_signed", "total_abs", "count", "n_examples", "cue", "cue_reason"]


def _cue(word: str, n_cap: int, n_uses: int, hints: Mapping[str, str]) -> tuple[str, str]:
    if not re.search(r"\w", word):
        return "punctuation", "punctuation: it carries no meaning about the class by itself"
    if any(ch.isdigit() for ch in word):
        return "number", "a number: check it is not a score, date or ID leaking the answer"
    column = hints.get(word.lower())
    if column:
        return "name", f"appears in the metadata column '{column}': the model may recognise the item, not the content"
    if n_cap and n_cap * 2 >= n_uses:
        return "name", f"looks like a name (capitalised mid-sentence in {n_cap} of {n_uses} uses)"
    return "", ""


# --------------------------------------------------------------------------- figures


def global_importance_figure(gi: GlobalImportance, label: str, *, k: int = 15, by: str = "total_abs", min_count: int = 2) -> go.Figure:
    """The top words for one class: bar = mean signed score (red toward, blue against), label = occurrences.

    Flagged words (possible spurious cues) carry a ⚠ and a hatched bar, so they stand out without colour.
    """
    rows = gi.for_label(label, by=by, min_count=min_count, k=k)
    rows = rows.iloc[::-1]  # strongest at the top
    names = [f"⚠ {w}" if cue else w for w, cue in zip(rows["word"], rows["cue"])]
    values = rows["mean_signed"].to_numpy(dtype=float)
    fig = go.Figure(
        go.Bar(
            orientation="h",
            x=values,
            y=names,
            marker=dict(
                color=[TOWARD if v > 0 else AGAINST for v in values],
                pattern=dict(shape=["/" if c else "" for c in rows["cue"]], fgcolor="white", solidity=0.3),
            ),
            text=[f"n={n}" for n in rows["count"]],
            textposition="outside",
            cliponaxis=False,
            customdata=np.column_stack([rows["mean_abs"], rows["count"], rows["n_examples"], rows["cue_reason"].replace("", "—")]) if len(rows) else None,
            hovertemplate=(
                "<b>%{y}</b><br>mean score: %{x:+.4f}<br>mean |score|: %{customdata[0]:.4f}"
                "<br>%{customdata[1]} occurrences in %{customdata[2]} examples<br>%{customdata[3]}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    peak = float(np.max(np.abs(values))) if values.size else 1.0
    fig.update_layout(
        title=dict(text=f"{method_name(gi.method)}: words the model uses for '{label}' ({gi.n_examples} examples)", font=dict(size=15)),
        xaxis=dict(
            title=f"mean score: ← against '{label}' · toward '{label}' →",
            range=[-1.35 * peak, 1.35 * peak],
            zeroline=True,
            zerolinecolor="#555",
            gridcolor="#eee",
        ),
        yaxis=dict(type="category", automargin=True),
        height=max(240, 90 + 24 * len(rows)),
        margin=dict(l=10, r=40, t=50, b=40),
        plot_bgcolor="white",
    )
    if rows.empty:
        fig.add_annotation(text=f"No word occurs at least {min_count} times in this sample.", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def global_comparison_figure(gis: Mapping[str, GlobalImportance], label: str, *, k: int = 12, by: str = "total_abs", min_count: int = 2) -> go.Figure:
    """Mean signed score of the same words under several checkpoints (e.g. before/after fine-tuning)."""
    names = list(gis)
    words: list[str] = []
    for gi in gis.values():
        for word in gi.for_label(label, by=by, min_count=min_count, k=k)["word"]:
            if word not in words:
                words.append(word)
    fig = go.Figure()
    palette = ["#7570b3", "#e6ab02", "#66a61e", "#e7298a"]
    for n, name in enumerate(names):
        table = gis[name].table
        rows = table[table["label"] == label].set_index("word").reindex(words)
        fig.add_trace(
            go.Bar(
                orientation="h",
                name=name,
                y=words[::-1],
                x=rows["mean_signed"].to_numpy(dtype=float)[::-1],
                marker_color=palette[n % len(palette)],
                customdata=rows["count"].fillna(0).astype(int).to_numpy()[::-1],
                hovertemplate=f"{name}<br><b>%{{y}}</b><br>mean score: %{{x:+.4f}}<br>%{{customdata}} occurrences<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        title=dict(text=f"Words for '{label}' across checkpoints", font=dict(size=15)),
        xaxis=dict(title=f"mean score: ← against '{label}' · toward '{label}' →", zeroline=True, zerolinecolor="#555", gridcolor="#eee"),
        yaxis=dict(type="category", automargin=True),
        height=max(260, 100 + 34 * len(words)),
        legend=dict(orientation="h", y=-0.15),
        margin=dict(l=10, r=10, t=50, b=40),
        plot_bgcolor="white",
    )
    return fig


# --------------------------------------------------------------------------- sampling and cost


def sample_order(gold: Sequence[str], *, seed: int = 0, limit: int | None = None) -> list[int]:
    """Every row position once (the first `limit`, if given), in the order a growing stratified sample takes them.

    Each class is shuffled (seeded); then rows are dealt out so that any prefix holds every class
    once as early as possible and otherwise in proportion to its size (the class furthest below its
    share goes next). So the sample of 50 contains the sample of 20: explanations already cached for
    a smaller sample are all reused when the user asks for more.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, g in enumerate(gold):
        by_class.setdefault(g, []).append(i)
    queues = {c: rng.permutation(rows).tolist() for c, rows in sorted(by_class.items(), key=lambda kv: str(kv[0]))}
    taken = dict.fromkeys(queues, 0)
    order: list[int] = []
    while len(order) < (len(gold) if limit is None else min(limit, len(gold))):
        open_classes = [c for c in queues if taken[c] < len(queues[c])]
        c = min(open_classes, key=lambda c: (taken[c] / len(queues[c]), -len(queues[c]), str(c)))
        order.append(queues[c][taken[c]])
        taken[c] += 1
    return order


def sample_indices(gold: Sequence[str], size: int, *, seed: int = 0) -> list[int]:
    """A reproducible, stratified sample of `size` row positions (sorted); samples of one seed are nested."""
    gold = list(gold)
    size = max(0, min(int(size), len(gold)))
    if size == len(gold):  # every row: the same set without dealing 100k rows out one by one
        return list(range(size))
    return sorted(sample_order(gold, seed=seed, limit=size))


def estimate_cost(n_examples: int, n_cached: int, calls_per_explanation: int, seconds_per_explanation: float | None = None) -> CostEstimate:
    """What computing the missing explanations of a sample will cost, before anything is computed."""
    missing = max(0, n_examples - n_cached)
    seconds = None if seconds_per_explanation is None else missing * float(seconds_per_explanation)
    calls = missing * int(calls_per_explanation)
    return CostEstimate(
        task="explanations",
        description=f"{n_examples} explanations",
        n_requested=calls,
        n_model_calls=calls,
        seconds=seconds,
        n_examples=n_examples,
        n_cached=min(n_cached, n_examples),
    )


# --------------------------------------------------------------------------- page helpers


def drill_down(
    gi: GlobalImportance, word: str, frame: pd.DataFrame, columns: Sequence[str] = ("text", "text_pair", "gold", "pred", "confidence")
) -> pd.DataFrame:
    """The examples containing `word`, with what it contributed to each class; index = example id.

    `frame` is the prediction table's frame (row position = example id), so the rows can be opened on Explore.
    """
    hits = gi.examples_with(word)
    if hits.empty:
        return pd.DataFrame(columns=[*columns, "occurrences", *[c for c in hits.columns if c.startswith("score_")]])
    keep = [c for c in columns if c in frame.columns]
    rows = frame.iloc[hits["example"].to_numpy()][keep].reset_index(drop=True)
    out = pd.concat([rows, hits.drop(columns="example").reset_index(drop=True)], axis=1)
    out.index = pd.Index(hits["example"].to_numpy(), name="example")
    return out


def flagged_summary(gi: GlobalImportance, label: str, *, k: int = 15, by: str = "total_abs", min_count: int = 2) -> list[str]:
    """Plain-words warnings for the possible spurious cues among the top-k words of one class."""
    top = gi.for_label(label, by=by, min_count=min_count, k=k)
    flagged = top[top["cue"] != ""]
    lines = []
    for _, row in flagged.iterrows():
        direction = "toward" if row["mean_signed"] > 0 else "against"
        lines.append(f"'{row['word']}' pushes {direction} '{label}' ({int(row['count'])}×): {row['cue_reason']}.")
    return lines
