"""How far to trust one explanation: faithfulness (ERASER), deletion curves, agreement between two methods (SHAP,
LIME, Integrated Gradients…), which method was most faithful where they disagree, and the same numbers in plain words.

Faithfulness follows ERASER (DeYoung et al., 2020), on *word units* (the `\\w+` runs of the text,
`Attribution.words`), so SHAP's sub-word tokens and LIME's words are measured the same way:

- the rationale at k% is the ceil(k * n_words) words with the highest score for the explained class
  (the words pushing hardest *toward* it, i.e. marked red in `explain.plots`);
- comprehensiveness(k) = p(class | text) - p(class | text without the rationale): high = the marked
  words are needed;
- sufficiency(k) = p(class | text) - p(class | only the rationale): low = the marked words suffice;
- AOPC = the mean over k in (10%, 20%, 50%). As a yardstick, the same drop when k% *random* words are
  removed (seeded, averaged over a few draws) is measured too.

Every text goes through `Predictor.predict_proba` in ONE call per function (all k's, all orders).
For a truncated explanation only the part the model reads is used, so removed words never pull
unread text into the model's window. For a sentence pair the word units of both segments are ranked
together and removed from (or kept in) their own segment; the model is given the two remaining texts as a pair.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from explain.attribution import Attribution, ExplainError
from models.protocol import InferenceLayer, scratch

KS = (0.1, 0.2, 0.5)
RANDOM_DRAWS = 5
# Plain-words verdict thresholds on AOPC comprehensiveness minus the random baseline's (probability points).
CLEARLY_FAITHFUL = 0.10
SOMEWHAT_FAITHFUL = 0.03
# Two methods agree from this rank correlation of their word scores up (the "moderate" of `describe_agreement`).
AGREE_RHO = 0.4
# Faithfulness scores closer than this (probability points) name no single most faithful method.
TIE = 0.01
# An Integrated Gradients completeness error above this is worth a warning (more steps shrink it).
LOOSE_COMPLETENESS = 0.01


# --------------------------------------------------------------------------- word units and texts


@dataclass(frozen=True)
class _Units:
    text: str  # the part the model reads
    words: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    scores: np.ndarray  # score of each word for the label
    ranking: tuple[int, ...]  # unit indices, highest score first (ties: earlier word first)
    pair: str | None = None  # a sentence pair's second text
    segments: tuple[int, ...] = ()  # each unit's segment (empty: all 0)

    def _spans_of(self, picked, segment: int) -> list[tuple[int, int]]:
        return [self.spans[i] for i in picked if (self.segments[i] if self.segments else 0) == segment]

    def without(self, picked) -> str | tuple[str, str]:
        """The model input with the units `picked` removed (from their own segment)."""
        first = without_words(self.text, self._spans_of(picked, 0))
        return first if self.pair is None else (first, without_words(self.pair, self._spans_of(picked, 1)))

    def only(self, picked) -> str | tuple[str, str]:
        """The model input reduced to the units `picked` (each segment keeps its own)."""
        first = only_words(self.text, self._spans_of(picked, 0))
        return first if self.pair is None else (first, only_words(self.pair, self._spans_of(picked, 1)))


def _explained_text(att: Attribution) -> str:
    return att.text[: int(att.extra.get("explained_chars", len(att.text)))] if att.truncated else att.text


def _units(att: Attribution, label: str) -> _Units:
    text = _explained_text(att)
    rows = [(g, w, s, e, score) for g, w, s, e, score in att.segment_words(label) if g == 1 or e <= len(text)]
    if not rows:
        raise ExplainError("This text has no words to remove (only punctuation, symbols or emoji), so faithfulness cannot be measured.")
    scores = np.array([r[4] for r in rows], dtype=np.float64)
    ranking = tuple(int(i) for i in np.lexsort((np.arange(len(rows)), -scores)))
    segments = tuple(r[0] for r in rows) if att.is_pair else ()
    return _Units(text, tuple(r[1] for r in rows), tuple((r[2], r[3]) for r in rows), scores, ranking, att.text_pair, segments)


def _join(pieces: list[str]) -> str:
    """Concatenate what is left, without the double spaces a removed word leaves behind."""
    out = ""
    for piece in pieces:
        if out and out[-1].isspace() and piece[:1].isspace():
            piece = piece.lstrip()
        out += piece
    return out.strip() if pieces else ""


def without_words(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` with the characters of `spans` deleted."""
    pieces, last = [], 0
    for s, e in sorted(spans):
        pieces.append(text[last:s])
        last = e
    pieces.append(text[last:])
    return _join([p for p in pieces if p]) if spans else text


def only_words(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Only the words of `spans`, in their original order, separated by single spaces."""
    return " ".join(text[s:e] for s, e in sorted(spans))


def _k_count(k: float, n: int) -> int:
    return min(n, max(1, math.ceil(k * n - 1e-9)))


def _check(predictor: InferenceLayer, att: Attribution, label: str | None) -> tuple[str, int]:
    if att.fingerprint != predictor.ref.scoring_key:
        raise ExplainError(
            f"This explanation was computed for checkpoint {att.fingerprint[:12]}, not for '{predictor.ref.name}' "
            f"({predictor.ref.short_fingerprint}). Measure it with the model it explains."
        )
    if tuple(att.labels) != tuple(predictor.labels):
        raise ExplainError(f"The explanation's labels ({', '.join(att.labels)}) differ from the model's ({', '.join(predictor.labels)}).")
    label = att.target if label is None else label
    return label, att.class_index(label)


# --------------------------------------------------------------------------- ERASER faithfulness


@dataclass(frozen=True)
class Faithfulness:
    """ERASER comprehensiveness and sufficiency of one explanation for one class, per k and as AOPC."""

    method: str
    label: str
    ks: tuple[float, ...]
    n_words: int
    full: float  # p(label | text)
    rationale: tuple[tuple[str, ...], ...]  # the removed / kept words for each k, best first
    rationale_scores: tuple[tuple[float, ...], ...]
    without: tuple[float, ...]  # p(label | text without the rationale), per k
    only: tuple[float, ...]  # p(label | only the rationale), per k
    without_random: tuple[float, ...]  # p(label | text without k% random words), mean of a few draws, per k
    truncated: bool = False
    explained_chars: int | None = None

    @property
    def comprehensiveness(self) -> tuple[float, ...]:
        return tuple(self.full - p for p in self.without)

    @property
    def sufficiency(self) -> tuple[float, ...]:
        return tuple(self.full - p for p in self.only)

    @property
    def random_comprehensiveness(self) -> tuple[float, ...]:
        return tuple(self.full - p for p in self.without_random)

    @property
    def aopc_comprehensiveness(self) -> float:
        return float(np.mean(self.comprehensiveness))

    @property
    def aopc_sufficiency(self) -> float:
        return float(np.mean(self.sufficiency))

    @property
    def aopc_random(self) -> float:
        return float(np.mean(self.random_comprehensiveness))

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "label": self.label,
            "ks": list(self.ks),
            "n_words": self.n_words,
            "full": self.full,
            "rationale": [list(r) for r in self.rationale],
            "comprehensiveness": list(self.comprehensiveness),
            "sufficiency": list(self.sufficiency),
            "random_comprehensiveness": list(self.random_comprehensiveness),
            "aopc_comprehensiveness": self.aopc_comprehensiveness,
            "aopc_sufficiency": self.aopc_sufficiency,
            "aopc_random": self.aopc_random,
            "truncated": self.truncated,
        }


def measure_faithfulness(
    predictor, attribution: Attribution, *, label: str | None = None, ks: Sequence[float] = KS, seed: int = 0, random_draws: int = RANDOM_DRAWS
) -> Faithfulness:
    """ERASER comprehensiveness/sufficiency of `attribution` for `label` (default: its target), one model call."""
    label, c = _check(predictor, attribution, label)
    ks = tuple(float(k) for k in ks)
    if not ks or any(not 0 < k <= 1 for k in ks):
        raise ExplainError(f"ks must be fractions of the words in (0, 1], got {ks}.")
    units = _units(attribution, label)
    n = len(units.words)
    rng = np.random.default_rng(seed)
    texts = [units.without(())]
    rationales = []
    for k in ks:
        top = units.ranking[: _k_count(k, n)]
        rationales.append(top)
        texts += [units.without(top), units.only(top)]
    for k in ks:
        for _ in range(random_draws):
            pick = rng.choice(n, size=_k_count(k, n), replace=False)
            texts.append(units.without(pick))
    with scratch(predictor):
        p = predictor.predict_proba(texts)[:, c].astype(np.float64)
    n_k = len(ks)
    random_part = p[1 + 2 * n_k :].reshape(n_k, random_draws)
    return Faithfulness(
        method=attribution.method,
        label=label,
        ks=ks,
        n_words=n,
        full=float(p[0]),
        rationale=tuple(tuple(units.words[i] for i in top) for top in rationales),
        rationale_scores=tuple(tuple(float(units.scores[i]) for i in top) for top in rationales),
        without=tuple(float(x) for x in p[1 : 1 + 2 * n_k : 2]),
        only=tuple(float(x) for x in p[2 : 2 + 2 * n_k : 2]),
        without_random=tuple(float(x) for x in random_part.mean(axis=1)),
        truncated=attribution.truncated,
        explained_chars=len(units.text) if attribution.truncated else None,
    )


def faithfulness_score(predictor: InferenceLayer, attribution: Attribution, *, label: str | None = None) -> float:
    """One number per explanation: AOPC comprehensiveness over k = 10, 20, 50% (higher = more faithful)."""
    return measure_faithfulness(predictor, attribution, label=label).aopc_comprehensiveness


# --------------------------------------------------------------------------- deletion curves


class DeletionCurve(NamedTuple):
    """p(class) as words are removed in one order; unpacks as (fractions, probabilities) for `plots.deletion_curve_figure`."""

    fractions: tuple[float, ...]  # share of the words removed, 0 .. 1
    probabilities: tuple[float, ...]

    @property
    def area(self) -> float:
        """Area under the curve (lower = the order finds what the prediction rests on sooner)."""
        x, y = np.asarray(self.fractions), np.asarray(self.probabilities)
        return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2)) if len(x) > 1 else float("nan")


def deletion_curves(
    predictor,
    attributions: Attribution | Sequence[Attribution],
    *,
    label: str | None = None,
    seed: int = 0,
    max_points: int = 11,
    random: bool = True,
) -> dict[str, DeletionCurve]:
    """Deletion curves for each explanation's word ranking (keyed by method) plus a seeded random order.

    All explanations must be of the same text by the same model. One `predict_proba` call.
    """
    if isinstance(attributions, Attribution):
        attributions = [attributions]
    attributions = list(attributions)
    if not attributions:
        raise ExplainError("No explanation to draw a deletion curve for.")
    first = attributions[0]
    label, c = _check(predictor, first, label)
    for att in attributions[1:]:
        _check(predictor, att, label)
        if att.inputs != first.inputs:
            raise ExplainError("Deletion curves compare explanations of the same text; these explain different texts.")
    if max_points < 2:
        raise ExplainError(f"max_points must be at least 2, got {max_points}.")
    all_units = [_units(att, label) for att in attributions]
    text = min((u.text for u in all_units), key=len)
    all_units = [_units_upto(u, len(text)) for u in all_units]
    n = len(all_units[0].words)
    counts = sorted({int(round(x)) for x in np.linspace(0, n, min(n, max_points - 1) + 1)})
    orders: dict[str, tuple[int, ...]] = {}
    for att, units in zip(attributions, all_units):
        name = att.method if att.method not in orders else f"{att.method}_{len(orders)}"
        orders[name] = units.ranking
    if random:
        orders["random"] = tuple(int(i) for i in np.random.default_rng(seed).permutation(n))
    texts = [all_units[0].without(order[:m]) for order in orders.values() for m in counts]
    with scratch(predictor):
        p = predictor.predict_proba(texts)[:, c].astype(np.float64).reshape(len(orders), len(counts))
    fractions = tuple(m / n for m in counts)
    return {name: DeletionCurve(fractions, tuple(float(x) for x in row)) for name, row in zip(orders, p)}


def _units_upto(units: _Units, end: int) -> _Units:
    if len(units.text) == end or units.pair is not None:  # a pair is explained whole
        return units
    keep = [i for i, (s, e) in enumerate(units.spans) if e <= end]
    scores = units.scores[keep]
    ranking = tuple(int(i) for i in np.lexsort((np.arange(len(keep)), -scores)))
    return _Units(units.text[:end], tuple(units.words[i] for i in keep), tuple(units.spans[i] for i in keep), scores, ranking)


# --------------------------------------------------------------------------- agreement


@dataclass(frozen=True)
class Agreement:
    """How much two explanations of the same text agree, on the word units they share."""

    methods: tuple[str, str]
    label: str
    n_words: int  # shared word units
    spearman: float | None  # rank correlation of the scores; None if undefined (< 2 words or a constant ranking)
    k: int  # size of the top lists compared (≤ the k asked for)
    top_k_overlap: float  # share of the k most important words (by |score|) both methods name
    shared_top: tuple[str, ...]  # those words

    def to_dict(self) -> dict:
        return {
            "methods": list(self.methods),
            "label": self.label,
            "n_words": self.n_words,
            "spearman": self.spearman,
            "k": self.k,
            "top_k_overlap": self.top_k_overlap,
            "shared_top": list(self.shared_top),
        }


def agreement(a: Attribution, b: Attribution, *, label: str | None = None, k: int = 5) -> Agreement:
    """Spearman rank correlation over shared word units, and overlap of the top-k words by |score|."""
    if a.inputs != b.inputs:
        raise ExplainError("Agreement compares two explanations of the same text; these explain different texts.")
    if a.fingerprint != b.fingerprint:
        raise ExplainError("Agreement compares two explanations of the same model; these come from different checkpoints.")
    label = a.target if label is None else label
    a.class_index(label), b.class_index(label)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ExplainError(f"k must be a whole number of at least 1, got {k!r}.")
    end = min(len(_explained_text(a)), len(_explained_text(b)))
    wa = {(g, s, e): (w, v) for g, w, s, e, v in a.segment_words(label) if g == 1 or e <= end}
    wb = {(g, s, e): v for g, _, s, e, v in b.segment_words(label) if g == 1 or e <= end}
    shared = [span for span in wa if span in wb]
    if not shared:
        raise ExplainError("The two explanations share no words, so their agreement cannot be measured.")
    xa = np.array([wa[s][1] for s in shared])
    xb = np.array([wb[s] for s in shared])
    rho = None
    if len(shared) >= 2 and np.ptp(xa) > 0 and np.ptp(xb) > 0:
        from scipy.stats import spearmanr

        rho = float(spearmanr(xa, xb).statistic)
    k_eff = min(k, len(shared))
    order = np.arange(len(shared))
    top_a = set(np.lexsort((order, -np.abs(xa)))[:k_eff].tolist())
    top_b = set(np.lexsort((order, -np.abs(xb)))[:k_eff].tolist())
    both = sorted(top_a & top_b, key=lambda i: -abs(xa[i]))
    return Agreement(
        methods=(a.method, b.method),
        label=label,
        n_words=len(shared),
        spearman=rho,
        k=k_eff,
        top_k_overlap=len(both) / k_eff,
        shared_top=tuple(wa[shared[i]][0] for i in both),
    )


# --------------------------------------------------------------------------- plain words


def _quote_words(words: Sequence[str], limit: int = 5) -> str:
    shown = [f"'{w}'" for w in words[:limit]]
    more = len(words) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe_trust(
    faith: Faithfulness,
    agreement: Agreement | None = None,
    attribution: Attribution | None = None,
    *,
    k: float = 0.2,
    colour: str = "red",
) -> list[str]:
    """Short sentences a domain expert can read next to an explanation.

    k picks which rationale size the sentences talk about (the closest of `faith.ks`). `colour`
    names how the plots mark words pushing toward the class (red in `explain.plots`).
    Verdict thresholds: AOPC comprehensiveness at least CLEARLY_FAITHFUL (0.10) above removing
    random words = the marked words drive the prediction; at least SOMEWHAT_FAITHFUL (0.03) = partly;
    below = the colours say little about this prediction.
    """
    i = int(np.argmin([abs(x - k) for x in faith.ks]))
    words, scores = faith.rationale[i], faith.rationale_scores[i]
    label, full, without, only, rand = faith.label, faith.full, faith.without[i], faith.only[i], faith.without_random[i]
    n = len(words)
    toward = all(s > 0 for s in scores)
    which = f"the {_plural(n, 'word')} marked {colour}" if toward else f"the {_plural(n, 'highest-scoring word')}"
    sentences = []
    if toward:
        sentences.append(f"The {_plural(n, 'word')} pushing hardest toward '{label}': {_quote_words(words)}.")
    else:
        sentences.append(f"No word clearly pushes toward '{label}'; the highest-scoring {'is' if n == 1 else 'are'} {_quote_words(words)}.")
    verb = "drops" if without < full else "raises"
    sentences.append(f"Removing {which} {verb} '{label}' from {full:.2f} to {without:.2f}; removing {_plural(n, 'random word')} instead gives {rand:.2f}.")
    sentences.append(f"Keeping only {'that word' if n == 1 else f'those {n} words'} gives '{label}' {only:.2f} (the full text gives {full:.2f}).")
    gain = faith.aopc_comprehensiveness - faith.aopc_random
    if full < 0.1:
        sentences.append(
            f"The model gives '{label}' only {full:.2f} here, so removing words cannot lower it much: read the colours as "
            "what would push toward it, not as why it was chosen."
        )
    elif gain >= CLEARLY_FAITHFUL:
        sentences.append("Verdict: faithful — the marked words really drive this prediction (much more than random words do).")
    elif gain >= SOMEWHAT_FAITHFUL:
        sentences.append("Verdict: partly faithful — the marked words matter, but not much more than random words; read the colours loosely.")
    else:
        sentences.append(
            "Verdict: not faithful — removing the marked words changes the prediction no more than removing random words; do not rely on the colours."
        )
    if agreement is not None:
        sentences.append(describe_agreement(agreement))
    if attribution is not None and attribution.method == "lime" and "r2" in attribution.extra:
        r2 = float(dict(attribution.extra["r2"]).get(label, float("nan")))
        quality = "closely" if r2 >= 0.5 else "only roughly" if r2 >= 0.2 else "poorly"
        sentences.append(f"LIME's simple word model follows the classifier {quality} around this text (R² = {r2:.2f}).")
    if attribution is not None and "completeness_error" in attribution.extra:
        sentences.append(describe_completeness(attribution))
    if faith.truncated:
        sentences.append(
            f"The text is longer than the model reads: only its first {faith.explained_chars} characters were explained; "
            "the rest did not affect the prediction."
        )
    return sentences


def _and(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _names(methods: Sequence[str]) -> str:
    from explain.plots import method_name

    return _and([method_name(m) for m in methods])


def describe_agreement(agreement: Agreement) -> str:
    """One sentence: how many of the top words two methods share, and how their rankings correlate."""
    top = f"{round(agreement.top_k_overlap * agreement.k)} of the {agreement.k} most important words"
    if agreement.spearman is None:
        rank = "their rankings cannot be compared word by word"
    else:
        rho = agreement.spearman
        strength = "strong" if rho >= 0.7 else "moderate" if rho >= AGREE_RHO else "weak" if rho >= 0.1 else "none — they disagree"
        rank = f"their rankings of {_plural(agreement.n_words, 'word')} correlate at {rho:.2f} ({strength})"
    shared = f" ({_quote_words(agreement.shared_top)})" if agreement.shared_top else ""
    return f"{_names(agreement.methods)} agree on {top}{shared}; {rank}."


def disagrees(agreement: Agreement) -> bool:
    """Two methods disagree when their word rankings correlate less than moderately (or cannot be compared)."""
    return agreement.spearman is None or agreement.spearman < AGREE_RHO


def describe_most_faithful(faith: Mapping[str, Faithfulness], agreements: Sequence[Agreement]) -> str | None:
    """Where some methods disagree (`disagrees`), which one was most faithful for this example and by how much, by its
    faithfulness score (AOPC comprehensiveness: how far removing its top words lowers the class, on average over
    `faith`'s ks); None where they agree or fewer than two were measured."""
    split = [a for a in agreements if disagrees(a) and all(m in faith for m in a.methods)]
    if len(faith) < 2 or not split:
        return None
    label = next(iter(faith.values())).label
    ranked = sorted(faith, key=lambda m: -faith[m].aopc_comprehensiveness)
    score = {m: faith[m].aopc_comprehensiveness for m in ranked}
    pairs = "; ".join(f"{_names(a.methods)}: " + ("not comparable" if a.spearman is None else f"rank correlation {a.spearman:.2f}") for a in split)
    opening = f"The methods disagree on this example ({pairs})."
    best, rest = ranked[0], ranked[1:]
    if score[best] <= 0:
        return f"{opening} None of them is faithful here: removing any method's top words does not lower p('{label}')."
    if score[best] - score[rest[0]] < TIE:
        each = _and([f"{score[m]:.2f} ({_names([m])})" for m in ranked])
        return f"{opening} None is clearly more faithful: removing their top words lowers p('{label}') by {each} on average."
    others = _and([f"{score[best] - score[m]:.2f} more than {_names([m])} ({score[m]:.2f})" for m in rest])
    return f"{opening} The most faithful here is {_names([best])}: removing its top words lowers p('{label}') by {score[best]:.2f} on average, {others}."


def completeness_bound(error: float) -> float:
    """`error` rounded up to one significant digit (0.0017 -> 0.002), so "within" it stays true."""
    if error <= 0:
        return 0.0
    scale = 10.0 ** math.floor(math.log10(error))
    return math.ceil(error / scale - 1e-9) * scale


def within(error: float) -> str:
    """`completeness_bound(error)` as a plain decimal: "0.002", "0.00004"."""
    bound = completeness_bound(error)
    return f"{bound:.{max(0, -math.floor(math.log10(bound))) if bound > 0 else 0}f}"


def describe_completeness(attribution: Attribution) -> str:
    """Integrated Gradients' completeness in plain words: how closely its scores add up to the model's output."""
    error = float(attribution.extra["completeness_error"])
    baseline = attribution.params.get("baseline", "pad")
    sentence = (
        f"Its scores add up to the model's output within {within(error)} (each class's scores sum to its probability minus the "
        f"'{baseline}' baseline's, over {attribution.params.get('n_steps')} integration steps)."
    )
    if error > LOOSE_COMPLETENESS:
        sentence += " That is loose: explain with more steps before reading the scores as exact shares."
    return sentence
