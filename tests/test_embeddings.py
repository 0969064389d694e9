"""Sentence embeddings from the checkpoint's own encoder, nearest neighbours, label-noise flags and the 2-D map."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from models.embeddings import embed_texts, embedding_dim
from models.errors import DataError, VeredictoError
from models.inference import ProbabilityCache
from probes.embeddings import (
    build_index,
    embedding_map_frame,
    index_from_vectors,
    label_noise,
    neighbours,
    neighbours_of_vector,
    noise_csv,
    project,
    rows_from_selection,
)

TEXTS = ["the film was good", "a terrible boring movie with awful actors and a script that never ends", "¡Qué película tan buena! 🎬", "ok"]


def reference_embedding(path, text: str) -> np.ndarray:
    """Independent ground truth: transformers' own encoder on ONE text (no padding), mean over its tokens."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True).eval()
    with torch.no_grad():
        enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=tokenizer.model_max_length)
        return model(**enc).last_hidden_state[0].mean(dim=0).numpy()


@pytest.mark.parametrize("which", ["tiny_bert", "tiny_roberta"])
def test_embeddings_are_mean_pooled_hidden_states_whatever_the_padding(which, request):
    path = request.getfixturevalue(which)
    predictor = request.getfixturevalue(f"{which}_predictor")
    vectors = embed_texts(predictor, TEXTS, batch_size=3, cache=ProbabilityCache())
    assert vectors.shape == (len(TEXTS), embedding_dim(predictor)) and vectors.dtype == np.float32
    for text, vector in zip(TEXTS, vectors):
        np.testing.assert_allclose(vector, reference_embedding(path, text), atol=1e-5)


def test_cached_per_fingerprint_and_text_and_duplicates_run_once(tiny_bert_predictor, monkeypatch):
    cache = ProbabilityCache()
    texts = ["good film", "bad film", "good film"]
    first = embed_texts(tiny_bert_predictor, texts, cache=cache)
    assert len(cache) == 2
    np.testing.assert_array_equal(first[0], first[2])

    def boom(*args, **kwargs):
        raise AssertionError("the encoder ran although every text was cached")

    monkeypatch.setattr(tiny_bert_predictor.model.base_model, "forward", boom)
    seen = []
    again = embed_texts(tiny_bert_predictor, texts, cache=cache, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_array_equal(first, again)
    assert seen == [(3, 3)]


def test_progress_and_bad_input(tiny_bert_predictor):
    seen = []
    embed_texts(tiny_bert_predictor, [f"text number {i}" for i in range(5)], batch_size=2, cache=ProbabilityCache(), progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, 5), (4, 5), (5, 5)]
    with pytest.raises(DataError, match="Text #1 is NoneType"):
        embed_texts(tiny_bert_predictor, ["ok", None], cache=ProbabilityCache())
    assert embed_texts(tiny_bert_predictor, [], cache=ProbabilityCache()).shape == (0, embedding_dim(tiny_bert_predictor))


def fake_table(gold, pred=None, texts=None):
    n = len(gold)
    pred = gold if pred is None else pred
    frame = pd.DataFrame(
        {
            "text": texts or [f"text {i}" for i in range(n)],
            "gold": gold,
            "pred": pred,
            "correct": [g == p for g, p in zip(gold, pred)],
            "confidence": np.linspace(0.6, 0.9, n),
        }
    )
    return SimpleNamespace(frame=frame, checkpoint_name="ckpt", fingerprint="f" * 64, data_fingerprint="d" * 64)


def test_neighbours_are_most_similar_first_and_exclude_the_example():
    vectors = np.array([[1, 0], [0.9, 0.1], [0.5, 0.5], [0, 1], [-1, 0]], dtype=float)
    index = index_from_vectors(vectors, fake_table(list("aabbc")))
    near = neighbours(index, 0, k=3)
    assert list(near["row"]) == [1, 2, 3]
    assert list(near.columns) == ["row", "similarity", "text", "gold", "pred", "correct", "confidence"]
    assert near["similarity"].iloc[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert list(neighbours_of_vector(index, np.array([0, 2.0]), k=2)["row"]) == [3, 2]
    with pytest.raises(VeredictoError, match="outside"):
        neighbours(index, 9)


def test_a_duplicate_is_a_neighbour_but_never_the_example_itself():
    vectors = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)
    index = index_from_vectors(vectors, fake_table(list("aaab")))
    for row in range(3):
        near = neighbours(index, row, k=2)
        assert row not in set(near["row"]) and set(near["row"]) == {0, 1, 2} - {row}


def clusters(seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.normal([5, 0, 0], 0.1, size=(12, 3))
    b = rng.normal([0, 5, 0], 0.1, size=(12, 3))
    gold = ["pos"] * 12 + ["neg"] * 12
    gold[3] = "neg"  # mislabelled: sits among positives
    pred = ["pos"] * 12 + ["neg"] * 12
    return np.vstack([a, b]), gold, pred


def test_label_noise_flags_an_example_whose_neighbours_carry_another_label():
    vectors, gold, pred = clusters()
    noise = label_noise(index_from_vectors(vectors, fake_table(gold, pred)), k=8, threshold=0.7)
    assert list(noise["row"]) == [3]
    row = noise.iloc[0]
    assert (row["gold"], row["suggested"], row["agreement"], row["model_agrees"]) == ("neg", "pos", 1.0, True)
    assert len(row["neighbour_rows"].split()) == 8 and all(int(r) < 12 for r in row["neighbour_rows"].split())
    assert label_noise(index_from_vectors(vectors, fake_table(["pos"] * 12 + ["neg"] * 12)), k=8).empty
    with pytest.raises(VeredictoError, match="between 0 and 1"):
        label_noise(index_from_vectors(vectors, fake_table(gold, pred)), threshold=0)


def test_label_noise_on_a_sample_is_the_full_search_restricted_to_the_sampled_rows():
    """A page at 100k rows looks at a sample (the all-against-all search took ~2 min); the neighbours still come from every row."""
    from probes.views import label_noise_view

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(300, 8))
    gold = list(rng.choice(["pos", "neg", "neu"], size=300))
    index = index_from_vectors(vectors, fake_table(gold, gold))
    full = label_noise(index, k=5, threshold=0.6)
    sampled = label_noise(index, k=5, threshold=0.6, sample=120, seed=4)
    rows = set(np.random.default_rng(4).choice(300, 120, replace=False).tolist())
    assert 0 < len(sampled) < len(full)
    pd.testing.assert_frame_equal(sampled.set_index("row").sort_index(), full[full["row"].isin(rows)].set_index("row").sort_index())
    view = label_noise_view(index, 5, 0.6, sample=120)
    assert f"({len(view.frame) / 120:.1%}) (in a random sample of 120 of the 300 examples;" in view.summary
    assert "sample" not in label_noise_view(index, 5, 0.6, sample=300).summary


def test_noise_csv_is_ready_for_relabelling():
    vectors, gold, pred = clusters()
    noise = label_noise(index_from_vectors(vectors, fake_table(gold, pred, texts=[f"texto «{i}»" for i in range(24)])), k=8)
    raw = noise_csv(noise)
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(__import__("io").BytesIO(raw), encoding="utf-8-sig", keep_default_na=False)
    assert list(back["row"]) == [3] and back["relabel_to"].tolist() == [""] and back["text"].tolist() == ["texto «3»"]


def test_a_formula_text_in_the_label_noise_list_opens_as_text_in_a_spreadsheet():
    """The attack: an example text `=HYPERLINK(...)` in the eval data runs as a formula in whoever relabels the export."""
    import csv
    import io

    vectors, gold, pred = clusters()
    texts = [f'=HYPERLINK("http://x/{i}","relabel me")' if i % 2 else f"-{i} stars" for i in range(24)]
    noise = label_noise(index_from_vectors(vectors, fake_table(gold, pred, texts=texts)), k=8)
    rows = list(csv.DictReader(io.StringIO(noise_csv(noise).decode("utf-8-sig"), newline="")))
    assert [r["text"] for r in rows] == ['\'=HYPERLINK("http://x/3","relabel me")']
    back = pd.read_csv(io.BytesIO(noise_csv(noise)), encoding="utf-8-sig", keep_default_na=False)
    assert back["row"].tolist() == [3] and back["confidence"].dtype == float  # numbers are still numbers


def test_projection_and_map_frame():
    vectors, gold, pred = clusters()
    coords = project(vectors, "pca")
    assert coords.shape == (24, 2)
    np.testing.assert_allclose(coords, project(vectors, "pca"))
    # the two clusters separate along the first component
    assert np.sign(coords[:12, 0].mean()) != np.sign(coords[12:, 0].mean())
    tsne = project(vectors, "tsne", seed=0)
    assert tsne.shape == (24, 2) and np.isfinite(tsne).all()
    assert project(vectors[:2]).shape == (2, 2)
    with pytest.raises(VeredictoError, match="Unknown map projection"):
        project(vectors, "umap")
    frame = embedding_map_frame(index_from_vectors(vectors, fake_table(gold, pred)), coords)
    assert list(frame.columns[:3]) == ["row", "x", "y"] and frame["x"].tolist() == coords[:, 0].tolist()


def test_rows_from_a_map_selection():
    event = {"selection": {"points": [{"customdata": 4}, {"customdata": [2]}, {"customdata": 4}, {"x": 1}], "box": [], "lasso": []}}
    assert rows_from_selection(event) == [2, 4]
    assert rows_from_selection([{"customdata": 7}]) == [7]
    assert rows_from_selection(None) == []


def test_build_index_from_a_prediction_table(tiny_bert_predictor, tiny_roberta_predictor, tmp_path):
    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data

    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [*TEXTS, "the film was good"], "label": ["positive", "negative", "positive", "negative", "negative"]}).to_csv(path, index=False)
    table = predict_table(tiny_bert_predictor, load_eval_data(path))
    index = build_index(tiny_bert_predictor, table)
    assert len(index) == 5 and np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0)
    assert list(index.frame["gold"]) == list(table.frame["gold"])
    near = neighbours(index, 0, k=1)
    assert near["row"].iloc[0] == 4 and near["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-5)  # its duplicate
    with pytest.raises(VeredictoError, match="belongs to checkpoint"):
        build_index(tiny_roberta_predictor, table)


def test_exact_search_finds_what_scikit_learn_finds_in_any_chunking(monkeypatch):
    """The dot-product search over unit vectors returns scikit-learn's brute cosine neighbours, in order, whatever
    the chunk of queries; duplicates (equal similarity) come in row order."""
    from sklearn.neighbors import NearestNeighbors

    import probes.embeddings as emb

    rng = np.random.default_rng(4)
    vectors = emb.normalise(rng.standard_normal((500, 24)).astype(np.float32))
    queries = emb.normalise(rng.standard_normal((40, 24)).astype(np.float32))
    dist, want = NearestNeighbors(n_neighbors=7, metric="cosine", algorithm="brute").fit(vectors).kneighbors(queries)
    idx, sims = emb._knn(vectors, queries, 7)
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_allclose(sims, 1 - dist, atol=1e-5)
    monkeypatch.setattr(emb, "_KNN_CELLS", 3 * 500)  # three queries per chunk
    chunked = emb._knn(vectors, queries, 7)
    np.testing.assert_array_equal(chunked[0], idx)
    np.testing.assert_allclose(chunked[1], sims, atol=1e-6)  # another BLAS kernel per chunk shape: the last bit may differ
    twins = np.vstack([vectors[:3], vectors[:3]])  # rows 0-2 and 3-5 are equal
    assert emb._knn(twins, twins[[1]], 2)[0].tolist() == [[1, 4]]
    assert emb._knn(twins, twins[[1]], 6)[0].shape == (1, 6)  # k = every row
