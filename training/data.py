"""Training data: read a labelled file, drop repeated texts, split it (seeded, stratified) and describe it for provenance.

Part of the one training stack (`data` -> `model` -> `run` -> `checkpoint`, and `search` over them) that
`veredicto finetune`, the sentiment demo and the news demo all go through.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import DataError, VeredictoError
from models.task import MULTI_LABEL, SINGLE_LABEL, parse_task

MIN_PER_CLASS = 2  # a stratified split needs one example of each class on each side


def label_ids(labels: Sequence[str], names: Sequence[str]) -> list[int]:
    """The index of each label in the model's label order `names`; unknown labels raise `VeredictoError`."""
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise VeredictoError(f"Training labels {unknown} are not among the model's labels {list(names)}.")
    return [index[label] for label in labels]


@dataclass(frozen=True, eq=False)
class TrainingData:
    """Texts and string labels of the train and validation parts, and where they came from.

    Multi-label (`task`): each label string holds the row's tags joined by `label_sep` ("" = no tag) and
    `labels` are the distinct tags; `gold_matrix` turns label strings into indicator vectors. Sentence pairs
    carry the second texts in `train_pairs` / `val_pairs` (None for single texts).
    """

    labels: tuple[str, ...]  # sorted distinct labels (multi-label: tags)
    train_texts: tuple[str, ...]
    train_labels: tuple[str, ...]
    val_texts: tuple[str, ...]
    val_labels: tuple[str, ...]
    info: dict  # {"data": ..., "split": ...} for provenance
    task: str = SINGLE_LABEL
    train_pairs: tuple[str, ...] | None = None
    val_pairs: tuple[str, ...] | None = None
    label_sep: str = "|"

    @property
    def fingerprint(self) -> str:
        return self.info["data"]["fingerprint"]

    @property
    def multi_label(self) -> bool:
        return self.task == MULTI_LABEL

    def tags(self, label: str) -> list[str]:
        """The tags of one label string (multi-label; a single-label string is its own one tag)."""
        return _tags(label, self.label_sep) if self.multi_label else [label]

    def gold_matrix(self, labels: Sequence[str], names: Sequence[str]) -> np.ndarray:
        """Indicator vectors (rows x `names`, float32) of label strings, for the BCE loss of a multi-label model."""
        ids = {name: i for i, name in enumerate(names)}
        unknown = sorted({t for label in labels for t in self.tags(label)} - set(ids))
        if unknown:
            raise VeredictoError(f"Training tags {unknown} are not among the model's labels {list(names)}.")
        gold = np.zeros((len(labels), len(names)), dtype=np.float32)
        for row, label in enumerate(labels):
            gold[row, [ids[t] for t in self.tags(label)]] = 1.0
        return gold


def _tags(label: str, sep: str) -> list[str]:
    return [t for t in (part.strip() for part in str(label).split(sep)) if t]


def _counts(labels: Sequence[str], sep: str | None = None) -> dict[str, int]:
    """Examples per class; with `sep` (multi-label), rows per tag."""
    values = [t for label in labels for t in _tags(label, sep)] if sep is not None else list(labels)
    return {k: int(v) for k, v in sorted(pd.Series(values, dtype=object).value_counts().items())}


def _read_labelled(source, *, text_col, label_col, role: str, pair_col=None, label_sep=None, label_cols=None):
    from evaldata.loading import load_eval_data

    evalset = load_eval_data(source, text_col=text_col, label_col=label_col, pair_col=pair_col, label_sep=label_sep, label_cols=label_cols)
    if "label" not in evalset.frame:
        raise DataError(f"The {role} data '{evalset.name}' has no label column; fine-tuning needs one. Choose it with --label-col.")
    return evalset


def _columns(evalset) -> pd.DataFrame:
    keep = ["text", "text_pair", "label"] if evalset.pair else ["text", "label"]
    return evalset.frame[keep].reset_index(drop=True).rename_axis("row").reset_index()


def _keys(frame: pd.DataFrame) -> list[str]:
    return ["text", "text_pair"] if "text_pair" in frame else ["text"]


def _dedupe(frame: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Keep the first row of each distinct text (or pair); (frame, rows dropped, texts that had conflicting labels)."""
    keys = _keys(frame)
    conflicting = int((frame.groupby(keys)["label"].nunique() > 1).sum())
    deduped = frame.drop_duplicates(keys, keep="first")
    return deduped, len(frame) - len(deduped), conflicting


def _stratified_subsample(frame: pd.DataFrame, limit: int, seed: int, stratify: bool = True) -> pd.DataFrame:
    from sklearn.model_selection import train_test_split

    if limit >= len(frame):
        return frame
    keep, _ = train_test_split(np.arange(len(frame)), train_size=limit, stratify=frame["label"] if stratify else None, random_state=seed)
    return frame.iloc[np.sort(keep)]


def _pair_key(frame: pd.DataFrame) -> pd.Series:
    """One string per row naming the text (and second text): what counts as 'the same example' across files."""
    return frame["text"] + ("\0" + frame["text_pair"] if "text_pair" in frame else "")


def prepare_data(
    data: str | os.PathLike,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    validation: str | os.PathLike | None = None,
    validation_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
    task: str | None = None,
    pair_col: str | None = None,
    label_sep: str | None = None,
    label_cols: Sequence[str] | None = None,
) -> TrainingData:
    """Read and split the training data; every way it can be unusable raises `DataError` with advice.

    Without `validation`, a stratified `validation_fraction` of the distinct texts is held out
    (seeded). `limit` keeps a stratified, seeded subsample of that many training texts.

    `task` "multi-label" (implied by `label_sep` or `label_cols`) reads each row's tags as `evaldata` does
    (tags joined by `label_sep`, "|" by default, or one 0/1 column per tag); the split is then seeded but
    not stratified (tag sets rarely repeat), and every tag must keep training examples. `pair_col` names the
    second text of sentence pairs; repeated examples are then repeated (text, second text) pairs.
    """
    task = parse_task(task) or (MULTI_LABEL if label_sep is not None or label_cols else SINGLE_LABEL)
    multi = task == MULTI_LABEL
    if not multi and (label_sep is not None or label_cols):
        raise DataError("--label-sep and --label-cols describe multi-label data; they cannot be used with --task single-label.")
    if not 0 < validation_fraction < 1:
        raise DataError(f"The validation fraction must lie strictly between 0 and 1; got {validation_fraction}.")
    if limit is not None and limit < 1:
        raise DataError(f"The training limit must be a positive number of examples; got {limit}.")
    columns = {"pair_col": pair_col, "label_sep": ("|" if label_sep is None else label_sep) if multi else None, "label_cols": label_cols}
    evalset = _read_labelled(data, text_col=text_col, label_col=label_col, role="training", **columns)
    sep = evalset.label_sep if multi else None
    frame, dropped, conflicting = _dedupe(_columns(evalset))
    classes = _counts(frame["label"], sep)
    label_name = label_col or "label"
    what, examples = ("tag", "rows") if multi else ("class", "example(s)")
    if len(classes) < 2:
        only = next(iter(classes), "?")
        raise DataError(
            f"The label column ('{label_name}') of '{evalset.name}' has a single {what} ('{only}', {len(frame)} {examples}); "
            "a classifier needs at least two. Check that --label-col names the column that holds the classes"
            + (" and --label-sep the separator between tags." if multi else ".")
        )
    data_info = {
        "path": str(Path(data).expanduser().resolve()) if not isinstance(data, (bytes, bytearray)) else None,
        "name": evalset.name,
        "fingerprint": evalset.fingerprint,
        "text_col": text_col,
        "label_col": label_col,
        "task": task,
        "pair_col": pair_col,
        **({"label_sep": sep, "label_cols": list(label_cols or [])} if multi else {}),
        "rows": len(evalset),
        "duplicates_dropped": dropped,
        "conflicting_duplicates": conflicting,
        "label_counts": classes,
    }
    if validation is None:
        rare = {label: n for label, n in classes.items() if n < MIN_PER_CLASS}
        if rare:
            listed = ", ".join(f"'{k}': {v}" for k, v in rare.items())
            raise DataError(
                f"Too few examples per {what} in '{evalset.name}' to split it into training and validation: {listed} "
                f"(distinct texts; at least {MIN_PER_CLASS} per {what} are needed, and far more to learn anything). "
                f"Add examples, merge or drop the rare {what}s, or pass a separate validation file with --validation."
            )
        n_val = max(1 if multi else len(classes), int(round(validation_fraction * len(frame))))
        if len(frame) - n_val < (MIN_PER_CLASS if multi else len(classes)):
            raise DataError(
                f"'{evalset.name}' has {len(frame)} distinct texts for {len(classes)} {what}s: too few to hold out "
                f"{validation_fraction:.0%} for validation and still train on every {what}. Add examples or pass --validation."
            )
        from sklearn.model_selection import train_test_split

        stratify = None if multi else frame["label"]
        train_idx, val_idx = train_test_split(np.arange(len(frame)), test_size=n_val, stratify=stratify, random_state=seed)
        train, val = frame.iloc[np.sort(train_idx)], frame.iloc[np.sort(val_idx)]
        if multi:  # an unseen tag cannot be learnt; one absent from validation is only not measured
            missing = sorted(set(classes) - set(_counts(train["label"], sep)))
        else:
            missing = sorted(set(classes) - set(val["label"])) or sorted(set(classes) - set(train["label"]))
        if missing:
            raise DataError(
                f"After the {'seeded' if multi else 'stratified'} split of '{evalset.name}', {what}(s) {', '.join(map(repr, missing))} are missing from "
                f"{'the training side' if multi else 'one side'} ({what} counts: {classes}). Add examples of those {what}s, "
                "raise --validation-fraction, or pass --validation."
            )
        split: dict[str, Any] = {
            "method": "seeded holdout (not stratified: multi-label)" if multi else "stratified holdout",
            "validation_fraction": validation_fraction,
            "seed": seed,
            "validation_rows": [int(r) for r in val["row"]],  # 0-based data rows of the file, header excluded
        }
    else:
        val_set = _read_labelled(validation, text_col=text_col, label_col=label_col, role="validation", **columns)
        val, v_dropped, _ = _dedupe(_columns(val_set))
        unknown = sorted(set(_counts(val["label"], sep)) - set(classes))
        if unknown:
            raise DataError(
                f"The validation data '{val_set.name}' has {what}(s) the training data lacks: {', '.join(map(repr, unknown))}. "
                f"Training {what}s: {', '.join(map(repr, classes))}."
            )
        overlap = set(_pair_key(val)) & set(_pair_key(frame))
        train = frame[~_pair_key(frame).isin(overlap)]
        absent = sorted(set(classes) - set(_counts(train["label"], sep)))
        if absent:
            raise DataError(f"After removing texts that also appear in the validation file, {what}(s) {absent} have no training example left.")
        split = {
            "method": "separate validation file",
            "validation_path": str(Path(validation).expanduser().resolve()),
            "validation_name": val_set.name,
            "validation_fingerprint": val_set.fingerprint,
            "validation_duplicates_dropped": v_dropped,
            "train_texts_also_in_validation_dropped": len(overlap),
        }
    if limit is not None and limit < len(train):
        if limit < len(classes):
            raise DataError(f"A training limit of {limit} cannot hold one example of each of the {len(classes)} {what}s.")
        train = _stratified_subsample(train, limit, seed, stratify=not multi)
        if multi and set(_counts(train["label"], sep)) != set(classes):
            raise DataError(f"A training limit of {limit} leaves some tags without a training example; raise --limit.")
        split["train_limit"] = int(limit)
        split["train_subsample_seed"] = seed
    split.update(
        train_rows=len(train),
        validation_rows_count=len(val),
        train_label_counts=_counts(train["label"], sep),
        validation_label_counts=_counts(val["label"], sep),
        train_sha256=hashlib.sha256("\0".join(_pair_key(train)).encode()).hexdigest(),
        validation_sha256=hashlib.sha256("\0".join(_pair_key(val)).encode()).hexdigest(),
    )
    pairs = "text_pair" in frame
    return TrainingData(
        labels=tuple(classes),
        train_texts=tuple(train["text"]),
        train_labels=tuple(train["label"]),
        val_texts=tuple(val["text"]),
        val_labels=tuple(val["label"]),
        info={"data": data_info, "split": split},
        task=task,
        train_pairs=tuple(train["text_pair"]) if pairs else None,
        val_pairs=tuple(val["text_pair"]) if pairs else None,
        label_sep=sep or "|",
    )
