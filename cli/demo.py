"""`veredicto demo`: build the bundled offline demo (idempotent), then fill what its Insights page shows."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="Build the offline demo checkpoints and data (does nothing if already built).")
    parser.add_argument(
        "--task", choices=["sentiment", "news"], default="sentiment", help="sentiment: Rotten Tomatoes fresh/rotten; news: BBC news, five topics."
    )
    parser.add_argument("--out", type=Path, default=None, help="Demo directory (default: .veredicto/demo, or $VEREDICTO_DEMO_DIR).")
    parser.add_argument("--force", action="store_true", help="Rebuild even if the demo is already built.")
    parser.add_argument(
        "--skip-insights",
        action="store_true",
        help="sentiment: do not precompute explanations: the Insights page's (Integrated Gradients for every test text, SHAP on a stratified "
        "sample; a few minutes, resumable), Explore's first example's (SHAP and LIME) and the Sign-off gates' evaluation (its faithfulness gate "
        "explains a sample). The pages then compute them on first open.",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="Results store to fill: predictions, embeddings and attributions (default: $VEREDICTO_CACHE_DIR, else cache/ in the Veredicto home, which the app reads).",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from training.demo import build_demo, default_demo_dir

    out = args.out or default_demo_dir()
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    if args.task == "news":
        from training.news_demo import build_news_demo

        build_news_demo(out, force=args.force, log=log)
    else:
        build_demo(out, force=args.force, log=log)
        fill_results(out, cache_dir=args.cache_dir, gates=not args.skip_insights, log=log)
        if not args.skip_insights:
            fill_explore(out, cache_dir=args.cache_dir, log=log)
            fill_insights(out, cache_dir=args.cache_dir, log=log)
    return 0


def fill_results(out: Path, *, cache_dir: Path | None = None, audit: Path | None = None, gates: bool = True, log: Callable[[str], None] = print) -> float:
    """Store the sentiment demo's probabilities and embeddings of every test text, for both checkpoints, in the results
    store (`store.results`), the Data page's results (`fill_data_page`), the Robustness page's probe runs and the Sign-off
    page's gate evaluation (`fill_signoff`; `audit`: the audit store its approvals are counted from, default the user's;
    `gates` False: not the gates, whose faithfulness gate explains texts), so
    a fresh demo's pages open from it instead of computing. What is stored already is read, not recomputed (a second run
    forwards nothing). Returns the seconds spent."""
    from evaldata.loading import load_eval_data
    from models.checkpoints import inspect_checkpoint
    from models.inference import ProbabilityCache
    from store.results import open_predictor, shared_store, store_warnings
    from training.demo import demo_paths

    started = time.perf_counter()
    paths = demo_paths(out)
    inputs = load_eval_data(paths.test_data).inputs
    opened = shared_store(cache_dir)
    if opened.store is None:
        log(f"warning: {opened.warning}")
        return 0.0
    log(f"Results store: predictions and embeddings of {len(inputs):,} test texts for both checkpoints -> {opened.store.path}")
    for path in (paths.before, paths.after):
        # own memory caches: the build's accuracy pass left these probabilities in the process's, and memory hits are not written to the store
        predictor = open_predictor(inspect_checkpoint(path), directory=cache_dir, cache=ProbabilityCache())
        predictor.store_table(inputs, predictor.predict_proba(inputs), predictor.token_counts(inputs))  # the Overview's table, whole
        predictor.embed(inputs, cache=ProbabilityCache())
        log(f"  {path.name}: {predictor.stats.texts_forwarded:,} forwarded, {predictor.stats.texts_from_store:,} read from the store")
    for warning in store_warnings(directory=cache_dir):
        log(f"warning: {warning}")
    fill_data_page(paths, cache_dir=cache_dir, log=log)
    fill_signoff(paths.before, paths.after, paths.test_data, cache_dir=cache_dir, audit=audit, gates=gates, log=log)
    seconds = time.perf_counter() - started
    log(f"Results stored after {seconds:.0f} s ({opened.store.stats().bytes / 1e6:.1f} MB on disk).")
    return seconds


def fill_explore(out: Path, *, cache_dir: Path | None = None, log: Callable[[str], None] = print) -> float:
    """Explain the example a fresh demo's Explore opens on (the 'after' checkpoint's, the one the page shows first) with SHAP
    and LIME into the attribution cache (`cli.precompute.fill_first_example`), so the page shows them at once. Needs
    `fill_results`' predictions; what is cached already is skipped. Returns the seconds spent."""
    from cli.precompute import Failure, fill_first_example, report_failures
    from evaldata.loading import load_eval_data
    from explain.cache import AttributionCache
    from models.checkpoints import inspect_checkpoint
    from store.results import open_predictor
    from training.demo import demo_paths

    started = time.perf_counter()
    paths = demo_paths(out)
    failures: list[Failure] = []
    predictor = open_predictor(inspect_checkpoint(paths.after), directory=cache_dir)
    fill_first_example(AttributionCache(cache_dir), predictor, load_eval_data(paths.test_data), failures)  # read as the app reads it
    report_failures(failures)
    return time.perf_counter() - started


def fill_data_page(paths, *, cache_dir: Path | None = None, log: Callable[[str], None] = print) -> None:
    """The Data page's results (label issues, leakage and drift against the demo's training file, PII scans) for both
    checkpoints on the test split, stored by `veredicto precompute --what quality` itself, so the keys are the page's."""
    import contextlib
    import io

    from cli.main import main

    for path in (paths.before, paths.after):
        argv = ["precompute", "--model", str(path), "--data", str(paths.test_data), "--what", "quality", *(["--store", str(cache_dir)] if cache_dir else [])]
        said = io.StringIO()
        with contextlib.redirect_stderr(said):
            code = main(argv)
        lines = said.getvalue().splitlines()
        done = [line.removeprefix("QUALITY: ") for line in lines if line.startswith("QUALITY: ")]
        log(f"  {path.name}, Data page: " + (" ".join(done) if code == 0 else f"not stored ({lines[-1] if lines else f'exit code {code}'})"))


def fill_signoff(
    before: Path,
    after: Path,
    data: Path,
    *,
    cache_dir: Path | None = None,
    audit: Path | None = None,
    gates: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Store what the Robustness and Sign-off pages open on for `data` and these two checkpoints, as a user would: `veredicto
    precompute --what probes` for each checkpoint (the page shows both; its default run) and `veredicto gate` of `after`
    against `before` under the page's policy (`policies.default_policy`) and explainer budgets, so the pages read instead of
    planning probes or evaluating gates. What is stored already is read, not redone. `audit`: the audit store `veredicto
    gate` counts approvals from (default the user's; approvals are never stored); `gates` False: the probes only. Returns the
    seconds of each step."""
    import contextlib
    import io

    from cli.main import main
    from policies import default_policy

    results = [] if cache_dir is None else [str(cache_dir)]  # `veredicto precompute --store DIR`, `veredicto gate --cache-dir DIR`
    seconds = {}
    started = time.perf_counter()
    for path in (before, after):
        if main(["precompute", "--model", str(path), "--data", str(data), "--what", "probes", *[f"--store={d}" for d in results]]) != 0:
            log(f"warning: the probes of {path.name} could not be stored (see above); the Robustness page runs them when asked.")
    seconds["probes"] = time.perf_counter() - started
    if not gates:
        return seconds
    started = time.perf_counter()
    policy = default_policy()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the gate table: the Sign-off page shows it
        code = main(
            ["gate", "--model", str(after), "--baseline", str(before), "--data", str(data), "--policy", str(policy)]
            + [f"--cache-dir={d}" for d in results]
            + ([] if audit is None else [f"--store={audit}"])
        )
    seconds["gates"] = time.perf_counter() - started
    verdict = next((line for line in printed.getvalue().splitlines() if line.startswith("Verdict:")), f"not evaluated (exit code {code}, see above).")
    log(f"Sign-off gates of {after.name} ({policy.name}) stored: {verdict.removeprefix('Verdict: ')}")
    return seconds


def fill_insights(
    out: Path, *, cache_dir: Path | None = None, cross_check_size: int | None = None, workers: int | None = None, log: Callable[[str], None] = print
) -> float:
    """Precompute the sentiment demo's Insights page into the attribution cache: Integrated Gradients for every test text
    and SHAP on the page's stratified cross-check sample, for the 'after' checkpoint (the page opens on it) and the
    'before' one. Resumable (each explanation is committed); what is cached already is skipped. Returns the seconds spent.

    `workers` (default: one per checkpoint, at most one per CPU core) processes explain one checkpoint each on
    cores // workers torch threads: one explanation is too small a job for two threads to share well (measured on 2
    busy cores: 2.4 s per IG text on two threads against 0.6 s on one), two single-thread processes keep both cores busy.
    """
    from cli.precompute import Failure, report_failures
    from evaldata.loading import load_eval_data
    from explain.cache import AttributionCache
    from explain.insights import CROSS_CHECK_SIZE, precompute_jobs
    from training.demo import demo_paths

    started = time.perf_counter()
    paths = demo_paths(out)
    evalset = load_eval_data(paths.test_data)
    cache = AttributionCache(cache_dir)  # created (or recovered) once, before any worker opens it
    size = CROSS_CHECK_SIZE if cross_check_size is None else cross_check_size
    jobs = precompute_jobs(evalset.inputs, evalset.gold, cross_check_size=size)
    log(f"Insights: Integrated Gradients for all {len(evalset):,} test texts and SHAP on a stratified sample of {size} per checkpoint -> {cache.path}")
    checkpoints = [paths.after, paths.before]
    cores = os.cpu_count() or 1
    workers = max(1, min(len(checkpoints), cores) if workers is None else workers)
    tasks = [(path, cache.directory, jobs, max(1, cores // workers), n % workers) for n, path in enumerate(checkpoints)]
    failures: list[Failure] = []
    if workers == 1:
        for task in tasks:
            failures += _fill_checkpoint(task)
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:  # spawn: no forked torch state
            for found in pool.map(_fill_checkpoint, tasks):
                failures += found
    report_failures(failures)
    store_insights(cache, evalset, checkpoints)
    seconds = time.perf_counter() - started
    log(f"Insights ready after {seconds:.0f} s.")
    return seconds


def store_insights(cache, evalset, checkpoints) -> None:
    """The Insights page's whole-set word statistics per checkpoint, stored beside the attribution cache (as precompute does)."""
    from explain.insights import name_hints, store_whole_set
    from models.checkpoints import inspect_checkpoint
    from store.results import shared_store

    store = shared_store(cache.directory).store
    for path in checkpoints:
        store_whole_set(cache, store, inspect_checkpoint(path).scoring_key, evalset.inputs, name_hints(evalset))


def _fill_checkpoint(task) -> list:
    """One checkpoint's share of `fill_insights` (run in a worker process, or inline); returns what could not be explained."""
    from cli.precompute import Failure, fill
    from explain.cache import AttributionCache
    from models.checkpoints import inspect_checkpoint
    from models.inference import Predictor
    from training.model import all_threads

    path, cache_dir, jobs, threads, position = task
    cache = AttributionCache(cache_dir)
    failures: list[Failure] = []
    with all_threads(threads):
        predictor = Predictor(inspect_checkpoint(path))
        for job in jobs:
            fill(cache, predictor, job.method, job.texts, job.params, failures, what=f"{path.name}, {job.what}", position=position)
    return failures
