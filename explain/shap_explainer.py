"""SHAP for one text: `shap.Explainer` + `shap.maskers.Text` on the checkpoint's own tokenizer.

Output space: class *probabilities* (softmax), the same space `shap.Explainer(pipeline)` explains
by default (`shap.models.TransformersPipeline(rescale_to_logits=False)`), so a score reads as
"this token moved P(class) by +0.12". Scores come for every class at once.

Masker: `text_masker(tokenizer)` is `shap.maskers.Text(tokenizer)` with one fix: byte-level BPE
pieces that share one character (emoji, CJK, dashes) no longer duplicate it in every masked text.
Like stock shap, masked texts have whitespace runs collapsed; `probabilities` is the model's output
on exactly what SHAP explains (shown in `extra["explained_input"]` when that differs from the text),
so `scores.sum(0) + base_values == probabilities` holds for every class.

`compute` assumes a validated input; call `explain.api.explain_text`, which validates first.
The model is only ever reached through `Predictor.predict_proba` (batched, length-sorted,
cached: masked strings that repeat cost one forward pass). The run does not hold the predictor: the
masker tokenizes with a private copy of the tokenizer (taken under `exclusive()`), so other sessions'
predictions run between SHAP's forward batches; `texts_forwarded` is this run's own count (`usage()`).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence

import numpy as np

from explain.attribution import Attribution, Token
from models.fairlock import FairLock, OnWait
from models.protocol import InferenceLayer

OUTPUT_SPACE = "probability"
DEFAULT_MAX_EVALS = 500  # shap's own default
# shap's `batch_size`: masked texts the partition explainer asks for per round (one predict_proba
# call). About half of them repeat (the cache answers those), so 64 gives ~32 new texts per call,
# one full Predictor batch. shap's default for text is 5: tiny batches that leave the CPU idle.
# It only orders the work: with the same max_evals, results differ from another batch_size only
# when the budget runs out before the whole tree is explored.
DEFAULT_BATCH_SIZE = 64


_NUMPY_RANDOM = FairLock()  # numpy's global generator is one per process


@contextlib.contextmanager
def seeded_numpy(seed: int, waiting: OnWait | None = None):
    """Seed numpy's global generator for the block and restore it afterwards; one block at a time, in arrival order.

    shap's partition explainer breaks priority ties with `np.random.randn()`, so a fixed
    seed makes the order of evaluation (and results under a tight budget) reproducible, as long
    as no other thread (another checkpoint's SHAP run, the warm-up) draws from it meanwhile.
    `waiting(ahead, in_line)` is told when the block has to wait for one of those.
    """
    with _NUMPY_RANDOM.turn(waiting):
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def text_masker(tokenizer):
    """`shap.maskers.Text(tokenizer)` that never duplicates characters.

    Stock `Text.token_segments` gives every token the slice `s[start:max(end, next_start)]`.
    When byte-level BPE splits ONE character into several tokens (an emoji, a CJK character,
    an em dash), those tokens share the same offsets and stock shap repeats the character in
    every masked text ("🎬" becomes "🎬🎬"), so it explains a string the user never wrote.
    Here each segment starts where the previous one stopped; for every tokenizer whose pieces do
    not overlap (WordPiece, SentencePiece, most BPE text) segments are identical to stock shap's.
    """
    import shap

    class _Text(shap.maskers.Text):
        def token_segments(self, s):
            token_data = self.tokenizer(s, return_offsets_mapping=True)
            offsets = [(0, 0) if o is None else tuple(o) for o in token_data["offset_mapping"]]
            parts, covered = [], 0
            for i, (a, b) in enumerate(offsets):
                stop = max(b, offsets[i + 1][0]) if i + 1 < len(offsets) else b
                start = max(a, covered)
                parts.append(s[start:stop] if stop > start else "")
                covered = max(covered, stop)
            return parts, token_data["input_ids"]

    return _Text(tokenizer)


def align_to_text(
    text: str,
    offsets: Sequence[tuple[int, int]],
    special: Sequence[int],
    values: np.ndarray,
    end: int | None = None,
) -> tuple[list[Token], np.ndarray, float]:
    """Turn per-tokenizer-position values into Tokens that cover `text` exactly.

    - a model token's span is its `offset_mapping` in the ORIGINAL text, so accents, emoji,
      WordPiece `##` pieces and byte-level BPE `Ġ` pieces all map back to the characters they came from;
    - pieces whose spans overlap (byte-level BPE splitting one emoji into several tokens) become
      one Token with their values summed;
    - characters no token covers (whitespace, anything the tokenizer drops) become Tokens with score 0;
    - special tokens ([CLS], </s>, ...) and zero-width pieces are never masked by shap, but under a
      tight budget the partition explainer can lower some credit onto them; that credit is folded
      into the nearest real token (previous, else first) so the sum of scores is unchanged
      (additivity holds). Returns the absolute amount folded.

    `end` (default len(text)) is where the explained part stops; text[end:] becomes one last
    zero-score Token (the part past the model's maximum length).
    """
    end = len(text) if end is None else end
    values = np.asarray(values, dtype=np.float64)
    n_out = values.shape[1]
    groups: list[list[int]] = []  # [start, end] per real token
    owner = np.full(len(offsets), -1)
    for i, ((a, b), sp) in enumerate(zip(offsets, special)):
        if sp or b <= a:
            continue
        if groups and a < groups[-1][1]:
            groups[-1][1] = max(groups[-1][1], b)
        else:
            groups.append([a, b])
        owner[i] = len(groups) - 1
    if not groups:
        raise ValueError("no token of the text maps to characters")
    # fold specials / zero-width pieces onto the nearest real token (previous one, else the first)
    folded = 0.0
    last = 0
    for i in range(len(offsets)):
        if owner[i] >= 0:
            last = owner[i]
        else:
            owner[i] = last
            folded += float(np.abs(values[i]).sum())
    group_scores = np.zeros((len(groups), n_out))
    np.add.at(group_scores, owner, values)

    tokens: list[Token] = []
    rows: list[np.ndarray] = []
    zero = np.zeros(n_out)
    pos = 0
    for (a, b), row in zip(groups, group_scores):
        if a > pos:
            tokens.append(Token(text[pos:a], pos, a))
            rows.append(zero)
        tokens.append(Token(text[a:b], a, b))
        rows.append(row)
        pos = b
    for stop in (end, len(text)):
        if stop > pos:
            tokens.append(Token(text[pos:stop], pos, stop))
            rows.append(zero)
            pos = stop
    return tokens, np.array(rows), folded


def warm_up(tokenizer) -> None:
    """Compile shap's numba kernels now rather than in a user's first explanation (about 6 s, once per process).

    No model runs: a constant function is explained on a short text with a copy of `tokenizer`, so the
    caller's tokenizer stays free for other threads; a real explanation started meanwhile waits for it
    (both hold numpy's generator) rather than compiling the same kernels a second time.
    """
    import copy

    import shap

    explainer = shap.Explainer(lambda batch: np.zeros((len(batch), 2)), text_masker(copy.deepcopy(tokenizer)), algorithm="partition")
    with seeded_numpy(0):
        explainer(["compile the kernels first"], max_evals=20, batch_size=DEFAULT_BATCH_SIZE, silent=True)


def compute(
    predictor: InferenceLayer,
    text: str,
    *,
    explained_chars: int,
    truncated: bool,
    target: str | None,
    max_evals: int = DEFAULT_MAX_EVALS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    waiting: OnWait | None = None,
) -> Attribution:
    """SHAP attribution of `text[:explained_chars]` for every class (no input validation here)."""
    import shap

    part = text[:explained_chars]
    requested = 0

    def f(batch) -> np.ndarray:
        nonlocal requested
        texts = [str(t) for t in batch]
        requested += len(texts)
        out = predictor.predict_proba(texts).astype(np.float64)
        if progress is not None:
            progress(min(requested, max_evals), max_evals)
        return out

    labels = list(predictor.labels)
    # The masker calls its tokenizer on every round. The shared fast tokenizer is not thread-safe ("Already
    # borrowed") and holding the predictor for the whole run would make every other session wait minutes, so
    # the masker gets this run's own copy (same files, same tokens); predict_proba takes the predictor per batch.
    with predictor.exclusive():
        tokenizer = copy.deepcopy(predictor.tokenizer)
    with predictor.usage() as usage, seeded_numpy(seed, waiting):
        masker = text_masker(tokenizer)
        explainer = shap.Explainer(f, masker, output_names=labels, algorithm="partition")
        explanation = explainer([part], max_evals=max_evals, batch_size=batch_size, silent=True)
        enc = tokenizer(part, return_offsets_mapping=True, return_special_tokens_mask=True, verbose=False)
        values = np.asarray(explanation.values[0], dtype=np.float64)
        # the exact string shap explains with nothing masked (its masker collapses whitespace)
        explained_input = str(masker(np.ones(values.shape[0], dtype=bool), part)[0][0])
        probabilities = predictor.predict_proba([explained_input])[0].astype(np.float64)  # cache hit
        forwarded = usage.texts_forwarded
    if values.shape[0] != len(enc["input_ids"]):
        raise RuntimeError(f"shap returned {values.shape[0]} features for {len(enc['input_ids'])} tokens")
    tokens, scores, folded = align_to_text(text, enc["offset_mapping"], enc["special_tokens_mask"], values, end=explained_chars)
    base = np.asarray(explanation.base_values[0], dtype=np.float64)
    if target is None:
        target = labels[int(np.argmax(probabilities))]
    extra = {
        "output_space": OUTPUT_SPACE,
        "texts_forwarded": int(forwarded),
        "explained_chars": int(explained_chars),
        "mask_token": str(masker.mask_token),
        "folded_credit": folded,
    }
    if explained_input != part:
        extra["explained_input"] = explained_input
    return Attribution(
        text=text,
        tokens=tuple(tokens),
        labels=tuple(labels),
        scores=scores,
        base_values=base,
        probabilities=probabilities,
        target=target,
        method="shap",
        params={"max_evals": int(max_evals), "batch_size": int(batch_size), "seed": int(seed), "algorithm": "partition", "output": OUTPUT_SPACE},
        n_model_calls=int(requested),
        seconds=0.0,
        fingerprint=predictor.ref.fingerprint,
        truncated=truncated,
        extra=extra,
    )
