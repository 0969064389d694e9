"""`veredicto precompute`: fill the persistent attribution cache so the dashboard opens on ready explanations.

Resumable: each explanation is committed to the cache as soon as it is computed, so Ctrl-C or a
kill loses at most the one in flight, and running the same command again skips what is cached.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cli.common import add_data_arguments
from models.errors import VeredictoError
from models.protocol import TextInput

METHODS = ("shap", "lime", "ig", "grad_input")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "precompute",
        help="Explain every example of a data file once and keep the results in the attribution cache.",
        description="Explain the examples of an evaluation file with SHAP and/or LIME, or with a gradient method (Integrated "
        "Gradients, Gradient x Input), and store the results in the attribution cache the dashboard reads. Interrupt it at any "
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
    parser.add_argument(
        "--method",
        choices=(*METHODS, "both"),
        default="both",
        help="Which explanations to compute: shap, lime, both (shap and lime; the default), ig (Integrated Gradients, what the "
        "Insights page aggregates over every example) or grad_input (Gradient x Input).",
    )
    parser.add_argument("--limit", type=int, default=None, help="Only the first N examples of the file.")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="Cache directory (default: $VEREDICTO_CACHE_DIR, else cache/ in the Veredicto home; see runtime/settings.py).",
    )
    parser.add_argument("--max-evals", type=int, default=None, help="SHAP budget of masked texts (default: 500).")
    parser.add_argument("--num-samples", type=int, default=None, help="LIME perturbed samples (default: 1000).")
    parser.add_argument("--seed", type=int, default=0, help="Random seed (LIME sampling, SHAP tie-breaking).")
    parser.set_defaults(func=run)


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


def fill(cache, predictor, method: str, texts, params: dict, failures: list[Failure], *, what: str = "", position: int = 0) -> None:
    """Compute `method`'s explanations of the distinct `texts` the cache lacks, committed one by one, with a progress bar on
    stderr (on line `position`, when several processes show one each); texts that cannot be explained are appended to
    `failures`. Shared by `veredicto precompute` and `veredicto demo`."""
    from tqdm import tqdm

    unique = list(dict.fromkeys(texts))
    cached = cache.count_cached(predictor.ref.scoring_key, unique, method, **params)
    todo = len(unique) - cached
    print(f"{method.upper()}{f' ({what})' if what else ''}: {cached:,} of {len(unique):,} already cached, skipped; {todo:,} to compute.", file=sys.stderr)
    if not todo:
        return

    def record_failure(text: TextInput, exc: Exception) -> None:
        failures.append((method, text, str(exc)))

    with tqdm(total=todo, desc=f"{method.upper()} {predictor.ref.name}", unit="text", file=sys.stderr, dynamic_ncols=True, position=position) as bar:
        cache.get_or_compute_many(predictor, unique, method, progress=lambda done, total: bar.update(done - bar.n), on_error=record_failure, **params)


def report_failures(failures: list[Failure]) -> None:
    for method, text, message in failures:
        text = text if isinstance(text, str) else " ‖ ".join(text)
        preview = text if len(text) <= 50 else text[:49] + "…"
        print(f"skipped ({method}) {preview!r}: {message}", file=sys.stderr)


def run(args) -> int:
    from cli.common import check_pairs, checkpoint, read_data
    from explain.cache import AttributionCache
    from models.inference import Predictor

    if args.limit is not None and args.limit < 1:
        raise VeredictoError(f"--limit must be at least 1 (got {args.limit}).")
    ref = checkpoint(args.model, args)  # --task: a multi-label reading is explained (and cached) per label's sigmoid
    evalset = read_data(args, ref, labelled=False)
    texts = evalset.inputs[: args.limit] if args.limit else evalset.inputs  # sentence pairs are explained as pairs
    unique = list(dict.fromkeys(texts))
    predictor = Predictor(ref, batch_size=args.batch_size)
    check_pairs(predictor, evalset)
    cache = AttributionCache(args.cache_dir)
    if cache.notice:
        print(f"warning: {cache.notice}", file=sys.stderr)
    methods = ("shap", "lime") if args.method == "both" else (args.method,)
    duplicates = len(texts) - len(unique)
    print(
        f"Explaining {len(unique):,} distinct text(s) from {evalset.name}"
        + (f" ({duplicates:,} duplicate(s) share one explanation)" if duplicates else "")
        + f" with {predictor.ref.name} ({predictor.ref.short_fingerprint}, {predictor.ref.task_description}); cache: {cache.path}",
        file=sys.stderr,
    )
    failures: list[Failure] = []
    for method in methods:
        fill(cache, predictor, method, unique, method_params(method, args), failures)
    report_failures(failures)
    stats = cache.stats()
    print(
        f"Done. The cache holds {stats.rows:,} explanation(s) ({stats.bytes / 1e6:.1f} MB)"
        + (f"; {len(failures)} text(s) could not be explained (listed above)." if failures else "."),
        file=sys.stderr,
    )
    return 0
