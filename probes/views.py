"""What the Robustness page shows, as plain data: the probe settings, the shared store of computed results, the before/after verdicts.

A finished probe run is kept in memory for every session (`PROBE_RESULTS`) and in the results store (`store.results`, payload
kind "probes"), so an app restart, or `veredicto precompute --what probes`, opens the page on it: `probe_report` reads memory,
then the store. The stored key is everything the in-memory key holds plus the word lists' contents and `PROBE_FORMAT`.

The page lays these out; nothing here imports Streamlit, so it is tested directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from probes.perturb import DEFAULT_VARIANTS, TESTS, WORDLIST_DIR, DirectionConfig, guess_directions
from probes.run import DEFAULT_SEGMENT, ProbeReport, compare_reports
from runtime import LRUCache, current
from runtime.escaping import csv_bytes, md


@dataclass(frozen=True)
class ProbeParams:
    """The settings a probe run depends on; with the checkpoint and data fingerprints they name its result."""

    tests: tuple[str, ...]
    limit: int | None  # None: every example the test applies to
    seed: int
    variants: int
    language: str
    directions: str  # DirectionConfig.to_dict() as JSON, "null" when directional tests are off
    segment: str | None = None  # sentence pairs: which text is perturbed ("second", "first", "both"); None for single texts

    @classmethod
    def of(
        cls,
        tests: tuple[str, ...],
        limit: int,
        n_examples: int,
        seed: int,
        variants: int,
        language: str,
        directions: DirectionConfig | None,
        segment: str | None = None,
    ) -> ProbeParams:
        """A limit as large as the data means no limit, so both settings share one result."""
        return cls(
            tuple(tests), limit if limit < n_examples else None, seed, variants, language, json.dumps(directions.to_dict() if directions else None), segment
        )

    def key(self, checkpoint_key: str, data_fingerprint: str) -> tuple:
        """`checkpoint_key`: the checkpoint's `scoring_key` (task included); `data_fingerprint`: the table's (thresholds included)."""
        return (checkpoint_key, data_fingerprint, self.tests, self.limit, self.seed, self.variants, self.language, self.directions, self.segment)


DEFAULT_LIMIT = 200  # examples per test the Robustness page opens with


def default_probe_params(labels, evalset) -> tuple[ProbeParams, DirectionConfig | None]:
    """The probe run the Robustness page opens with on `evalset` (every test that applies, directional ones when the labels
    look like sentiment, seed 0, the default limit and variants), and its directions: what `veredicto precompute --what probes` stores."""
    directions = guess_directions(labels)
    tests = tuple(t.name for t in TESTS.values() if t.kind != "directional" or directions is not None)
    segment = DEFAULT_SEGMENT if evalset.pair else None
    return ProbeParams.of(tests, min(DEFAULT_LIMIT, len(evalset)), len(evalset), 0, DEFAULT_VARIANTS, "auto", directions, segment), directions


class ResultCache:
    """Results any session computed, shared by all: per kind, the `keep` most recently used (one `LRUCache` each)."""

    def __init__(self, keep: int = 16):
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.keep = keep
        self._lock = threading.Lock()  # guards the kinds map; each LRUCache locks itself
        self._kinds: dict[str, LRUCache] = {}

    def _of(self, kind: str) -> LRUCache:
        with self._lock:
            return self._kinds.setdefault(kind, LRUCache(max_items=self.keep))

    def put(self, kind: str, key: Hashable, value: Any) -> Any:
        self._of(kind).put(key, value)
        return value

    def get(self, kind: str, key: Hashable) -> Any:
        return self._of(kind).get(key)

    def __len__(self) -> int:
        with self._lock:
            caches = list(self._kinds.values())
        return sum(len(c) for c in caches)

    def clear(self) -> None:
        with self._lock:
            self._kinds.clear()


PROBE_RESULTS: ResultCache = current().shared("probe_results", lambda: ResultCache(keep=16))  # one per process, owned by the runtime

PROBE_FORMAT = 1  # code version of a stored probe report: bump when the perturbations or what a report means change
log = logging.getLogger(__name__)


def wordlists_digest() -> str:
    """sha256 over the word lists' files (they can be edited, and the perturbations follow them): part of a stored run's key."""
    digest = hashlib.sha256()
    for path in sorted(WORDLIST_DIR.glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _stored_where(key: tuple) -> tuple[str, dict]:
    """(store key, params) of a probe run named by `ProbeParams.key`: the checkpoint's scoring key, then the rest."""
    checkpoint_key, data_fingerprint, tests, limit, seed, variants, language, directions, segment = key
    params = {"data": data_fingerprint, "tests": list(tests), "limit": limit, "seed": seed, "variants": variants, "language": language}
    return checkpoint_key, {**params, "directions": directions, "segment": segment, "wordlists": wordlists_digest()}


def _results_store(store=None):
    """`store`, else the process's shared results store (None when it cannot be used)."""
    from store.results import shared_store

    return store if store is not None else shared_store().store


def probe_report(key: tuple, results: ResultCache = PROBE_RESULTS, store=None) -> ProbeReport | None:
    """The report of the probe run `key` names: kept in memory, else read from the results store (`store`, default the
    shared one; then kept); None when no one ran it (or the store cannot be read: the page then offers to run it)."""
    from store.results import StoreError

    report = results.get("reports", key)
    store = _results_store(store)
    if report is not None or store is None:
        return report
    try:
        data = store.get_payload("probes", *_stored_where(key), PROBE_FORMAT)
    except StoreError as exc:
        log.warning("Probe results not read from the results store: %s", exc)
        return None
    return None if data is None else results.put("reports", key, ProbeReport.from_dict(data))


def keep_report(key: tuple, report: ProbeReport, results: ResultCache = PROBE_RESULTS, store=None) -> ProbeReport:
    """Keep a finished run for every session and in the results store (`store`, default the shared one; one that cannot
    be written: memory only, logged)."""
    from store.results import StoreError

    results.put("reports", key, report)
    store = _results_store(store)
    if store is not None:
        try:
            store.put_payload("probes", *_stored_where(key), PROBE_FORMAT, report.to_dict())
        except StoreError as exc:
            log.warning("Probe results kept in memory only: %s", exc)
    return report


@dataclass(frozen=True)
class ProbeComparison:
    """Before/after probe results: the table, and the tests that got more brittle or more robust as (title, before, after)."""

    table: pd.DataFrame
    more_brittle: tuple[tuple[str, float, float], ...]
    more_robust: tuple[tuple[str, float, float], ...]


COMPARISON_COLUMNS = ["title", "kind", "before", "after", "change", "tried_after", "fixed", "new", "p_value", "verdict"]
SUMMARY_COLUMNS = ["title", "kind", "failure_rate", "failed", "tried", "applicable", "expectation", "note"]


def probe_comparison(before: ProbeReport, after: ProbeReport) -> ProbeComparison:
    comparison = compare_reports(before, after)

    def rows(verdict: str) -> tuple[tuple[str, float, float], ...]:
        part = comparison[comparison["verdict"] == verdict]
        return tuple((str(t), b, a) for t, b, a in zip(part["title"], part["before"], part["after"]))

    return ProbeComparison(comparison[COMPARISON_COLUMNS], rows("more brittle"), rows("more robust"))


def probe_summary(report: ProbeReport) -> pd.DataFrame:
    """One row per test; 'applicable' as text, 'about N' where planning estimated it from the sample it walked."""
    summary = report.summary_frame()[SUMMARY_COLUMNS]
    return summary.assign(applicable=[r.applies_to for r in report.results])


def label_flips(report: ProbeReport) -> pd.DataFrame | None:
    """Multi-label reports: per test (rows) and label (columns), the perturbed texts whose decision on that label flipped; None otherwise."""
    return report.label_flips_frame() if report.thresholds is not None else None


# --- running the probes ---------------------------------------------------------------------------------------------


def pending_estimates(predictors, reports, evalset, *, directions, limit: int | None, plans) -> str | None:
    """The 'before running' line for the checkpoints without a result yet; None when every one has a result."""
    from probes import cost

    waiting = [p for p, r in zip(predictors, reports) if r is None]
    if not waiting:
        return None
    estimates = [cost.estimate_probes(p, evalset, directions=directions, limit=limit, plans=plans) for p in waiting]
    return "**Before running:** " + " ".join(f"{md(p.ref.name)}: {e.describe()}" for p, e in zip(waiting, estimates))


def run_and_keep(
    predictor, evalset, params: ProbeParams, key: tuple, *, directions, plans, progress=None, results: ResultCache = PROBE_RESULTS, thresholds=None
) -> ProbeReport:
    """Run the probes of `params` on one checkpoint, keep the report and how its estimate compared with the run under `key`.

    `thresholds` (multi-label): the per-label thresholds of the checkpoint's prediction table, which decide the predicted sets.

    Raises what `run_probes` raises (a VeredictoError with a message for the page); nothing is kept then.
    """
    import time

    from probes import cost
    from probes.run import run_probes

    estimate = cost.estimate_probes(predictor, evalset, directions=directions, limit=params.limit, plans=plans)
    started = time.perf_counter()
    report = run_probes(
        predictor,
        evalset,
        params.tests,
        directions=directions,
        limit=params.limit,
        seed=params.seed,
        n_variants=params.variants,
        language=params.language,
        progress=progress,
        segment=params.segment or DEFAULT_SEGMENT,
        thresholds=thresholds,
    )
    keep_report(key, report, results)
    results.put("checks", key, cost.check(estimate, time.perf_counter() - started, report.n_model_calls))
    return report


# --- failing examples -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureChoices:
    """The tests of one report to pick from, how each is named in the list, and the one to open on (the most failures)."""

    tests: tuple[str, ...]
    names: dict[str, str]
    default: int


def failure_choices(report: ProbeReport) -> FailureChoices:
    tests = tuple(r.test for r in report.results)
    names = {r.test: f"{r.title} — {r.n_failed} failing of {r.n_tried}" for r in report.results}
    return FailureChoices(tests, names, max(range(len(tests)), key=lambda k: report.results[k].n_failed) if tests else 0)


@dataclass(frozen=True)
class FailingExamples:
    """One test's failing pairs on one checkpoint, with the line above them, the message when there are none, and the downloads."""

    title: str
    heading: str
    failures: pd.DataFrame  # one row per failing pair; no 'test' column
    none_message: str  # shown when `failures` is empty
    csv: bytes  # every failing pair of the report, every test
    json: bytes  # all the reports shown


PAIR_TEXTS = ("original", "perturbed")  # what a probe failure carries from the data


def _redacted_report(report: ProbeReport) -> dict:
    """`report.to_dict()` with personal data masked in every failing pair's texts."""
    from privacy.redact import redact

    data = report.to_dict()
    for result in data["results"]:
        result["failures"] = [{**f, **{k: redact(str(f[k])).text for k in PAIR_TEXTS if f.get(k) is not None}} for f in result["failures"]]
    return data


def failing_examples(reports: list[ProbeReport], which: int, test: str, *, redact: bool = False) -> FailingExamples:
    """One test's failing pairs and the downloads; `redact`: the CSV and JSON downloads with personal data masked in the
    texts (the page masks what it shows itself)."""
    from privacy.redact import redact_frame

    report = reports[which]
    result = report.result(test)
    everything = report.failures_frame()
    return FailingExamples(
        result.title,
        f"**{md(result.title)}** · {md(result.expectation)}" + (f" · {md(result.note)}" if result.note else ""),
        result.failures_frame().drop(columns=["test"]),
        f"No failing example for {md(result.title)} on {md(report.checkpoint_name)}." if result.n_tried else md(result.note),
        csv_bytes(redact_frame(everything, PAIR_TEXTS) if redact else everything),  # formula-looking texts neutralised: a spreadsheet opens this
        json.dumps({"reports": [_redacted_report(r) if redact else r.to_dict() for r in reports]}, ensure_ascii=False).encode("utf-8"),
    )


def pair_explain_cost(predictor, texts, ready, method: str, budget: dict[str, Any]) -> str:
    """What explaining the texts of a failing pair that have no attribution yet (`ready[i] is None`) would cost."""
    from probes import cost

    estimator = cost.estimate_shap if method == "shap" else cost.estimate_lime
    return estimator(predictor, [t for t, a in zip(texts, ready) if a is None], budget.get("max_evals") or budget.get("num_samples")).describe()


# --- similar examples and label noise ---------------------------------------------------------------------------------

AUTO_EMBED_SECONDS = 3.0  # embeddings cheaper than this are computed on sight; dearer ones wait for a click
SIMILAR_FORMAT = 1  # code version of a stored map or label-noise payload: bump when `project` or `label_noise` change what they give
MAP_SEED = 0  # the map's projection (t-SNE's start; PCA's solver)
NOISE_K, NOISE_THRESHOLD = 10, 0.7  # the label-noise hints the page opens with (what `fill_similar` stores)


def default_noise_k(n: int) -> int:
    """Neighbours the label-noise hints look at when the page opens on `n` examples."""
    return min(NOISE_K, max(1, n - 1))


def _loaded(index):
    """`index` (a `probes.embeddings.EmbeddingIndex`), or what it loads when it is a loader of one (called only when a search needs the vectors)."""
    return index() if callable(index) else index


@dataclass(frozen=True)
class EmbeddingState:
    """The embedding index of a prediction table if some session built it; else what building it costs and whether that is
    cheap enough to do without asking (`auto`)."""

    key: tuple
    index: Any  # probes.embeddings.EmbeddingIndex | None
    estimate: Any  # the cost estimate; None when the index exists or every embedding is already stored
    auto: bool
    ready: bool = False  # no index yet, but every embedding is in memory or the results store: it loads when a search needs it


def embedding_state(predictor, table, label_mapping: dict, results: ResultCache = PROBE_RESULTS, *, store=None) -> EmbeddingState:
    from probes import cost
    from probes.embeddings import index_for_table

    key = (table.fingerprint, table.data_fingerprint, json.dumps(label_mapping, sort_keys=True))
    index = results.get("indexes", key)
    if index is not None:  # kept under the data, not its gold labels: with the reviewers' corrections on, relabel it
        return EmbeddingState(key, index_for_table(index, table), None, False)
    if results.get("ready", key) or _map_stored(table, key, results, store) or predictor.uncached_count(table.inputs, embeddings=True) == 0:
        # all in memory or the results store: nothing to time or ask
        results.put("ready", key, True)  # counted once (100k rows: a second), not on every rerun
        return EmbeddingState(key, None, None, True, ready=True)
    estimate = cost.estimate_embed(predictor, table.inputs)
    return EmbeddingState(key, None, estimate, estimate.n_model_calls == 0 or (estimate.seconds is not None and estimate.seconds <= AUTO_EMBED_SECONDS))


def _map_stored(table, key: tuple, results: ResultCache, store=None) -> bool:
    """Whether the results store (`store`: default the shared one) holds the PCA map of `table`, kept in memory for
    `embedding_map` when it does: it is stored only once every embedding of the table is, in the same file, so the
    embeddings need no counting (100k rows: a second of SQL)."""
    from store.payloads import read

    coords = read("embedding_map", *map_where(table, "pca"), SIMILAR_FORMAT, store=store)
    if coords is not None:
        results.put("maps", (*key, "pca"), coords)
    return coords is not None


def build_embeddings(predictor, table, state: EmbeddingState, progress=None, results: ResultCache = PROBE_RESULTS):
    """Embed every example of `table`, keep the index for every session, and how the estimate compared with the run."""
    import time

    from probes import cost
    from probes.embeddings import build_index

    started = time.perf_counter()
    index = results.put("indexes", state.key, build_index(predictor, table, progress=progress))
    if state.estimate is not None:  # nothing was estimated when every embedding was already stored
        results.put("checks", ("embed", *state.key), cost.check(state.estimate, time.perf_counter() - started, state.estimate.n_model_calls))
    return index


def map_where(table, method: str) -> tuple[str, dict]:
    """(store key, params) of the map of `table`'s examples: the checkpoint whose embeddings it projects, the data (the texts,
    in order), the method and seed, the embeddings' row format."""
    from store.results import FORMAT

    return table.fingerprint, {"data": table.data_fingerprint, "method": method, "seed": MAP_SEED, "rows": FORMAT}


def noise_where(table, k: int, threshold: float, sample: int) -> tuple[str, dict]:
    """(store key, params) of the label-noise hints on `table`: its `cache_key` (checkpoint and task, data as judged, the gold
    labels), the settings and the embeddings' row format."""
    from store.results import FORMAT

    return table.fingerprint, {"table": table.cache_key, "k": k, "threshold": threshold, "sample": sample, "seed": 0, "rows": FORMAT}


def embedding_map(index, index_key: tuple, method: str, results: ResultCache = PROBE_RESULTS, *, table=None, store=None) -> pd.DataFrame:
    """The 2-D map of the examples (`method` 'pca' or 'tsne'), the projection computed once per index and method and kept
    for every session. With `table` (the prediction table the index is of) the coordinates are also read from the results
    store (`store`, default the shared one; `map_where`), else stored once projected: a filled store's first open projects
    nothing (PCA of 100k x 768 took ~3 s). `index`: an index, or a loader of one, called only to project."""
    from probes.embeddings import embedding_map_frame, example_frame, project
    from store.payloads import stored

    coords = results.get("maps", (*index_key, method))
    if coords is None:

        def projected():
            return project(_loaded(index).vectors, method, seed=MAP_SEED)

        coords = projected() if table is None else stored("embedding_map", *map_where(table, method), SIMILAR_FORMAT, projected, store=store)
        results.put("maps", (*index_key, method), coords)
    return embedding_map_frame(_loaded(index) if table is None else example_frame(table), coords)


@dataclass(frozen=True)
class MapExamples:
    """The examples listed under the map: those selected on it, or all of them."""

    shown: pd.DataFrame
    heading: str


def map_examples(table, event, page_rows: int | None = None) -> MapExamples:
    """The examples selected on the map, else all; at most `page_rows` (default `analysis.views.PAGE_ROWS`) of them listed,
    the heading saying so (st.dataframe sends every row it gets to the browser: 100k rows were megabytes per rerun)."""
    from analysis.views import PAGE_ROWS
    from probes.embeddings import rows_from_selection

    page_rows = page_rows or PAGE_ROWS
    on_map = [r for r in rows_from_selection(event) if 0 <= r < len(table)]
    listed = table.frame.loc[on_map] if on_map else table.frame
    n = len(listed)
    heading = f"**{n:,} example{'s' * (n != 1)}**" + (" selected on the map" if on_map else " (select points on the map to filter)")
    if n > page_rows:
        heading += f"; the first {page_rows:,} are listed" + ("" if on_map else ", select points on the map to list others")
    return MapExamples(listed.iloc[:page_rows][["text", "gold", "pred", "confidence", "correct"]], heading)


@dataclass(frozen=True)
class Neighbours:
    """The nearest examples of a typed text or of a selected example (`row`), with the line above them; `frame` None: neither."""

    frame: pd.DataFrame | None
    heading: str = ""
    other_gold: int = 0  # of a selected example's neighbours, how many carry another gold label
    row: int | None = None


def nearest(index, table, predictor, query: str, picked: list, k: int) -> Neighbours:
    from models.embeddings import embed_texts
    from probes.embeddings import neighbours, neighbours_of_vector

    if query.strip():
        return Neighbours(neighbours_of_vector(_loaded(index), embed_texts(predictor, [query])[0], k), f"Examples most similar to *{md(query.strip())}*:")
    if not picked:
        return Neighbours(None)
    row = int(picked[0])
    near = neighbours(_loaded(index), row, k)
    frame = table.frame
    heading = f"Examples most similar to **example {row}** (gold **{md(frame['gold'].iat[row])}**, predicted **{md(frame['pred'].iat[row])}**): {md(frame['text'].iat[row])}"
    return Neighbours(near, heading, int((near["gold"] != frame["gold"].iat[row]).sum()), row)


@dataclass(frozen=True)
class LabelNoise:
    """Examples whose neighbours mostly carry one other gold label: the table shown, the sentence above it, the CSV to relabel."""

    frame: pd.DataFrame  # empty when nothing is flagged
    summary: str
    csv: bytes


def label_noise_view(
    index,
    k: int,
    threshold: float,
    *,
    redact: bool = False,
    sample: int | None = None,
    key: tuple | None = None,
    table=None,
    store=None,
    results: ResultCache = PROBE_RESULTS,
) -> LabelNoise:
    """The label-noise hints of `index`, looking at a seeded random `sample` of its examples when it has more (their
    neighbours still come from all; default `probes.embeddings.LABEL_NOISE_SAMPLE`); `redact`: the CSV download with
    personal data masked in the texts. `key` (names the index and its gold labels: `EmbeddingState.key` and the table's `cache_key`): the
    hints are searched once per index and settings and kept for every session (at 100k rows the search takes seconds, and
    the page reruns on every click). With `table` (the prediction table the index is of) they are also read from the
    results store (`store`, default the shared one; `noise_where`), else stored once searched: a filled store's first open
    searches nothing. `index`: an index, or a loader of one, called only to search."""
    from privacy.redact import redact_frame
    from probes.embeddings import LABEL_NOISE_SAMPLE, label_noise, noise_csv
    from store.payloads import stored

    sample = sample or LABEL_NOISE_SAMPLE
    named = None if key is None else (*key, k, threshold, sample)
    noise = None if named is None else results.get("noise", named)
    if noise is None:

        def searched():
            return label_noise(_loaded(index), k=k, threshold=threshold, sample=sample)

        noise = searched() if table is None else stored("label_noise", *noise_where(table, k, threshold, sample), SIMILAR_FORMAT, searched, store=store)
        if named is not None:
            results.put("noise", named, noise)
    n = len(table) if table is not None else len(_loaded(index))
    looked = min(sample, n)
    sampled = f" (in a random sample of {looked:,} of the {n:,} examples; their neighbours come from all of them)" if looked < n else ""
    if noise.empty:
        return LabelNoise(noise, f"No example{sampled} has {threshold:.0%} or more of its {k} nearest neighbours on one other gold label.", b"")
    agree = int(noise["model_agrees"].sum())
    summary = (
        f"**{len(noise):,}** example{'s' * (len(noise) != 1)} ({len(noise) / looked:.1%}){sampled} look mislabelled: their neighbours mostly carry another label. "
        f"For {agree:,} of them the model also predicts that other label — check those first."
    )
    return LabelNoise(noise.drop(columns=["neighbour_rows", "neighbours"]), summary, noise_csv(redact_frame(noise, ["text"]) if redact else noise))


def fill_similar(predictor, table, *, store) -> list[str]:
    """Store what the "Similar examples" tab computes on open for `table` (a checkpoint's predictions on the data, read as
    the app reads it): the PCA map's coordinates and the label-noise hints at the opening settings, through the tab's own
    functions, so the keys are the page's; the embeddings are `predictor`'s (read from `store`, else computed). What
    `store` holds already is read, not recomputed. Returns one line per part."""
    import functools

    from probes.embeddings import LABEL_NOISE_SAMPLE, build_index
    from store.payloads import read

    index = functools.cache(lambda: build_index(predictor, table))  # read once, only when a part is missing
    memory = ResultCache(keep=1)  # not the process's: each part is looked up in the store, as a fresh app process would
    k = default_noise_k(len(table))
    parts = (
        ("The embedding map (PCA)", "embedding_map", map_where(table, "pca"), lambda: embedding_map(index, ("fill",), "pca", memory, table=table, store=store)),
        (
            f"Label-noise hints ({k} neighbours, {NOISE_THRESHOLD:.0%} agreement)",
            "label_noise",
            noise_where(table, k, NOISE_THRESHOLD, LABEL_NOISE_SAMPLE),
            lambda: label_noise_view(index, k, NOISE_THRESHOLD, table=table, store=store, results=memory),
        ),
    )
    lines = []
    for what, kind, where, run in parts:
        found = read(kind, *where, SIMILAR_FORMAT, store=store)
        if found is None:
            run()
        lines.append(f"{what}: {'computed and stored' if found is None else 'already stored, skipped'}.")
    return lines
