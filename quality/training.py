"""Where the training data comes from: an explicit file, or the training file the checkpoint's provenance names.

    training = training_data(checkpoint_dir, train_file)      # never raises for a missing provenance file
    training.evalset        # an EvalSet (columns text and, when the file has one, label), or None
    training.file           # or, given `chunk_rows`: a `TrainingFile` read in chunks (a file too large for memory)
    training.message        # when neither: what is needed and how to give it

An explicit file that cannot be used (missing, unreadable, no text column, only empty texts) raises `DataError`:
the person asked for it. A provenance that names a file this machine cannot read is not an error, only a message.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaldata.loading import EvalSet, frame_inputs, guess_column, load_eval_data, read_file
from evaldata.streaming import Chunk, raw_chunks, stream_eval_data
from models.errors import DataError, VeredictoError

HOW_TO_GIVE = "Pass the training file with --train-data FILE (in the app: the 'Training data' picker on the Data page)."


def _training_error(exc: DataError) -> DataError:
    """A data error about the training file, naming the training options of the CLI."""
    message = f"Training data: {exc}"
    for flag, train_flag in {"--text-col": "--train-text-col", "--label-col": "--train-label-col", "--pair-col": "--train-pair-col"}.items():
        message = message.replace(flag, train_flag)
    return DataError(message)


def _no_pair_column(shown: str, pair_col: str, columns: Iterable[object]) -> DataError:
    return DataError(
        f"Training data: '{shown}' has no second text column '{pair_col}' for the sentence pairs; its columns are: "
        f"{', '.join(map(str, columns))}. Give the training file's second text column with --train-pair-col "
        "(in the app: name it in the training file as in the evaluation file)."
    )


def _all_empty(name: str) -> DataError:
    return DataError(
        f"Training data: every text in '{name}' is empty, so it cannot be compared with the evaluation data. Pick the column that holds the texts (--train-text-col)."
    )


@dataclass(frozen=True, eq=False)
class TrainingFile:
    """A training file read in chunks of `chunk_rows` rows, never whole: `read` makes one pass (the leakage scan and
    the label counts), `sample` another (the drift sample). `wrap` passes the chunks through, e.g. a progress bar.
    `pair_col`: the second text of sentence pairs; then texts are read as `(text, text_pair)` inputs."""

    path: Path
    text_col: str | None = None
    label_col: str | None = None  # None: the guessed label column, and none when no column looks like one
    chunk_rows: int = 50_000
    wrap: Callable[[Iterator[Chunk]], Iterable[Chunk]] | None = None
    pair_col: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def pair(self) -> bool:
        return bool(self.pair_col)

    @property
    def key(self) -> tuple:
        """Names this file as read, for caches: where it is, its version (modification time, size) and the columns read."""
        stat = self.path.stat()
        return ("training-file", str(self.path.resolve()), stat.st_mtime_ns, stat.st_size, self.text_col, self.label_col, self.pair_col)

    def _stream(self, chunk_rows: int) -> Iterator[Chunk]:
        return stream_eval_data(self.path, text_col=self.text_col, label_col=self.label_col, pair_col=self.pair_col, chunk_rows=chunk_rows)

    def chunks(self) -> Iterable[Chunk]:
        return self.wrap(self._stream(self.chunk_rows)) if self.wrap is not None else self._stream(self.chunk_rows)

    def check(self) -> None:
        """Read the first chunk: a missing column or an unreadable file fails now, before any scoring."""
        try:
            first = next(raw_chunks(self.path, chunk_rows=min(self.chunk_rows, 1000)), None) if self.pair_col else None
        except DataError as exc:
            raise _training_error(exc) from None
        if self.pair_col and first is not None and self.pair_col not in first[0].columns:
            raise _no_pair_column(self.name, self.pair_col, first[0].columns)
        try:
            next(self._stream(min(self.chunk_rows, 1000)))
        except DataError as exc:
            raise _training_error(exc) from None

    def read(self, each: Callable[[list], None] | None = None) -> tuple[int, Counter[str] | None]:
        """One pass: `each(inputs)` per chunk (texts, or pairs); returns the number of rows and the label counts (None without labels)."""
        rows, labels, any_text = 0, None, False
        try:
            for chunk in self.chunks():
                texts = chunk.texts
                any_text = any_text or any(t.strip() for t in texts)
                if each is not None:
                    each(chunk.inputs)
                if "label" in chunk.frame:
                    labels = (labels or Counter()) + Counter(chunk.frame["label"].tolist())
                rows += len(texts)
        except DataError as exc:
            raise _training_error(exc) from None
        if not any_text:
            raise _all_empty(self.name)
        return rows, labels

    def scan_pii(self):
        """One pass: `privacy.pii.scan_chunks`, the same scan as `scan_evalset` of the whole file."""
        from privacy.pii import scan_chunks

        try:
            return scan_chunks(self.chunks(), name=self.name)
        except DataError as exc:
            raise _training_error(exc) from None

    def sample(self, rows: np.ndarray) -> list:
        """The inputs (texts, or `(text, text_pair)` pairs) of the given sorted 0-based `rows`, in one pass."""
        out: list = []
        for chunk in self.chunks():
            end = chunk.start + len(chunk.frame)
            lo, hi = np.searchsorted(rows, [chunk.start, end])
            out.extend(frame_inputs(chunk.frame.iloc[rows[lo:hi] - chunk.start]))
        return out


@dataclass(frozen=True, eq=False)
class TrainingData:
    """The training texts (and labels, when the file has them) in memory or as a file read in chunks, where they came
    from, or why there are none."""

    evalset: EvalSet | None
    source: str  # "file" (given explicitly), "provenance", or "" when there is none
    message: str = ""  # why there is none and how to give it; empty when there is one
    file: TrainingFile | None = None  # read in chunks (then `evalset` is None)

    @property
    def available(self) -> bool:
        return self.evalset is not None or self.file is not None

    @property
    def name(self) -> str | None:
        return self.evalset.name if self.evalset is not None else self.file.name if self.file is not None else None

    @property
    def has_labels(self) -> bool:
        return self.evalset is not None and "label" in self.evalset.frame

    @property
    def pair(self) -> bool:
        """Whether the training data is sentence pairs (read with a second text column)."""
        return self.evalset.pair if self.evalset is not None else self.file is not None and self.file.pair

    @property
    def key(self) -> tuple:
        """Names the training data for caches: the in-memory data's fingerprint, the file read in chunks (`TrainingFile.key`),
        or why there is none."""
        if self.evalset is not None:
            return ("training-data", self.evalset.fingerprint)
        return self.file.key if self.file is not None else ("no-training-data", self.message)

    def describe(self) -> str:
        origin = "named in the checkpoint's provenance.json" if self.source == "provenance" else "given explicitly"
        if self.file is not None:
            return f"Training data: '{self.file.name}' (read {self.file.chunk_rows:,} rows at a time, {origin})."
        if self.evalset is None:
            return self.message
        return f"Training data: '{self.evalset.name}' ({len(self.evalset)} rows, {origin})."


def load_training_file(
    source: str | Path | bytes, *, name: str | None = None, text_col: str | None = None, label_col: str | None = None, pair_col: str | None = None
) -> EvalSet:
    """Read a training file with evaldata's column guessing (or explicit columns); a missing label column is fine
    (leakage and drift need only the texts), an all-empty text column is not. `pair_col`: the second text of sentence pairs."""
    frame, _, shown = read_file(source, name=name)
    if pair_col and pair_col not in frame.columns:
        raise _no_pair_column(shown, pair_col, frame.columns)
    if label_col is None and guess_column(list(frame.columns), "label") is None:
        label_col = ""  # no label column: label balance is not measured, everything else is
    try:
        evalset = load_eval_data(source, name=name, text_col=text_col, label_col=label_col, pair_col=pair_col)
    except DataError as exc:
        raise _training_error(exc) from None
    if (evalset.frame["text"].str.strip() == "").all():
        raise _all_empty(shown)
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
    chunk_rows: int | None = None,
    wrap: Callable[[Iterator[Chunk]], Iterable[Chunk]] | None = None,
) -> TrainingData:
    """The training data for leakage and drift: `train_file` when given, else the readable file the checkpoint's
    provenance.json records (with the columns it was trained on), else a `TrainingData` whose message says what to do.
    `roots` (team mode): a provenance file outside these folders is not read. `pair_col`: the explicit file's second text
    column (sentence pairs); a provenance file is read with the pair column it records. `chunk_rows`: a file on disk is
    not loaded but read in chunks of that many rows whenever it is used (`TrainingData.file`; `wrap` each pass's chunks)."""

    def streamed(path: Path, text: str | None, label: str | None, pair: str | None, source: str) -> TrainingData:
        file = TrainingFile(Path(path), text, label, int(chunk_rows or 0), wrap, pair)
        file.check()
        return TrainingData(None, source, file=file)

    if train_file is not None:
        if chunk_rows is not None and not isinstance(train_file, bytes):
            return streamed(Path(train_file).expanduser(), text_col, label_col, pair_col, "file")
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
        if chunk_rows is not None:
            return streamed(Path(path), data.get("text_col"), data.get("label_col"), data.get("pair_col"), "provenance")
        evalset = load_training_file(Path(path), text_col=data.get("text_col"), label_col=data.get("label_col"), pair_col=data.get("pair_col"))
    except DataError as exc:
        return TrainingData(None, "", f"The training file the checkpoint's provenance.json names cannot be used: {exc} {HOW_TO_GIVE}")
    return TrainingData(evalset, "provenance")
