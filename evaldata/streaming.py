"""Read a data file too large for memory in chunks of rows, with the columns and messages of `evaldata.loading`.

    for chunk in stream_eval_data(path, text_col="text", label_col="", chunk_rows=50_000):
        chunk.frame      # like `EvalSet.frame` for these rows: text, [text_pair], [label], metadata columns (renamed like EvalSet's)
        chunk.inputs     # what the model reads per row: the text, or (text, text_pair) given `pair_col`
        chunk.start      # 0-based row of its first row in the file
        chunk.done       # share of the file read so far (bytes for CSV/JSONL, rows for Parquet): for an ETA

CSV/TSV and JSON Lines are read with pandas' `chunksize`, Parquet with pyarrow's `iter_batches`: at most `chunk_rows`
rows are held at a time. A JSON array (a `.json` file starting with "[") cannot be read in parts; it is read whole.
Bad input mid-file names the line or the rows and says what to do: a line that is not UTF-8, a column that later
rows lack, a line that is not JSON, an empty label.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evaldata.loading import FORMATS, _rows, frame_inputs, guess_column, metadata_names, not_utf8, pick_column, read_file, text_column
from models.errors import DataError

DEFAULT_CHUNK_ROWS = 50_000


@dataclass(frozen=True, eq=False)
class Chunk:
    """Rows `start` .. `start + len(frame) - 1` (0-based) of a file, with its columns as `EvalSet.frame` names them."""

    frame: pd.DataFrame
    start: int
    done: float  # share of the file read so far, 0..1
    metadata: tuple[str, ...]  # the metadata columns of `frame`, in file order

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].tolist()

    @property
    def inputs(self) -> list:
        return frame_inputs(self.frame)


def _kind(path: Path, fmt: str | None) -> str:
    kind = fmt or FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"'{path.name}' has an unknown extension. Use .csv, .tsv, .jsonl or .parquet.")
    return kind


def _bad_line(path: Path, name: str) -> DataError:
    """The first line of `path` that is not UTF-8, found by reading it line by line (only once decoding failed)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return not_utf8(name, line[exc.start], number)
    return DataError(f"'{name}' is not UTF-8. Re-save the file as UTF-8.")


def raw_chunks(
    source: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, fmt: str | None = None, name: str | None = None
) -> Iterator[tuple[pd.DataFrame, float]]:
    """The file's rows as read (all columns, CSV cells as strings), at most `chunk_rows` at a time, each with the share read."""
    if chunk_rows < 1:
        raise DataError(f"The chunk size must be at least one row, got {chunk_rows}.")
    path = Path(source).expanduser()
    name = name or path.name
    if not path.is_file():
        raise DataError(f"Data file '{path}' does not exist. Check the path, or run `veredicto demo` for the demo data.")
    kind = _kind(path, fmt)
    size = max(path.stat().st_size, 1)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"'{name}' could not be read as PARQUET: {str(exc).splitlines()[0]}. Check the file format and extension.") from None
        total, done = max(parquet.metadata.num_rows, 1), 0
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            done += batch.num_rows
            yield batch.to_pandas(), done / total
        return
    with path.open("rb") as handle:
        head = handle.read(1024).lstrip()
        handle.seek(0)
        if not head:
            raise DataError(f"'{name}' is empty. Provide a file with a header row and at least one example.")
        if kind == "jsonl" and head.startswith(b"["):  # a JSON array: one value, read whole
            frame = read_file(path, name=name, fmt=kind)[0]
            for start in range(0, len(frame), chunk_rows):
                yield frame.iloc[start : start + chunk_rows].reset_index(drop=True), min(1.0, (start + chunk_rows) / len(frame))
            return
        start = 0
        reader = None
        while True:
            try:
                if reader is None:  # opening a CSV reader parses its header: the same errors as a chunk
                    reader = _reader(handle, kind, chunk_rows)
                frame = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise _bad_line(path, name) from None
            except (ValueError, pd.errors.ParserError, json.JSONDecodeError) as exc:
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise DataError(
                    f"'{name}' could not be read as {kind.upper()} after row {start:,} (in rows {start + 1:,}–{start + chunk_rows:,}): {detail}. "
                    "Fix that part of the file (every row needs the same columns)."
                ) from None
            if not len(frame):
                continue
            frame.columns = [str(c) for c in frame.columns]
            start += len(frame)
            yield frame, min(1.0, handle.tell() / size)


def _reader(handle, kind: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if kind == "jsonl":
        return iter(pd.read_json(handle, lines=True, chunksize=chunk_rows, encoding="utf-8"))
    return iter(pd.read_csv(handle, sep="\t" if kind == "tsv" else ",", dtype=str, keep_default_na=False, encoding="utf-8", chunksize=chunk_rows))


def stream_eval_data(
    source: str | Path,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    pair_col: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    fmt: str | None = None,
    name: str | None = None,
) -> Iterator[Chunk]:
    """`load_eval_data` of a file, in chunks: the same columns, renamed the same way, with the same cell values.

    `label_col`: "" = no label column (it stays a metadata column); None = the guessed one, and none when no column looks
    like a label (the training data's rule). `pair_col`: the second text of sentence pairs (`text_pair`). Columns are picked on the first chunk; a later chunk without them is an error.
    Warnings (empty texts, duplicates) are not collected: they would need the whole file.
    """
    name = name or Path(source).name
    text = label = pair = None
    start = 0
    metadata: tuple[str, ...] = ()
    for raw, done in raw_chunks(source, chunk_rows=chunk_rows, fmt=fmt, name=name):
        columns = list(raw.columns)
        if text is None:
            text = pick_column(columns, text_col, "text", name)
            if label_col is None:
                label = guess_column(columns, "label")
            elif label_col:
                label = pick_column(columns, label_col, "label", name)
            pair = pick_column(columns, pair_col, "pair text", name) if pair_col else None
            roles = [c for c in (text, pair, label) if c is not None]
            if len(set(roles)) != len(roles):
                raise DataError(f"'{name}' uses one column for two roles ({', '.join(roles)}). Pick different text, pair and label columns.")
            metadata = tuple(c for c in columns if c not in roles)
        missing = [c for c in (text, pair, label, *metadata) if c is not None and c not in raw.columns]
        if missing:
            raise DataError(
                f"'{name}' has no column {', '.join(map(repr, missing))} in rows {start + 1:,}–{start + len(raw):,}, though the rows before have it. "
                "Give every row the same columns (in JSON Lines: the same keys on every line), then scan again."
            )
        out = pd.DataFrame({"text": text_column(raw[text].reset_index(drop=True), "text", [], start).astype(str)})
        if pair is not None:
            out["text_pair"] = text_column(raw[pair].reset_index(drop=True), "second text", [], start).astype(str)
        if label is not None:
            labels = raw[label].reset_index(drop=True)
            blank = labels.isna() | (labels.astype(str).str.strip() == "")
            if blank.any():
                raise DataError(f"'{name}' has row(s) without a label in column '{label}' (rows {_rows(blank, offset=start)}). Fill or drop them.")
            out["label"] = labels.astype(str).str.strip()
        for column, renamed in zip(metadata, metadata_names(metadata)):
            out[renamed] = raw[column].values
        yield Chunk(out, start, done, metadata_names(metadata))
        start += len(raw)
    if text is None:
        raise DataError(f"'{name}' is empty or has a header but no rows. Provide a file with a header row and at least one example.")
