"""Load an evaluation file into an `EvalSet`, with a clear message for every way it can be wrong."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import DataError

TEXT_NAMES = ("text", "sentence", "review", "content", "document", "body", "utterance", "input")
LABEL_NAMES = ("label", "labels", "category", "class", "target", "gold", "y", "sentiment")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True, eq=False)
class EvalSet:
    """An evaluation set: `frame` has columns `text`, `label` and the metadata columns, in file order."""

    frame: pd.DataFrame
    name: str
    fingerprint: str  # sha256 of the file's bytes plus the column mapping; `data_fingerprint` adds the label mapping
    metadata: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].tolist()

    @property
    def gold(self) -> list[str]:
        return self.frame["label"].tolist()

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:12]

    def __len__(self) -> int:
        return len(self.frame)


def _read(raw: bytes, kind: str, name: str) -> pd.DataFrame:
    if not raw.strip():
        raise DataError(f"'{name}' is empty. Provide a file with a header row and at least one example.")
    if kind in ("csv", "tsv", "jsonl"):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise DataError(
                f"'{name}' is not UTF-8: byte 0x{raw[exc.start]:02x} on line {line} cannot be decoded. "
                "Re-save the file as UTF-8 (in Excel: 'CSV UTF-8'; or `iconv -f latin1 -t utf-8`)."
            ) from None
    try:
        if kind == "parquet":
            return pd.read_parquet(io.BytesIO(raw))
        if kind == "jsonl":
            text = raw.decode("utf-8").strip()
            if text.startswith("["):
                return pd.DataFrame(json.loads(text))
            return pd.read_json(io.StringIO(text), lines=True)
        return pd.read_csv(io.BytesIO(raw), sep="\t" if kind == "tsv" else ",", dtype=str, keep_default_na=False, encoding="utf-8")
    except (ValueError, pd.errors.ParserError, json.JSONDecodeError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"'{name}' could not be read as {kind.upper()}: {detail}. Check the file format and extension.") from None


def _pick(columns: list[str], wanted: str | None, role: str, name: str) -> str:
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


def read_file(source: str | Path | bytes, *, name: str | None = None, fmt: str | None = None) -> tuple[pd.DataFrame, bytes, str]:
    """Read a CSV/TSV/JSONL/Parquet file (path or uploaded bytes) as it is: (frame, raw bytes, display name)."""
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
    frame = _read(raw, kind, name)
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise DataError(f"'{name}' has a header ({', '.join(frame.columns)}) but no rows. Add examples to evaluate.")
    return frame, raw, name


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
) -> EvalSet:
    """Read an evaluation file (path or uploaded bytes). The label column may be absent only if label_col == ""."""
    frame, raw, name = read_file(source, name=name, fmt=fmt)
    columns = list(frame.columns)
    text = _pick(columns, text_col, "text", name)
    label = None if label_col == "" else _pick(columns, label_col, "label", name)
    if label == text:
        raise DataError(f"The text and label columns of '{name}' are both '{text}'. Pick two different columns.")

    warnings = []
    texts = frame[text]
    not_text = texts.map(lambda v: not isinstance(v, str))
    if not_text.any():
        missing = texts.isna()
        if missing.any():
            warnings.append(f"{int(missing.sum())} row(s) have no text; they are kept as empty text (rows {_rows(missing)}).")
        texts = texts.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    empty = texts.str.strip() == ""
    if empty.any():
        warnings.append(f"{int(empty.sum())} text(s) are empty or only whitespace (rows {_rows(empty)}); the model still scores them.")
    duplicated = texts.duplicated(keep=False)
    if duplicated.any():
        warnings.append(f"{int(texts.duplicated().sum())} duplicate text(s) (rows {_rows(duplicated)}); each row is kept and scored once.")

    out = pd.DataFrame({"text": texts.astype(str)})
    if label is not None:
        labels = frame[label]
        if labels.isna().any() or (labels.astype(str).str.strip() == "").any():
            bad = labels.isna() | (labels.astype(str).str.strip() == "")
            raise DataError(f"'{name}' has {int(bad.sum())} row(s) without a label in column '{label}' (rows {_rows(bad)}). Fill or drop them.")
        out["label"] = labels.astype(str).str.strip()
    metadata = tuple(c for c in columns if c not in (text, label))
    for c in metadata:
        out[c if c not in ("text", "label") else f"meta_{c}"] = frame[c].values
    metadata = tuple(c if c not in ("text", "label") else f"meta_{c}" for c in metadata)
    digest = hashlib.sha256(raw)
    digest.update(f"\0{text}\0{label}".encode())
    return EvalSet(out.reset_index(drop=True), name, digest.hexdigest(), metadata, tuple(warnings))


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


def _rows(mask: pd.Series, limit: int = 5) -> str:
    """1-based data-row numbers (header excluded) for messages."""
    rows = [str(i + 1) for i in np.flatnonzero(mask.to_numpy())]
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


def align_labels(evalset: EvalSet, labels: tuple[str, ...], mapping: Mapping[str, str] | None = None) -> np.ndarray:
    """Gold labels as indices into the checkpoint's `labels`. Unknown labels raise with both sides listed.

    `mapping` renames dataset labels to checkpoint labels (e.g. {"pos": "positive"}); for generic
    checkpoints (LABEL_0..), dataset labels that are integers map to LABEL_<int> automatically.
    """
    if "label" not in evalset.frame:
        raise DataError(f"'{evalset.name}' has no label column, so it cannot be scored. Choose the label column.")
    gold = evalset.frame["label"]
    if mapping:
        gold = gold.map(lambda v: mapping.get(v, v))
    index = {label: i for i, label in enumerate(labels)}
    if all(l.startswith("LABEL_") for l in labels):
        index.update({l.removeprefix("LABEL_"): i for i, l in enumerate(labels)})
    unknown = sorted(set(gold) - set(index))
    if unknown:
        raise LabelMismatchError(evalset.name, labels, unknown, sorted(set(evalset.frame["label"])))
    return gold.map(index).to_numpy(dtype=int)


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
