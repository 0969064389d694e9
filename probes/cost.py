"""Cost before compute: how many model calls a run will take and how long, from throughput measured here.

    from probes import cost
    estimate = cost.estimate_shap(predictor, texts, max_evals=500)
    print(estimate.describe())        # "About 1,500 model calls, ~40 s on this machine (...)"
    ... run it ...
    print(cost.check(estimate, seconds=elapsed, model_calls=n).describe())   # estimate vs actual

Throughput comes from a tiny timed `predict_proba` calibration (two batches of unique texts, one
full-length and one short, to separate the per-text from the per-token cost), done once per
checkpoint fingerprint and device and cached for the process. Model calls count only texts the
inference layer has not cached yet, so a rerun is estimated (correctly) as nearly free.

Each explainer also spends time outside the model (SHAP's partition tree, LIME's ridge fits):
a per-evaluation overhead with a conservative default. Every `check` of an estimate against the
measured time updates a per-(checkpoint, task) correction factor, so estimates on this machine
get better as it is used.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from models.cost import CostEstimate, format_duration
from models.inference import as_input
from models.protocol import InferenceLayer, TextInput
from runtime import current

# Time spent outside the model per evaluated text, in seconds (defaults; corrected by `check`).
OVERHEAD = {"shap": 0.0015, "lime": 0.0003, "probes": 0.0001, "predict": 0.0, "embed": 0.0}
CALIBRATION_TEXTS = 32
# Share of SHAP's masked texts that are distinct strings (runs of masked tokens collapse into one mask,
# so different coalitions often give the same text, scored once): 0.54-0.86 measured, tiny models and demo.
SHAP_UNIQUE_SHARE = 0.7
_SAMPLE_FOR_LENGTH = 256
_FALLBACK_TEXT = "the film was good and the acting was great, but the story was too long for me"

# Measured throughput and learned corrections are process-wide state owned by the runtime; these names are its accessors.
_lock = current().calibrations.lock
_THROUGHPUT: dict[tuple[str, str], Throughput] = current().calibrations.throughput
_CORRECTION: dict[tuple[str, str], float] = current().calibrations.correction


@dataclass(frozen=True)
class Throughput:
    """Measured speed of one checkpoint on this machine: seconds = n_texts * per_text + n_tokens * per_token."""

    fingerprint: str
    device: str
    per_text: float  # seconds per text, on top of its tokens
    per_token: float  # seconds per token
    texts_per_second: float  # at the calibration length, for display
    mean_tokens: float  # calibration length
    n_texts: int
    seconds: float  # time the calibration itself took
    measured_at: str

    def seconds_for(self, n_texts: float, mean_tokens: float | None = None) -> float:
        tokens = self.mean_tokens if mean_tokens is None else mean_tokens
        return float(n_texts) * (self.per_text + self.per_token * float(tokens))

    def describe(self) -> str:
        return f"{self.texts_per_second:,.0f} texts/s at {self.mean_tokens:.0f} tokens, measured on this machine ({self.device})"


def _unique_texts(texts: Sequence[str], n: int, rng: np.random.Generator) -> list[str]:
    pool = [t for t in texts if isinstance(t, str) and t.strip()] or [_FALLBACK_TEXT]
    picks = [pool[int(i)] for i in rng.integers(len(pool), size=n)]
    nonce = secrets.token_hex(3)
    # a unique suffix makes every text a cache miss, so the forward pass is really timed
    return [f"{t} {nonce}{k}" for k, t in enumerate(picks)]


def calibrate(predictor: InferenceLayer, texts: Sequence[str] | None = None, *, n: int = CALIBRATION_TEXTS, force: bool = False) -> Throughput:
    """Time `predict_proba` on `n` unique texts like `texts` (full length and cut short); cached per fingerprint and device."""
    key = (predictor.ref.fingerprint, str(predictor.device))
    with _lock:
        if not force and key in _THROUGHPUT:
            return _THROUGHPUT[key]
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    full = _unique_texts(texts or [], n, rng)
    short = [" ".join(t.split()[: max(2, len(t.split()) // 4)]) + f" {secrets.token_hex(3)}{k}" for k, t in enumerate(full)]
    for _ in range(2):  # warm-up: lazy initialisation and first-shape kernel selection are not throughput
        predictor.predict_proba(_unique_texts(texts or [], 8, rng))
    points = []
    for batch in (full, short):
        tokens = float(np.minimum(predictor.token_counts(batch), predictor.max_length).sum())
        timings = []
        for repeat in range(2):  # the faster run: a busy machine only ever slows a run down
            texts_now = batch if repeat == 0 else [f"{t}{secrets.token_hex(2)}" for t in batch]
            t0 = time.perf_counter()
            predictor.predict_proba(texts_now)
            timings.append(time.perf_counter() - t0)
        points.append((len(batch), tokens, max(min(timings), 1e-6)))
    (n1, k1, s1), (n2, k2, s2) = points
    # two equations, two unknowns (per text, per token); clamp to what a timing can mean
    det = n1 * k2 - n2 * k1
    per_token = (n1 * s2 - n2 * s1) / det if det else 0.0
    per_token = max(per_token, 0.0)
    per_text = max((s1 - per_token * k1) / n1, 0.0)
    if per_text == 0.0 and per_token == 0.0:
        per_text = s1 / n1
    mean_tokens = k1 / n1
    result = Throughput(
        fingerprint=key[0],
        device=key[1],
        per_text=per_text,
        per_token=per_token,
        texts_per_second=n1 / s1,
        mean_tokens=mean_tokens,
        n_texts=n1 + n2,
        seconds=time.perf_counter() - started,
        measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    with _lock:
        _THROUGHPUT[key] = result
    return result


def cached_throughput(predictor: InferenceLayer) -> Throughput | None:
    """The calibration already measured for this checkpoint and device, if any (never measures)."""
    with _lock:
        return _THROUGHPUT.get((predictor.ref.fingerprint, str(predictor.device)))


def forget_calibrations() -> None:
    current().calibrations.clear()


# --- estimates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostCheck:
    """An estimate next to what the run really took."""

    estimate: CostEstimate
    actual_seconds: float
    actual_model_calls: int | None
    estimated_seconds: float  # the estimate's seconds: `check` refuses an estimate that has none

    @property
    def seconds_error(self) -> float:
        return self.estimated_seconds - self.actual_seconds

    @property
    def relative_error(self) -> float:
        """(estimated - actual) / actual: +0.25 means the estimate was 25% too long."""
        return self.seconds_error / self.actual_seconds if self.actual_seconds > 0 else math.nan

    def describe(self) -> str:
        text = f"Estimated {format_duration(self.estimated_seconds, about='~')}, took {format_duration(self.actual_seconds, about='~')}"
        if not math.isnan(self.relative_error):
            text += f" ({self.relative_error:+.0%})"
        if self.actual_model_calls is not None:
            text += f"; {self.estimate.n_model_calls:,} model calls estimated, {self.actual_model_calls:,} made"
        return text + "."


def check(estimate: CostEstimate, seconds: float, model_calls: int | None = None, *, learn: bool = True) -> CostCheck:
    """Compare an estimate with the measured run and (learn=True) correct later estimates of the same task."""
    if estimate.seconds is None:
        raise ValueError(f"{estimate.description}: the estimate has no time (nothing was timed), so there is nothing to check it against.")
    result = CostCheck(estimate, float(seconds), None if model_calls is None else int(model_calls), estimate.seconds)
    if learn and estimate.throughput is not None and estimate.raw_seconds is not None and estimate.raw_seconds > 0.05 and seconds > 0.05:
        key = (estimate.throughput.fingerprint, estimate.task)
        ratio = min(max(seconds / estimate.raw_seconds, 0.1), 10.0)
        with _lock:
            old = _CORRECTION.get(key)
            _CORRECTION[key] = ratio if old is None else math.exp(0.5 * math.log(old) + 0.5 * math.log(ratio))
    return result


def correction(fingerprint: str, task: str) -> float:
    with _lock:
        return _CORRECTION.get((fingerprint, task), 1.0)


def uncached(predictor: InferenceLayer, texts: Sequence[TextInput]) -> int:
    """How many distinct texts of `texts` the inference layer would have to run through the model."""
    return predictor.uncached_count(texts)


def _mean_tokens(predictor: InferenceLayer, texts: Sequence[TextInput]) -> float:
    texts = [as_input(t, i) for i, t in enumerate(texts)]  # sentence pairs count both texts
    if not texts:
        return 0.0
    if len(texts) > _SAMPLE_FOR_LENGTH:
        idx = np.random.default_rng(0).choice(len(texts), _SAMPLE_FOR_LENGTH, replace=False)
        texts = [texts[i] for i in idx]
    return float(np.minimum(predictor.token_counts(texts), predictor.max_length).mean())


def _estimate(
    predictor: InferenceLayer,
    task: str,
    description: str,
    requested: int,
    calls: float,
    mean_tokens: float,
    throughput: Throughput | None,
    *,
    calibrate_with=None,
    **details,
) -> CostEstimate:
    if throughput is None:
        throughput = calibrate(predictor, calibrate_with)
    raw = throughput.seconds_for(calls, mean_tokens) + OVERHEAD.get(task, 0.0) * requested
    return CostEstimate(
        task=task,
        description=description,
        n_requested=int(requested),
        n_model_calls=int(round(calls)),
        seconds=raw * correction(throughput.fingerprint, task),
        raw_seconds=raw,
        throughput=throughput,
        details={"mean_tokens": mean_tokens, **details},
    )


def estimate_predict(predictor: InferenceLayer, texts: Sequence[str], *, throughput: Throughput | None = None) -> CostEstimate:
    """Scoring `texts` once (the prediction table, `veredicto precompute`)."""
    texts = list(texts)
    return _estimate(
        predictor,
        "predict",
        f"Scoring {len(texts):,} texts",
        len(texts),
        uncached(predictor, texts),
        _mean_tokens(predictor, texts),
        throughput,
        calibrate_with=texts,
    )


def estimate_embed(predictor: InferenceLayer, texts: Sequence[TextInput], *, throughput: Throughput | None = None) -> CostEstimate:
    """Sentence embeddings of `texts` (one encoder pass per text or pair not cached yet; about a forward pass each)."""
    from probes.run import shown

    texts = list(texts)
    missing = predictor.uncached_count(texts, embeddings=True)
    return _estimate(
        predictor,
        "embed",
        f"Embedding {len(texts):,} texts",
        len(texts),
        missing,
        _mean_tokens(predictor, texts),
        throughput,
        calibrate_with=[shown(t) for t in texts],
    )


def shap_evaluations(n_tokens: int, max_evals: int) -> int:
    """Masked texts SHAP's partition explainer scores for a text of `n_tokens` tokens.

    It stops at `max_evals`; a short text is fully explained sooner, after about n² + 2n + 4
    evaluations (measured with shap 0.51 on the tiny models: 2 tokens -> 12, 8 -> 84, 32 -> 1020).
    """
    return int(min(max_evals, n_tokens * n_tokens + 2 * n_tokens + 4))


def lime_unique_samples(n_words: int, num_samples: int) -> float:
    """Expected number of distinct perturbed texts among LIME's `num_samples` draws on `n_words` words.

    LIME draws how many words to remove uniformly from 1..n_words, then which ones; repeats are
    scored once by the inference layer. Each size-s subset has probability 1 / (n * C(n, s)) per draw.
    """
    if n_words <= 0:
        return 1.0
    draws = max(num_samples - 1, 0)  # the first sample is the original text
    total = 1.0
    for s in range(1, n_words + 1):
        subsets = math.comb(n_words, s)
        p = 1.0 / (n_words * subsets)
        total += subsets * -math.expm1(draws * math.log1p(-p)) if p < 1 else 1.0
    return min(total, float(num_samples))


def _explain_cached(attribution_cache, predictor: InferenceLayer, texts, method: str, params: dict) -> int:
    if attribution_cache is None:
        return 0
    try:
        return int(attribution_cache.count_cached(predictor.ref.fingerprint, texts, method, **params))
    except Exception:  # noqa: BLE001 - a cache that cannot answer (locked, corrupt, moved) must not block an estimate
        return 0


def estimate_shap(
    predictor: InferenceLayer, texts: Sequence[str] | str, max_evals: int | None = None, *, throughput: Throughput | None = None, attribution_cache=None
) -> CostEstimate:
    """SHAP explanations of `texts` with `max_evals` (explain's default when None)."""
    from explain import shap_explainer

    max_evals = int(max_evals or shap_explainer.DEFAULT_MAX_EVALS)
    texts = [texts] if isinstance(texts, str) else list(texts)
    n_tokens = np.maximum(predictor.token_counts(texts) - _n_special(predictor), 1) if texts else np.zeros(0, int)
    n_tokens = np.minimum(n_tokens, predictor.max_length)
    cached = _explain_cached(attribution_cache, predictor, texts, "shap", {"max_evals": max_evals})
    evals = [shap_evaluations(int(n), max_evals) for n in n_tokens]
    if cached:  # the cached ones cost nothing; assume they are the average ones
        evals = evals[: len(evals) - cached] if len(evals) > cached else []
    requested = int(sum(evals))
    mean_tokens = float(n_tokens.mean() + _n_special(predictor)) if len(n_tokens) else 0.0
    return _estimate(
        predictor,
        "shap",
        f"SHAP (max_evals={max_evals}) on {len(texts):,} text{'s' if len(texts) != 1 else ''}",
        requested,
        SHAP_UNIQUE_SHARE * requested,
        mean_tokens,
        throughput,
        calibrate_with=texts,
        cached_explanations=cached,
        max_evals=max_evals,
    )


def estimate_lime(
    predictor: InferenceLayer, texts: Sequence[str] | str, num_samples: int | None = None, *, throughput: Throughput | None = None, attribution_cache=None
) -> CostEstimate:
    """LIME explanations of `texts` with `num_samples` (explain's default when None)."""
    import re

    from explain import lime_explainer

    num_samples = int(num_samples or lime_explainer.DEFAULT_NUM_SAMPLES)
    texts = [texts] if isinstance(texts, str) else list(texts)
    cached = _explain_cached(attribution_cache, predictor, texts, "lime", {"num_samples": num_samples})
    todo = texts[: max(len(texts) - cached, 0)]
    words = [len({w for w in re.split(r"\W+", t) if w}) for t in todo]
    calls = sum(lime_unique_samples(n, num_samples) for n in words)
    full = float(np.mean(np.minimum(predictor.token_counts(todo), predictor.max_length))) if todo else 0.0
    mean_tokens = _n_special(predictor) + max(full - _n_special(predictor), 0.0) / 2  # half the words remain on average
    return _estimate(
        predictor,
        "lime",
        f"LIME (num_samples={num_samples}) on {len(texts):,} text{'s' if len(texts) != 1 else ''}",
        num_samples * len(todo),
        calls,
        mean_tokens,
        throughput,
        calibrate_with=texts,
        cached_explanations=cached,
        num_samples=num_samples,
    )


def estimate_probes(
    predictor: InferenceLayer,
    data,
    tests=None,
    *,
    directions=None,
    limit: int | None = None,
    seed: int = 0,
    n_variants: int | None = None,
    language: str = "auto",
    throughput: Throughput | None = None,
    plans=None,
) -> CostEstimate:
    """The probes `run_probes` would run with the same arguments (invariance and fairness exactly;
    directional tests assume half the examples are predicted as a watched class)."""
    from probes.perturb import DEFAULT_VARIANTS, resolve_tests
    from probes.run import _as_inputs, plan_probes, planned_text_list, shown

    texts, _, _, _ = _as_inputs(data)
    n_variants = DEFAULT_VARIANTS if n_variants is None else n_variants
    if plans is None:
        chosen = resolve_tests(tests, directional=directions is not None)
        plans = plan_probes(texts, chosen, limit=limit, seed=seed, n_variants=n_variants, language=language)
    all_texts = planned_text_list(plans, texts, limit, predictor=predictor, directions=directions)
    sample = (
        all_texts
        if len(all_texts) <= _SAMPLE_FOR_LENGTH
        else [all_texts[int(i)] for i in np.random.default_rng(0).choice(len(all_texts), _SAMPLE_FOR_LENGTH, replace=False)]
    )
    names = ", ".join(p.test.name for p in plans)
    return _estimate(
        predictor,
        "probes",
        f"{len(plans)} probe{'s' if len(plans) != 1 else ''} ({names})",
        len(all_texts),
        uncached(predictor, all_texts),
        _mean_tokens(predictor, sample),
        throughput,
        calibrate_with=[shown(t) for t in texts],  # timed on single texts as long as the pairs
        tests=[p.test.name for p in plans],
    )


def _n_special(predictor: InferenceLayer) -> int:
    """Special tokens the tokenizer adds to every text ([CLS] and [SEP], <s> and </s>)."""
    return int(predictor.token_counts([""])[0])
