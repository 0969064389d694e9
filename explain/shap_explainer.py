"""SHAP for one text: `shap.Explainer` + `shap.maskers.Text` on the checkpoint's own tokenizer.

Output space: class *probabilities* (softmax; for a multi-label checkpoint each label's own sigmoid), the same space `shap.Explainer(pipeline)` explains
by default (`shap.models.TransformersPipeline(rescale_to_logits=False)`), so a score reads as
"this token moved P(class) by +0.12". Scores come for every class at once.

Masker: `text_masker(tokenizer)` is `shap.maskers.Text(tokenizer)` with one fix: byte-level BPE
pieces that share one character (emoji, CJK, dashes) no longer duplicate it in every masked text.
Like stock shap, masked texts have whitespace runs collapsed; `probabilities` is the model's output
on exactly what SHAP explains (shown in `extra["explained_input"]` when that differs from the text),
so `scores.sum(0) + base_values == probabilities` holds for every class (every label).

Sentence pairs: one masker over the pair (`text_masker(tokenizer, pair=True)`): SHAP is given
`text + PAIR_SEP + text_pair`, the masker tokenizes it as the model does (`tokenizer(text, text_pair)`),
keeps the separator between the segments unmasked (shap's partition tree splits there first), and the
prediction function forwards every masked string as a `(text, text_pair)` tuple.

`compute` assumes a validated input; call `explain.api.explain_text`, which validates first.
The model is only ever reached through `Predictor.predict_proba` (batched, length-sorted,
cached: masked strings that repeat cost one forward pass). The run does not hold the predictor: the
masker tokenizes with a private copy of the tokenizer (taken under `exclusive()`), so other sessions'
predictions run between SHAP's forward batches; `texts_forwarded` is this run's own count (`usage()`).

No compilation in a user's explanation: shap jit-compiles five small numba kernels for a text explanation (tree
bookkeeping and averaging, microseconds of work per explanation) in about 6 s per process on these machines (30 s under
load), and numba cannot cache the recursive one on disk (a cached `lower_credit` segfaults when loaded). `use_plain_kernels()`
gives shap those kernels as the plain Python functions they were written as (numba's `py_func`, same code, same results,
~30 ms per explanation), and `warm_up()` imports shap in the background when the app starts.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence

import numpy as np

from explain.attribution import PAIR_SEP, Attribution, Token
from models.fairlock import FairLock, OnWait
from models.protocol import InferenceLayer, scratch

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
    as no other thread (another checkpoint's SHAP run) draws from it meanwhile.
    `waiting(ahead, in_line)` is told when the block has to wait for one of those.
    """
    with _NUMPY_RANDOM.turn(waiting):
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


# shap's numba kernels on a text explanation's path, by module: they run as the Python they were written in (see above)
PLAIN_KERNELS = {
    "shap.explainers._partition": ("lower_credit",),
    "shap.utils._masked_model": ("_build_fixed_single_output", "_build_fixed_multi_output", "_init_masks", "_rec_fill_masks"),
}


def use_plain_kernels() -> None:
    """Swap shap's kernels of `PLAIN_KERNELS` for their Python originals (imports shap; once per process is enough, and
    every use of shap here calls this first), so no explanation waits seconds for numba to compile them."""
    import importlib

    for module_name, names in PLAIN_KERNELS.items():
        module = importlib.import_module(module_name)
        for name in names:
            kernel = getattr(module, name)
            setattr(module, name, getattr(kernel, "py_func", kernel))  # a recursive kernel calls itself through this global


def text_masker(tokenizer, pair: bool = False):
    """`shap.maskers.Text(tokenizer)` that never duplicates characters.

    Stock `Text.token_segments` gives every token the slice `s[start:max(end, next_start)]`.
    When byte-level BPE splits ONE character into several tokens (an emoji, a CJK character,
    an em dash), those tokens share the same offsets and stock shap repeats the character in
    every masked text ("🎬" becomes "🎬🎬"), so it explains a string the user never wrote.
    Here each segment starts where the previous one stopped; for every tokenizer whose pieces do
    not overlap (WordPiece, SentencePiece, most BPE text) segments are identical to stock shap's.

    pair=True: the masker takes `text + PAIR_SEP + text_pair` and tokenizes it as the pair the model reads;
    the special token(s) between the segments show as `pair_mark(tokenizer)` and are never masked, so every
    masked string splits back into its two segments (`split_masked`).
    """
    import shap

    use_plain_kernels()
    mark = f" {pair_mark(tokenizer)} "

    class _Text(shap.maskers.Text):
        def token_segments(self, s):
            texts = s.split(PAIR_SEP, 1) if pair else [s]
            token_data = self.tokenizer(*texts, return_offsets_mapping=True)
            offsets = [(0, 0) if o is None else tuple(o) for o in token_data["offset_mapping"]]
            seq = token_data.sequence_ids() if pair else [0] * len(offsets)  # one text: every piece as stock shap slices it
            parts, covered, marked = [], [0, 0], False
            for i, ((a, b), segment) in enumerate(zip(offsets, seq)):
                if segment is None:  # a special token: nothing, except the one mark between the two segments of a pair
                    between = pair and not marked and 0 in seq[:i] and 1 in seq[i:]
                    marked = marked or between
                    parts.append(mark if between else "")
                    continue
                text = texts[segment]
                following = i + 1 < len(offsets) and seq[i + 1] == segment
                stop = max(b, offsets[i + 1][0]) if following else b
                start = max(a, covered[segment])
                parts.append(text[start:stop] if stop > start else "")
                covered[segment] = max(covered[segment], stop)
            self._keep = np.array([p == mark for p in parts])
            return parts, token_data["input_ids"]

        def __call__(self, mask, s):
            if pair:
                self._update_s_cache(s)
                mask = np.array(self._standardize_mask(mask, s), dtype=bool) | self._keep
            return super().__call__(mask, s)

    return _Text(tokenizer)


def pair_mark(tokenizer) -> str:
    """How the separator between a pair's segments shows in masked strings (the tokenizer's own, so shap's
    partition tree splits the two segments first)."""
    return str(getattr(tokenizer, "sep_token", None) or "[SEP]")


def split_masked(masked: str, mark: str) -> tuple[str, str]:
    """A masked pair string back into (text, text_pair)."""
    first, sep, second = masked.partition(mark)
    if not sep:
        raise RuntimeError("a masked sentence pair lost the separator between its segments")
    return first.strip(), second.strip()


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


def align_pair(text: str, text_pair: str, enc, values: np.ndarray) -> tuple[list[Token], np.ndarray, float]:
    """`align_to_text` for each segment of a pair: tokens of `text` (segment 0) then of `text_pair` (segment 1), spans
    into their own segment; the special tokens up to the first token of the second segment fold into the first."""
    seq = enc.sequence_ids()
    second = seq.index(1) if 1 in seq else len(seq)
    special = [s is None for s in seq]
    offsets = [(0, 0) if s is None else tuple(o) for o, s in zip(enc["offset_mapping"], seq)]
    tokens, scores, folded = align_to_text(text, offsets[:second], special[:second], values[:second])
    if second < len(seq):
        more, more_scores, more_folded = align_to_text(text_pair, offsets[second:], special[second:], values[second:])
        tokens += [Token(t.text, t.start, t.end, 1) for t in more]
        scores, folded = np.vstack([scores, more_scores]), folded + more_folded
    return tokens, scores, folded


def warm_up() -> None:
    """Import shap now (seconds: numba, scikit-learn...) rather than in a user's first explanation, once per process.

    Nothing is left to compile after it: the kernels run as Python (`use_plain_kernels`) and the one numba function shap
    still calls from Python on this path (its identity link) is compiled here. No model, no tokenizer, and numpy's
    global generator is not touched, so an explanation started meanwhile never waits for it (beyond the import).
    """
    import shap

    use_plain_kernels()
    shap.links.identity(np.float64(0.0))


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
    text_pair: str | None = None,
) -> Attribution:
    """SHAP attribution of `text[:explained_chars]` (with `text_pair`: of the whole pair) for every class (no input validation here)."""
    import shap

    use_plain_kernels()

    pair = text_pair is not None
    part = text[:explained_chars] if not pair else text + PAIR_SEP + str(text_pair)
    requested = 0

    def as_inputs(masked) -> list:
        return [split_masked(str(t), mark) if pair else str(t) for t in masked]

    def f(batch) -> np.ndarray:
        nonlocal requested
        texts = as_inputs(batch)
        requested += len(texts)
        with scratch(predictor):
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
    mark = pair_mark(tokenizer)
    with predictor.usage() as usage, seeded_numpy(seed, waiting):
        masker = text_masker(tokenizer, pair=pair)
        explainer = shap.Explainer(f, masker, output_names=labels, algorithm="partition")
        explanation = explainer([part], max_evals=max_evals, batch_size=batch_size, silent=True)
        enc = tokenizer(*part.split(PAIR_SEP, 1), return_offsets_mapping=True, return_special_tokens_mask=True, verbose=False)
        values = np.asarray(explanation.values[0], dtype=np.float64)
        # the exact string shap explains with nothing masked (its masker collapses whitespace)
        explained_input = as_inputs([masker(np.ones(values.shape[0], dtype=bool), part)[0][0]])[0]
        probabilities = predictor.predict_proba([explained_input])[0].astype(np.float64)  # cache hit
        forwarded = usage.texts_forwarded
    if values.shape[0] != len(enc["input_ids"]):
        raise RuntimeError(f"shap returned {values.shape[0]} features for {len(enc['input_ids'])} tokens")
    if pair:
        tokens, scores, folded = align_pair(text, str(text_pair), enc, values)
    else:
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
    if explained_input != (part if not pair else (text, text_pair)):
        extra["explained_input"] = explained_input if not pair else list(explained_input)
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
        fingerprint=predictor.ref.scoring_key,
        truncated=truncated,
        extra=extra,
        text_pair=text_pair,
    )
