"""What explainers, probes and analysis may use of the inference layer: the `InferenceLayer` protocol.

`models.inference.Predictor` is the one implementation; tests and tools may pass anything else that
has these members (see tests/test_inference.py's fake). Code outside `models/` uses only this: it
never takes the predictor's lock or builds a probability-cache key itself.

- `exclusive()` is the public way to hold the predictor (it replaces reaching into `predictor._lock`);
  `usage()` counts a job's own forwards without holding it, so long jobs (SHAP, LIME) leave room for others.
- `cached(texts)` / `uncached_count(texts)` say what a call would cost without running anything
  (they replace building `(fingerprint, text)` cache keys by hand); `cached_proba(texts)` reads
  probabilities that are all cached already, or gives None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from models.checkpoints import CheckpointRef
    from models.gradients import PathGradients
    from models.inference import ProbabilityCache

Progress = Callable[[int, int], None]
# One model input: a text, or a sentence pair (text, text_pair) for checkpoints that read two texts (NLI, paraphrase, reranking).
TextInput = str | tuple[str, str]


class ResultRows(Protocol):
    """A persistent store of per-text result vectors that a `Predictor` reads before running anything and fills as it runs
    (`store.results.ResultsStore` is the one implementation; `models` never imports it). `kind` is "proba", "embedding" or "tokens"
    (token counts), `key` the checkpoint's `scoring_key` or `fingerprint`. Failures raise a `VeredictoError` (the predictor then warns and
    keeps results in memory only)."""

    path: Any

    def get_many(self, kind: str, key: str, inputs: Sequence[TextInput], *, width: int | None = None) -> dict[int, np.ndarray]: ...

    def put_many(self, kind: str, key: str, inputs: Sequence[TextInput], rows: np.ndarray) -> None: ...

    def count(self, kind: str, key: str, inputs: Sequence[TextInput]) -> int: ...


def scratch(layer: Any) -> AbstractContextManager[Any]:
    """Calls on `layer` by this thread inside the block read the results store but add nothing to it: the perturbed texts
    of an explanation (SHAP's masks, LIME's samples, deletion curves) are many and used once; the explanation itself is
    what is kept (`explain.cache`). A layer without a store (a test's fake) needs nothing."""
    enter = getattr(layer, "scratch", None)
    return enter() if callable(enter) else nullcontext()


class Usage:
    """What one `usage()` (or `exclusive()`) block has cost so far: `texts_forwarded`, the texts it sent through the model.

    Built on a counter of the texts the calling thread forwarded (read when the block starts), so it stays
    exact while other threads (other sessions) forward through the same predictor at the same time.
    """

    def __init__(self, forwarded: Callable[[], int]):
        self._forwarded = forwarded
        self._start = forwarded()

    @property
    def texts_forwarded(self) -> int:
        return self._forwarded() - self._start


@runtime_checkable
class InferenceLayer(Protocol):
    """One loaded classifier, reached only through these members.

    `predict_proba` and `embed` are batched, cached and safe to call from several threads at once.
    `exclusive()` guarantees, until its block ends, that no other thread tokenizes with this
    predictor's `tokenizer` or runs its forward pass (they wait for the block); so inside it the fast
    tokenizer (not thread-safe: it raises "Already borrowed" when shared) may be called directly.
    It is re-entrant: `predict_proba`, `embed`, `token_counts` and nested `exclusive()` work inside it
    on the same thread. It does not stop other threads from reading cached results (those run nothing).
    Hold it only for short work (tokenizing): every other session's prediction waits for it.

    `usage()` holds nothing: its `Usage.texts_forwarded` counts exactly the texts the calling thread sent
    through the model during the block, whatever other threads forward meanwhile (SHAP and LIME count
    their `texts_forwarded` with it).
    """

    @property
    def ref(self) -> CheckpointRef:
        """The checkpoint: name, path, labels, task kind, sha256 `fingerprint`."""
        ...

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names, in the order of `predict_proba`'s columns."""
        ...

    @property
    def max_length(self) -> int:
        """Tokens the model reads (with special tokens); longer texts are truncated."""
        ...

    @property
    def device(self) -> str:
        """Where the forward pass runs ("cpu", "cuda", ...)."""
        ...

    @property
    def takes_pairs(self) -> bool:
        """Whether the tokenizer separates a sentence pair's two texts (else pair inputs are refused)."""
        ...

    @property
    def tokenizer(self) -> Any:
        """The checkpoint's (fast) tokenizer. Not thread-safe: call it only inside `exclusive()`."""
        ...

    def token_counts(self, texts: Sequence[TextInput]) -> np.ndarray:
        """Tokens per text with special tokens, before truncation."""
        ...

    def truncated(self, texts: Sequence[TextInput]) -> np.ndarray:
        """Bool mask: which texts are longer than `max_length` tokens."""
        ...

    def predict_proba(self, texts: Sequence[TextInput], *, progress: Progress | None = None) -> np.ndarray:
        """Probabilities, shape (len(texts), len(labels)); cached. Softmax for single-label, a sigmoid per label for multi-label."""
        ...

    def embed(
        self, texts: Sequence[TextInput], *, batch_size: int | None = None, progress: Progress | None = None, cache: ProbabilityCache | None = None
    ) -> np.ndarray:
        """Sentence embeddings, shape (len(texts), hidden size), float32; cached."""
        ...

    def path_gradients(
        self,
        text: TextInput,
        alphas: Sequence[float] | np.ndarray,
        weights: Sequence[float] | np.ndarray,
        *,
        baseline: str = "pad",
        batch_size: int | None = None,
        progress: Progress | None = None,
    ) -> PathGradients:
        """Gradients of every class probability along the path from a baseline to the input embeddings (Integrated
        Gradients, Gradient x Input); `CheckpointError` where the model has no input embedding layer."""
        ...

    def exclusive(self) -> AbstractContextManager[Usage]:
        """Hold the predictor for this thread alone (see the class docstring for what that guarantees)."""
        ...

    def usage(self) -> AbstractContextManager[Usage]:
        """Count this thread's forwards during the block, without holding the predictor."""
        ...

    def cached(self, texts: Sequence[TextInput], *, embeddings: bool = False) -> np.ndarray:
        """Bool mask: which of `texts` have probabilities (embeddings: `embed`'s default cache) cached. Runs nothing."""
        ...

    def uncached_count(self, texts: Sequence[TextInput], *, embeddings: bool = False) -> int:
        """How many distinct texts of `texts` a `predict_proba` (or `embed`) call would send through the model."""
        ...

    def cached_proba(self, texts: Sequence[TextInput]) -> np.ndarray | None:
        """Probabilities of `texts` when every one is cached (no model call), else None."""
        ...

    def stored_table(self, texts: Sequence[TextInput]) -> tuple[np.ndarray, np.ndarray] | None:
        """(probabilities, token counts) of exactly `texts`, in order, when stored whole (one read; `store_table`), else None."""
        ...

    def store_table(self, texts: Sequence[TextInput], probs: np.ndarray, counts: np.ndarray) -> None:
        """Store a whole evaluation set's probabilities and token counts as one result (nothing without a results store)."""
        ...
