"""SHAP explanations on tiny models: additivity, exact character spans, equality with
`shap.Explainer(transformers.pipeline)`, and the validation every explain_text call goes through.

Tolerances (stated once, used below):
- ADDITIVITY_TOL: sum(scores[:, c]) + base[c] == probabilities[c] -- partition Owen values
  telescope exactly, so only float64 summation error remains.
- PIPELINE_TOL: our predict_proba (float32 softmax in torch, length-sorted padded batches) vs the
  pipeline (one text at a time, float32 softmax): probabilities differ by ~1e-7, SHAP values by less.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from explain import Attribution, ExplainError
from explain.api import explain_text
from explain.shap_explainer import align_to_text, seeded_numpy, text_masker

ROOT = Path(__file__).resolve().parents[1]
ADDITIVITY_TOL = 1e-6
PIPELINE_TOL = 1e-5

TRICKY = [
    "Café crème, niño — déjà vu 🎬 the film was good!!",
    "I loved this story, it was wonderful! 😀😀",
    "  never again:\tthe worst script of the year…  ",
    "Maria and John enjoyed the funny scenes in Paris.",
]


def check_spans(att: Attribution):
    assert "".join(t.text for t in att.tokens) == att.text
    pos = 0
    for t in att.tokens:
        assert t.start == pos and t.end >= t.start and att.text[t.start : t.end] == t.text
        pos = t.end
    assert pos == len(att.text)


@pytest.mark.parametrize("fixture", ["tiny_bert_predictor", "tiny_roberta_predictor"])
@pytest.mark.parametrize("text", TRICKY)
def test_tokens_reconstruct_text_and_additivity(request, fixture, text):
    predictor = request.getfixturevalue(fixture)
    att = explain_text(predictor, text, "shap", max_evals=60)
    check_spans(att)
    assert att.scores.shape == (len(att.tokens), len(predictor.labels))
    assert att.labels == predictor.labels
    # additivity for EVERY class, under a budget far below the full tree
    np.testing.assert_allclose(att.scores.sum(0) + att.base_values, att.probabilities, atol=ADDITIVITY_TOL, rtol=0)
    # spaces between words are not model tokens (a tab can be one, for byte-level BPE): no credit
    for t, row in zip(att.tokens, att.scores):
        if not t.text.strip(" "):
            assert not row.any()
    assert att.method == "shap" and att.params["max_evals"] == 60 and att.params["output"] == "probability"
    assert 0 < att.n_model_calls <= 60 and 0 <= att.extra["texts_forwarded"] <= att.n_model_calls
    assert att.seconds > 0 and att.fingerprint == predictor.ref.fingerprint and not att.truncated


def test_wordpiece_pieces_are_separate_spans(tiny_bert_predictor):
    text = "Café crème, déjà vu"
    att = explain_text(tiny_bert_predictor, text, "shap", max_evals=40)
    pieces = tiny_bert_predictor.tokenizer.tokenize(text)
    assert any(p.startswith("##") for p in pieces)
    texts = [t.text for t in att.tokens if t.text.strip()]
    assert not any("#" in t for t in texts)
    # a WordPiece continuation becomes a span inside a word, accents kept as written
    assert "é" in texts or any("é" in t and t != "Café" for t in texts)
    words = [w for w, *_ in att.words()]
    assert words == ["Café", "crème", "déjà", "vu"]


def test_byte_level_bpe_pieces_map_to_original_characters(tiny_roberta_predictor):
    text = "niño — 🎬 good!"
    pieces = tiny_roberta_predictor.tokenizer.tokenize(text)
    assert any(p.startswith("Ġ") for p in pieces)
    att = explain_text(tiny_roberta_predictor, text, "shap", max_evals=40)
    texts = [t.text for t in att.tokens]
    assert not any("Ġ" in t or "Ã" in t for t in texts)
    assert "🎬" in texts and "—" in texts  # several byte pieces of one character -> one token
    # the masked texts never duplicate a character (stock shap would explain "🎬🎬" here)
    masker = text_masker(tiny_roberta_predictor.tokenizer)
    assert "".join(masker.data_transform(text)[0]) == text
    assert "explained_input" not in att.extra


def test_every_class_and_target(tiny_roberta_predictor):
    text = "it is not bad, but not great either"
    att = explain_text(tiny_roberta_predictor, text, "shap", max_evals=80)
    assert att.target == att.predicted
    other = explain_text(tiny_roberta_predictor, text, "shap", target="good", max_evals=80)
    assert other.target == "good"
    np.testing.assert_array_equal(other.scores, att.scores)  # same explanation, seen for another class
    by_index = explain_text(tiny_roberta_predictor, text, "shap", target=0, max_evals=80)
    assert by_index.target == "bad"
    # the probabilities of the 3 classes sum to one, and so do the class-wise totals
    assert att.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert (att.scores.sum(0) + att.base_values).sum() == pytest.approx(1, abs=1e-5)


def test_max_evals_is_a_budget(tiny_bert_predictor):
    text = "Maria and John enjoyed the funny scenes in Paris, never again the worst script"
    small = explain_text(tiny_bert_predictor, text, "shap", max_evals=20)
    large = explain_text(tiny_bert_predictor, text, "shap", max_evals=300)
    assert small.n_model_calls <= 20 < large.n_model_calls <= 300
    for att in (small, large):
        np.testing.assert_allclose(att.scores.sum(0) + att.base_values, att.probabilities, atol=ADDITIVITY_TOL, rtol=0)


def test_same_seed_same_values(tiny_bert):
    from models import Predictor
    from models.inference import ProbabilityCache

    text = "the film was good and the acting was great but the script was awful"
    a = explain_text(Predictor(str(tiny_bert), device="cpu", cache=ProbabilityCache()), text, "shap", max_evals=40, seed=3)
    b = explain_text(Predictor(str(tiny_bert), device="cpu", cache=ProbabilityCache()), text, "shap", max_evals=40, seed=3)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_long_text_is_explained_truncated(tiny_roberta_predictor):
    text = "the film was good and the acting was great. " * 30  # far past 64 tokens
    att = explain_text(tiny_roberta_predictor, text, "shap", max_evals=60)
    assert att.truncated
    check_spans(att)
    cut = att.extra["explained_chars"]
    assert 0 < cut < len(text)
    assert not (text[cut - 1].isalnum() and text[cut].isalnum())  # never half a word
    tail = att.tokens[-1]
    assert tail.end == len(text) and tail.start <= cut and not att.scores[-1].any()
    np.testing.assert_allclose(att.scores.sum(0) + att.base_values, att.probabilities, atol=ADDITIVITY_TOL, rtol=0)
    # the explained part fits in what the model reads
    assert tiny_roberta_predictor.token_counts([text[:cut]])[0] <= tiny_roberta_predictor.max_length


def test_json_round_trip(tiny_bert_predictor):
    att = explain_text(tiny_bert_predictor, TRICKY[0], "shap", max_evals=40)
    back = Attribution.from_dict(json.loads(att.to_json()))
    assert back.tokens == att.tokens and back.target == att.target and back.params == att.params
    np.testing.assert_array_equal(back.scores, att.scores)


# --- equality with shap.Explainer(transformers.pipeline(...)) as SHAP's docs use it ---------------


def pipeline_shap(predictor, text, max_evals, batch_size, seed):
    import shap
    import transformers

    pipe = transformers.pipeline("text-classification", model=predictor.model, tokenizer=predictor.tokenizer, top_k=None)
    explainer = shap.Explainer(pipe)
    with seeded_numpy(seed):
        exp = explainer([text], max_evals=max_evals, batch_size=batch_size, silent=True)
    enc = predictor.tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    tokens, scores, _ = align_to_text(text, enc["offset_mapping"], enc["special_tokens_mask"], exp.values[0])
    return tokens, scores, np.asarray(exp.base_values[0]), list(exp.output_names)


@pytest.mark.parametrize(
    "fixture,text,max_evals",
    [
        ("tiny_bert_predictor", "it is not bad, but not great", 500),  # the whole tree fits the budget (108 texts)
        ("tiny_bert_predictor", "Café crème, niño, déjà vu: the film was good!!", 40),  # budget cut, WordPiece ## pieces
        ("tiny_roberta_predictor", "it is not bad, but not great", 40),
        ("tiny_roberta_predictor", "never again: the worst script of the year, a terrible boring movie", 40),
    ],
)
def test_equals_shap_explainer_on_a_pipeline(request, fixture, text, max_evals):
    predictor = request.getfixturevalue(fixture)
    ours = explain_text(predictor, text, "shap", max_evals=max_evals, batch_size=5, seed=0)
    tokens, scores, base, names = pipeline_shap(predictor, text, max_evals, batch_size=5, seed=0)
    assert names == list(ours.labels)
    assert tuple(tokens) == ours.tokens
    np.testing.assert_allclose(ours.base_values, base, atol=PIPELINE_TOL, rtol=0)
    np.testing.assert_allclose(ours.scores, scores, atol=PIPELINE_TOL, rtol=0)


# --- validation: explain_text refuses bad input clearly, for both methods --------------------


@pytest.mark.parametrize("method", ["shap", "lime"])
@pytest.mark.parametrize(
    "text,match",
    [
        ("", "empty"),
        ("   \n\t ", "only whitespace"),
        ("good", "single token"),
        (None, "got NoneType"),
        (42, "got int"),
        (b"caf\xe9", "not valid UTF-8"),
    ],
)
def test_bad_text(tiny_bert_predictor, method, text, match):
    with pytest.raises(ExplainError, match=match):
        explain_text(tiny_bert_predictor, text, method)


@pytest.mark.parametrize("method", ["shap", "lime"])
@pytest.mark.parametrize("target", ["Positive", "fresh", 2, -1, True, 1.0])
def test_unknown_target(tiny_bert_predictor, method, target):
    with pytest.raises(ExplainError, match=r"Unknown target label.*negative, positive"):
        explain_text(tiny_bert_predictor, "the film was good", method, target=target)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(method="integrated-gradients"), "Unknown explanation method"),
        (dict(method=None), "Unknown explanation method"),
        (dict(max_evals=0), "max_evals"),
        (dict(max_evals=5), "max_evals"),
        (dict(max_evals=100.0), "max_evals"),
        (dict(num_samples=True), "num_samples"),
        (dict(batch_size=0), "batch_size"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_settings(tiny_bert_predictor, kwargs, match):
    with pytest.raises(ExplainError, match=match):
        explain_text(tiny_bert_predictor, "the film was good", **kwargs)


def test_bytes_text_is_decoded(tiny_bert_predictor):
    att = explain_text(tiny_bert_predictor, "the café was good".encode(), "shap", max_evals=20)
    assert att.text == "the café was good"


def run_fresh(code: str) -> None:
    """Run `code` in a fresh Python process from the repository root (numba's compiled kernels are per process); it prints ok."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.stdout.strip().endswith("ok"), out.stdout[-2000:] + out.stderr[-3000:]


COMPILED = """
import sys
from numba.core.registry import CPUDispatcher
def compiled():
    return {(m, k): len(v.signatures) for m, mod in list(sys.modules.items()) if m.startswith("shap") for k, v in vars(mod).items() if isinstance(v, CPUDispatcher)}
"""


def test_after_the_warm_up_a_first_explanation_compiles_nothing(tiny_bert):
    """Stock shap jit-compiles its kernels inside the first explanation of a process (6 s here, 30 s under load). After
    `warm_up()` (no model, numpy's generator untouched) an explanation must find nothing left to compile."""
    run_fresh(
        COMPILED
        + f"""
import numpy as np
from explain.shap_explainer import warm_up
np.random.seed(7); state = np.random.get_state()[1].copy()
warm_up()
assert (np.random.get_state()[1] == state).all(), "the global generator moved"
before = compiled()
from explain.api import explain_text
from models.inference import Predictor
predictor = Predictor({str(tiny_bert)!r})
explain_text(predictor, "the film was long, slow and oddly moving", "shap", max_evals=60)
explain_text(predictor, "the film was long", "shap", text_pair="and oddly moving", max_evals=60)
after = compiled()
assert after == {{k: before.get(k, 0) for k in after}}, {{k: n for k, n in after.items() if n != before.get(k, 0)}}
print("ok")
"""
    )


def test_the_python_kernels_give_stock_shaps_values(tiny_bert):
    """The kernels shap runs as Python here must compute what its numba-compiled ones do: one process explains the same
    text with stock shap (compiled kernels) and again after `use_plain_kernels()`, same seed, same masker, same model."""
    run_fresh(
        COMPILED
        + f"""
import numpy as np
import shap
from explain.shap_explainer import use_plain_kernels
from models.inference import Predictor
predictor = Predictor({str(tiny_bert)!r})
def explain():
    explainer = shap.Explainer(lambda batch: predictor.predict_proba([str(t) for t in batch]), shap.maskers.Text(predictor.tokenizer), algorithm="partition")
    np.random.seed(0)
    return explainer(["the film was long, slow and oddly moving, but the ending"], max_evals=80, batch_size=16, silent=True)
stock = explain()
assert compiled()[("shap.explainers._partition", "lower_credit")] > 0, "stock shap did not compile its kernel: nothing was compared"
use_plain_kernels()
ours = explain()
np.testing.assert_allclose(ours.values, stock.values, rtol=0, atol=1e-12)
np.testing.assert_allclose(ours.base_values, stock.base_values, rtol=0, atol=1e-12)
print("ok")
"""
    )


def test_seeded_blocks_take_turns():
    """Sessions explaining at once (and the warm-up) share numpy's one generator: a seeded block must not be
    re-seeded by another thread halfway through, so the second block waits until the first is done.

    No sleep: the first block draws only once the second thread is inside `seeded_numpy(2)` (a frame of its
    module is on that thread's stack) or already through it. With the turn-taking the second thread is parked there
    and the order below is fixed whatever the timing; without it the second block runs through and lands first.
    """
    import inspect
    import sys
    import threading
    import time

    inside, draws, errors = threading.Event(), [], []
    seeding_file = inspect.unwrap(seeded_numpy).__code__.co_filename

    def second_is_trying() -> bool:
        if draws or not worker.is_alive():
            return True
        frame = sys._current_frames().get(worker.ident)
        while frame is not None:
            if frame.f_code.co_filename == seeding_file:
                return True
            frame = frame.f_back
        return False

    def first():
        try:
            with seeded_numpy(1):
                inside.set()
                deadline = time.monotonic() + 120
                while not second_is_trying():  # the other thread tries to seed now
                    assert time.monotonic() < deadline, "the second thread never reached seeded_numpy"
                    time.sleep(0.001)
                draws.append(np.random.rand())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def second():
        if not inside.wait(120):
            errors.append(AssertionError("the first block never started"))
            return
        with seeded_numpy(2):
            draws.append("second")

    worker = threading.Thread(target=second)
    worker.start()
    leader = threading.Thread(target=first)
    leader.start()
    for t in (leader, worker):
        t.join(300)
        assert not t.is_alive(), "a seeded block never finished"
    assert not errors, errors
    assert draws == [np.random.RandomState(1).rand(), "second"]
