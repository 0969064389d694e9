"""Load an evaluation file into an `EvalSet`, with a clear message for every way it can be wrong."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import DataError

TEXT_NAMES = ("text", "sentence", "review", "content", "document", "body", "utterance", "input")
LABEL_NAMES = ("label", "labels", "category", "class", "target", "gold", "y", "sentiment")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


DEFAULT_LABEL_SEP = "|"


@dataclass(frozen=True, eq=False)
class EvalSet:
    """An evaluation set: `frame` has columns `text`, `label` and the metadata columns, in file order.

    Sentence pairs add `text_pair` (the second text). Multi-label gold is one `label` string per row with the
    tags joined by `label_sep` ("" = no tag); `align_labels(..., multi_label=True)` turns it into an indicator matrix.
    """

    frame: pd.DataFrame
    name: str
    fingerprint: str  # sha256 of the file's bytes plus the column mapping; `data_fingerprint` adds the label mapping
    metadata: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    label_sep: str = DEFAULT_LABEL_SEP  # how multi-label tags are joined in `label`

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].tolist()

    @property
    def pair(self) -> bool:
        """Whether each example is a sentence pair (a second text column was given)."""
        return "text_pair" in self.frame

    @property
    def inputs(self) -> list:
        """What the model reads per row: the text, or `(text, text_pair)` for sentence pairs."""
        return frame_inputs(self.frame)

    @property
    def gold(self) -> list[str]:
        return self.frame["label"].tolist()

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:12]

    def __len__(self) -> int:
        return len(self.frame)


def frame_inputs(frame: pd.DataFrame) -> list:
    """Each row's model input: `text`, or `(text, text_pair)` when the frame has a second text column."""
    if "text_pair" not in frame:
        return frame["text"].tolist()
    return list(zip(frame["text"].tolist(), frame["text_pair"].tolist()))


def not_utf8(name: str, byte: int, line: int) -> DataError:
    """The error for a byte that is not UTF-8, on `line` (1-based, the header is line 1) of the file."""
    return DataError(
        f"'{name}' is not UTF-8: byte 0x{byte:02x} on line {line} cannot be decoded. "
        "Re-save the file as UTF-8 (in Excel: 'CSV UTF-8'; or `iconv -f latin1 -t utf-8`)."
    )


def _read(raw: bytes, kind: str, name: str, header_only: bool = False) -> pd.DataFrame:
    if raw.isspace() or not raw:  # (strip() would copy the whole file)
        raise DataError(f"'{name}' is empty. Provide a file with a header row and at least one example.")
    if kind in ("csv", "tsv", "jsonl"):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise not_utf8(name, raw[exc.start], raw[: exc.start].count(b"\n") + 1) from None
    try:
        if kind == "parquet":
            return pd.read_parquet(io.BytesIO(raw))
        if kind == "jsonl":
            text = raw.decode("utf-8").strip()
            if text.startswith("["):
                return pd.DataFrame(json.loads(text))
            return pd.read_json(io.StringIO(text), lines=True)
        return pd.read_csv(
            io.BytesIO(raw), sep="\t" if kind == "tsv" else ",", dtype=str, keep_default_na=False, encoding="utf-8", nrows=0 if header_only else None
        )
    except (ValueError, pd.errors.ParserError, json.JSONDecodeError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"'{name}' could not be read as {kind.upper()}: {detail}. Check the file format and extension.") from None


def pick_column(columns: list[str], wanted: str | None, role: str, name: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"'{name}' has no {role} column '{wanted}'. Its columns are: {', '.join(columns)}. Choose one of them as the {role} column.")
        return wanted
    guess = guess_column(columns, role)
    if guess is not None:
        return guess
    raise DataError(
        f"'{name}' has no column that looks like the {role} (tried {', '.join(TEXT_NAMES if role == 'text' else LABEL_NAMES)}). "
        f"Its columns are: {', '.join(columns)}. Choose the {role} column explicitly (--{role}-col in the CLI)."
    )


def read_file(source: str | Path | bytes, *, name: str | None = None, fmt: str | None = None, header_only: bool = False) -> tuple[pd.DataFrame, bytes, str]:
    """Read a CSV/TSV/JSONL/Parquet file (path or uploaded bytes) as it is: (frame, raw bytes, display name).

    `header_only`: a CSV/TSV's rows are not parsed (the frame has the columns and no rows; the file is still checked whole
    for UTF-8); other formats are read whole."""
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        name = name or path.name
        if not path.is_file():
            raise DataError(f"Data file '{path}' does not exist. Check the path, or run `veredicto demo` for the demo data.")
        raw = path.read_bytes()
    else:
        raw = bytes(source)
        name = name or "uploaded file"
    kind = fmt or FORMATS.get(Path(name).suffix.lower())
    if kind is None:
        raise DataError(f"'{name}' has an unknown extension. Use .csv, .tsv, .jsonl or .parquet.")
    frame = _read(raw, kind, name, header_only)
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0 and not (header_only and kind in ("csv", "tsv")):
        raise DataError(f"'{name}' has a header ({', '.join(frame.columns)}) but no rows. Add examples to evaluate.")
    return frame, raw, name


def read_columns(path: str | Path) -> list[str]:
    """A data file's column names, as `read_file` reads them (its checks and messages included: an empty file, one that is
    not UTF-8), but parsing only a CSV/TSV's header line: the sidebar asks before the file is loaded, and a 100k-row file
    was parsed twice on first open."""
    return list(read_file(path, header_only=True)[0].columns)


def guess_column(columns: list[str], role: str) -> str | None:
    """The column that looks like the text ('text') or the label ('label') by its name, if any."""
    lowered = {c.lower(): c for c in columns}
    return next((lowered[c] for c in (TEXT_NAMES if role == "text" else LABEL_NAMES) if c in lowered), None)


def load_eval_data(
    source: str | Path | bytes,
    *,
    name: str | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
    fmt: str | None = None,
    pair_col: str | None = None,
    label_sep: str | None = None,
    label_cols: Sequence[str] | None = None,
) -> EvalSet:
    """Read an evaluation file (path or uploaded bytes). The label column may be absent only if label_col == "".

    `pair_col`: the second text of sentence pairs. Multi-label gold: `label_sep` (tags joined in one column, an empty
    cell meaning no tag) or `label_cols` (one 0/1 column per tag, named like the tag); either allows rows with no tag.
    """
    frame, raw, name = read_file(source, name=name, fmt=fmt)
    columns = list(frame.columns)
    text = pick_column(columns, text_col, "text", name)
    label_cols = tuple(label_cols or ())
    if label_cols:
        label = None
        for c in label_cols:
            pick_column(columns, c, "label", name)
    else:
        label = None if label_col == "" else pick_column(columns, label_col, "label", name)
    pair = None if not pair_col else pick_column(columns, pair_col, "pair text", name)
    roles = [c for c in (text, pair, label, *label_cols) if c is not None]
    if len(set(roles)) != len(roles):
        raise DataError(f"'{name}' uses one column for two roles ({', '.join(roles)}). Pick different text, pair and label columns.")

    warnings: list[str] = []
    texts = text_column(frame[text], "text", warnings)
    out = pd.DataFrame({"text": texts.astype(str)})
    if pair is not None:
        pairs = text_column(frame[pair], "second text", warnings)
        out["text_pair"] = pairs.astype(str)
        one_side = (texts.str.strip() == "") != (pairs.str.strip() == "")
        if one_side.any():
            warnings.append(f"{int(one_side.sum())} pair(s) have one side empty (rows {_rows(one_side)}); the model still scores them.")
    keys, what = (["text", "text_pair"], "pair(s)") if pair is not None else (["text"], "text(s)")
    duplicated = out.duplicated(keys, keep=False)
    if duplicated.any():
        warnings.append(f"{int(out.duplicated(keys).sum())} duplicate {what} (rows {_rows(duplicated)}); each row is kept and scored once.")

    sep = DEFAULT_LABEL_SEP if label_sep is None else label_sep
    if label_cols:
        out["label"] = _indicator_labels(frame, label_cols, sep, name)
    elif label is not None:
        labels = frame[label]
        blank = labels.isna() | (labels.astype(str).str.strip() == "")
        if blank.any() and label_sep is None:
            raise DataError(
                f"'{name}' has {int(blank.sum())} row(s) without a label in column '{label}' (rows {_rows(blank)}). Fill or drop them "
                "(for multi-label data, where an empty cell means 'no tag', give the tag separator: --label-sep)."
            )
        out["label"] = labels.where(~blank, "").astype(str).str.strip()
        if label_sep is not None:
            out["label"] = out["label"].map(lambda v: sep.join(t.strip() for t in v.split(sep) if t.strip()))
    metadata = tuple(c for c in columns if c not in {c for c in (text, pair, label, *label_cols) if c is not None})
    renamed = metadata_names(metadata)
    for c, new in zip(metadata, renamed):
        out[new] = frame[c].values
    digest = hashlib.sha256(raw)
    digest.update(f"\0{text}\0{label}".encode())
    if pair is not None or label_cols or label_sep is not None:  # kept out otherwise: single-text files keep their fingerprint
        digest.update(json.dumps({"pair": pair, "label_cols": list(label_cols), "label_sep": label_sep}).encode())
    return EvalSet(out.reset_index(drop=True), name, digest.hexdigest(), renamed, tuple(warnings), sep)


def metadata_names(metadata: Sequence[str]) -> tuple[str, ...]:
    """The names the metadata columns get in `EvalSet.frame`: their own, unless that is a role's (text, label, text_pair)."""
    return tuple(c if c not in ("text", "label", "text_pair") else f"meta_{c}" for c in metadata)


def text_column(values: pd.Series, role: str, warnings: list[str], offset: int = 0) -> pd.Series:
    """A text column as str (missing cells kept as ""), with a warning for missing and empty cells."""
    # a string column's cells are str or missing; another's are looked at one by one (0.1 s per 100k rows)
    if (values.isna() if isinstance(values.dtype, pd.StringDtype) else values.map(lambda v: not isinstance(v, str))).any():
        missing = values.isna()
        if missing.any():
            warnings.append(f"{int(missing.sum())} row(s) have no {role}; they are kept as empty text (rows {_rows(missing, offset=offset)}).")
        values = values.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    empty = values.str.strip() == ""
    if empty.any() and role == "text":
        warnings.append(f"{int(empty.sum())} text(s) are empty or only whitespace (rows {_rows(empty, offset=offset)}); the model still scores them.")
    return values


_TRUE = {"1", "1.0", "true", "yes", "y"}
_FALSE = {"0", "0.0", "false", "no", "n", ""}


def _indicator_labels(frame: pd.DataFrame, columns: Sequence[str], sep: str, name: str) -> pd.Series:
    """One 0/1 column per tag -> the tags of each row joined by `sep`."""
    flags = {}
    for c in columns:
        cells = frame[c].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip().lower())
        bad = ~cells.isin(_TRUE | _FALSE)
        if bad.any():
            raise DataError(
                f"Label column '{c}' of '{name}' must hold 0/1 (or true/false) per row; rows {_rows(bad)} hold something else. "
                "Fix those cells, or give the tags in one column with --label-col and --label-sep."
            )
        flags[c] = cells.isin(_TRUE).to_numpy()
    return pd.Series([sep.join(c for c in columns if flags[c][i]) for i in range(len(frame))], index=frame.index)


def detect_label_columns(columns: Sequence[str], labels: Sequence[str]) -> tuple[str, ...]:
    """The columns named exactly like a multi-label checkpoint's labels (all of them, in label order), else ()."""
    present = set(map(str, columns))
    return tuple(labels) if len(labels) > 1 and all(label in present for label in labels) else ()


def data_fingerprint(
    evalset: EvalSet,
    label_mapping: Mapping[str, str] | None = None,
    *,
    task: str | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> str:
    """The fingerprint of the evaluation *as judged*: the file and columns (`evalset.fingerprint`) plus how its labels are read.

    The one value that names the data in prediction-table cache keys, gates, reports and sign-off records
    (`analysis.predictions.predict_table` computes it; everything downstream reads `table.data_fingerprint`).
    The same file with two label mappings scores differently, so it gets two fingerprints. `task` and
    per-label `thresholds` (multi-label) enter the same way once callers pass them.

    With no mapping (or only identity pairs such as pos=pos), no task and no thresholds, it is exactly
    `evalset.fingerprint`, the value recorded before the mapping counted: gates, reports and sign-offs
    made without a mapping keep naming the same data.
    """
    extras: dict[str, object] = {}
    mapping = {str(k): str(v) for k, v in (label_mapping or {}).items() if str(k) != str(v)}
    if mapping:
        extras["label_mapping"] = mapping
    if task:
        extras["task"] = str(task)
    if thresholds:
        extras["thresholds"] = {str(k): float(v) for k, v in thresholds.items()}
    if not extras:
        return evalset.fingerprint
    digest = hashlib.sha256(b"veredicto-data-v2\0" + evalset.fingerprint.encode() + b"\0")
    digest.update(json.dumps(extras, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())
    return digest.hexdigest()


def _rows(mask: pd.Series, limit: int = 5, offset: int = 0) -> str:
    """1-based data-row numbers (header excluded) for messages; `offset`: the 0-based row of the mask's first row."""
    rows = [str(i + 1 + offset) for i in np.flatnonzero(mask.to_numpy())]
    return ", ".join(rows[:limit]) + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


class LabelMismatchError(DataError):
    """The data holds labels the checkpoint does not know. `str()` lists both sides (the values too: for a user reading
    their own file); `without_values` says the same with counts and the checkpoint's labels only, for team mode, where
    the file may not be the reader's to see (pointed at a credentials file, the "labels" would be its secrets)."""

    def __init__(self, name: str, labels: tuple[str, ...], unknown: list[str], data_labels: list[str]):
        super().__init__(
            f"'{name}' has label(s) the checkpoint does not know: {', '.join(map(repr, unknown[:10]))}"
            f"{' …' if len(unknown) > 10 else ''}. The checkpoint's labels are: {', '.join(map(repr, labels))}; "
            f"the data's labels are: {', '.join(map(repr, data_labels[:20]))}. "
            "Give a label mapping (e.g. pos=positive) or pick the right label column."
        )
        self.labels = tuple(labels)
        self.unknown_count = len(unknown)
        self.without_values = (
            f"The label column holds {len(unknown)} value(s) that are not among the checkpoint's labels "
            f"({', '.join(labels)}). Choose the right label column, or give a label mapping (data_label=checkpoint_label)."
        )


def align_labels(evalset: EvalSet, labels: tuple[str, ...], mapping: Mapping[str, str] | None = None, *, multi_label: bool = False) -> np.ndarray:
    """Gold labels as indices into the checkpoint's `labels` (multi-label: a bool matrix, rows x labels).

    `mapping` renames dataset labels to checkpoint labels (e.g. {"pos": "positive"}), tag by tag for multi-label; for
    generic checkpoints (LABEL_0..), dataset labels that are integers map to LABEL_<int> automatically. Unknown labels
    raise with both sides listed (multi-label: the first row holding one, and the tag). Single-label data on a
    multi-label checkpoint is fine: each row has one tag.
    """
    if "label" not in evalset.frame:
        raise DataError(f"'{evalset.name}' has no label column, so it cannot be scored. Choose the label column.")
    index = {label: i for i, label in enumerate(labels)}
    if all(l.startswith("LABEL_") for l in labels):
        index.update({l.removeprefix("LABEL_"): i for i, l in enumerate(labels)})
    if multi_label:
        return _align_tags(evalset, labels, index, mapping or {})
    gold = evalset.frame["label"]
    if mapping:
        gold = gold.map(lambda v: mapping.get(v, v))
    unknown = sorted(set(gold) - set(index))
    if unknown:
        raise LabelMismatchError(evalset.name, labels, unknown, sorted(set(evalset.frame["label"])))
    return gold.map(index).to_numpy(dtype=int)


def _align_tags(evalset: EvalSet, labels: tuple[str, ...], index: Mapping[str, int], mapping: Mapping[str, str]) -> np.ndarray:
    gold = np.zeros((len(evalset), len(labels)), dtype=bool)
    sep = evalset.label_sep
    unknown: dict[str, int] = {}  # tag -> first row holding it
    for row, cell in enumerate(evalset.frame["label"].tolist()):
        for raw_tag in (t.strip() for t in str(cell).split(sep)):
            if not raw_tag:
                continue
            tag = mapping.get(raw_tag, raw_tag)
            if tag in index:
                gold[row, index[tag]] = True
            else:
                unknown.setdefault(raw_tag, row)
    if unknown:
        first, row = min(unknown.items(), key=lambda item: item[1])
        data_tags = sorted({t.strip() for cell in evalset.frame["label"] for t in str(cell).split(sep) if t.strip()})
        error = LabelMismatchError(evalset.name, labels, sorted(unknown), data_tags)
        error.args = (f"Row {row + 1} of '{evalset.name}' has the tag {first!r}, which is not a label of the checkpoint. {error.args[0]}",)
        raise error
    return gold


def parse_mapping(spec: str | None) -> dict[str, str]:
    """'pos=positive,neg=negative' -> {'pos': 'positive', 'neg': 'negative'}."""
    if not spec:
        return {}
    pairs = {}
    for item in spec.split(","):
        if "=" not in item:
            raise DataError(f"Label mapping item '{item}' has no '='. Write it as data_label=checkpoint_label, separated by commas.")
        left, right = item.split("=", 1)
        pairs[left.strip()] = right.strip()
    return pairs
