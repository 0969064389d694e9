"""`veredicto precompute` throughput: the local engine against Ray at equal workers, and the results store's write rate.

In one run, on the demo's 'after' checkpoint and ~2,000 demo texts (test split, then validation, then train for --texts beyond), each into a fresh store:
- local engine with W torch threads vs `--engine ray` with W actors of one CPU each, W = 1 and 2, alternated
  (local 1, Ray 1, local 2, Ray 2, then again) through the code the CLI runs (`cli.precompute.fill_scores`);
  texts/s end to end (Ray's includes starting its actors and loading the checkpoint in each) and in steady state
  (after the first chunk reached the store), and the ratio Ray/local per W (the issue wants Ray's overhead <= 15%);
- the store: rows/s of `ResultsStore.put_many` for probabilities (2 floats) and embeddings (384 floats), chunks of 128.
Run: nice -n 10 .venv/bin/python benchmarks/precompute.py [--texts 2000] [--part predictions] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cli import ray_engine  # noqa: E402
from cli.precompute import fill_scores  # noqa: E402
from evaldata.loading import load_eval_data  # noqa: E402
from models.checkpoints import inspect_checkpoint  # noqa: E402
from models.inference import Predictor, ProbabilityCache  # noqa: E402
from store.results import ResultsStore  # noqa: E402
from training.demo import demo_paths  # noqa: E402


class TimedStore:
    """A ResultsStore that notes when the first rows arrive (so start-up is told apart from steady throughput)."""

    def __init__(self, directory: Path):
        self.store = ResultsStore(directory)
        self.first: tuple[float, int] | None = None

    def get_many(self, *args, **kwargs):
        return self.store.get_many(*args, **kwargs)

    def put_many(self, kind, key, inputs, rows) -> None:
        self.store.put_many(kind, key, inputs, rows)
        if self.first is None:
            self.first = (time.perf_counter(), len(inputs))


def measure(engine: str, workers: int, predictor, texts, part: str, ray) -> tuple[float, float]:
    """(texts/s end to end, texts/s after the first chunk) of one precompute of `part` into a fresh store."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        store = TimedStore(Path(tmp))
        args = SimpleNamespace(workers=workers, cpus_per_worker=1, gpus_per_worker=0)
        threads = torch.get_num_threads()
        if engine == "local":
            torch.set_num_threads(workers)
        try:
            start = time.perf_counter()
            done = fill_scores(store, predictor, part, texts, ray=ray if engine == "ray" else None, args=args)
            end = time.perf_counter()
        finally:
            torch.set_num_threads(threads)
        assert done == len(texts), f"{engine} stored {done} of {len(texts)}"
        assert store.first is not None
        first_at, first_rows = store.first
        return len(texts) / (end - start), (len(texts) - first_rows) / max(end - first_at, 1e-9)


def write_rate(width: int, rows: int = 20_000, chunk: int = 128) -> float:
    rng = np.random.default_rng(0)
    texts = [f"benchmark text {i}" for i in range(rows)]
    values = rng.random((rows, width), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultsStore(tmp)
        start = time.perf_counter()
        for s in range(0, rows, chunk):
            store.put_many("embedding", "bench", texts[s : s + chunk], values[s : s + chunk])
        return rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--part", choices=("predictions", "embeddings"), default="predictions")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="Worker counts to compare (comma list).")
    args = parser.parse_args()

    paths = demo_paths()
    texts: list = []
    for split in (paths.test_data, paths.validation_data, paths.train_data):
        texts += load_eval_data(split).inputs
    texts = list(dict.fromkeys(texts))[: args.texts]
    ref = inspect_checkpoint(paths.after)
    predictor = Predictor(ref, device="cpu", cache=ProbabilityCache(1))
    print(f"{len(texts):,} texts, {ref.name} ({ref.short_fingerprint}), part={args.part}, batch {predictor.batch_size}; load {os.getloadavg()}")

    started = time.perf_counter()
    with ray_engine.session(num_cpus=max(int(w) for w in args.workers.split(","))) as ray:
        print(f"Ray {ray.__version__} started in {time.perf_counter() - started:.1f} s (once per precompute run, not counted below)")
        results: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for _ in range(args.repeats):
            for workers in (int(w) for w in args.workers.split(",")):
                for engine in ("local", "ray"):  # alternated, so load changes hit both
                    results.setdefault((engine, workers), []).append(measure(engine, workers, predictor, texts, args.part, ray))
                    e2e, steady = results[(engine, workers)][-1]
                    print(f"  {engine:5} x{workers}: {e2e:7.1f} texts/s end to end, {steady:7.1f} steady; load {os.getloadavg()[0]:.2f}", flush=True)
    print("\nmedian texts/s          end to end   steady   Ray/local (end to end, steady)")
    for workers in (int(w) for w in args.workers.split(",")):
        local = [statistics.median(x) for x in zip(*results[("local", workers)])]
        ray_ = [statistics.median(x) for x in zip(*results[("ray", workers)])]
        print(f"  local x{workers}              {local[0]:8.1f} {local[1]:8.1f}")
        print(f"  ray   x{workers}              {ray_[0]:8.1f} {ray_[1]:8.1f}   {ray_[0] / local[0]:.2f}  {ray_[1] / local[1]:.2f}")
    for width, what in ((2, "probabilities"), (384, "embeddings")):
        print(f"store put_many, {what} ({width} floats), chunks of 128: {write_rate(width):,.0f} rows/s")
    print(f"load at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
