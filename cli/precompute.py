"""`veredicto precompute`: fill the results store (predictions, embeddings) and the attribution cache ahead, so the
dashboard, the gates and the report read instead of compute.

`--what` picks the parts (default: what the pages need); each shows a progress bar with ETA. Resumable: predictions and
embeddings are committed one chunk of forward batches at a time, explanations one by one, so Ctrl-C or a kill loses at
most what is in flight, and running the same command again skips what is stored (and says how much). One precompute
writes to a store at a time (`store.lock`); the app's sessions keep reading meanwhile. `--engine ray` scores on a Ray
cluster (`cli.ray_engine`), the driver still being the one writer.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cli.common import add_data_arguments
from explain.cache import text_hash
from models.errors import VeredictoError
from models.protocol import TextInput

METHODS = ("shap", "lime", "ig", "grad_input")
SCORES = {"predictions": "proba", "embeddings": "embedding"}  # --what part -> results store kind
PARTS = (*SCORES, *METHODS, "probes", "explore", "quality")
# what the pages read: Overview & co, Explore's neighbours and first example, Insights, Data
DEFAULT_WHAT = ("predictions", "embeddings", "ig", "explore", "quality")
CHUNK_BATCHES = 4  # forward batches per store write (and per Ray task): sorted by length within, little lost to a kill


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "precompute",
        help="Score and explain every example of a data file once, into the results store the app, gates and report read.",
        description="Fill the results store ahead (predictions, embeddings) and the attribution cache (SHAP, LIME, Integrated "
        "Gradients, Gradient x Input) for an evaluation file, locally or on a Ray cluster (--engine ray). Interrupt it at any "
        "time; run it again to continue.",
    )
    parser.add_argument("--model", required=True, type=Path, help="Checkpoint directory (config.json, tokenizer, model.safetensors).")
    add_data_arguments(
        parser,
        data_help="CSV, TSV, JSONL or Parquet file.",
        label_help="Label column (default: guessed; labels are not needed here).",
        gold=False,
        thresholds=False,
    )
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument(
        "--what",
        type=parse_what,
        default=None,
        metavar="PARTS",
        help=f"Comma-separated parts to fill: {', '.join(PARTS)} (default: {','.join(DEFAULT_WHAT)}, what the pages read). predictions and "
        "embeddings go to the results store (embeddings, on the whole file, with the Robustness page's map and label-noise hints); shap, lime, ig (Integrated Gradients) and grad_input (Gradient x Input) to the attribution cache; "
        "probes runs the Robustness page's default probe suite on the whole file (always locally) and stores it, so the page opens on it; "
        "explore explains the example the Explore page opens on (SHAP and LIME at the page's budgets; needs gold labels); "
        "quality stores the Data page's label issues, leakage and drift against the checkpoint's training file (its provenance) and PII scans.",
    )
    chosen.add_argument(
        "--method",
        choices=(*METHODS, "both"),
        default=None,
        help="Older spelling of --what for one explanation method (both = shap,lime).",
    )
    parser.add_argument("--limit", type=int, default=None, help="Only the first N examples of the file.")
    parser.add_argument(
        "--store",
        "--cache-dir",
        dest="cache_dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="Results store directory, which holds the attribution cache too (default: $VEREDICTO_CACHE_DIR, else cache/ in the Veredicto "
        "home, which the app reads; see runtime/settings.py).",
    )
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="Where the parts are computed: here, or on Ray actors (default: local).")
    parser.add_argument("--workers", type=positive_int, default=2, help="--engine ray: actors, each loading the checkpoint once (default: 2).")
    parser.add_argument("--cpus-per-worker", type=positive_int, default=1, help="--engine ray: CPU cores (torch threads) per actor (default: 1).")
    parser.add_argument("--gpus-per-worker", type=non_negative, default=0, help="--engine ray: GPUs per actor, e.g. 1 or 0.5 (default: 0, CPU only).")
    parser.add_argument(
        "--address",
        default=None,
        help="--engine ray: join this Ray cluster (`auto` on a cluster node, `ray://HEAD:10001` from outside; default: a local Ray for the run).",
    )
    parser.add_argument("--max-evals", type=int, default=None, help="SHAP budget of masked texts (default: 500).")
    parser.add_argument("--num-samples", type=int, default=None, help="LIME perturbed samples (default: 1000).")
    parser.add_argument("--seed", type=int, default=0, help="Random seed (LIME sampling, SHAP tie-breaking).")
    parser.set_defaults(func=run)


def parse_what(value: str) -> tuple[str, ...]:
    parts = tuple(dict.fromkeys(p.strip().lower() for p in value.split(",") if p.strip()))
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"unknown part(s) {', '.join(map(repr, unknown)) or '(none given)'}; choose from {', '.join(PARTS)}")
    return parts


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {number})")
    return number


def non_negative(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return number


def wanted_parts(args) -> tuple[str, ...]:
    """--what, else --method mapped onto it (both = shap,lime), else what the pages read (with --limit, less quality: it is of the whole file)."""
    if args.what:
        return args.what
    if args.method:
        return ("shap", "lime") if args.method == "both" else (args.method,)
    return tuple(p for p in DEFAULT_WHAT if p != "quality") if args.limit else DEFAULT_WHAT  # the Data page's results are of the whole file


def method_params(method: str, args) -> dict:
    """The parameters one method is computed (and cached) with; must match what the dashboard asks for."""
    if method == "shap":
        params = {"max_evals": args.max_evals, "seed": args.seed}
    elif method == "lime":
        params = {"num_samples": args.num_samples, "seed": args.seed}
    else:  # gradient methods: the defaults the dashboard explains with (explain.cache.key_params)
        params = {}
    return {k: v for k, v in params.items() if v is not None}


Failure = tuple[str, TextInput, str]  # method, text, message


def fill(cache, predictor, method: str, texts, params: dict, failures: list[Failure], *, what: str = "", position: int = 0, pool=None) -> None:
    """Compute `method`'s explanations of the distinct `texts` the cache lacks, committed one by one, with a progress bar on
    stderr (on line `position`, when several processes show one each); texts that cannot be explained are appended to
    `failures`. With a Ray `pool` (`cli.ray_engine.Pool`) the texts are queued on it: when it runs, its actors explain and this
    process, the one writer, stores what they return. Shared by `veredicto precompute` and `veredicto demo`."""
    from tqdm import tqdm

    unique = list(dict.fromkeys(texts))
    have = cache.cached_hashes(predictor.ref.scoring_key, method, **params)
    todo = [t for t in unique if text_hash(t) not in have]
    print(
        f"{method.upper()}{f' ({what})' if what else ''}: {len(unique) - len(todo):,} of {len(unique):,} already cached, skipped; {len(todo):,} to compute.",
        file=sys.stderr,
    )
    if not todo:
        return

    def record_failure(text: TextInput, exc: Exception) -> None:
        failures.append((method, text, str(exc)))

    where = f" on Ray ({pool.workers} worker(s))" if pool is not None else ""
    bar = tqdm(total=len(todo), desc=f"{method.upper()} {predictor.ref.name}{where}", unit="text", file=sys.stderr, dynamic_ncols=True, position=position)
    if pool is None:
        with bar:
            cache.get_or_compute_many(predictor, todo, method, progress=lambda done, total: bar.update(done - bar.n), on_error=record_failure, **params)
        return
    from cli import ray_engine
    from explain.attribution import Attribution

    def sink(positions, payloads, errors) -> None:
        cache.put_many([Attribution.from_dict(json.loads(p)) for p in payloads if p], **params)
        failures.extend((method, todo[int(i)], error) for i, p, error in zip(positions, payloads, errors) if not p)
        bar.update(len(positions))

    chunks = [([i], [text]) for i, text in enumerate(todo)]  # one text per task: seconds each, spread evenly, little lost to a kill
    pool.add(ray_engine.explain_part(method, params, chunks, sink), bar)


def report_failures(failures: list[Failure]) -> None:
    for method, text, message in failures:
        text = text if isinstance(text, str) else " ‖ ".join(text)
        preview = text if len(text) <= 50 else text[:49] + "…"
        print(f"skipped ({method}) {preview!r}: {message}", file=sys.stderr)


def missing_positions(store, kind: str, key: str, inputs: Sequence[TextInput], step: int = 1000) -> list[int]:
    """Positions of `inputs` the results store has no `kind` row for under `key` (read a slice at a time: memory stays small)."""
    missing: list[int] = []
    for start in range(0, len(inputs), step):
        found = store.get_many(kind, key, inputs[start : start + step])
        missing += [start + i for i in range(min(step, len(inputs) - start)) if i not in found]
    return missing


def fill_scores(store, predictor, part: str, inputs: Sequence[TextInput], *, pool=None, position: int = 0) -> int:
    """Compute `part` (predictions or embeddings) of the distinct `inputs` the results store lacks, a chunk of forward batches
    per transaction, with a progress bar (ETA) on stderr (on line `position`): locally through `predictor`, or queued on a Ray
    `pool` (`cli.ray_engine.Pool`) whose rows come back to this process, the store's one writer, when it runs. Returns how
    many rows are (to be) computed.

    Says how many texts are not stored yet (after the data file changed under a filled store: the new or changed ones). A
    store that fails mid-run (a full disk) stops it with how many texts were stored; those stay, and a rerun continues."""
    from tqdm import tqdm

    from analysis.predictions import ScoringPlan
    from models.inference import TOKENS, ProbabilityCache
    from store.results import StoreUnavailable

    kind = SCORES[part]
    ref = predictor.ref
    key = ref.scoring_key if kind == "proba" else ref.fingerprint
    todo = missing_positions(store, kind, key, inputs)
    print(f"{part.upper()}: {ScoringPlan(total=len(inputs), missing=len(todo)).message}.", file=sys.stderr)
    if not todo:
        return 0
    stored = 0
    size = CHUNK_BATCHES * predictor.batch_size
    chunks = [(todo[s : s + size], [inputs[p] for p in todo[s : s + size]]) for s in range(0, len(todo), size)]
    where = f" on Ray ({pool.workers} worker(s))" if pool is not None else ""
    bar = tqdm(total=len(todo), desc=f"{part.upper()} {ref.name}{where}", unit="text", file=sys.stderr, dynamic_ncols=True, position=position)

    def sink(positions, rows) -> None:
        nonlocal stored
        texts = [inputs[int(p)] for p in positions]
        try:
            store.put_many(kind, key, texts, rows)
            if kind == "proba":  # the prediction table's 'truncated' flag, so the Overview tokenizes nothing either
                store.put_many(TOKENS, ref.fingerprint, texts, predictor.token_counts(texts)[:, None])
        except StoreUnavailable as exc:  # a full disk, a store turned read-only: what was committed stays, a rerun continues
            now = len(inputs) - len(todo) + stored
            raise type(exc)(
                f"{exc} {part.upper()}: this run stored {stored:,} of the {len(todo):,} texts it had to score; {now:,} of {len(inputs):,} are stored now. "
                "Run the same command again to continue: it scores only what is missing."
            ) from None
        stored += len(positions)
        bar.update(len(positions))

    if pool is not None:
        from cli import ray_engine

        pool.add(ray_engine.score_part(kind, chunks, sink), bar)
        return len(todo)
    with bar:
        scratch = ProbabilityCache(1)  # embeddings go to the store; the process-wide cache would only hold them twice
        for positions, chunk in chunks:
            sink(positions, predictor.predict_proba(chunk) if kind == "proba" else predictor.embed(chunk, cache=scratch))
    return len(todo)


@contextlib.contextmanager
def ray_pool(args, ref, batch_size: int) -> Iterator[Any]:
    """For `--engine ray`: a Ray (joining `--address`, else a local Ray on this machine's cores) and one actor pool for the
    run, sized by `--workers`, `--cpus-per-worker`, `--gpus-per-worker`; None for the local engine."""
    if args.engine != "ray":
        yield None
        return
    from cli import ray_engine

    with ray_engine.session(args.address, num_cpus=ray_engine.local_cpus()) as ray:
        yield ray_engine.Pool(ray, ref, workers=args.workers, batch_size=batch_size, cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker)


class AsThePagesRead:
    """The data file read as the app reads it (gold labels included, so the data fingerprint, positions and keys are the
    pages'), a predictor reading from (or writing to) the results store, and its prediction table: each made once per run,
    when a part first needs it, and shared by every part that fills what a page opens on (100k rows: a read and a table
    each, not one per part)."""

    def __init__(self, args, ref, store):
        self.args, self.ref, self.store = args, ref, store

    @functools.cached_property
    def evalset(self):
        from cli.common import read_data

        return read_data(self.args, self.ref)

    @functools.cached_property
    def predictor(self):
        from models.inference import Predictor

        return Predictor(self.ref, store=self.store, batch_size=self.args.batch_size)

    @functools.cached_property
    def table(self):
        from analysis.predictions import predict_table

        return predict_table(self.predictor, self.evalset)


def fill_probes(store, page: AsThePagesRead) -> None:
    """The probe run the Robustness page opens with (`probes.views.default_probe_params`), run here through `veredicto probe`'s
    runner and kept in `store` under the page's key; skipped when it is stored. Reads the file as the app does (gold labels
    included), so the data fingerprint is the page's."""
    from cli.probe import run_with_bar
    from probes import cost
    from probes.perturb import TESTS
    from probes.run import DEFAULT_SEGMENT, plan_probes
    from probes.views import ResultCache, default_probe_params, keep_report, probe_report

    evalset, predictor, table = page.evalset, page.predictor, page.table
    params, directions = default_probe_params(predictor.labels, evalset)
    key = params.key(page.ref.scoring_key, table.data_fingerprint)
    memory = ResultCache(keep=1)
    if probe_report(key, memory, store) is not None:
        print(f"PROBES: the Robustness page's default run ({', '.join(params.tests)}) is already stored, skipped.", file=sys.stderr)
        return
    segment = params.segment or DEFAULT_SEGMENT
    plans = plan_probes(
        evalset.inputs,
        [TESTS[t] for t in params.tests],
        limit=params.limit,
        seed=params.seed,
        n_variants=params.variants,
        language=params.language,
        segment=segment,
    )
    estimate = cost.estimate_probes(predictor, evalset, directions=directions, limit=params.limit, plans=plans)
    print(f"PROBES ({', '.join(params.tests)}; at most {params.limit or len(evalset):,} examples per test): {estimate.describe()}", file=sys.stderr)
    report = run_with_bar(
        predictor,
        evalset,
        estimate,
        list(params.tests),
        directions=directions,
        limit=params.limit,
        seed=params.seed,
        n_variants=params.variants,
        language=params.language,
        segment=segment,
        thresholds=table.thresholds,
    )
    keep_report(key, report, memory, store)


def fill_similar(store, page: AsThePagesRead) -> None:
    """What the Robustness page's "Similar examples" tab computes on open (`probes.views.fill_similar`: the PCA map's
    coordinates and the label-noise hints), kept in `store` under the page's keys, from the embeddings just stored; parts
    stored already are skipped. Reads the file as the app does (gold labels included), so the keys are the page's."""
    from probes.views import fill_similar as fill_tab

    try:
        lines = fill_tab(page.predictor, page.table, store=store)
    except VeredictoError as exc:
        print(f"EMBEDDINGS: the Robustness page's map and label-noise hints were not stored: {exc}", file=sys.stderr)
        return
    for line in lines:
        print(f"EMBEDDINGS: {line}", file=sys.stderr)


def fill_first_example(cache, predictor, source, failures: list[Failure]) -> None:
    """SHAP and LIME, at the page's budgets (`explain.cache.default_params`), of the example Explore opens on with this
    checkpoint (`analysis.browse.default_example` of its prediction table, read from the results store, else scored), so
    the page's first open shows them instead of computing them (half a minute at 100k rows on 2 cores). `source`: the
    command's arguments (the file is read with its gold labels, which pick the example) or an `EvalSet`."""
    from analysis.browse import default_example
    from analysis.predictions import predict_table
    from cli.common import read_data
    from explain.cache import PAGE_METHODS, default_params

    try:
        evalset = source if hasattr(source, "inputs") else read_data(source, predictor.ref, labelled=True)
        example = default_example(predict_table(predictor, evalset))
    except VeredictoError as exc:
        print(f"EXPLORE: skipped, the page's first example needs the gold labels: {exc}", file=sys.stderr)
        return
    if example is not None:
        for method in PAGE_METHODS:
            fill(cache, predictor, method, [evalset.inputs[example]], default_params(method), failures, what=f"Explore's first example, #{example}")


def fill_table(store, ref, inputs: Sequence[TextInput]) -> None:
    """The file's probabilities and token counts stored whole (`store.results.ResultsStore.table_from_rows`), from the rows
    just stored: the app's prediction table is then one read per checkpoint, not a row lookup per text (100k rows: seconds)."""
    if store.table_from_rows(ref.scoring_key, ref.fingerprint, inputs, len(ref.labels)):
        print("PREDICTIONS: the whole file's table stored as one result as well (the app's first open reads it at once).", file=sys.stderr)


def fill_insights_aggregate(cache, store, page: AsThePagesRead) -> None:
    """After the Insights page's method explained every text: the page's whole-set word statistics, stored
    (`explain.insights.store_whole_set`), so it opens without reading every explanation. The file is read as the app reads
    it (gold labels included), so positions and name hints, hence the key, are the page's."""
    from explain.insights import DEFAULT_METHOD, name_hints, store_whole_set

    evalset = page.evalset
    if store_whole_set(cache, store, page.ref.scoring_key, evalset.inputs, name_hints(evalset)) is not None:
        print(f"INSIGHTS: the word statistics of {DEFAULT_METHOD.upper()} over all {len(evalset):,} examples are stored.", file=sys.stderr)


def fill_quality(store, page: AsThePagesRead) -> None:
    """What the Data page computes on open (`quality.views.fill_quality`: label issues with neighbour hints, leakage and drift
    against the training file the checkpoint's provenance names, PII scans), kept in `store` under the page's keys; parts
    stored already are skipped. Reads the file as the app does (gold labels included), so the data fingerprint is the page's."""
    from evaldata.streaming import DEFAULT_CHUNK_ROWS
    from quality.training import training_data
    from quality.views import fill_quality as fill_page
    from runtime import settings

    training = training_data(page.ref.path, chunk_rows=settings.train_chunk_rows(DEFAULT_CHUNK_ROWS))  # the page's default: the provenance file, read in chunks
    print(f"QUALITY (the Data page; {training.describe() if training.available else training.message})", file=sys.stderr)
    for line in fill_page(page.predictor, page.table, page.evalset, training, store=store):
        print(f"QUALITY: {line}", file=sys.stderr)


def run(args) -> int:
    from cli.common import check_pairs, checkpoint, read_data
    from explain.cache import AttributionCache
    from models.inference import Predictor
    from store.lock import writer_lock
    from store.results import ResultsStore

    if args.limit is not None and args.limit < 1:
        raise VeredictoError(f"--limit must be at least 1 (got {args.limit}).")
    for whole in ("probes", "quality"):
        if args.limit is not None and whole in wanted_parts(args):
            raise VeredictoError(
                f"--what {whole} runs on the whole file, as the {'Robustness' if whole == 'probes' else 'Data'} page does: drop --limit, or leave {whole} out of --what."
            )
    if args.address and args.engine != "ray":
        raise VeredictoError(f"--address {args.address} joins a Ray cluster, which only --engine ray uses: add --engine ray, or drop --address.")
    parts = wanted_parts(args)
    scores = [p for p in parts if p in SCORES]
    methods = [p for p in parts if p in METHODS]
    if args.engine == "ray":
        from cli.ray_engine import require_ray

        require_ray()  # not installed: say so before loading anything
    ref = checkpoint(args.model, args)  # --task: a multi-label reading is explained (and cached) per label's sigmoid
    evalset = read_data(args, ref, labelled=False)
    texts = evalset.inputs[: args.limit] if args.limit else evalset.inputs  # sentence pairs are explained as pairs
    unique = list(dict.fromkeys(texts))
    predictor = Predictor(ref, batch_size=args.batch_size)
    check_pairs(predictor, evalset)
    store = ResultsStore(args.cache_dir)
    cache = AttributionCache(store.directory) if methods else None
    for notice in (store.notice, cache and cache.notice):
        if notice:
            print(f"warning: {notice}", file=sys.stderr)
    duplicates = len(texts) - len(unique)
    print(
        f"Precomputing {', '.join(parts)} for {len(unique):,} distinct text(s) from {evalset.name}"
        + (f" ({duplicates:,} duplicate(s) share one result)" if duplicates else "")
        + f" with {predictor.ref.name} ({predictor.ref.short_fingerprint}, {predictor.ref.task_description}); store: {store.directory}",
        file=sys.stderr,
    )
    failures: list[Failure] = []
    with writer_lock(store.directory), ray_pool(args, ref, predictor.batch_size) as pool:
        for position, part in enumerate(scores):
            fill_scores(store, predictor, part, unique, pool=pool, position=position if pool else 0)
        for position, method in enumerate(methods, start=len(scores)):
            fill(cache, predictor, method, unique, method_params(method, args), failures, pool=pool, position=position if pool else 0)
        if pool is not None:
            pool.run()  # every part above on one actor pool: the checkpoint is loaded once per actor for the whole run
        if "predictions" in scores and not args.limit:
            fill_table(store, ref, evalset.inputs)
        page = AsThePagesRead(args, ref, store)
        if "embeddings" in scores and not args.limit:  # the map and the hints are of the whole file
            fill_similar(store, page)
        if "probes" in parts:
            fill_probes(store, page)
        if "explore" in parts and not args.limit:  # the page's example is picked from the whole file
            fill_first_example(cache or AttributionCache(store.directory), page.predictor, args, failures)
        if "ig" in methods and args.limit is None:
            fill_insights_aggregate(cache, store, page)
        if "quality" in parts:
            fill_quality(store, page)
    report_failures(failures)
    done = store.stats()
    summary = f"Done. The results store holds {done.rows:,} row(s) ({done.bytes / 1e6:.1f} MB)"
    if cache is not None:
        stats = cache.stats()
        summary += f"; the attribution cache {stats.rows:,} explanation(s) ({stats.bytes / 1e6:.1f} MB)"
    print(summary + (f"; {len(failures)} text(s) could not be explained (listed above)." if failures else "."), file=sys.stderr)
    return 0
