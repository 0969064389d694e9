"""Where the training data comes from: an explicit file, or the training file the checkpoint's provenance names.

    training = training_data(checkpoint_dir, train_file)      # never raises for a missing provenance file
    training.evalset        # an EvalSet (columns text and, when the file has one, label), or None
    training.message        # when None: what is needed and how to give it

An explicit file that cannot be used (missing, unreadable, no text column, only empty texts) raises `DataError`:
the person asked for it. A provenance that names a file this machine cannot read is not an error, only a message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evaldata.loading import EvalSet, guess_column, load_eval_data, read_file
from models.errors import DataError, VeredictoError

HOW_TO_GIVE = "Pass the training file with --train-data FILE (in the app: the 'Training data' picker on the Data page)."


@dataclass(frozen=True, eq=False)
class TrainingData:
    """The training texts (and labels, when the file has them), where they came from, or why there are none."""

    evalset: EvalSet | None
    source: str  # "file" (given explicitly), "provenance", or "" when there is none
    message: str = ""  # why there is none and how to give it; empty when there is one

    @property
    def available(self) -> bool:
        return self.evalset is not None

    @property
    def has_labels(self) -> bool:
        return self.evalset is not None and "label" in self.evalset.frame

    def describe(self) -> str:
        if self.evalset is None:
            return self.message
        origin = "named in the checkpoint's provenance.json" if self.source == "provenance" else "given explicitly"
        return f"Training data: '{self.evalset.name}' ({len(self.evalset)} rows, {origin})."


def load_training_file(
    source: str | Path | bytes, *, name: str | None = None, text_col: str | None = None, label_col: str | None = None, pair_col: str | None = None
) -> EvalSet:
    """Read a training file with evaldata's column guessing (or explicit columns); a missing label column is fine
    (leakage and drift need only the texts), an all-empty text column is not. `pair_col`: the second text of sentence pairs."""
    frame, _, shown = read_file(source, name=name)
    if pair_col and pair_col not in frame.columns:
        raise DataError(
            f"Training data: '{shown}' has no second text column '{pair_col}' for the sentence pairs; its columns are: "
            f"{', '.join(map(str, frame.columns))}. Give the training file's second text column with --train-pair-col "
            "(in the app: name it in the training file as in the evaluation file)."
        )
    if label_col is None and guess_column(list(frame.columns), "label") is None:
        label_col = ""  # no label column: label balance is not measured, everything else is
    try:
        evalset = load_eval_data(source, name=name, text_col=text_col, label_col=label_col, pair_col=pair_col)
    except DataError as exc:
        flags = {"--text-col": "--train-text-col", "--label-col": "--train-label-col", "--pair-col": "--train-pair-col"}
        message = f"Training data: {exc}"
        for flag, train_flag in flags.items():
            message = message.replace(flag, train_flag)
        raise DataError(message) from None
    if (evalset.frame["text"].str.strip() == "").all():
        raise DataError(
            f"Training data: every text in '{shown}' is empty, so it cannot be compared with the evaluation data. "
            "Pick the column that holds the texts (--train-text-col)."
        )
    return evalset


def training_data(
    checkpoint_dir: str | os.PathLike | None,
    train_file: str | Path | bytes | None = None,
    *,
    name: str | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
    pair_col: str | None = None,
    roots: Sequence[Path] | None = None,
) -> TrainingData:
    """The training data for leakage and drift: `train_file` when given, else the readable file the checkpoint's
    provenance.json records (with the columns it was trained on), else a `TrainingData` whose message says what to do.
    `roots` (team mode): a provenance file outside these folders is not read. `pair_col`: the explicit file's second text
    column (sentence pairs); a provenance file is read with the pair column it records."""
    if train_file is not None:
        return TrainingData(load_training_file(train_file, name=name, text_col=text_col, label_col=label_col, pair_col=pair_col), "file")
    if checkpoint_dir is None:
        return TrainingData(None, "", f"No training data was given. {HOW_TO_GIVE}")
    from training.provenance import load_provenance

    try:
        provenance = load_provenance(checkpoint_dir)
    except VeredictoError as exc:
        return TrainingData(None, "", f"The checkpoint's provenance.json cannot be read ({exc}), so its training file is unknown. {HOW_TO_GIVE}")
    if provenance is None:
        return TrainingData(
            None, "", f"The checkpoint has no provenance.json naming its training file (it was not trained with `veredicto finetune`). {HOW_TO_GIVE}"
        )
    data = provenance.record.get("data") or {}
    path = data.get("path") if isinstance(data, dict) else None
    if not path:
        return TrainingData(None, "", f"The checkpoint's provenance.json does not record where its training file is. {HOW_TO_GIVE}")
    if roots is not None:
        from runtime.settings import PathNotAllowed, allowed_path

        try:
            path = allowed_path(path, list(roots))
        except PathNotAllowed:
            return TrainingData(None, "", f"The training file the checkpoint's provenance.json names is outside the folders this server shares. {HOW_TO_GIVE}")
    if not Path(path).is_file():
        return TrainingData(None, "", f"The checkpoint's provenance.json names the training file '{path}', which is not readable here. {HOW_TO_GIVE}")
    try:
        evalset = load_training_file(Path(path), text_col=data.get("text_col"), label_col=data.get("label_col"), pair_col=data.get("pair_col"))
    except DataError as exc:
        return TrainingData(None, "", f"The training file the checkpoint's provenance.json names cannot be used: {exc} {HOW_TO_GIVE}")
    return TrainingData(evalset, "provenance")
