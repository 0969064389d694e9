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

import numpy as np
import pandas as pd

from models.errors import DataError, VeredictoError

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
    """Texts and string labels of the train and validation parts, and where they came from."""

    labels: tuple[str, ...]  # sorted distinct labels
    train_texts: tuple[str, ...]
    train_labels: tuple[str, ...]
    val_texts: tuple[str, ...]
    val_labels: tuple[str, ...]
    info: dict  # {"data": ..., "split": ...} for provenance

    @property
    def fingerprint(self) -> str:
        return self.info["data"]["fingerprint"]


def _counts(labels: Sequence[str]) -> dict[str, int]:
    return {k: int(v) for k, v in sorted(pd.Series(list(labels), dtype=object).value_counts().items())}


def _read_labelled(source, *, text_col, label_col, role: str):
    from evaldata.loading import load_eval_data

    evalset = load_eval_data(source, text_col=text_col, label_col=label_col)
    if "label" not in evalset.frame:
        raise DataError(f"The {role} data '{evalset.name}' has no label column; fine-tuning needs one. Choose it with --label-col.")
    return evalset


def _dedupe(frame: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Keep the first row of each distinct text; (frame, rows dropped, texts that had conflicting labels)."""
    conflicting = int((frame.groupby("text")["label"].nunique() > 1).sum())
    deduped = frame.drop_duplicates("text", keep="first")
    return deduped, len(frame) - len(deduped), conflicting


def _stratified_subsample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    from sklearn.model_selection import train_test_split

    if limit >= len(frame):
        return frame
    keep, _ = train_test_split(np.arange(len(frame)), train_size=limit, stratify=frame["label"], random_state=seed)
    return frame.iloc[np.sort(keep)]


def prepare_data(
    data: str | os.PathLike,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    validation: str | os.PathLike | None = None,
    validation_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
) -> TrainingData:
    """Read and split the training data; every way it can be unusable raises `DataError` with advice.

    Without `validation`, a stratified `validation_fraction` of the distinct texts is held out
    (seeded). `limit` keeps a stratified, seeded subsample of that many training texts.
    """
    if not 0 < validation_fraction < 1:
        raise DataError(f"The validation fraction must lie strictly between 0 and 1; got {validation_fraction}.")
    if limit is not None and limit < 1:
        raise DataError(f"The training limit must be a positive number of examples; got {limit}.")
    evalset = _read_labelled(data, text_col=text_col, label_col=label_col, role="training")
    frame, dropped, conflicting = _dedupe(evalset.frame[["text", "label"]].reset_index(drop=True).rename_axis("row").reset_index())
    classes = _counts(frame["label"])
    label_name = label_col or "label"
    if len(classes) < 2:
        only = next(iter(classes), "?")
        raise DataError(
            f"The label column ('{label_name}') of '{evalset.name}' has a single class ('{only}', {len(frame)} example(s)); "
            "a classifier needs at least two. Check that --label-col names the column that holds the classes."
        )
    data_info = {
        "path": str(Path(data).expanduser().resolve()) if not isinstance(data, (bytes, bytearray)) else None,
        "name": evalset.name,
        "fingerprint": evalset.fingerprint,
        "text_col": text_col,
        "label_col": label_col,
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
                f"Too few examples per class in '{evalset.name}' to split it into training and validation: {listed} "
                f"(distinct texts; at least {MIN_PER_CLASS} per class are needed, and far more to learn anything). "
                "Add examples, merge or drop the rare classes, or pass a separate validation file with --validation."
            )
        n_val = max(len(classes), int(round(validation_fraction * len(frame))))
        if len(frame) - n_val < len(classes):
            raise DataError(
                f"'{evalset.name}' has {len(frame)} distinct texts for {len(classes)} classes: too few to hold out "
                f"{validation_fraction:.0%} for validation and still train on every class. Add examples or pass --validation."
            )
        from sklearn.model_selection import train_test_split

        train_idx, val_idx = train_test_split(np.arange(len(frame)), test_size=n_val, stratify=frame["label"], random_state=seed)
        train, val = frame.iloc[np.sort(train_idx)], frame.iloc[np.sort(val_idx)]
        missing = sorted(set(classes) - set(val["label"])) or sorted(set(classes) - set(train["label"]))
        if missing:
            raise DataError(
                f"After the stratified split of '{evalset.name}', class(es) {', '.join(map(repr, missing))} are missing from one side "
                f"(class counts: {classes}). Add examples of those classes, raise --validation-fraction, or pass --validation."
            )
        split = {
            "method": "stratified holdout",
            "validation_fraction": validation_fraction,
            "seed": seed,
            "validation_rows": [int(r) for r in val["row"]],  # 0-based data rows of the file, header excluded
        }
    else:
        val_set = _read_labelled(validation, text_col=text_col, label_col=label_col, role="validation")
        val, v_dropped, _ = _dedupe(val_set.frame[["text", "label"]].reset_index(drop=True).rename_axis("row").reset_index())
        unknown = sorted(set(val["label"]) - set(classes))
        if unknown:
            raise DataError(
                f"The validation data '{val_set.name}' has label(s) the training data lacks: {', '.join(map(repr, unknown))}. "
                f"Training labels: {', '.join(map(repr, classes))}."
            )
        overlap = set(val["text"]) & set(frame["text"])
        train = frame[~frame["text"].isin(overlap)]
        absent = sorted(set(classes) - set(train["label"]))
        if absent:
            raise DataError(f"After removing texts that also appear in the validation file, class(es) {absent} have no training example left.")
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
            raise DataError(f"A training limit of {limit} cannot hold one example of each of the {len(classes)} classes.")
        train = _stratified_subsample(train, limit, seed)
        split["train_limit"] = int(limit)
        split["train_subsample_seed"] = seed
    split.update(
        train_rows=len(train),
        validation_rows_count=len(val),
        train_label_counts=_counts(train["label"]),
        validation_label_counts=_counts(val["label"]),
        train_sha256=hashlib.sha256("\0".join(train["text"]).encode()).hexdigest(),
        validation_sha256=hashlib.sha256("\0".join(val["text"]).encode()).hexdigest(),
    )
    return TrainingData(
        labels=tuple(classes),
        train_texts=tuple(train["text"]),
        train_labels=tuple(train["label"]),
        val_texts=tuple(val["text"]),
        val_labels=tuple(val["label"]),
        info={"data": data_info, "split": split},
    )
