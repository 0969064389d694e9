"""One entry point for per-example explanations: `explain_text` validates, then dispatches.

    from explain.api import explain_text
    attribution = explain_text(predictor, "the soup was cold", method="shap", target="negative")

Every bad input gets an `ExplainError` whose message says what is wrong and what to do:
empty or whitespace-only text, a text that is a single token, an unknown target label,
an unknown method, nonsensical budgets. A text longer than the model reads is explained
anyway: only the part the model reads (cut at a word boundary) is explained, the rest is one
trailing token with score 0, and `truncated=True` says so.

Strategies (`STRATEGIES`) receive an already validated `Prepared` text; add one there to add a method.

Several sessions at once: SHAP and LIME runs on one checkpoint take turns in one first-come-first-served
line (`explanation_queue`, a `models.fairlock.FairLock` owned by `runtime.current()`); a waiting caller is
told its place through `waiting(ahead, in_line)` each time it changes, and `waiting(0, in_line)` when its
turn comes. Only explanation runs queue there: cached explanations and predictions never do, and since a
run holds the predictor only per forward batch, another session's one-text prediction gets in between.
Never call `explain_text` inside `exclusive()`: the run ahead in line could be waiting for that predictor.
"""

from __future__ import annotations

import dataclasses
import numbers
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from explain import gradient_explainer, lime_explainer, shap_explainer
from explain.attribution import PAIR_SEP, Attribution, ExplainError
from explain.shap_explainer import pair_mark
from models.fairlock import FairLock, OnWait
from models.gradients import BASELINES
from models.protocol import InferenceLayer
from runtime import current

METHODS = ("shap", "lime", *gradient_explainer.METHODS)
# Gradient methods take a fraction of a second: they skip the line SHAP and LIME runs wait in (they hold the
# predictor only per chunk of points, like any prediction), so the first view of an explanation never waits for one.
QUEUED = frozenset({"shap", "lime"})
MIN_BUDGET = 10


def model_calls(method: str, params: Mapping[str, Any]) -> int:
    """The most model calls one explanation with `params` makes: SHAP's evaluations, LIME's perturbed texts, Integrated
    Gradients' path points plus its two ends, Gradient x Input's input and zero baseline (forward and backward each)."""
    if method == "ig":
        return int(params.get("n_steps", gradient_explainer.DEFAULT_STEPS)) + 2
    if method == "grad_input":
        return 2
    return int(params.get("max_evals") or params.get("num_samples") or 0)


@dataclass(frozen=True)
class Prepared:
    """A validated text and how much of it the model reads."""

    text: str
    explained_chars: int  # text[:explained_chars] is what gets explained
    truncated: bool
    n_tokens: int  # model tokens in the whole text, special tokens excluded
    text_pair: str | None = None  # the second text of a sentence pair (a pair is explained whole, never truncated)


@dataclass(frozen=True)
class Options:
    max_evals: int
    num_samples: int
    batch_size: int
    seed: int
    progress: Callable[[int, int], None] | None
    waiting: OnWait | None = None
    n_steps: int = gradient_explainer.DEFAULT_STEPS
    baseline: str = gradient_explainer.DEFAULT_BASELINE


def _run_shap(predictor: InferenceLayer, prepared: Prepared, target: str | None, options: Options) -> Attribution:
    return shap_explainer.compute(
        predictor,
        prepared.text,
        explained_chars=prepared.explained_chars,
        truncated=prepared.truncated,
        target=target,
        max_evals=options.max_evals,
        batch_size=options.batch_size,
        seed=options.seed,
        progress=options.progress,
        waiting=options.waiting,
        text_pair=prepared.text_pair,
    )


def _run_lime(predictor: InferenceLayer, prepared: Prepared, target: str | None, options: Options) -> Attribution:
    return lime_explainer.compute(
        predictor,
        prepared.text,
        explained_chars=prepared.explained_chars,
        truncated=prepared.truncated,
        target=target,
        num_samples=options.num_samples,
        seed=options.seed,
        progress=options.progress,
        text_pair=prepared.text_pair,
    )


def _gradient(method: str) -> Callable[..., Attribution]:
    def run(predictor: InferenceLayer, prepared: Prepared, target: str | None, options: Options) -> Attribution:
        return gradient_explainer.compute(
            predictor,
            prepared.text,
            method=method,
            explained_chars=prepared.explained_chars,
            truncated=prepared.truncated,
            target=target,
            n_steps=options.n_steps,
            baseline=options.baseline,
            progress=options.progress,
            text_pair=prepared.text_pair,
        )

    return run


STRATEGIES: dict[str, Callable[..., Attribution]] = {"shap": _run_shap, "lime": _run_lime, **{m: _gradient(m) for m in gradient_explainer.METHODS}}


def explanation_queue(predictor: InferenceLayer) -> FairLock:
    """The one line of SHAP/LIME runs for `predictor`'s checkpoint in this process (first come, first served)."""
    return current().shared(("explanation_queue", predictor.ref.fingerprint), FairLock)


def explain_text(
    predictor: InferenceLayer,
    text: str,
    method: str = "shap",
    target: str | None = None,
    *,
    max_evals: int = shap_explainer.DEFAULT_MAX_EVALS,
    num_samples: int = lime_explainer.DEFAULT_NUM_SAMPLES,
    batch_size: int = shap_explainer.DEFAULT_BATCH_SIZE,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    waiting: OnWait | None = None,
    reuse: Callable[[], Attribution | None] | None = None,
    store: Callable[[Attribution], None] | None = None,
    text_pair: str | None = None,
    n_steps: int = gradient_explainer.DEFAULT_STEPS,
    baseline: str = gradient_explainer.DEFAULT_BASELINE,
) -> Attribution:
    """Explain `predictor`'s output on `text` (with `text_pair`: on the sentence pair) with SHAP, LIME, Integrated
    Gradients ("ig") or Gradient x Input ("grad_input"), scores for every class.

    target: the class the user asked about (a label name, or its index); None = the predicted class (for a multi-label
    checkpoint the most probable label; every label is explained through its own sigmoid probability).
    text_pair: the second text for a checkpoint that reads sentence pairs; tokens of both segments are explained.
    max_evals: SHAP's budget of masked texts. num_samples: LIME's number of perturbed texts.
    batch_size: SHAP's masked texts per round (one predict_proba call) -- speed; same budget.
    seed: makes LIME (and SHAP's tie-breaking) reproducible.
    n_steps, baseline: Integrated Gradients' integration points and reference (`models.gradients.BASELINES`).
    progress: optional callback(done, total) for a progress bar.
    waiting: optional callback(ahead, in_line) while this run waits for its turn (see the module docstring).
    reuse: optional lookup run once this run's turn has come (e.g. the attribution cache): a result it gives
    (another session computed the same explanation while this one waited) is returned instead of computing.
    store: optional callback given the result before the turn passes on, so the next `reuse` in line finds it.
    `seconds` on the result is the time spent explaining, not waiting in line.
    """
    started = time.perf_counter()
    method = check_method(method)
    text = check_text(text)
    text_pair = check_pair(predictor, text, text_pair)
    target = check_target(predictor, target)
    options = Options(
        max_evals=_check_count("max_evals", max_evals, MIN_BUDGET),
        num_samples=_check_count("num_samples", num_samples, MIN_BUDGET),
        batch_size=_check_count("batch_size", batch_size, 1),
        seed=_check_count("seed", seed, 0),
        progress=progress,
        waiting=waiting,
        n_steps=gradient_explainer.check_steps(n_steps),
        baseline=check_baseline(baseline),
    )
    prepared = prepare(predictor, text) if text_pair is None else prepare_pair(predictor, text, text_pair)
    if method not in QUEUED:
        attribution = STRATEGIES[method](predictor, prepared, target, options)
        attribution = dataclasses.replace(attribution, seconds=time.perf_counter() - started)
        if store is not None:
            store(attribution)
        return attribution
    queue = explanation_queue(predictor)
    waited = False

    def on_wait(ahead: int, in_line: int) -> None:
        nonlocal waited
        waited = True
        if waiting is not None:
            waiting(ahead, in_line)

    queued = time.perf_counter()
    with queue.turn(on_wait):
        in_line = time.perf_counter() - queued
        if waited and waiting is not None:
            waiting(0, queue.in_line())
        found = reuse() if reuse is not None and waited else None
        if found is not None:
            return found
        attribution = STRATEGIES[method](predictor, prepared, target, options)
        attribution = dataclasses.replace(attribution, seconds=time.perf_counter() - started - in_line)
        if store is not None:
            store(attribution)
    return attribution


# --- validation -----------------------------------------------------------------------------


def _preview(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def check_method(method) -> str:
    name = str(method).strip().lower() if isinstance(method, str) else None
    if name not in STRATEGIES:
        raise ExplainError(f"Unknown explanation method {method!r}. Choose one of: {', '.join(STRATEGIES)}.")
    return name


def check_baseline(baseline) -> str:
    if baseline not in BASELINES:
        raise ExplainError(f"Unknown baseline {baseline!r} for Integrated Gradients. Choose one of: {', '.join(BASELINES)}.")
    return str(baseline)


def check_text(text) -> str:
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExplainError(f"The text is not valid UTF-8 (byte at position {exc.start}). Re-save it as UTF-8.") from None
    if not isinstance(text, str):
        raise ExplainError(f"Expected a text to explain, got {type(text).__name__}. Pass the text as a string.")
    if not text.strip():
        what = "empty" if not text else "only whitespace"
        raise ExplainError(f"The text is {what}, so there is nothing to explain. Enter or pick a text with at least two words.")
    return text


def check_pair(predictor: InferenceLayer, text: str, text_pair) -> str | None:
    """The second text of a pair, checked like the first; refused where the tokenizer cannot mark a pair, and where either
    text holds the separator the explainers join the pair with."""
    if text_pair is None:
        return None
    try:
        text_pair = check_text(text_pair)
    except ExplainError as exc:
        raise ExplainError(f"Second text of the pair: {exc}") from None
    if not predictor.takes_pairs:
        raise ExplainError(
            f"Checkpoint '{predictor.ref.name}' has a tokenizer that cannot mark a sentence pair's two texts, so it cannot explain a pair. "
            "Explain one text (leave the second text out), or use a checkpoint trained on pairs."
        )
    with predictor.exclusive():
        sep = pair_mark(predictor.tokenizer)
    for name, value in (("first", text), ("second", text_pair)):
        if PAIR_SEP in value or sep in value:
            raise ExplainError(
                f"The {name} text contains {sep!r} or a record-separator character, which mark where a pair's texts meet. Remove it and try again."
            )
    return text_pair


def check_target(predictor: InferenceLayer, target) -> str | None:
    labels = tuple(predictor.labels)
    if target is None:
        return None
    if isinstance(target, str) and target in labels:
        return target
    if isinstance(target, numbers.Integral) and not isinstance(target, bool) and 0 <= int(target) < len(labels):
        return labels[int(target)]
    raise ExplainError(
        f"Unknown target label {target!r}: checkpoint '{predictor.ref.name}' has the labels {', '.join(labels)}. "
        "Pick one of those (or leave the target empty to explain the predicted class)."
    )


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ExplainError(f"{name} must be a whole number of at least {minimum}, got {value!r}.")
    return int(value)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def prepare_pair(predictor: InferenceLayer, text: str, text_pair: str) -> Prepared:
    """Check a sentence pair has something to explain and fits the model (a pair is explained whole)."""
    with predictor.exclusive():  # the fast tokenizer is not thread-safe
        n_tokens = len(predictor.tokenizer(text, text_pair, truncation=False, verbose=False)["input_ids"])
        n_special = len(predictor.tokenizer("", "", verbose=False)["input_ids"])
    if n_tokens - n_special < 2:
        raise ExplainError("The pair has fewer than two tokens for this model, so there is nothing to compare: add some context to either text.")
    if n_tokens > predictor.max_length:
        raise ExplainError(
            f"The pair is {n_tokens} tokens long and the model reads {predictor.max_length}: a pair is explained whole, so shorten "
            "one of its texts (the model would not see the end) and try again."
        )
    return Prepared(text, len(text), False, n_tokens - n_special, text_pair)


def prepare(predictor: InferenceLayer, text: str) -> Prepared:
    """Check the text has something to explain and find how much of it the model reads."""
    tokenizer = predictor.tokenizer
    with predictor.exclusive():  # the fast tokenizer is not thread-safe
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
        n_special = len(tokenizer("", verbose=False)["input_ids"])
        offsets = enc["offset_mapping"]
        n_tokens = len(enc["input_ids"])
        if n_tokens < 2:
            raise ExplainError(
                f"{_preview(text)} is a single token for this model, so there is nothing to compare it with: "
                "an explanation needs at least two tokens. Add some context or pick another example."
            )
        limit = predictor.max_length - n_special
        if n_tokens <= limit:
            return Prepared(text, len(text), False, n_tokens)
        for keep in range(limit, 1, -1):
            cut = offsets[keep][0]
            back = cut
            while 0 < back < len(text) and _is_word_char(text[back - 1]) and _is_word_char(text[back]):
                back -= 1  # never explain half a word: the model saw only some of its pieces
            if back > 0:
                cut = back
            fits = len(tokenizer(text[:cut], add_special_tokens=False, truncation=False, verbose=False)["input_ids"])
            if 2 <= fits <= limit:
                return Prepared(text, cut, True, n_tokens)
    raise ExplainError(f"Could not find a part of {_preview(text)} that fits in the model's {predictor.max_length} tokens.")
