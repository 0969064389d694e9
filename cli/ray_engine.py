"""`veredicto precompute --engine ray`: score texts on a Ray cluster (or a local Ray started for the run).

Ray Data's `map_batches` with one actor pool per run (`Pool`): each actor loads the checkpoint once (a plain `Predictor`,
no store) and serves every part the run asks for (probabilities, embeddings, explanations), each chunk tagged with its
part and each row with its position; the driver iterates the results and hands each to its part's sink (the precompute
writes them to the results store, so there is one writer: the driver), so a kill loses at most the batches in flight. Ray is optional (`pip install 'veredicto[ray]'`) and imported only here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.errors import VeredictoError
from models.protocol import TextInput

KINDS = ("proba", "embedding")
Sink = Callable[[np.ndarray, np.ndarray], None]  # (positions in the input list, rows)


class RayError(VeredictoError):
    """Ray is missing, the cluster cannot be reached, or a worker died mid-run."""


def require_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise RayError("--engine ray needs Ray Data, which is not installed: pip install 'veredicto[ray]' (or run without --engine ray).") from None
    return ray


@contextlib.contextmanager
def session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray for the block: join the cluster at `address` (`auto`, `ray://host:10001`, ...), else start a local Ray on
    `num_cpus` cores and shut it down afterwards. An already initialised Ray (a test's shared session) is reused as is."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its plans and notices would break the precompute's progress bar
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError... for a bad address
        where = address or "a local Ray"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayError(f"cannot reach the Ray cluster at {where}: {reason}; check `ray status` there or drop --address.") from None
    try:
        yield ray
    finally:
        ray.shutdown()


class _Loaded:
    """A Ray actor holding one loaded checkpoint (a plain `Predictor`, no store): loaded once, in `__init__`."""

    def __init__(self, ref, batch_size: int = 32, threads: int | None = None, device: str | None = None, cache_items: int = 1):
        import torch

        from models.inference import Predictor, ProbabilityCache

        if threads:
            torch.set_num_threads(threads)
        self.predictor = Predictor(ref, batch_size=batch_size, device=device, cache=ProbabilityCache(cache_items))

    @staticmethod
    def inputs(batch: dict[str, np.ndarray], k: int) -> list[TextInput]:
        texts = [str(t) for t in batch["texts"][k]]
        if "pairs" in batch:
            return [(a, str(b)) for a, b in zip(texts, batch["pairs"][k])]
        return list(texts)


class Worker(_Loaded):
    """Serves every part of a run with one loaded checkpoint: each chunk it is given says its part (`kind`): probabilities or
    embeddings, scored in one call as the local engine does (so both run the very same forward batches and agree to the last
    bits), or one explanation method's `Attribution.to_json` payloads (or the user-facing error of a text that cannot be
    explained), all returned to the driver, which stores them."""

    def __init__(self, ref, methods: dict[str, dict[str, Any]] | None = None, **kwargs):
        from models.inference import ProbabilityCache

        # SHAP and LIME ask for the same masked texts again; scoring alone keeps nothing between batches
        super().__init__(ref, cache_items=100_000 if methods else 1, **kwargs)
        self.embeddings = ProbabilityCache(1)
        self.methods = methods or {}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        (kind,) = set(batch["kind"])  # batch_size=1: one chunk, of one part
        if kind in KINDS:
            return self.score(kind, batch)
        return self.explain(kind, batch)

    def score(self, kind: str, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        positions, rows = [], []
        for k in range(len(batch["positions"])):
            inputs = self.inputs(batch, k)
            positions.append(np.asarray(batch["positions"][k], dtype=np.int64))
            rows.append(self.predictor.predict_proba(inputs) if kind == "proba" else self.predictor.embed(inputs, cache=self.embeddings))
        position = np.concatenate(positions)
        return {"position": position, "kind": np.full(len(position), kind, dtype=object), "row": np.concatenate(rows).astype(np.float32)}

    def explain(self, method: str, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from explain.cache import _explain_text  # the local engine's own call (pairs as text_pair)

        positions, payloads, errors = [], [], []
        for k in range(len(batch["positions"])):
            for position, text in zip(batch["positions"][k], self.inputs(batch, k)):
                positions.append(int(position))
                try:
                    payloads.append(_explain_text(self.predictor, text, method, None, **self.methods[method]).to_json())
                    errors.append("")
                except VeredictoError as exc:
                    payloads.append("")
                    errors.append(str(exc))
        return {
            "position": np.asarray(positions, dtype=np.int64),
            "kind": np.full(len(positions), method, dtype=object),
            "payload": np.asarray(payloads, dtype=object),
            "error": np.asarray(errors, dtype=object),
        }


Chunks = Sequence[tuple[Sequence[int], Sequence[TextInput]]]


@dataclass(frozen=True)
class Part:
    """One part of a run: `kind` ("proba", "embedding" or an explanation method, computed with `params`), its `chunks`
    (positions in the caller's list, inputs), and `on_batch`, which stores one finished chunk on the driver and says how
    many texts it stored."""

    kind: str
    chunks: Chunks
    on_batch: Callable[[dict[str, np.ndarray]], int]
    params: dict[str, Any] = field(default_factory=dict)


def score_part(kind: str, chunks: Chunks, sink: Sink) -> Part:
    """Probabilities (`kind` "proba") or embeddings of each chunk; `sink(positions, rows)` gets each finished chunk."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def on_batch(batch) -> int:
        sink(np.asarray(batch["position"]), np.asarray(batch["row"]))
        return len(batch["position"])

    return Part(kind, chunks, on_batch)


def explain_part(method: str, params: dict[str, Any], chunks: Chunks, sink: Callable[[np.ndarray, Sequence[str], Sequence[str]], None]) -> Part:
    """`method`'s explanations of each chunk; `sink(positions, payloads, errors)` gets each finished chunk (a payload is
    `Attribution.to_json()`, or empty with the text's error)."""

    def on_batch(batch) -> int:
        sink(np.asarray(batch["position"]), list(batch["payload"]), list(batch["error"]))
        return len(batch["position"])

    return Part(method, chunks, on_batch, params)


class Pool:
    """One Ray actor pool for a whole run: the run's parts are collected (`add`, each with its progress bar), then `run`
    sends them all through the same actors, each loading the checkpoint once (starting a pool and loading takes seconds;
    one per part would pay that again for every part). Results come back to the driver, the store's one writer."""

    def __init__(self, ray, ref, *, workers: int = 2, batch_size: int = 32, cpus_per_worker: float = 1, gpus_per_worker: float = 0, actor: type | None = None):
        self.ray, self.ref, self.actor = ray, ref, actor
        self.workers, self.batch_size, self.cpus, self.gpus = max(1, int(workers)), batch_size, cpus_per_worker, gpus_per_worker
        self.parts: list[Part] = []
        self.bars: list[Any] = []

    def add(self, part: Part, bar: Any = None) -> None:
        """Queue `part` for `run`; `bar` (a tqdm bar, say) is closed when the run ends."""
        if part.chunks:
            self.parts.append(part)
        if bar is not None:
            self.bars.append(bar)

    def run(self) -> int:
        """Every queued part on one actor pool; each finished chunk goes to its part's `on_batch` on the driver, in whatever
        order they finish. Returns how many texts were stored. A worker that dies, or an error inside it, raises `RayError`
        saying how many texts were stored and that a rerun continues."""
        try:
            return self._run()
        finally:
            for bar in self.bars:
                bar.close()
            self.parts, self.bars = [], []

    def _run(self) -> int:
        if not self.parts:
            return 0
        ray = self.ray
        total = sum(len(positions) for part in self.parts for positions, _ in part.chunks)
        items: list[dict[str, Any]] = []
        for part in self.parts:
            for positions, inputs in part.chunks:
                item: dict[str, Any] = {
                    "kind": part.kind,
                    "positions": [int(p) for p in positions],
                    "texts": [t if isinstance(t, str) else t[0] for t in inputs],
                }
                if not isinstance(inputs[0], str):
                    item["pairs"] = [t[1] for t in inputs]
                items.append(item)
        check_resources(ray, self.workers, self.cpus, self.gpus)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the precompute shows its own bars, with ETA
        sinks = {part.kind: part.on_batch for part in self.parts}
        methods = {part.kind: part.params for part in self.parts if part.kind not in KINDS}
        kwargs = {"ref": self.ref, "batch_size": self.batch_size, "threads": max(1, int(self.cpus)), "device": "cuda" if self.gpus else "cpu"}
        stored = 0
        try:
            done = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                self.actor or Worker,
                fn_constructor_kwargs={**kwargs, "methods": methods},
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=self.workers),
                num_cpus=self.cpus,
                num_gpus=self.gpus,
            )
            for batch in done.iter_batches(batch_size=None, batch_format="numpy"):
                stored += sinks[str(batch["kind"][0])](batch)
        except VeredictoError:
            raise
        except Exception as exc:  # noqa: BLE001 - RayTaskError, RayActorError, ObjectLostError, ... all mean the same to the user
            raise RayError(
                f"a Ray worker failed after {stored:,} of {total:,} texts were stored ({root_cause(exc)[:300]}). "
                "What is stored is kept: run the same command again to continue with the rest."
            ) from None
        return stored


def check_resources(ray, workers: int, cpus: float, gpus: float) -> None:
    """Refuse an actor pool the cluster cannot hold: Ray would otherwise wait for the missing CPUs or GPUs forever.
    (An autoscaling cluster: scale it up first, e.g. `ray.autoscaler.sdk.request_resources`.)"""
    have = ray.cluster_resources()
    cpu, gpu = float(have.get("CPU", 0)), float(have.get("GPU", 0))
    if workers * cpus > cpu or workers * gpus > gpu:
        raise RayError(
            f"the Ray cluster has {cpu:g} CPU(s) and {gpu:g} GPU(s); {workers} worker(s) x {cpus:g} CPU(s)"
            + (f" and {gpus:g} GPU(s)" if gpus else "")
            + " each need more. Lower --workers, --cpus-per-worker or --gpus-per-worker, or add nodes to the cluster."
        )


def root_cause(exc: BaseException) -> str:
    """The worker's own error as `Type: message`, found in the traceback text Ray wraps it in (RayTaskError(UserCodeException)
    -> ... -> RuntimeError: ...), else the first line of Ray's error."""
    raised = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)): (.+)$")
    found = [m for m in map(raised.match, str(exc).splitlines()) if m and not m.group(1).startswith(("ray.", "Ray")) and m.group(1) != "UserCodeException"]
    if found:
        return f"{found[-1].group(1)}: {found[-1].group(2).strip()}"
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def local_cpus() -> int:
    """Cores a local Ray may use: all of this machine's (os.sched_getaffinity where it exists)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
