"""Scale: each page's view-model and the HTML report on synthetic 10k- and 100k-row prediction tables, in one run.

No model runs: `analysis.synthetic.synthetic_pair` builds a (before, after) pair of prediction tables with the
metadata of scripts/build_100k.py, so this measures what the pages do with a filled results store. Prints seconds per
view-model call (the median of --repeats runs), the report's build time and size, and the process's peak RSS
(`resource.getrusage`, a high-water mark, so the 10k line comes before 100k can raise it).

Sections are functions in SECTIONS: `section(ctx) -> list[(name, seconds, note)]`; add one to measure more
(precompute throughput, store reads, restart time) in the same table.

Run: nice -n 10 .venv/bin/python benchmarks/scale.py [--rows 10000 100000] [--repeats 3] [--only overview,errors]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

Row = tuple[str, float, str]


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


SECTIONS: dict[str, Callable[[Context], list[Row]]] = {
    "overview": overview,
    "errors": errors,
    "explore": explore,
    "compare": compare,
    "signoff": signoff,
    "report": report,
    "neighbours": neighbours,
    "payloads": payloads,
}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from analysis.synthetic import synthetic_pair

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help=f"comma-separated sections, of: {', '.join(SECTIONS)}")
    args = parser.parse_args()
    chosen = [s for s in args.only.split(",") if s] or list(SECTIONS)
    print("load average:", Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "n/a")
    with tempfile.TemporaryDirectory(prefix="veredicto-scale-") as tmp:
        for n in args.rows:
            start = time.perf_counter()
            before, after = synthetic_pair(n, seed=0)
            ctx = Context(n, before, after, args.repeats, Path(tmp))
            print(f"\n== {n:,} rows (tables built in {time.perf_counter() - start:.1f} s)")
            print(f"{'section':<12}{'view-model':<30}{'seconds':>9}  note")
            for name in chosen:
                for what, seconds, note in SECTIONS[name](ctx):
                    flag = "  > 0.5 s" if seconds > 0.5 else ""
                    print(f"{name:<12}{what:<30}{seconds:>9.3f}  {note}{flag}", flush=True)
            print(f"peak RSS so far: {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
