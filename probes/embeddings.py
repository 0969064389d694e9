"""Similar examples, label-noise hints and a 2-D map, from the checkpoint's own sentence embeddings.

    index = build_index(predictor, table)          # embeddings via the inference layer's embed (cached)
    neighbours(index, row=12, k=5)                 # the 5 most similar examples, with labels and predictions
    label_noise(index, k=10, threshold=0.7)        # examples whose neighbours mostly carry another gold label
    coords = project(index.vectors, "pca")         # 2-D map; embedding_map_frame(index, coords) for the figure

Similarity is cosine similarity between mean-pooled last hidden states: "similar for this model".
A flagged example is only a hint (the text may be genuinely unusual); the list is meant for a
person to relabel or confirm, and exports as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.errors import VeredictoError
from models.protocol import InferenceLayer

MAP_METHODS = ("pca", "tsne")
NEIGHBOUR_COLUMNS = ["row", "similarity", "text", "gold", "pred", "correct", "confidence"]
NOISE_COLUMNS = ["row", "text", "gold", "suggested", "agreement", "neighbours", "pred", "confidence", "model_agrees", "mean_similarity", "neighbour_rows"]


@dataclass(frozen=True, eq=False)
class EmbeddingIndex:
    """Unit-length embeddings of a prediction table's texts, row for row."""

    checkpoint_name: str
    fingerprint: str
    data_fingerprint: str
    vectors: np.ndarray  # (n, hidden), L2-normalised
    frame: pd.DataFrame  # row, text, gold, pred, correct, confidence

    def __len__(self) -> int:
        return len(self.frame)


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def index_from_vectors(vectors: np.ndarray, table, *, checkpoint_name: str = "", fingerprint: str = "") -> EmbeddingIndex:
    """An index over given vectors (row i of `vectors` is row i of `table.frame`)."""
    if len(vectors) != len(table.frame):
        raise VeredictoError(f"{len(vectors)} embeddings for {len(table.frame)} examples; they must match row for row.")
    return EmbeddingIndex(
        checkpoint_name=checkpoint_name or getattr(table, "checkpoint_name", ""),
        fingerprint=fingerprint or getattr(table, "fingerprint", ""),
        data_fingerprint=getattr(table, "data_fingerprint", ""),
        vectors=normalise(vectors),
        frame=example_frame(table),
    )


def example_frame(table) -> pd.DataFrame:
    """row, text, gold, pred, correct, confidence of each example of `table` (a PredictionTable): an index's frame, and the
    map's without the vectors."""
    frame = table.frame
    cols = {"row": np.arange(len(frame)), "text": frame["text"].to_numpy()}
    for c in ("gold", "pred", "correct", "confidence"):
        cols[c] = frame[c].to_numpy() if c in frame else np.full(len(frame), None)
    return pd.DataFrame(cols)


def index_for_table(index: EmbeddingIndex, table) -> EmbeddingIndex:
    """`index` with the gold labels (and so `correct`) of `table`, the same rows judged another way (as labelled, or with
    the reviewers' corrections): an index some page built on the other gold labels keeps its vectors, never its labels."""
    if len(index) == len(table) and np.array_equal(index.frame["gold"].to_numpy(), table.frame["gold"].to_numpy()):
        return index
    return index_from_vectors(index.vectors, table, checkpoint_name=index.checkpoint_name, fingerprint=index.fingerprint)


def build_index(predictor: InferenceLayer, table, *, batch_size: int = 32, progress=None) -> EmbeddingIndex:
    """Embed every text of `table` (a PredictionTable of this predictor) with the checkpoint's encoder."""
    if getattr(table, "fingerprint", predictor.ref.fingerprint) != predictor.ref.fingerprint:
        raise VeredictoError(
            f"The prediction table belongs to checkpoint '{table.checkpoint_name}', not '{predictor.ref.name}'. Embed each checkpoint's own table."
        )
    vectors = predictor.embed(table.inputs, batch_size=batch_size, progress=progress)  # sentence pairs embed as pairs
    return index_from_vectors(vectors, table, checkpoint_name=predictor.ref.name, fingerprint=predictor.ref.fingerprint)


_KNN_CELLS = 16_000_000  # similarities held at once (queries x examples): 64 MB of float32


def _knn(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine similarity: (indices, similarities), most similar first (equal ones by row).

    Both sides must be unit length (an `EmbeddingIndex` holds `normalise`d vectors), so the similarity is a dot product:
    one matrix product per chunk of queries and a partial sort, no copy of the index. At 100k x 768 one query takes
    ~0.03 s where scikit-learn's brute cosine search, which re-normalises a copy of every vector per call, took ~1.2 s
    (benchmarks/scale.py); the neighbours are the same (tests/test_embeddings.py checks against scikit-learn).
    """
    k = min(k, len(vectors))
    idx = np.empty((len(queries), k), dtype=int)
    sims = np.empty((len(queries), k), dtype=np.float32)
    chunk = max(1, _KNN_CELLS // max(len(vectors), 1))
    for start in range(0, len(queries), chunk):
        s = queries[start : start + chunk] @ vectors.T
        top = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < len(vectors) else np.broadcast_to(np.arange(len(vectors)), s.shape)
        top_s = np.take_along_axis(s, top, axis=1)
        order = np.lexsort((top, -top_s), axis=-1)
        idx[start : start + chunk] = np.take_along_axis(top, order, axis=1)
        sims[start : start + chunk] = np.take_along_axis(top_s, order, axis=1)
    return idx, sims


def _without_self(rows: np.ndarray, idx: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop each query row from its own neighbour list (a duplicate text stays: it is a real neighbour)."""
    out_i = np.empty((len(rows), k), dtype=int)
    out_s = np.empty((len(rows), k), dtype=np.float32)
    for q, r in enumerate(rows):
        keep = idx[q] != r
        if keep.all():
            keep[-1] = False  # self fell off the list (ties with duplicates): drop the farthest instead
        out_i[q] = idx[q][keep][:k]
        out_s[q] = sims[q][keep][:k]
    return out_i, out_s


def neighbours(index: EmbeddingIndex, row: int, k: int = 5) -> pd.DataFrame:
    """The k examples most similar to example `row` (itself excluded), most similar first."""
    n = len(index)
    if not 0 <= int(row) < n:
        raise VeredictoError(f"Row {row} is outside the evaluation set (0..{n - 1}).")
    k = max(1, min(int(k), n - 1))
    if n < 2:
        return pd.DataFrame(columns=NEIGHBOUR_COLUMNS)
    idx, sims = _knn(index.vectors, index.vectors[[int(row)]], k + 1)
    idx, sims = _without_self(np.array([int(row)]), idx, sims, k)
    out = index.frame.iloc[idx[0]].copy()
    out.insert(1, "similarity", sims[0].astype(float))
    return out[NEIGHBOUR_COLUMNS].reset_index(drop=True)


def neighbours_of_vector(index: EmbeddingIndex, vector: np.ndarray, k: int = 5) -> pd.DataFrame:
    """The k examples most similar to an embedding (e.g. of a text typed by the user)."""
    idx, sims = _knn(index.vectors, normalise(np.asarray(vector).reshape(1, -1)), max(1, int(k)))
    out = index.frame.iloc[idx[0]].copy()
    out.insert(1, "similarity", sims[0].astype(float))
    return out[NEIGHBOUR_COLUMNS].reset_index(drop=True)


LABEL_NOISE_SAMPLE = 2_000  # examples the pages' label-noise hints look at: all-against-all took ~2 min at 100k rows on 2 cores


def label_noise(index: EmbeddingIndex, k: int = 10, threshold: float = 0.7, *, sample: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Examples whose k nearest neighbours mostly (share >= threshold) carry ONE other gold label.

    `sample`: look only at a seeded random sample of that many examples (their neighbours still come from all of them):
    the exact all-against-all search grows with n² (about 2 minutes at 100k rows on 2 cores).

    Columns: suggested (that label), agreement (its share among the neighbours), model_agrees
    (the model also predicts the suggested label: a stronger hint), mean_similarity, neighbour_rows.
    Sorted by agreement, then by whether the model agrees, then by confidence.
    """
    n = len(index)
    if not 0 < threshold <= 1:
        raise VeredictoError(f"The label-noise threshold is a share of neighbours between 0 and 1, got {threshold}.")
    if n < 3 or index.frame["gold"].isna().all():
        return pd.DataFrame(columns=NOISE_COLUMNS)
    k = max(1, min(int(k), n - 1))
    rows = np.arange(n) if sample is None or sample >= n else np.sort(np.random.default_rng(seed).choice(n, int(sample), replace=False))
    idx, sims = _knn(index.vectors, index.vectors[rows], k + 1)
    idx, sims = _without_self(rows, idx, sims, k)
    gold = index.frame["gold"].astype(str).to_numpy()
    pred = index.frame["pred"].to_numpy()
    flagged = []
    for q, r in enumerate(rows):
        labels, counts = np.unique(gold[idx[q]], return_counts=True)
        others = labels != gold[r]
        if not others.any():
            continue
        best = np.argmax(np.where(others, counts, -1))
        share = counts[best] / k
        if share >= threshold:
            flagged.append(
                {
                    "row": int(r),
                    "text": index.frame["text"].iat[r],
                    "gold": gold[r],
                    "suggested": labels[best],
                    "agreement": float(share),
                    "neighbours": int(k),
                    "pred": pred[r],
                    "confidence": index.frame["confidence"].iat[r],
                    "model_agrees": bool(pred[r] == labels[best]),
                    "mean_similarity": float(sims[q].mean()),
                    "neighbour_rows": " ".join(str(int(i)) for i in idx[q]),
                }
            )
    out = pd.DataFrame(flagged, columns=NOISE_COLUMNS)
    if len(out):
        out = out.sort_values(["agreement", "model_agrees", "confidence"], ascending=[False, False, False], kind="stable").reset_index(drop=True)
    return out


def project(vectors: np.ndarray, method: str = "pca", *, seed: int = 0) -> np.ndarray:
    """2-D coordinates of the (normalised) embeddings: PCA (fast, stable) or t-SNE (local structure)."""
    method = str(method).lower()
    if method not in MAP_METHODS:
        raise VeredictoError(f"Unknown map projection '{method}'. Choose one of: {', '.join(MAP_METHODS)}.")
    vectors = normalise(vectors)
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2))
    if n < 3:
        return np.column_stack([np.arange(n, dtype=float), np.zeros(n)])
    if method == "pca":
        from sklearn.decomposition import PCA

        coords = PCA(n_components=2, random_state=seed).fit_transform(vectors)
    else:
        from sklearn.manifold import TSNE

        coords = TSNE(n_components=2, perplexity=float(min(30, max(2, (n - 1) / 3))), init="pca", random_state=seed).fit_transform(vectors)
    return np.asarray(coords, dtype=float)


def embedding_map_frame(index: EmbeddingIndex | pd.DataFrame, coords: np.ndarray) -> pd.DataFrame:
    """One row per example: row, x, y, text, gold, pred, correct, confidence (input of the map figure); `index` an index or
    its frame (`example_frame`)."""
    frame = (index.frame if isinstance(index, EmbeddingIndex) else index).copy()
    frame.insert(1, "x", np.asarray(coords)[:, 0])
    frame.insert(2, "y", np.asarray(coords)[:, 1])
    return frame


def noise_csv(frame: pd.DataFrame) -> bytes:
    """The label-noise list as UTF-8 CSV (with BOM, so spreadsheet programs read accents right), ready for relabelling.

    Written by `runtime.escaping.csv_bytes`: a text such as `=HYPERLINK(...)` arrives in the spreadsheet as text, not a formula."""
    from runtime.escaping import csv_bytes

    out = frame.copy()
    if "relabel_to" not in out:
        out["relabel_to"] = ""
    return csv_bytes(out)


def rows_from_selection(event) -> list[int]:
    """Example rows of the points selected on the embedding map (a Plotly selection event, or its list of points).

    Every point's customdata is its row (see `probes.figures.embedding_map_figure`)."""
    from analysis.selection import selected_points

    points = event if isinstance(event, (list, tuple)) else selected_points(event)
    rows = []
    for point in points or ():
        data = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is not None:
            try:
                rows.append(int(data))
            except (TypeError, ValueError):
                continue
    return sorted(set(rows))
