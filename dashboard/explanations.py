"""Streamlit glue for explanations: the shared attribution cache, computing what is missing with progress,
and the one-method panel that Explore (and any page showing one example) lays out.

Read-first: every explanation is looked up in the persistent cache (`explain.cache`, filled by
`veredicto precompute` or by earlier visits) and computed only when missing, with a visible
`st.status`. Budgets default to the explainers' defaults, which `precompute` also uses, so the
cache is shared; `VEREDICTO_SHAP_MAX_EVALS` / `VEREDICTO_LIME_SAMPLES` change them for slow machines.

Several reviewers at once: SHAP/LIME runs on one checkpoint take turns (first come, first served, see
`explain.api`); a session whose run waits sees its place in line in the status box ("waiting: 2
explanations ahead of yours"), then the run's progress ("computing SHAP: 300/500 evaluations"), never a
silent wait. Cached explanations are read without queueing, and so are gradient explanations (Integrated
Gradients takes a fraction of a second): Explore shows it first, as the instant view, while SHAP and LIME run.
"""

from __future__ import annotations

import streamlit as st

from dashboard.columns import display_note
from dashboard.state import redacting
from explain.api import QUEUED, model_calls
from explain.attribution import Attribution
from explain.cache import PAGE_METHODS, AttributionCache, default_params, shared_cache
from explain.plots import method_name, token_heat_figure, top_tokens_figure
from models.errors import VeredictoError
from models.protocol import TextInput
from runtime.escaping import md

METHODS = PAGE_METHODS  # the thorough methods every page shows (Overview, Insights, Sign-off)
INSTANT = "ig"  # the gradient method Explore shows first, while the thorough ones run
EXPLORE_METHODS = (INSTANT, *METHODS)


def attribution_cache() -> AttributionCache:
    """The one cache object per cache directory, shared by every page and session (owned by `runtime.current()`)."""
    cache = shared_cache()
    if cache.notice and not st.session_state.get("_cache_notice_shown"):
        st.warning(cache.notice, icon=":material/warning:")
        st.session_state["_cache_notice_shown"] = True
    return cache


def cached_attribution(predictor, text: TextInput, method: str, params: dict | None = None) -> Attribution | None:
    """The cached explanation or None; never computes."""
    params = default_params(method) if params is None else params
    return attribution_cache().get(predictor.ref.scoring_key, text, method, **params)


def waiting_message(name: str, ahead: int, in_line: int) -> str:
    """The status line while a run waits for its turn (`ahead` runs before it, `in_line` in all, this one included)."""
    if ahead <= 0:
        return f"Your turn: computing the {name} explanation…"
    runs = "explanation" if ahead == 1 else "explanations"
    return f"{name} — waiting: {ahead} {runs} ahead of yours (place {ahead + 1} of {in_line}; other reviewers are explaining on this server)"


def progress_message(method: str, name: str, done: int, total: int) -> str:
    """The progress bar's text: SHAP counts its budget of evaluations, LIME the perturbed texts still to score, a gradient
    method the points of its path (each a forward and backward pass)."""
    unit = "evaluations" if method == "shap" else "perturbed texts scored" if method == "lime" else "path points"
    return f"computing {name}: {done:,}/{total:,} {unit}"


def get_attribution(predictor, text: TextInput, method: str, params: dict | None = None) -> Attribution | None:
    """Read the cache; compute (with a status box and progress bar) only if missing. A bad text shows its message."""
    params = default_params(method) if params is None else params
    cache = attribution_cache()
    hit = cache.get(predictor.ref.scoring_key, text, method, **params)
    if hit is not None:
        return hit
    name = method_name(method)
    instant = "" if method in QUEUED else " — instant view"  # gradient methods never wait in line and take a fraction of a second
    try:
        with st.status(f"Computing the {name} explanation{instant} ({model_calls(method, params):,} model calls at most)…", expanded=False) as status:
            bar = st.progress(0.0)

            def waiting(ahead: int, in_line: int) -> None:
                status.update(label=waiting_message(name, ahead, in_line), state="running")
                bar.progress(0.0, text=waiting_message(name, ahead, in_line))

            def progress(done: int, total: int) -> None:
                message = progress_message(method, name, done, total)
                status.update(label=message, state="running")
                bar.progress(min(1.0, done / max(total, 1)), text=message)

            attribution = cache.get_or_compute(
                predictor,
                text,
                method,
                progress=progress,
                waiting=waiting,  # another reviewer's run on the same text, stored before our turn comes, is read instead
                **params,
            )
            status.update(label=f"{name}{instant}: {attribution.n_model_calls:,} model calls, {attribution.seconds:.1f} s (now cached)", state="complete")
    except VeredictoError as exc:
        st.warning(f"{name}: {md(exc)}")
        return None
    return attribution


def method_column(attribution: Attribution, label: str, *, key: str, width: int = 40, trust: str | None = None, top: int = 8) -> None:
    """One method's view of an example: the coloured text, the words for/against, and how far to trust it.

    With "Redact personal data" on, tokens inside personal data are shown merged as `<EMAIL>`, `<NAME>`... (`Attribution.redacted`)."""
    if redacting():
        trust = display_note(trust, attribution.text) if trust else trust
        attribution = attribution.redacted()
    st.plotly_chart(token_heat_figure(attribution, label, width=width), width="stretch", key=f"{key}-heat-{attribution.method}")
    if trust:
        st.markdown(trust)
    st.plotly_chart(top_tokens_figure(attribution, label, k=top), width="stretch", key=f"{key}-top-{attribution.method}")
    st.caption(method_caption(attribution))


def method_caption(attribution: Attribution) -> str:
    """What was computed and how: the budget's parameters (SHAP/LIME), or Integrated Gradients' steps, baseline and how
    closely its scores add up to the model's output."""
    shown = ("max_evals", "num_samples", "seed", "n_steps", "baseline")
    parts = [
        method_name(attribution.method),
        f"{attribution.n_model_calls:,} model calls",
        f"computed in {attribution.seconds:.1f} s",
        ", ".join(f"{k}={v}" for k, v in sorted(attribution.params.items()) if k in shown),
    ]
    if "completeness_error" in attribution.extra:
        parts.append(f"completeness error {float(attribution.extra['completeness_error']):.1e}")
    return " · ".join(p for p in parts if p)
