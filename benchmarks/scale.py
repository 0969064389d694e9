"""Scale, in one run, for --rows 10000 100000: what issue 12 asks to measure, printed as one table with the load average
(`/proc/loadavg`, 1 minute) beside each figure.

Sections (`--only precompute,pages,restart,views`; the view-model sections can be named one by one too):
- precompute: `veredicto precompute`'s throughput on --precompute-rows texts of the build_100k set (default 10,000),
  predictions + embeddings of the demo's 'after' checkpoint, each into a fresh store, through the code the CLI runs
  (`cli.precompute.fill_scores`, `cli.ray_engine.Pool`): the local engine with W torch threads against Ray with W
  actors of 1 CPU (1 torch thread) each, W in --workers (default 1,2), alternated (local 1, Ray 1, local 2, Ray 2, ...)
  so load changes hit both; or, with --side-by-side, both at the same time on W cores each (the local engine in this
  process, the Ray driver in a thread beside it: the same load for both, half the wall time; the 100k runs, an hour per
  engine here, are measured so). "Equal workers" is W cores either way: W threads in one process, or W one-thread processes.
  Ray's figures are end to end (the one actor pool of the run starts, each actor loads the checkpoint once), with the
  pool start (until the first chunk is stored) and the steady rate after it beside them; Ray's own start (once per
  command) is a row of its own. Then the store's write rate (`ResultsStore.put_many`, chunks of 128).
- pages: every dashboard page opened with Streamlit's AppTest on the --rows sets of scripts/build_100k.py with the two
  demo checkpoints, from a filled results store (always a temporary one), in a fresh subprocess per size so its peak RSS
  is that size's. Each page is timed from `at.run()` start to end, first open (in page order, after the Overview) and
  second open (a new session in the same process). The store is filled by the model (`veredicto precompute`, real) up
  to 10,000 rows, or at any size with `--fill model`; above that, by default, with generated probabilities and
  embeddings written under the checkpoints' real keys (scoring 200k texts takes ~40 min here); then the Data page's
  results, the Robustness map and hints and Explore's first example for the candidate, by `veredicto precompute --what
  embeddings,explore,quality` (real, from those), and, as a user would,
  `veredicto precompute --what probes` per checkpoint and `veredicto gate` (example policy), each timed.
- restart: the same in a fresh subprocess on the demo (its test split) from the store `veredicto demo` fills
  ($VEREDICTO_CACHE_DIR, else cache/ in the Veredicto home), as an app restart reads it; when that store lacks the
  demo's results, a temporary store is filled as `veredicto demo` does (`cli.demo.fill_results`). Issue: Overview <= 2 s.
- views: each page's view-model and the HTML report on synthetic tables (`analysis.synthetic.synthetic_pair`), no
  model: the median of --repeats calls, the report's size, the process's peak RSS.

Run: nice -n 10 .venv/bin/python benchmarks/scale.py [--rows 10000 100000] [--precompute-rows 10000] [--side-by-side] [--only pages,restart]
     trial: --rows 2000 --precompute-rows 500
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

Row = tuple[str, float, str]
GROUPS = ("precompute", "pages", "restart", "views")
ENGINES = ("local", "ray")
MODEL_FILL_ROWS = 10_000  # above this the pages' store is filled with generated results unless --fill model


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "n/a"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(size: str, section: str, what: str, value: float, unit: str, note: str = "", flag: bool = False) -> None:
    """One row of the table, with the load now."""
    print(f"{size:>8} {section:<11}{what:<38}{value:>10.2f} {unit:<8} load {load():<5} {note}{'  <-- over target' if flag else ''}", flush=True)


# ------------------------------------------------------------------------------------------------------- precompute


class TimedStore:
    """A ResultsStore that notes when the first rows arrive (so the pool's start is told apart from its steady rate)."""

    def __init__(self, directory: Path):
        from store.results import ResultsStore

        self.store = ResultsStore(directory)
        self.first: tuple[float, int] | None = None

    def get_many(self, *args, **kwargs):
        return self.store.get_many(*args, **kwargs)

    def put_many(self, kind, key, inputs, rows) -> None:
        self.store.put_many(kind, key, inputs, rows)
        if self.first is None:
            self.first = (time.perf_counter(), len(inputs))


def precompute_once(engine: str, workers: int, predictor, texts, ray) -> tuple[float, float, float]:
    """(texts/s end to end, steady texts/s after the first stored chunk, seconds to the first stored chunk) of predictions +
    embeddings of `texts` into a fresh store; a text counts once both its parts are stored."""
    import torch

    from cli import ray_engine
    from cli.precompute import fill_scores

    with tempfile.TemporaryDirectory(prefix="veredicto-scale-precompute-") as tmp:
        store = TimedStore(Path(tmp))
        threads = torch.get_num_threads()
        pool = ray_engine.Pool(ray, predictor.ref, workers=workers, batch_size=predictor.batch_size) if engine == "ray" else None
        if engine == "local":
            torch.set_num_threads(workers)
        try:
            start = time.perf_counter()
            done = sum(fill_scores(store, predictor, part, texts, pool=pool) for part in ("predictions", "embeddings"))
            if pool is not None:
                done = pool.run()
            end = time.perf_counter()
        finally:
            if engine == "local":  # (only the local engine's: with --side-by-side the Ray run shares this process)
                torch.set_num_threads(threads)
        assert done == 2 * len(texts), f"{engine} stored {done} of {2 * len(texts)} rows"
        assert store.first is not None
        first_at, first_rows = store.first
        return len(texts) / (end - start), (len(texts) - first_rows / 2) / max(end - first_at, 1e-9), first_at - start


def write_rate(width: int, rows: int = 20_000, chunk: int = 128) -> float:
    import numpy as np

    from store.results import ResultsStore

    values = np.random.default_rng(0).random((rows, width), dtype=np.float32)
    texts = [f"benchmark text {i}" for i in range(rows)]
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultsStore(tmp)
        start = time.perf_counter()
        for s in range(0, rows, chunk):
            store.put_many("embedding", "bench", texts[s : s + chunk], values[s : s + chunk])
        return rows / (time.perf_counter() - start)


def precompute(args) -> None:
    import contextlib
    import io

    from cli import ray_engine
    from cli.precompute import CHUNK_BATCHES
    from models.checkpoints import inspect_checkpoint
    from models.inference import Predictor, ProbabilityCache
    from scripts.build_100k import build
    from training.demo import demo_paths

    n = args.precompute_rows
    texts = list(dict.fromkeys(build(n)["text"]))
    predictor = Predictor(inspect_checkpoint(demo_paths().after), device="cpu", cache=ProbabilityCache(1))
    size, workers = f"{n:,}", [int(w) for w in args.workers.split(",")]
    print(f"-- precompute: {len(texts):,} build_100k texts, predictions + embeddings of {predictor.ref.name}, batch {predictor.batch_size}", flush=True)
    started = time.perf_counter()
    print(f"-- engines {'side by side (at the same time, W cores each)' if args.side_by_side else 'alternated'}", flush=True)
    with ray_engine.session(num_cpus=max(workers)) as ray:
        emit(size, "precompute", "Ray start (once per command)", time.perf_counter() - started, "s", f"Ray {ray.__version__}, local, {max(workers)} CPUs")
        results: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
        for _ in range(args.repeats_precompute):
            for w in workers:

                def once(engine: str, w: int = w) -> tuple[float, float, float]:
                    return precompute_once(engine, w, predictor, texts, ray)

                # stderr: the progress bars. Side by side: both engines at once, W cores each (the same load for both, half
                # the wall time); else alternated, so load changes hit both, each row printed as its run ends
                with contextlib.redirect_stderr(io.StringIO()), ThreadPoolExecutor(2) as both:
                    measured = both.map(once, ENGINES) if args.side_by_side else map(once, ENGINES)
                    for engine, (e2e, steady, first) in zip(ENGINES, measured):
                        results.setdefault((engine, w), []).append((e2e, steady, first))
                        label = f"local, {w} torch thread(s)" if engine == "local" else f"Ray, {w} actor(s) x 1 CPU"
                        chunk = CHUNK_BATCHES * predictor.batch_size  # texts in the first chunk stored
                        note = f"steady {steady:.1f}/s" + (
                            f"; pool start ~{first - chunk / steady:.1f} s (first chunk stored after {first:.1f} s)" if engine == "ray" else ""
                        )
                        emit(size, "precompute", label, e2e, "texts/s", note)
        for w in workers:
            local, on_ray = (statistics.median(r[0] for r in results[(e, w)]) for e in ENGINES)
            steady = statistics.median(r[1] for r in results[("ray", w)]) / statistics.median(r[1] for r in results[("local", w)])
            emit(
                size,
                "precompute",
                f"Ray/local at {w} worker(s)",
                on_ray / local,
                "ratio",
                f"end to end (steady {steady:.2f}); issue: overhead <= 15%",
                on_ray / local < 0.85,
            )
    for width, what in ((2, "probabilities"), (384, "embeddings")):
        emit("", "precompute", f"store put_many, {what}", write_rate(width), "rows/s", f"{width} floats, chunks of 128")


# ------------------------------------------------------------------------------------------------------------ pages


def fill_generated(store_dir: Path, checkpoints: list[Path], frame, seed: int = 0) -> None:
    """Probabilities and embeddings of every text of `frame`, generated (no model), under each checkpoint's real keys, so
    the app reads them as it would the model's: about 80% of predictions right, confidence 0.5-1, embeddings near their
    label's centre; token counts are the tokenizer's (seconds), as `veredicto precompute` stores them."""
    import numpy as np

    from analysis.synthetic import probs_for
    from models.checkpoints import inspect_checkpoint
    from models.inference import Predictor, ProbabilityCache
    from store.results import ResultsStore

    store = ResultsStore(store_dir)
    texts = frame["text"].tolist()
    for k, path in enumerate(checkpoints):
        ref = inspect_checkpoint(path)
        rng = np.random.default_rng([seed, k])
        gold = np.asarray([ref.labels.index(label) for label in frame["label"]])
        n_labels = len(ref.labels)
        pred = np.where(rng.random(len(texts)) < 0.7 + 0.1 * k, gold, (gold + rng.integers(1, n_labels, len(texts))) % n_labels)
        probs = probs_for(pred, n_labels, rng.uniform(1 / n_labels + 0.01, 0.99, len(texts))).astype(np.float32)
        predictor = Predictor(ref, device="cpu", cache=ProbabilityCache(1), store=store)
        width = predictor.embed(texts[:1]).shape[1]
        predictor.token_counts(texts)  # real counts, stored (kind "tokens") as precompute leaves them: the Overview tokenizes nothing
        centres = rng.standard_normal((n_labels, width)).astype(np.float32)
        for s in range(0, len(texts), 10_000):
            part = slice(s, s + 10_000)
            noise = rng.standard_normal((len(texts[part]), width), dtype=np.float32)
            store.put_many("proba", ref.scoring_key, texts[part], probs[part])
            store.put_many("embedding", ref.fingerprint, texts[part], centres[gold[part]] + noise)
        store.table_from_rows(ref.scoring_key, ref.fingerprint, texts, n_labels)  # the table whole, as precompute leaves it


def fill_generated_attributions(store_dir: Path, checkpoints: list[Path], data: Path, seed: int = 0) -> None:
    """What `veredicto precompute` (default --what) leaves for Insights, generated (IG at 100k is hours of CPU here):
    Integrated Gradients of every text and SHAP of the page's cross-check sample (`precompute_jobs`), under each
    checkpoint's real scoring key and the dashboard's parameters, on the real tokenizer's tokens, with word scores that
    are the same for a word wherever it occurs plus noise; then the whole-set aggregate, as precompute stores it."""
    import zlib

    import numpy as np
    from transformers import AutoTokenizer

    from evaldata.loading import load_eval_data
    from explain.attribution import Attribution, Token
    from explain.cache import AttributionCache, key_params, text_hash
    from explain.insights import name_hints, precompute_jobs, store_whole_set
    from models.checkpoints import inspect_checkpoint
    from store.results import ResultsStore

    evalset = load_eval_data(data)  # as the app reads it: the same texts, positions and name hints as the page's
    cache, store = AttributionCache(store_dir), ResultsStore(store_dir)
    jobs = precompute_jobs(evalset.inputs, evalset.gold)
    for k, path in enumerate(checkpoints):
        ref = inspect_checkpoint(path)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        rng = np.random.default_rng([seed, k, 1])
        n_labels = len(ref.labels)
        for job in jobs:
            have = cache.cached_hashes(ref.scoring_key, job.method, **job.params)
            texts = [t for t in job.texts if text_hash(t) not in have]  # resumable
            for s in range(0, len(texts), 5_000):
                part = texts[s : s + 5_000]
                offsets = tokenizer(part, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
                made = []
                for text, spans in zip(part, offsets):
                    starts = sorted({0, *(a for a, b in spans if b > a and a < len(text))})
                    tokens = tuple(Token(text[a:b], a, b) for a, b in zip(starts, [*starts[1:], len(text)]))
                    words = [zlib.crc32(t.text.strip().lower().encode()) for t in tokens]
                    value = np.array([[((w >> (4 * c)) % 2001 - 1000) / 20_000 for c in range(n_labels)] for w in words])
                    scores = value + rng.normal(0, 0.005, value.shape)
                    probs = np.exp(scores.sum(0)) / np.exp(scores.sum(0)).sum()
                    made.append(
                        Attribution(
                            text, tokens, ref.labels, scores, probs - scores.sum(0), probs, ref.labels[int(np.argmax(probs))],
                            job.method, key_params(job.method), 22, 0.0, ref.scoring_key, extra={"generated": True},
                        )
                    )  # fmt: skip
                cache.put_many(made, **job.params)
        store_whole_set(cache, store, ref.scoring_key, evalset.inputs, name_hints(evalset))


def fill_data_page(store: Path, candidate: Path, data: Path) -> None:
    """The rest of what `veredicto precompute` (default --what) leaves for the candidate, real, from the stored probabilities
    and embeddings: the Data page's results (label issues, leakage and drift, PII scans against the demo's training file),
    the Robustness map and label-noise hints (`embeddings` stores them when every embedding is stored) and the SHAP and
    LIME of the example Explore opens on."""
    import contextlib
    import io

    from cli.main import main as cli

    with contextlib.redirect_stderr(io.StringIO()):
        code = cli(["precompute", "--model", str(candidate), "--data", str(data), "--what", "embeddings,explore,quality", "--store", str(store)])
    assert code == 0, f"precompute --what embeddings,explore,quality exited {code}"


def fill_signoff_pages(size: str, store: Path, data: Path, checkpoints: list[Path], audit: Path) -> None:
    """What the Robustness and Sign-off pages read, filled as a user would (`cli.demo.fill_signoff`: `veredicto precompute
    --what probes` per checkpoint, `veredicto gate` with the example policy), each step timed."""
    from cli.demo import fill_signoff

    seconds = fill_signoff(checkpoints[0], checkpoints[1], data, cache_dir=store, audit=audit, log=lambda _: None)
    emit(size, "pages", "precompute --what probes (2 checkpoints)", seconds["probes"], "s", "the Robustness page's default run")
    emit(size, "pages", "veredicto gate (example policy)", seconds["gates"], "s", "the Sign-off page's evaluation, baseline included")


def open_pages(size: str, section: str, env: dict[str, str], pages: str) -> None:
    """The `pages` (all: empty) in a fresh subprocess (`--pages-child`) with `env`; its rows join the table as they come."""
    command = [sys.executable, __file__, "--pages-child", size, "--only", section, "--pages", pages]
    with subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("ROW\t"):
                emit(*json.loads(line[4:]))
    if child.returncode:
        print(f"{size:>8} {section:<11}the page subprocess failed with exit code {child.returncode} (its error is above)", flush=True)


# Pages that compute on first open what the store lacks (the second open reads it)
COMPUTES_WHEN_MISSING = {
    "insights.py": "computes Integrated Gradients of a 200-example sample per checkpoint unless stored",
    "signoff.py": "evaluates the gates unless a stored evaluation matches",
}


def pages_child(size: str, section: str, only: str = "") -> None:
    """In the subprocess: open each page twice (first open, then a new session), print rows for the parent, then peak RSS."""
    import logging

    logging.disable(logging.WARNING)  # AppTest's "missing ScriptRunContext" and "No runtime found" warnings, several per page
    from streamlit.testing.v1 import AppTest

    from cli.serve import checkpoints_root, warm_up
    from dashboard.state import PAGES

    def row(*values) -> None:
        print("ROW\t" + json.dumps([size, section, *values]), flush=True)

    start = time.perf_counter()
    warm_up(checkpoints_root())  # what `veredicto app` (cli.serve) does before its server starts
    row("imports before the server starts (cli.serve)", time.perf_counter() - start, "s", "", False)

    for file, title, _ in PAGES:
        if only and file.removesuffix(".py") not in only.split(","):
            continue
        for visit in ("first", "second"):
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=3600)
            if file != "overview.py":
                at.switch_page(f"pages/{file}")
            start = time.perf_counter()
            at.run()
            seconds = time.perf_counter() - start
            problems = "; ".join(e.message.splitlines()[0][:120] for e in at.exception)
            limit = 2.0 if section == "restart" and file == "overview.py" else 3.0
            note = f"EXCEPTION {problems}" if problems else COMPUTES_WHEN_MISSING.get(file, "") if visit == "first" else ""
            row(f"{title} ({visit} open)", seconds, "s", note, seconds > limit)
    row("peak RSS (page process)", peak_mib(), "MiB", "issue: < 4 GiB", peak_mib() > 4096)


def pages(args) -> None:
    import shutil

    from cli.main import main as cli
    from scripts.build_100k import build, write
    from training.demo import demo_paths

    paths = demo_paths()
    checkpoints = [paths.before, paths.after]
    for n in args.rows:
        size = f"{n:,}"
        with tempfile.TemporaryDirectory(prefix="veredicto-scale-pages-") as tmp:
            started = time.perf_counter()
            frame = build(n)
            data = write(frame, Path(tmp) / f"sentiment_{n}.csv")
            store = Path(tmp) / "store"  # never the user's store: generated results must not mix with real ones
            by_model = args.fill == "model" or (args.fill == "auto" and n <= MODEL_FILL_ROWS)
            print(f"-- pages, {n:,} rows: store filled {'by the model (veredicto precompute)' if by_model else 'with generated results'}...", flush=True)
            if by_model:
                for path in checkpoints:
                    code = cli(["precompute", "--model", str(path), "--data", str(data), "--what", "predictions,embeddings", "--store", str(store)])
                    assert code == 0, f"precompute exited {code}"
            else:
                fill_generated(store, checkpoints, frame)
                fill_generated_attributions(store, checkpoints, data)
            fill_data_page(store, checkpoints[-1], data)
            note = "by the model" if by_model else f"with generated results (scoring {2 * n:,} texts takes ~{2 * n / 80 / 60:.0f} min here)"
            emit(size, "pages", f"{size} store filled", time.perf_counter() - started, "s", note)
            fill_signoff_pages(size, store, data, checkpoints, Path(tmp) / "audit")
            env = {"VEREDICTO_CHECKPOINTS": str(paths.checkpoints), "VEREDICTO_DATA": str(data), "VEREDICTO_CACHE_DIR": str(store)}
            open_pages(size, "pages", {**env, "VEREDICTO_STORE_DIR": str(Path(tmp) / "audit")}, args.pages)
            shutil.rmtree(store, ignore_errors=True)


def restart(args) -> None:
    from cli.demo import fill_explore, fill_results
    from evaldata.loading import load_eval_data
    from models.checkpoints import inspect_checkpoint
    from runtime import settings
    from store.results import ResultsStore
    from training.demo import demo_paths

    paths = demo_paths()
    inputs = load_eval_data(paths.test_data).inputs
    store = settings.cache_dir()
    filled = store.is_dir() and all(
        ResultsStore(store).count("proba", inspect_checkpoint(p).scoring_key, inputs) == len(inputs) for p in (paths.before, paths.after)
    )
    with tempfile.TemporaryDirectory(prefix="veredicto-scale-restart-") as tmp:
        if not filled:
            print(f"-- restart: {store} lacks the demo's results; filling a temporary store as `veredicto demo` does", flush=True)
            store = Path(tmp) / "store"
            emit(
                "demo",
                "restart",
                "store filled (veredicto demo's fill)",
                fill_results(paths.root, cache_dir=store, audit=Path(tmp) / "audit", log=lambda _: None),
                "s",
            )
            emit(
                "demo",
                "restart",
                "Explore's first example explained (veredicto demo's fill)",
                fill_explore(paths.root, cache_dir=store, log=lambda _: None),
                "s",
            )
        env = {"VEREDICTO_CHECKPOINTS": str(paths.checkpoints), "VEREDICTO_DATA": str(paths.test_data), "VEREDICTO_CACHE_DIR": str(store)}
        open_pages("demo", "restart", {**env, "VEREDICTO_STORE_DIR": str(Path(tmp) / "audit")}, args.pages)


# ------------------------------------------------------------------------------------------------------------ views


@dataclass
class Context:
    """What every section gets: the tables, a scratch directory, how often to repeat, and a place to keep results."""

    n: int
    before: Any
    after: Any
    repeats: int
    tmp: Path
    kept: dict[str, Any] = field(default_factory=dict)

    def time(self, name: str, fn: Callable[[], Any], note: str = "") -> Row:
        """Median seconds of `repeats` calls; the last result is kept under `name` for later sections."""
        seconds = []
        for _ in range(self.repeats):
            start = time.perf_counter()
            self.kept[name] = fn()
            seconds.append(time.perf_counter() - start)
        return name, statistics.median(seconds), note


def overview(ctx: Context) -> list[Row]:
    from analysis.views import class_balance, headline

    return [ctx.time("headline", lambda: headline(ctx.after)), ctx.time("class_balance", lambda: class_balance([ctx.before, ctx.after]))]


def errors(ctx: Context) -> list[Row]:
    from analysis.metrics import table_calibration
    from analysis.slices import confident_mistakes
    from analysis.views import calibration_view, error_slices, errors_summary, examples_of

    return [
        ctx.time("errors_summary", lambda: errors_summary(ctx.after)),
        ctx.time("error_slices(all)", lambda: error_slices(ctx.after, "all")),
        ctx.time("error_slices(keyword)", lambda: error_slices(ctx.after, "keyword", keywords=("good", "plot twist"))),
        ctx.time("error_slices(length)", lambda: error_slices(ctx.after, "length", "words")),
        ctx.time("calibration_view", lambda: calibration_view(table_calibration(ctx.after))),
        ctx.time("confident_mistakes", lambda: confident_mistakes(ctx.after)),
        ctx.time("examples_of(mistakes)", lambda: examples_of(ctx.after, ~ctx.after.correct)),
    ]


def explore(ctx: Context) -> list[Row]:
    from analysis.browse import ExampleFilter
    from analysis.views import explore_listing

    return [
        ctx.time("explore_listing(mistakes)", lambda: explore_listing(ctx.after, ExampleFilter(), "mistakes", None)),
        ctx.time("explore_listing(search)", lambda: explore_listing(ctx.after, ExampleFilter(search="twist"), "confident", None)),
    ]


def compare(ctx: Context) -> list[Row]:
    from analysis.compare import compare_tables, flipped_examples, slice_deltas
    from analysis.slices import data_slices
    from analysis.views import flip_choices, flip_summary

    rows = [
        ctx.time("compare_tables", lambda: compare_tables(ctx.before, ctx.after), "paired bootstrap 2,000 + McNemar"),
        ctx.time("flipped_examples", lambda: flipped_examples(ctx.before, ctx.after)),
        ctx.time("flip_choices", lambda: flip_choices(ctx.kept["flipped_examples"])),
        ctx.time("flip_summary", lambda: flip_summary(ctx.before, ctx.after)),
    ]
    slices = data_slices(ctx.after.frame, ctx.after.metadata)
    rows.append(ctx.time("slice_deltas", lambda: slice_deltas(slices, ctx.before.correct, ctx.after.correct)))
    return rows


def signoff(ctx: Context) -> list[Row]:
    from policies import example_policy
    from store.audit import AuditStore
    from store.gates import evaluate_gates
    from store.policy import load_policy
    from store.views import signoff_view

    policy = load_policy(example_policy())
    store = AuditStore(ctx.tmp / f"audit-{ctx.n}")
    rows = [ctx.time("evaluate_gates", lambda: evaluate_gates(policy, ctx.after, baseline=ctx.before, store=store), "no predictor: explanation gates not run")]
    gates = ctx.kept["evaluate_gates"]
    ref = SimpleNamespace(fingerprint=gates.fingerprint, path=gates.checkpoint_path)  # the checkpoint reference the page passes
    rows.append(ctx.time("signoff_view", lambda: signoff_view(gates, store, ref, baseline=ctx.before, table=ctx.after)))
    return rows


def report(ctx: Context) -> list[Row]:
    from store.report import build_report

    if "evaluate_gates" not in ctx.kept:
        signoff(ctx)
    name, seconds, _ = ctx.time("build_report", lambda: build_report(ctx.kept["evaluate_gates"], ctx.after, baseline=ctx.before))
    size = len(ctx.kept["build_report"].encode())
    return [(name, seconds, f"{size / 1e6:.2f} MB")]


def neighbours(ctx: Context) -> list[Row]:
    """One query against n x 768 unit vectors (a BERT-base-sized encoder): probes.embeddings' exact search against
    scikit-learn's brute cosine search (what it used before), and all-against-all (label-noise hints) on 2,000 queries."""
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    from probes.embeddings import _knn, normalise

    rng = np.random.default_rng(0)
    vectors = normalise(rng.standard_normal((ctx.n, 768), dtype=np.float32))
    query = vectors[[7]]
    rows = [
        ctx.time("knn sklearn (1 query)", lambda: NearestNeighbors(n_neighbors=6, metric="cosine", algorithm="brute").fit(vectors).kneighbors(query)),
        ctx.time("knn probes (1 query)", lambda: _knn(vectors, query, 6)),
        ctx.time("knn probes (2,000 queries)", lambda: _knn(vectors, vectors[:2000], 11), f"x {ctx.n / 2000:.0f} for all {ctx.n:,} rows"),
    ]
    assert list(ctx.kept["knn sklearn (1 query)"][1][0]) == list(ctx.kept["knn probes (1 query)"][0][0])
    return rows


def payloads(ctx: Context) -> list[Row]:
    """What a page hands the browser: Explore's listing (st.dataframe serialises the whole frame it gets to Arrow and
    virtualises only the drawing, so the listing is paged) and the Robustness map (at most MAP_POINTS WebGL points)."""
    import numpy as np
    import pyarrow as pa

    from analysis.browse import ExampleFilter
    from analysis.views import explore_listing
    from probes.figures import embedding_map_figure

    listing = explore_listing(ctx.after, ExampleFilter(), "file", None)
    shown = listing.shown
    name, seconds, _ = ctx.time("explore listing to Arrow", lambda: pa.Table.from_pandas(shown).nbytes)
    rows = [(name, seconds, f"{ctx.kept[name] / 1e6:.1f} MB for a page of {len(shown):,} of {listing.total:,} rows")]
    rng = np.random.default_rng(0)
    frame = ctx.after.frame
    points = frame.assign(row=np.arange(len(frame)), x=rng.standard_normal(len(frame)), y=rng.standard_normal(len(frame)))
    name, seconds, _ = ctx.time("embedding_map_figure", lambda: embedding_map_figure(points))
    rows.append((name, seconds, f"{len(ctx.kept[name].to_json()) / 1e6:.1f} MB of figure JSON for {len(frame):,} examples"))
    return rows


VIEWS: dict[str, Callable[[Context], list[Row]]] = {
    "overview": overview,
    "errors": errors,
    "explore": explore,
    "compare": compare,
    "signoff": signoff,
    "report": report,
    "neighbours": neighbours,
    "payloads": payloads,
}


def views(args, chosen: list[str]) -> None:
    from analysis.synthetic import synthetic_pair

    with tempfile.TemporaryDirectory(prefix="veredicto-scale-") as tmp:
        for n in args.rows:
            start = time.perf_counter()
            before, after = synthetic_pair(n, seed=0)
            ctx = Context(n, before, after, args.repeats, Path(tmp))
            emit(f"{n:,}", "views", "synthetic tables built", time.perf_counter() - start, "s")
            for name in chosen:
                for what, seconds, note in VIEWS[name](ctx):
                    emit(f"{n:,}", name, what, seconds, "s", note, seconds > 0.5)
            emit(f"{n:,}", "views", "peak RSS (this process so far)", peak_mib(), "MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--precompute-rows", type=int, default=10_000, help="texts per precompute measurement (100k: ~20 min per engine here)")
    parser.add_argument("--workers", default="1,2", help="precompute: worker counts to compare (comma list)")
    parser.add_argument("--repeats-precompute", type=int, default=1, help="precompute: rounds of the alternated measurements")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="precompute: run the two engines at the same time (W cores each, so 2W in all) instead of one after the other: half the wall time",
    )
    parser.add_argument(
        "--fill",
        choices=("auto", "generated", "model"),
        default="auto",
        help=f"pages: how the store is filled (auto: by the model up to {MODEL_FILL_ROWS:,} rows)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="views: calls per view-model (the median is shown)")
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(GROUPS)} or view sections {', '.join(VIEWS)}")
    parser.add_argument("--pages", default="", help="pages, restart: only these page files (comma list, e.g. overview,data; default: all)")
    parser.add_argument("--pages-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    chosen = [s for s in args.only.split(",") if s] or list(GROUPS)
    unknown = [s for s in chosen if s not in GROUPS and s not in VIEWS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join((*GROUPS, *VIEWS))}")
    if args.pages_child is not None:
        return pages_child(args.pages_child, chosen[0], args.pages)
    print(f"{'size':>8} {'section':<11}{'what':<38}{'value':>10} {'unit':<8} load   note", flush=True)
    for name, run in (("precompute", precompute), ("pages", pages), ("restart", restart)):
        if name in chosen:
            run(args)
    view_sections = list(VIEWS) if "views" in chosen else [s for s in chosen if s in VIEWS]
    if view_sections:
        views(args, view_sections)


if __name__ == "__main__":
    main()
