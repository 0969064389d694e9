"""Run behavioural probes through the shared inference layer and compare two checkpoints.

    from probes.run import run_probes, compare_reports
    report = run_probes(predictor, evalset, limit=200)          # invariance + fairness
    report.summary_frame()                                       # one row per test
    report.failures_frame("names")                               # failing pairs, original vs perturbed

Each test scores its originals and all their perturbed versions in ONE `predict_proba` call
(the inference layer dedups, sorts by length, batches and caches: originals scored by an
earlier test or by the prediction table cost nothing). Directional tests first need the
originals' predictions to know which examples the expectation applies to, so they score
originals in chunks until `limit` eligible examples are found, then the variants in one call.

Sentence pairs are probed by perturbing the segment the user picks (`segment`: the second, the first,
or both, each where the test applies); the other segment stays as it is. Multi-label checkpoints: a
prediction changes when the predicted set (each label at or above its threshold) changes, and each
result counts the flips per label (`ProbeResult.label_flips`).

An example FAILS a test when any of its perturbed versions fails: for invariance and fairness
the predicted class (multi-label: the predicted set) changes; for directional tests the watched probability moves the wrong way
(`Expectation`). The failure rate is failed / tried examples.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from analysis.stats import mcnemar, wilson_interval
from models.errors import VeredictoError
from models.protocol import InferenceLayer, TextInput
from probes.perturb import DEFAULT_VARIANTS, DirectionConfig, Expectation, ProbeError, ProbeTest, resolve_tests

ProbeProgress = Callable[[int, int, str], None]  # (texts done, texts planned, what is running)
SEGMENTS = ("second", "first", "both")  # which text of a sentence pair the probes perturb
DEFAULT_SEGMENT = "second"
PAIR_MARK = " ‖ "  # how a sentence pair is shown in one cell (failing pairs, CSV, JSON)
FAILURE_COLUMNS = ["test", "row", "gold", "original", "perturbed", "pred_before", "pred_after", "watched", "p_before", "p_after", "change"]


@dataclass(frozen=True)
class ProbeFailure:
    """One perturbed text that broke the expectation, next to its original."""

    row: int  # position in the evaluation set (0-based)
    original: str
    perturbed: str
    gold: str | None
    pred_before: str
    pred_after: str
    watched: str  # the class whose probability p_before / p_after are
    p_before: float
    p_after: float

    @property
    def change(self) -> float:
        return self.p_after - self.p_before


@dataclass(frozen=True, eq=False)
class ProbeResult:
    """One test on one checkpoint: how often it failed, on how many examples, and the failing pairs."""

    test: str
    kind: str
    title: str
    expectation: str
    n_applicable: int  # examples the perturbation applies to (before the limit); an estimate when `applicable_estimated`
    n_tried: int  # examples tested (after the limit; for directional tests, those predicted as a watched class)
    n_failed: int
    n_perturbed: int  # perturbed texts scored
    tried_rows: tuple[int, ...]
    failed_rows: tuple[int, ...]
    failures: tuple[ProbeFailure, ...]
    n_model_calls: int  # texts that went through the model (cache misses)
    seconds: float
    note: str = ""
    label_flips: Mapping[str, int] = field(default_factory=dict)  # multi-label: perturbed texts where each label's decision flipped
    applicable_estimated: bool = False  # n_applicable extrapolated from the sample walked to fill the limit (see `plan_probes`)

    @property
    def failure_rate(self) -> float:
        return self.n_failed / self.n_tried if self.n_tried else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.n_failed, self.n_tried)

    @property
    def applies_to(self) -> str:
        """`n_applicable` for people: 'about 93,000' (two significant digits) when it is an estimate, else exact."""
        return f"about {float(f'{self.n_applicable:.2g}'):,.0f}" if self.applicable_estimated else f"{self.n_applicable:,}"

    def failures_frame(self) -> pd.DataFrame:
        rows = [{"test": self.test, **{k: getattr(f, k) for k in FAILURE_COLUMNS if k not in ("test", "change")}, "change": f.change} for f in self.failures]
        return pd.DataFrame(rows, columns=FAILURE_COLUMNS)

    def to_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "failures"}
        data["tried_rows"] = list(self.tried_rows)
        data["failed_rows"] = list(self.failed_rows)
        data["failure_rate"] = None if math.isnan(self.failure_rate) else self.failure_rate
        data["failures"] = [{k: getattr(f, k) for k in ProbeFailure.__dataclass_fields__} for f in self.failures]
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> ProbeResult:
        kwargs = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "failures"}
        kwargs["tried_rows"] = tuple(int(r) for r in data.get("tried_rows", ()))
        kwargs["failed_rows"] = tuple(int(r) for r in data.get("failed_rows", ()))
        kwargs["failures"] = tuple(ProbeFailure(**f) for f in data.get("failures", ()))
        kwargs["label_flips"] = {str(k): int(v) for k, v in (data.get("label_flips") or {}).items()}
        return cls(**kwargs)


SUMMARY_COLUMNS = [
    "test",
    "title",
    "kind",
    "expectation",
    "failure_rate",
    "ci_low",
    "ci_high",
    "failed",
    "tried",
    "applicable",
    "applicable_estimated",
    "perturbed_texts",
    "model_calls",
    "seconds",
    "note",
]


@dataclass(frozen=True, eq=False)
class ProbeReport:
    """All probe results of one checkpoint on one data set, with what is needed to reproduce them."""

    checkpoint_name: str
    fingerprint: str
    labels: tuple[str, ...]
    data_name: str
    data_fingerprint: str
    n_examples: int
    results: tuple[ProbeResult, ...]
    seed: int
    n_variants: int
    language: str
    limit: int | None
    directions: DirectionConfig | None
    n_model_calls: int
    seconds: float
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    segment: str | None = None  # sentence pairs: which segment was perturbed; None for single texts
    thresholds: Mapping[str, float] | None = None  # multi-label: the per-label thresholds that decided the sets

    def result(self, test: str) -> ProbeResult:
        for r in self.results:
            if r.test == test:
                return r
        raise ProbeError(f"This report has no '{test}' probe; it has: {', '.join(r.test for r in self.results)}.")

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(r.test for r in self.results)

    def failure_rates(self) -> dict[str, float]:
        return {r.test: r.failure_rate for r in self.results}

    def summary_frame(self) -> pd.DataFrame:
        rows = []
        for r in self.results:
            low, high = r.interval
            rows.append(
                {
                    "test": r.test,
                    "title": r.title,
                    "kind": r.kind,
                    "expectation": r.expectation,
                    "failure_rate": r.failure_rate,
                    "ci_low": low,
                    "ci_high": high,
                    "failed": r.n_failed,
                    "tried": r.n_tried,
                    "applicable": r.n_applicable,
                    "applicable_estimated": r.applicable_estimated,
                    "perturbed_texts": r.n_perturbed,
                    "model_calls": r.n_model_calls,
                    "seconds": r.seconds,
                    "note": r.note,
                }
            )
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

    def label_flips_frame(self) -> pd.DataFrame:
        """Multi-label: one row per test, one column per label: perturbed texts where that label's decision flipped."""
        return pd.DataFrame(
            [[r.label_flips.get(label, 0) for label in self.labels] for r in self.results],
            index=pd.Index([r.title for r in self.results], name="test"),
            columns=list(self.labels),
        )

    def failures_frame(self, test: str | None = None) -> pd.DataFrame:
        frames = [r.failures_frame() for r in self.results if test in (None, r.test)]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FAILURE_COLUMNS)

    def to_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("results", "directions")}
        data["labels"] = list(self.labels)
        data["directions"] = self.directions.to_dict() if self.directions else None
        data["results"] = [r.to_dict() for r in self.results]
        data["format"] = "veredicto.probes/1"
        return data

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping) -> ProbeReport:
        kwargs = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k not in ("results", "directions", "labels")}
        return cls(
            **kwargs,
            labels=tuple(data["labels"]),
            directions=DirectionConfig.from_dict(data.get("directions")),
            results=tuple(ProbeResult.from_dict(r) for r in data["results"]),
        )


# --- planning (no model) --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PlannedTest:
    """The perturbed texts of one test. `rows` are in sampling order; invariance/fairness are already cut to the limit.

    `n_applicable` is exact when every text was perturbed, else (`estimated`) the share of applicable texts in the walked
    sample times the number of texts."""

    test: ProbeTest
    n_applicable: int
    rows: tuple[int, ...]
    variants: Mapping[int, tuple[TextInput, ...]]
    estimated: bool = False

    def texts(self, originals: Sequence[TextInput], rows: Iterable[int] | None = None) -> list[TextInput]:
        rows = self.rows if rows is None else rows
        return [originals[r] for r in rows] + [v for r in rows for v in self.variants[r]]


def _as_inputs(data) -> tuple[list[TextInput], list | None, str, str]:
    """(inputs, gold labels or None, data name, data fingerprint) from an EvalSet, PredictionTable or list of texts / pairs.

    Sentence-pair data gives `(text, text_pair)` inputs."""
    frame = getattr(data, "frame", None)
    if frame is not None and "text" in frame:
        if hasattr(data, "data_fingerprint"):  # a PredictionTable
            name, fp, gold_col = data.data_name, data.data_fingerprint, "gold"
        else:  # an EvalSet
            name, fp, gold_col = data.name, data.fingerprint, "label"
        gold = frame[gold_col].astype(str).tolist() if gold_col in frame else None
        firsts = frame["text"].astype(str).tolist()
        if "text_pair" in frame:
            return list(zip(firsts, frame["text_pair"].astype(str).tolist())), gold, str(name), str(fp)
        return firsts, gold, str(name), str(fp)
    if isinstance(data, str):
        raise ProbeError("Probes need a list of texts or an evaluation set, not a single string.")
    texts: list[TextInput] = [(str(t[0]), str(t[1])) if isinstance(t, tuple) else str(t) for t in data]
    import hashlib

    joined = "\0".join(t if isinstance(t, str) else f"{t[0]}\x1f{t[1]}" for t in texts)
    return texts, None, "texts", hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def shown(item: TextInput) -> str:
    """An input as one line of text: a sentence pair as 'first ‖ second'."""
    return item if isinstance(item, str) else PAIR_MARK.join(item)


def _variants(test: ProbeTest, item: TextInput, segment: str, **kwargs) -> list[TextInput]:
    """The perturbed versions of one input; for a pair, of the chosen segment(s) with the other kept as it is.

    With `both`, variant k perturbs each segment the test applies to (its k-th variant; a segment with fewer
    variants keeps its text), so a name swap probes whichever segment mentions a name."""
    if isinstance(item, str):
        return list(test.variants(item, **kwargs))
    first, second = item
    firsts = list(test.variants(first, **kwargs)) if segment in ("first", "both") else []
    seconds = list(test.variants(second, **kwargs)) if segment in ("second", "both") else []
    n = max(len(firsts), len(seconds))
    return [(firsts[k] if k < len(firsts) else first, seconds[k] if k < len(seconds) else second) for k in range(n)]


def _sample_order(n: int, seed: int, test: str) -> np.ndarray:
    import zlib

    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(b"sample:" + test.encode())]).permutation(n)


ESTIMATE_SAMPLE = 1_000  # texts planning perturbs at least before it stops at the limit, so an estimated `n_applicable` rests on a fair sample


def plan_probes(
    texts: Sequence[TextInput],
    tests: Sequence[ProbeTest],
    *,
    limit: int | None = None,
    seed: int = 0,
    n_variants: int = DEFAULT_VARIANTS,
    language: str = "auto",
    segment: str = DEFAULT_SEGMENT,
) -> list[PlannedTest]:
    """Choose which examples each test tries and perturb them (no model).

    The sample is a seeded shuffle of the examples the perturbation applies to, so `limit` caps
    examples per test without wasting it on texts with, say, no person name in them. Invariance and fairness
    tests perturb texts in that shuffled order only until `limit` applicable ones are found and at least
    `ESTIMATE_SAMPLE` texts were walked (the same examples as perturbing all of them first; at 100k texts, seconds
    instead of minutes), so their `n_applicable` is then an estimate from the walked share (`PlannedTest.estimated`);
    directional tests perturb every text. Language detection ("auto") is per text, so it too runs only on the walked ones.
    Sentence pairs: `segment` says which text is perturbed ("second", "first" or "both").
    """
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ProbeError(f"limit must be a whole number of at least 1 (or empty for every example), got {limit!r}.")
    if segment not in SEGMENTS:
        raise ProbeError(f"Which segment of a sentence pair to perturb: one of {', '.join(SEGMENTS)}, not {segment!r}.")
    plans = []
    for test in tests:
        cut = limit if limit and test.kind != "directional" else None  # directional tests pick by prediction later: they need every candidate
        variants: dict[int, tuple[TextInput, ...]] = {}
        walked = 0
        found = 0
        for i in _sample_order(len(texts), seed, test.name):  # perturb in sampling order, only until the limit is filled
            if cut is not None and found >= cut and walked >= ESTIMATE_SAMPLE:
                break
            walked += 1
            out = _variants(test, texts[int(i)], segment, seed=seed, n_variants=n_variants, language=language)
            if out:
                found += 1
                if cut is None or found <= cut:
                    variants[int(i)] = tuple(out)
        order = list(variants)
        estimated = walked < len(texts)
        n_applicable = round(found / walked * len(texts)) if estimated else found
        plans.append(PlannedTest(test, n_applicable, tuple(sorted(order) if test.kind != "directional" else order), variants, estimated))
    return plans


# --- running --------------------------------------------------------------------------------------


class _Scorer:
    """predict_proba with an overall progress count and an exact count of cache misses."""

    def __init__(self, predictor: InferenceLayer, progress: ProbeProgress | None, total: int):
        self.predictor = predictor
        self.progress = progress
        self.total = max(total, 1)
        self.done = 0
        self.calls = 0

    def __call__(self, texts: list[TextInput], label: str) -> tuple[np.ndarray, int]:
        misses = self.predictor.uncached_count(texts)
        base = self.done
        if base + len(texts) > self.total:
            self.total = base + len(texts)

        def inner(done: int, total: int) -> None:
            if self.progress:
                self.progress(base + int(round(len(texts) * done / max(total, 1))), self.total, label)

        if self.progress:
            self.progress(base, self.total, label)
        probs = self.predictor.predict_proba(texts, progress=inner)
        self.done = base + len(texts)
        self.calls += misses
        if self.progress:
            self.progress(self.done, self.total, label)
        return probs, misses


def _tags(decided: np.ndarray, labels) -> str:
    return " | ".join(labels[int(c)] for c in np.flatnonzero(decided))


def _run_invariance(plan: PlannedTest, texts, gold, labels, score: _Scorer, thresholds: np.ndarray | None = None) -> ProbeResult:
    """`thresholds` (multi-label): a prediction is the set of labels at or above them, and changes when the set does."""
    started = time.perf_counter()
    rows = list(plan.rows)
    test = plan.test
    expectation = "prediction unchanged" if thresholds is None else "predicted set unchanged"
    if not rows:
        return _empty(plan, expectation, started)
    probs, misses = score(plan.texts(texts), test.title)
    before = {r: probs[k] for k, r in enumerate(rows)}
    offset = len(rows)
    failures, failed_rows, n_perturbed = [], [], 0
    flips = np.zeros(len(labels), dtype=int)
    for r in rows:
        p0 = before[r]
        c0 = int(np.argmax(p0))
        row_failed = False
        for variant in plan.variants[r]:
            p1 = probs[offset]
            offset += 1
            n_perturbed += 1
            if thresholds is None:
                c1 = int(np.argmax(p1))
                if c1 != c0:
                    row_failed = True
                    failures.append(
                        ProbeFailure(
                            r, shown(texts[r]), shown(variant), gold[r] if gold else None, labels[c0], labels[c1], labels[c0], float(p0[c0]), float(p1[c0])
                        )
                    )
                continue
            s0, s1 = p0 >= thresholds, p1 >= thresholds
            flipped = s0 != s1
            flips += flipped
            if flipped.any():
                row_failed = True
                c = int(np.argmax(np.abs(p1 - p0) * flipped))  # the flipped label that moved most
                failures.append(
                    ProbeFailure(
                        r,
                        shown(texts[r]),
                        shown(variant),
                        gold[r] if gold else None,
                        _tags(s0, labels),
                        _tags(s1, labels),
                        labels[c],
                        float(p0[c]),
                        float(p1[c]),
                    )
                )
        if row_failed:
            failed_rows.append(r)
    failures.sort(key=lambda f: (f.change, f.row) if thresholds is None else (-abs(f.change), f.row))
    return ProbeResult(
        label_flips={label: int(n) for label, n in zip(labels, flips)} if thresholds is not None else {},
        test=test.name,
        kind=test.kind,
        title=test.title,
        expectation=expectation,
        n_applicable=plan.n_applicable,
        applicable_estimated=plan.estimated,
        n_tried=len(rows),
        n_failed=len(failed_rows),
        n_perturbed=n_perturbed,
        tried_rows=tuple(rows),
        failed_rows=tuple(failed_rows),
        failures=tuple(failures),
        n_model_calls=misses,
        seconds=time.perf_counter() - started,
    )


def _run_directional(plan: PlannedTest, expectations: Sequence[Expectation], texts, gold, labels, score: _Scorer, limit: int | None) -> ProbeResult:
    started = time.perf_counter()
    test = plan.test
    described = "; ".join(e.describe() for e in expectations)
    watched = {labels.index(e.label): e for e in expectations}
    if not plan.rows:
        return _empty(plan, described, started)
    calls = 0

    def score_originals(part):
        nonlocal calls
        probs, misses = score([texts[r] for r in part], f"{test.title}: scoring originals")
        calls += misses
        return probs

    scan = _scan_originals(list(plan.rows), limit, score_originals, watched)
    if scan is None:  # only a cache lookup gives no probabilities; score_originals always scores
        raise ProbeError(f"{test.title}: the originals could not be scored.")
    found = scan[1]
    eligible = sorted(((r, watched[c], p) for r, c, p in found), key=lambda e: e[0])
    if not eligible:
        return _empty(
            plan,
            described,
            started,
            note=f"No example is predicted as {' or '.join(e.label for e in expectations)}, so the expectation applies to none.",
            calls=calls,
        )
    variant_texts = [v for r, _, _ in eligible for v in plan.variants[r]]
    probs, misses = score(variant_texts, test.title)
    calls += misses
    failures, failed_rows, offset = [], [], 0
    for r, exp, p0 in eligible:
        c = labels.index(exp.label)
        row_failed = False
        for variant in plan.variants[r]:
            p1 = probs[offset]
            offset += 1
            if exp.fails(p0[c], p1[c]):
                row_failed = True
                failures.append(
                    ProbeFailure(
                        r,
                        shown(texts[r]),
                        shown(variant),
                        gold[r] if gold else None,
                        labels[int(np.argmax(p0))],
                        labels[int(np.argmax(p1))],
                        exp.label,
                        float(p0[c]),
                        float(p1[c]),
                    )
                )
        if row_failed:
            failed_rows.append(r)
    failures.sort(key=lambda f: (-abs(f.change), f.row))
    return ProbeResult(
        test=test.name,
        kind=test.kind,
        title=test.title,
        expectation=described,
        n_applicable=plan.n_applicable,
        applicable_estimated=plan.estimated,
        n_tried=len(eligible),
        n_failed=len(failed_rows),
        n_perturbed=len(variant_texts),
        tried_rows=tuple(r for r, _, _ in eligible),
        failed_rows=tuple(failed_rows),
        failures=tuple(failures),
        n_model_calls=calls,
        seconds=time.perf_counter() - started,
        note=f"Tried on examples predicted as {' or '.join(e.label for e in expectations)}.",
    )


_NOT_APPLICABLE = {
    "names": "No person name from the word lists occurs in the data.",
    "gender": "No gendered word from the word lists occurs in the data.",
    "nationality": "No country or nationality from the word lists occurs in the data.",
    "negation": "No text could be negated (none has a negatable verb, or all are already negated).",
    "intensifier": "No text has an adjective from the word lists to intensify.",
}


def _empty(plan: PlannedTest, expectation: str, started: float, note: str | None = None, calls: int = 0) -> ProbeResult:
    test = plan.test
    return ProbeResult(
        test=test.name,
        kind=test.kind,
        title=test.title,
        expectation=expectation,
        n_applicable=plan.n_applicable,
        applicable_estimated=plan.estimated,
        n_tried=0,
        n_failed=0,
        n_perturbed=0,
        tried_rows=(),
        failed_rows=(),
        failures=(),
        n_model_calls=calls,
        seconds=time.perf_counter() - started,
        note=note or _NOT_APPLICABLE.get(test.name, "The perturbation does not apply to any example."),
    )


def _directional_chunk(limit: int | None, n_candidates: int) -> int:
    """Originals a directional test scores per round while looking for `limit` eligible examples."""
    return max(1, n_candidates) if not limit else max(64, 2 * limit)  # at least 1: a test that applies to no example scans nothing


def _scan_originals(rows: list[int], limit: int | None, probs_of, watched) -> tuple[list[int], list[tuple[int, int, np.ndarray]]] | None:
    """Go through a directional test's originals a round at a time until `limit` are predicted as a `watched` class.

    `probs_of(rows)` gives their probabilities (None: not available). Returns (rows scanned, eligible
    (row, predicted class, probabilities)), or None when `probs_of` gave None.
    """
    chunk = _directional_chunk(limit, len(rows))
    scanned, eligible = [], []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        probs = probs_of(part)
        if probs is None:
            return None
        scanned += part
        eligible += [(r, int(np.argmax(p)), p) for r, p in zip(part, probs) if int(np.argmax(p)) in watched]
        if limit and len(eligible) >= limit:
            break
    return scanned, eligible[:limit] if limit else eligible


def _eligible_from_cache(plan: PlannedTest, texts, limit, predictor: InferenceLayer, directions) -> tuple[list[int], list[int]] | None:
    """(originals scanned, rows tried) of a directional test, worked out from cached predictions; None if any is missing."""
    labels = list(predictor.labels)
    watched = {labels.index(e.label) for e in directions.for_test(plan.test.name) if e.label in labels}

    scan = _scan_originals(list(plan.rows), limit, lambda part: predictor.cached_proba([texts[r] for r in part]), watched)
    return None if scan is None else (scan[0], [r for r, _, _ in scan[1]])


def planned_text_list(
    plans: Sequence[PlannedTest],
    texts: Sequence[TextInput],
    limit: int | None,
    *,
    predictor: InferenceLayer | None = None,
    directions: DirectionConfig | None = None,
) -> list[TextInput]:
    """The texts the runs will send to `predict_proba`, in order. Exact for invariance and fairness.

    A directional test is exact too when `predictor` and `directions` are given and the originals'
    predictions are cached (the dashboard has scored them already); otherwise it is assumed to find
    its eligible examples in its first round of originals, half of them (at most `limit`) eligible.
    """
    out: list[TextInput] = []
    for plan in plans:
        if plan.test.kind == "directional":
            rows = list(plan.rows)
            exact = _eligible_from_cache(plan, texts, limit, predictor, directions) if predictor is not None and directions is not None else None
            if exact is not None:
                first, tried = exact
            else:
                first = rows[: _directional_chunk(limit, len(rows))]
                tried = first[: min(limit, len(first)) if limit else max(1, len(first) // 2)]
            out += [texts[r] for r in first] + [v for r in tried for v in plan.variants[r]]
        else:
            out += plan.texts(texts)
    return out


def planned_texts(
    plans: Sequence[PlannedTest], texts: Sequence[TextInput], limit: int | None, *, predictor: InferenceLayer | None = None, directions=None
) -> int:
    """How many texts the runs will send to `predict_proba` (see `planned_text_list`)."""
    return len(planned_text_list(plans, texts, limit, predictor=predictor, directions=directions))


def run_probes(
    predictor: InferenceLayer,
    data,
    tests: Iterable[str] | str | None = None,
    *,
    directions: DirectionConfig | None = None,
    limit: int | None = None,
    seed: int = 0,
    n_variants: int = DEFAULT_VARIANTS,
    language: str = "auto",
    progress: ProbeProgress | None = None,
    segment: str = DEFAULT_SEGMENT,
    thresholds=None,
) -> ProbeReport:
    """Run the probes named by `tests` (names, kinds, 'all'; None = all that apply) on `data`.

    data: an EvalSet, a PredictionTable, or a list of texts. Gold labels are only shown next to
    failures, never needed. limit: at most this many examples per test (a seeded sample of those
    the perturbation applies to). directions: expectations for the directional tests; without
    it those tests are left out. progress(done, total, label) follows the scored texts.
    Sentence pairs: `segment` ("second", "first", "both") is what the perturbations change. Multi-label
    checkpoints: `thresholds` (an `analysis.thresholds.Thresholds`; default the table's, else 0.5) decide the sets.
    """
    started = time.perf_counter()
    texts, gold, data_name, data_fp = _as_inputs(data)
    if not texts:
        raise ProbeError("The evaluation data has no examples to probe.")
    labels = tuple(predictor.labels)
    if directions is not None:
        directions.validate(labels)
    chosen = resolve_tests(tests, directional=directions is not None)
    pair = not isinstance(texts[0], str)
    plans = plan_probes(texts, chosen, limit=limit, seed=seed, n_variants=n_variants, language=language, segment=segment)
    cuts = None
    if predictor.ref.multi_label:
        from analysis.thresholds import Thresholds

        thresholds = thresholds or getattr(data, "thresholds", None) or Thresholds.default(labels)
        if tuple(thresholds.labels) != labels:
            raise ProbeError(f"The thresholds are for labels {', '.join(thresholds.labels)}, not the checkpoint's ({', '.join(labels)}).")
        cuts = thresholds.array
    score = _Scorer(predictor, progress, planned_texts(plans, texts, limit, predictor=predictor, directions=directions))
    results = []
    for plan in plans:
        if plan.test.kind == "directional":
            if directions is None:  # resolve_tests leaves directional probes out without a direction config
                raise ProbeError(f"The '{plan.test.name}' probe needs to know which class should move: give the positive class.")
            results.append(_run_directional(plan, directions.for_test(plan.test.name), texts, gold, list(labels), score, limit))
        else:
            results.append(_run_invariance(plan, texts, gold, list(labels), score, cuts))
    if progress:
        progress(score.total, score.total, "done")
    return ProbeReport(
        checkpoint_name=predictor.ref.name,
        fingerprint=predictor.ref.fingerprint,
        labels=labels,
        data_name=data_name,
        data_fingerprint=data_fp,
        n_examples=len(texts),
        results=tuple(results),
        seed=int(seed),
        n_variants=int(n_variants),
        language=language,
        limit=None if limit is None else int(limit),
        directions=directions,
        n_model_calls=score.calls,
        seconds=time.perf_counter() - started,
        segment=segment if pair else None,
        thresholds=None if cuts is None else dict(zip(labels, map(float, cuts))),
    )


def probe_failure_rates(predictor: InferenceLayer, evalset, tests: Iterable[str] | str | None = None, limit: int | None = None, **kwargs) -> dict[str, float]:
    """{test name: failure rate} for a release gate. NaN where a test applied to no example."""
    return run_probes(predictor, evalset, tests, limit=limit, **kwargs).failure_rates()


# --- before / after -------------------------------------------------------------------------------

COMPARE_COLUMNS = ["test", "title", "kind", "before", "after", "change", "tried_before", "tried_after", "paired", "fixed", "new", "p_value", "verdict"]


def compare_reports(before: ProbeReport, after: ProbeReport, *, alpha: float = 0.05) -> pd.DataFrame:
    """Failure rates side by side. On examples both runs tried (same data, same seed), `fixed` failed
    before only, `new` failed after only, and an exact McNemar test says whether the change is more
    than chance. verdict: 'more brittle', 'more robust', 'no clear change', or why it cannot be compared."""
    if before.data_fingerprint != after.data_fingerprint:
        raise VeredictoError(
            f"These probe results come from different data ({before.data_name} vs {after.data_name}); "
            "run both checkpoints on the same evaluation set to compare them."
        )
    if before.segment != after.segment:
        raise VeredictoError(
            f"These probe results perturbed different segments of the sentence pairs ({before.segment} vs {after.segment}); run both with the same choice."
        )
    b_by = {r.test: r for r in before.results}
    a_by = {r.test: r for r in after.results}
    rows = []
    for test in list(dict.fromkeys([*b_by, *a_by])):
        rb, ra = b_by.get(test), a_by.get(test)
        ref = rb if rb is not None else a_by[test]  # every test name comes from one of the two runs
        rate_before = rb.failure_rate if rb else math.nan
        rate_after = ra.failure_rate if ra else math.nan
        row: dict[str, Any] = {
            "test": test,
            "title": ref.title,
            "kind": ref.kind,
            "before": rate_before,
            "after": rate_after,
            "tried_before": rb.n_tried if rb else 0,
            "tried_after": ra.n_tried if ra else 0,
        }
        row["change"] = rate_after - rate_before
        if rb is None or ra is None:
            row.update(paired=0, fixed=0, new=0, p_value=math.nan, verdict=f"only run on the {'after' if rb is None else 'before'} checkpoint")
        elif not rb.n_tried or not ra.n_tried:
            row.update(paired=0, fixed=0, new=0, p_value=math.nan, verdict="not applicable to this data")
        else:
            common = set(rb.tried_rows) & set(ra.tried_rows)
            fb, fa = set(rb.failed_rows) & common, set(ra.failed_rows) & common
            fixed, new = len(fb - fa), len(fa - fb)
            p = mcnemar(fixed, new).p_value
            if p < alpha and new > fixed:
                verdict = "more brittle"
            elif p < alpha and fixed > new:
                verdict = "more robust"
            else:
                verdict = "no clear change"
            row.update(paired=len(common), fixed=fixed, new=new, p_value=p, verdict=verdict)
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)
