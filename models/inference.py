"""The shared inference layer: the only place in Veredicto that runs a model.

`Predictor.predict_proba` is batched, sorted by token length to cut padding,
runs under `torch.inference_mode()`, skips the last layer's work on positions
a BERT-style head never reads (`models.first_token`), is safe to call from several Streamlit
sessions at once, and remembers probabilities in a bounded cache keyed by
(checkpoint fingerprint, text), so asking twice costs one forward pass.

Several sessions share one predictor fairly: its lock (`models.fairlock.FairLock`, first come first
served) is held per tokenization and per forward batch, never for a whole call, so one session's short
`predict_proba` gets in between the batches of another's long one (a SHAP or LIME run). Forwards are
counted per thread as well as in `stats`, so `usage()` tells a job exactly what it ran while others run too.

Code outside `models/` sees it through `models.protocol.InferenceLayer`: `exclusive()` instead of the
lock, `cached` / `uncached_count` / `cached_proba` instead of the cache-key format.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.checkpoints import CheckpointRef, inspect_checkpoint, load_checkpoint
from models.errors import CheckpointError, DataError, VeredictoError
from models.fairlock import FairLock
from models.first_token import first_token_layer, first_token_only
from models.gradients import BASELINES, PathGradients, baseline_ids, run_path
from models.protocol import Progress, ResultRows, TextInput, Usage
from runtime import LRUCache, current

log = logging.getLogger(__name__)
OnBatch = Callable[[np.ndarray, np.ndarray], None]


def as_text(value, index: int = 0) -> str:
    """A model input as `str`: bytes must be UTF-8, None is refused, everything else is rejected clearly."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"Text #{index} is not valid UTF-8 (byte 0x{value[exc.start]:02x} at position {exc.start}). "
                "Re-save the data as UTF-8 or pass the right encoding when loading it."
            ) from None
    raise DataError(f"Text #{index} is {type(value).__name__}, not text. Check that the text column holds strings.")


def as_input(value, index: int = 0) -> TextInput:
    """A model input: one text, or a sentence pair `(text, text_pair)` (a 2-item tuple or list), each side as `as_text`."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise DataError(f"Input #{index} has {len(value)} parts; a sentence pair is (text, text_pair).")
        return (as_text(value[0], index), as_text(value[1], index))
    return as_text(value, index)


def split_pairs(inputs: Sequence[TextInput]) -> tuple[list[str], list[str] | None]:
    """(first texts, second texts or None): all inputs are single texts, or all are pairs; a mix is refused."""
    singles = [x for x in inputs if isinstance(x, str)]
    if len(singles) == len(inputs):
        return singles, None
    if singles:
        raise DataError("A call mixed single texts and sentence pairs. Give every input as (text, text_pair), or none.")
    pairs = [x for x in inputs if isinstance(x, tuple)]
    return [a for a, _ in pairs], [b for _, b in pairs]


# Bounded LRU map (fingerprint, text) -> probabilities. Thread-safe. The runtime's LRUCache (default 200,000 items).
ProbabilityCache = LRUCache

# The process-wide caches are owned by the runtime (`runtime.current()`); these names are the accessors.
SHARED_CACHE = current().probabilities
EMBEDDING_CACHE = current().embeddings
TOKEN_CACHE = current().tokens  # (fingerprint, input) -> [token count], stored as kind TOKENS
TOKENS = "tokens"  # results-store kind of token counts: keyed by the checkpoint fingerprint (its tokenizer decides the count)


def tokenizer_takes_pairs(tokenizer) -> bool:
    """Whether a tokenizer marks where a sentence pair's second text starts (adds more special tokens for a pair)."""
    return tokenizer.num_special_tokens_to_add(pair=True) > tokenizer.num_special_tokens_to_add(pair=False)


@dataclass
class InferenceStats:
    texts_requested: int = 0  # texts asked for, cache hits included
    texts_forwarded: int = 0  # texts that went through the model
    texts_from_store: int = 0  # distinct texts read from the persistent results store (not in memory, not forwarded)
    batches: int = 0


@dataclass
class _Whole:
    """Rows of a table read whole (`Predictor.stored_table`), in the order of its `inputs`, under one cache key. Found by
    input only when a later call asks for some: putting 100k rows in the memory caches up front cost the first open of the
    Overview ~0.25 s per checkpoint, for lookups that may never come."""

    key: str
    inputs: list[TextInput]
    rows: np.ndarray
    _index: dict[TextInput, int] | None = None

    def find(self, key: str, texts: Sequence[TextInput]) -> dict[int, np.ndarray]:
        """{position in `texts`: row} of those it holds."""
        if key != self.key:
            return {}
        if self._index is None:  # built once; two threads building it at once build equal dicts
            self._index = {text: i for i, text in enumerate(self.inputs)}
        index = self._index
        return {j: self.rows[index[text]] for j, text in enumerate(texts) if text in index}


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Predictor:
    """One loaded checkpoint and the only door to its forward pass."""

    def __init__(
        self,
        checkpoint: CheckpointRef | str | os.PathLike,
        *,
        device: str | None = None,
        batch_size: int = 32,
        cache: ProbabilityCache | None = None,
        first_token: bool = True,
        store: ResultRows | None = None,
    ):
        """`first_token=False` always runs the full last layer (the benchmark's bare forward does).

        `store` (a `store.results.ResultsStore`): probabilities and default-cache embeddings are read from it for what
        the memory cache lacks, and every forward batch is written to it as it finishes, so a restart (or another
        process) reads them instead of running the model. If the store fails, `store_warning` says so and this
        predictor keeps results in memory only."""
        self.ref = checkpoint if isinstance(checkpoint, CheckpointRef) else inspect_checkpoint(checkpoint)
        self.device = device or pick_device()
        self._loaded: tuple[Any, Any] | None = None  # (model, tokenizer), loaded at first use: see `model`
        self._loading = threading.Lock()
        self.batch_size = batch_size
        self.cache = SHARED_CACHE if cache is None else cache
        self.stats = InferenceStats()
        self.store = store
        self.store_warning: str | None = None
        # Fast tokenizers raise "Already borrowed" when shared unguarded; the forward pass swaps a layer (first_token_only).
        # Held per tokenization / per batch, first come first served (see the module docstring).
        self._lock = FairLock()
        self._mine = threading.local()  # .forwarded: texts this thread sent through the model
        self._shortcut: Any = None if first_token else False  # the first-token layer once checked; False: off or not exact
        self._wholes: dict[str, _Whole] = {}  # store kind -> the last table read whole (`stored_table`)

    @property
    def model(self) -> Any:
        """The loaded model. Loaded at first use, not with the predictor: a page whose results are all in the results store
        (a filled store's Overview, an app restart) runs no model, and loading two checkpoints took a second of its first open."""
        return self._load()[0]

    @property
    def tokenizer(self) -> Any:
        return self._load()[1]

    def _load(self) -> tuple[Any, Any]:
        loaded = self._loaded
        if loaded is None:
            with self._loading:
                if self._loaded is None:
                    self._loaded = load_checkpoint(self.ref, self.device)
                loaded = self._loaded
        return loaded

    @property
    def _first_token_layer(self):
        """The layer the first-token shortcut patches, or None. Checked (two small forward passes) at first use, not at
        load: an app restart that reads every result from the results store runs no forward pass at all."""
        if self._shortcut is None:
            with self._lock:  # re-entrant: a forward that holds it may check here
                if self._shortcut is None:
                    layer = first_token_layer(self.model, self.tokenizer, self.device)
                    self._shortcut = False if layer is None else layer
        return None if self._shortcut is False else self._shortcut

    @property
    def first_token(self) -> bool:
        """Whether class probabilities skip the last layer's unread positions (checked exact at first use)."""
        return self._first_token_layer is not None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.ref.labels

    @property
    def max_length(self) -> int:
        return self.ref.max_length

    def _forwarded_here(self) -> int:
        return getattr(self._mine, "forwarded", 0)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Usage]:
        """Hold this predictor for the calling thread alone until the block ends; yields its `Usage`.

        No other thread tokenizes or runs a forward pass of this predictor meanwhile (they wait, in
        arrival order), so the fast tokenizer (not thread-safe) may be called directly. Re-entrant:
        `predict_proba`, `embed` and `token_counts` work inside it. Keep it short: every other session's
        prediction waits for it.
        """
        with self._lock:
            yield Usage(self._forwarded_here)

    @contextlib.contextmanager
    def scratch(self) -> Iterator[None]:
        """Inside the block this thread's results are read from the store but not written to it (see `models.protocol.scratch`)."""
        depth = getattr(self._mine, "scratch", 0)
        self._mine.scratch = depth + 1
        try:
            yield
        finally:
            self._mine.scratch = depth

    @contextlib.contextmanager
    def usage(self) -> Iterator[Usage]:
        """Count what this thread sends through the model during the block, without holding the predictor."""
        yield Usage(self._forwarded_here)

    def cached(self, texts: Sequence[TextInput], *, embeddings: bool = False) -> np.ndarray:
        """Bool mask: which of `texts` have probabilities (with `embeddings`: `embed`'s default cache) cached, in memory or
        in the results store (whose rows are then kept in memory). Runs nothing."""
        inputs = [as_input(t, i) for i, t in enumerate(texts)]
        cache, key, kind = self._target(embeddings)
        found = np.array([cache.get((key, t)) is not None for t in inputs], dtype=bool)
        if not found.all() and (self.store is not None or kind in self._wholes):
            misses = list(dict.fromkeys(t for t, hit in zip(inputs, found) if not hit))
            width = int(self.model.config.hidden_size) if embeddings else len(self.labels)
            got = {misses[j] for j in self._read_store(kind, key, misses, width, cache)}
            found |= np.array([t in got for t in inputs], dtype=bool)
        return found

    def _target(self, embeddings: bool) -> tuple[ProbabilityCache, str, str]:
        """(memory cache, key, store kind) of probabilities or of `embed`'s default cache."""
        if embeddings:
            return EMBEDDING_CACHE, self.ref.fingerprint, "embedding"
        return self.cache, self.ref.scoring_key, "proba"

    def uncached_count(self, texts: Sequence[TextInput], *, embeddings: bool = False) -> int:
        """How many distinct texts of `texts` a `predict_proba` (with `embeddings`: `embed`) call would run through the model.

        Counts the results store's rows without reading them (nor loading the model): at 100k rows reading every stored
        embedding just to count them took the Robustness page's first open ~5 s; the call that needs them reads them."""
        cache, key, kind = self._target(embeddings)
        misses = [t for t in dict.fromkeys(as_input(t, i) for i, t in enumerate(texts)) if cache.get((key, t)) is None]
        if misses:
            held = self._held(kind, key, misses)
            misses = [t for j, t in enumerate(misses) if j not in held]
        if misses and self.store is not None:
            try:
                return len(misses) - self.store.count(kind, key, misses)
            except VeredictoError as exc:
                self._store_failed(exc)
        return len(misses)

    def cached_proba(self, texts: Sequence[TextInput]) -> np.ndarray | None:
        """Probabilities of `texts` when every one is cached (no model call, stats untouched), else None."""
        key = self.ref.scoring_key
        if self.store is not None and not self.cached(texts).all():  # reads the store's rows into memory
            return None
        rows = []
        for i, text in enumerate(texts):
            hit = self.cache.get((key, as_input(text, i)))
            if hit is None:
                return None
            rows.append(hit)
        return np.stack(rows) if rows else np.empty((0, len(self.labels)), dtype=np.float32)

    @property
    def takes_pairs(self) -> bool:
        """Whether the tokenizer marks where a sentence pair's second text starts (BERT's [SEP], RoBERTa's </s></s>, ...).

        A tokenizer that adds no token between the two (GPT-2's) would feed the model one run-on text.
        """
        return tokenizer_takes_pairs(self.tokenizer)

    def _encode(self, inputs: Sequence[TextInput], **kwargs):
        """Tokenize single texts or sentence pairs (the caller holds the lock)."""
        firsts, seconds = split_pairs(inputs)
        if seconds is None:
            return self.tokenizer(firsts, verbose=False, **kwargs)
        if not self.takes_pairs:
            raise CheckpointError(
                f"The tokenizer of '{self.ref.name}' cannot take sentence pairs: it adds no separator between the two texts, "
                "so the model would read them as one. Use a checkpoint trained on pairs (BERT-, RoBERTa-style), or drop the pair column."
            )
        return self.tokenizer(firsts, seconds, verbose=False, **kwargs)

    def token_counts(self, texts: Sequence[TextInput]) -> np.ndarray:
        """Tokens per input (both texts of a pair together) with special tokens, before truncation.

        Read like probabilities: memory (`TOKEN_CACHE`), then the results store (one bulk read), tokenizing only what is
        missing and storing it, so a restart's prediction table tokenizes nothing. Counts are stored as float32 (exact below 2**24)."""
        if not len(texts):
            return np.zeros(0, dtype=int)
        rows = self._run(texts, TOKEN_CACHE, self.ref.fingerprint, TOKENS, None, 1, 0, None)
        return rows[:, 0].astype(int)

    def _count_tokens(self, inputs: list[TextInput], on_batch: OnBatch) -> None:
        """Tokenize `inputs` untruncated (the lock held) and hand their counts, one column, to `on_batch`."""
        with self._lock:
            enc = self._encode(inputs, add_special_tokens=True, truncation=False)
        counts = np.array([[len(ids)] for ids in enc["input_ids"]], dtype=np.float32)
        on_batch(np.arange(len(inputs)), counts)

    def truncated(self, texts: Sequence[TextInput]) -> np.ndarray:
        """Which texts are longer than the model reads; only their first `max_length` tokens count."""
        return self.token_counts(texts) > self.max_length

    def predict_proba(self, texts: Sequence[TextInput], *, progress: Progress | None = None) -> np.ndarray:
        """Probabilities, shape (len(texts), len(labels)), columns in `labels` order.

        Single-label: a softmax (rows sum to 1). Multi-label: an independent sigmoid per label (rows do not sum to 1).
        """
        self.stats.texts_requested += len(texts)
        return self._run(texts, self.cache, self.ref.scoring_key, "proba", self._probabilities, len(self.labels), self.batch_size, progress)

    def embed(
        self, texts: Sequence[TextInput], *, batch_size: int | None = None, progress: Progress | None = None, cache: ProbabilityCache | None = None
    ) -> np.ndarray:
        """Sentence embeddings: the encoder's last hidden states averaged over real tokens, shape (n, hidden_size).

        The encoder is `model.base_model`, the weights the classification head reads, so neighbours
        are "similar for this model". Cached like probabilities, in `EMBEDDING_CACHE` by default, and in the results store.
        """
        cache = EMBEDDING_CACHE if cache is None else cache
        width = int(self.model.config.hidden_size)
        return self._run(texts, cache, self.ref.fingerprint, "embedding", self._mean_pooled, width, batch_size or self.batch_size, progress)

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
        """Gradients of every class probability along the straight path from `baseline` to `text`'s input embeddings
        (see `models.gradients`), at the points `alphas` (0 = baseline, 1 = input) summed with `weights`.

        The input is what the model reads: tokenized with truncation at `max_length`. Runs with autograd, in chunks of
        `batch_size` points; the lock is held per chunk (like a forward batch), so other sessions' predictions get in between.
        """
        if baseline not in BASELINES:
            raise DataError(f"Unknown baseline {baseline!r}. Choose one of: {', '.join(BASELINES)}.")
        one = as_input(text)
        first, second = (one, None) if isinstance(one, str) else one
        with self._lock:
            if second is not None and not self.takes_pairs:
                self._encode([one])  # raises the pair refusal
            enc = self.tokenizer(
                first, second, truncation=True, max_length=self.max_length, return_offsets_mapping=True, return_special_tokens_mask=True, verbose=False
            )
            base = None if baseline == "zero" else baseline_ids(enc["input_ids"], enc["special_tokens_mask"], self.tokenizer, baseline)
        if second is None:
            enc.pop("token_type_ids", None)  # single texts keep the model's default segment, as in `_forward`
        shortcut = self._first_token_layer
        result = run_path(
            self.model,
            enc,
            base,
            np.asarray(alphas, dtype=np.float64),
            np.asarray(weights, dtype=np.float64),
            multi_label=self.ref.multi_label,
            batch_size=max(1, int(batch_size or self.batch_size)),
            device=self.device,
            hold=lambda: self._lock,
            forward_context=lambda: first_token_only(shortcut) if shortcut is not None else contextlib.nullcontext(),
            progress=progress,
        )
        self.stats.texts_forwarded += result.forwarded
        self._mine.forwarded = self._forwarded_here() + result.forwarded
        return result

    def _probabilities(self, input_ids, mask, types=None):
        import torch

        extra = {} if types is None else {"token_type_ids": types}
        with first_token_only(self._first_token_layer) if self.first_token else contextlib.nullcontext():
            logits = self.model(input_ids=input_ids, attention_mask=mask, **extra).logits.float()
        return torch.sigmoid(logits) if self.ref.multi_label else torch.softmax(logits, dim=-1)

    def _mean_pooled(self, input_ids, mask, types=None):
        extra = {} if types is None else {"token_type_ids": types}
        hidden = self.model.base_model(input_ids=input_ids, attention_mask=mask, **extra).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def stored_table(self, texts: Sequence[TextInput]) -> tuple[np.ndarray, np.ndarray] | None:
        """(probabilities, token counts) of exactly `texts`, in order, when the results store holds them whole (`store_table`):
        one read instead of a row lookup per text. Later calls on any of these texts find their rows in it, as they would
        rows read from the store. None otherwise."""
        store = self.store
        get = getattr(store, "get_table", None)  # a store of rows alone (a benchmark's wrapper) has no wholes
        if get is None or not len(texts):
            return None
        inputs = [tuple(t) if isinstance(t, list) else t for t in texts]  # a pair given as a list is the tuple `as_input` makes
        try:
            found = get(self.ref.scoring_key, inputs, len(self.labels))
        except VeredictoError as exc:
            self._store_failed(exc)
            return None
        except TypeError:  # an input that is not text yet (bytes): the row path converts (or refuses) it
            return None
        if found is None:
            return None
        probs, counts = found
        self._wholes["proba"] = _Whole(self.ref.scoring_key, inputs, probs.copy())  # rows apart from the caller's array
        self._wholes[TOKENS] = _Whole(self.ref.fingerprint, inputs, counts.astype(np.float32)[:, None])
        self.stats.texts_from_store += len(set(inputs))
        return probs, counts

    def store_table(self, texts: Sequence[TextInput], probs: np.ndarray, counts: np.ndarray) -> None:
        """Store the probabilities and token counts of a whole evaluation set (`texts`, in order) as one result, read back by
        `stored_table`; the per-text rows stay what a changed file or an interrupted run reads."""
        store = self.store
        put = getattr(store, "put_table", None)
        scratching: int = getattr(self._mine, "scratch", 0)
        if put is None or scratching or not len(texts):
            return
        try:
            put(self.ref.scoring_key, [as_input(t, i) for i, t in enumerate(texts)], probs, counts)
        except VeredictoError as exc:
            self._store_failed(exc)

    def _store_failed(self, exc: VeredictoError) -> None:
        """Stop using a store that failed (read-only, full, mixed): results stay in memory; `store_warning` says why, once."""
        if self.store_warning is None:
            self.store_warning = str(exc)
            log.warning(self.store_warning)
        self.store = None

    def _held(self, kind: str, key: str, texts: Sequence[TextInput]) -> dict[int, np.ndarray]:
        """{position in `texts`: row} of those in the table of `kind` read whole (`stored_table`); {} when none was."""
        whole = self._wholes.get(kind)
        return whole.find(key, texts) if whole is not None else {}

    def _read_store(self, kind: str, key: str, texts: list[TextInput], width: int, cache: ProbabilityCache) -> dict[int, np.ndarray]:
        """Rows of the distinct `texts` found in a table read whole, else in the results store ({position: row}), also put
        in `cache`; {} when neither holds them."""
        found = self._held(kind, key, texts)
        rest = [j for j in range(len(texts)) if j not in found]
        store = self.store
        if store is not None and rest:
            try:
                read = store.get_many(kind, key, [texts[j] for j in rest], width=width)
            except VeredictoError as exc:
                self._store_failed(exc)
                read = {}
            found |= {rest[j]: row for j, row in read.items()}
            if kind != TOKENS:  # stats count texts whose model results were read (a whole's were, once), not their token counts
                self.stats.texts_from_store += len(read)
        for j, row in found.items():
            cache.put((key, texts[j]), row)
        return found

    def _write_store(self, kind: str, key: str, texts: list[TextInput], rows: np.ndarray) -> None:
        store = self.store
        scratching: int = getattr(self._mine, "scratch", 0)
        if store is None or scratching:
            return
        try:
            store.put_many(kind, key, texts, rows)
        except VeredictoError as exc:
            self._store_failed(exc)

    def _keep(self, cache: ProbabilityCache, key: str, kind: str, texts: list[TextInput], rows: np.ndarray) -> None:
        """Put computed rows in the memory `cache` and the results store; with probabilities, also the texts' token counts
        (tokenized again, untruncated: a few ms a batch), so whatever stores predictions leaves the 'truncated' flag stored too."""
        for text, row in zip(texts, rows):
            cache.put((key, text), row)
        self._write_store(kind, key, texts, rows)
        if kind == "proba" and self.store is not None and not getattr(self._mine, "scratch", 0):
            self._count_tokens(texts, lambda _, counts: self._keep(TOKEN_CACHE, self.ref.fingerprint, TOKENS, texts, counts))

    def _run(self, texts, cache: ProbabilityCache, key: str, kind: str, head, width: int, batch_size: int, progress: Progress | None) -> np.ndarray:
        """Look every input up in `cache` under (`key`, input), then the misses in the results store under `kind`; run `head`
        on the unique inputs still missing, storing each batch as it finishes; return rows in input order. Token counts
        (`kind` TOKENS, no `head`) are tokenized instead.

        A memory hit is not written to the store (it may come from a predictor without one, or from an explanation's scratch
        calls): a caller that must fill the store passes its own empty memory `cache` (`cli.demo.fill_results` does)."""
        texts = [as_input(t, i) for i, t in enumerate(texts)]
        split_pairs(texts)  # refuse a mix before anything is cached
        out = np.empty((len(texts), width), dtype=np.float32)
        missing: dict[TextInput, list[int]] = {}
        for i, text in enumerate(texts):
            hit = cache.get((key, text))
            if hit is None:
                missing.setdefault(text, []).append(i)
            else:
                out[i] = hit
        if missing:
            unique = list(missing)
            for j, row in self._read_store(kind, key, unique, width, cache).items():
                out[missing.pop(unique[j])] = row
        if missing:
            unique = list(missing)

            def on_batch(indices: np.ndarray, rows: np.ndarray) -> None:
                done = [unique[j] for j in indices]
                for text, row in zip(done, rows):
                    out[missing[text]] = row
                self._keep(cache, key, kind, done, rows)

            if kind == TOKENS:
                self._count_tokens(unique, on_batch)
            else:
                self._forward(unique, head, width, max(1, int(batch_size)), progress, on_batch)
        elif progress:
            progress(len(texts), len(texts))
        return out

    def _forward(self, texts: list[TextInput], head, width: int, batch_size: int, progress: Progress | None, on_batch: OnBatch | None = None) -> np.ndarray:
        """Tokenize once, sort by length, pad each batch only to its longest text, run `head` without autograd.

        The lock is held for the tokenization and for each batch's forward pass, not in between: another
        thread waiting for the predictor (a one-text prediction) runs before this call's next batch.
        `on_batch(positions in texts, rows)` (storing the batch) and then `progress` are called after each batch, outside the lock,
        so an interrupted call keeps every batch it finished.
        """
        import torch

        with self._lock:
            enc = self._encode(texts, truncation=True, max_length=self.max_length)
            ids = enc["input_ids"]
            pad = self.tokenizer.pad_token_id
        # A pair's second text is segment 1 for models that embed segments (BERT); single texts keep the default (all 0).
        type_ids = enc.get("token_type_ids") if isinstance(texts[0], tuple) else None
        order = np.argsort([len(x) for x in ids], kind="stable")
        result = np.empty((len(texts), width), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            longest = len(ids[batch[-1]])
            input_ids = torch.full((len(batch), longest), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), longest), dtype=torch.long)
            types = None if type_ids is None else torch.zeros((len(batch), longest), dtype=torch.long)
            for row, j in enumerate(batch):
                input_ids[row, : len(ids[j])] = torch.tensor(ids[j])
                mask[row, : len(ids[j])] = 1
                if types is not None and type_ids is not None:
                    types[row, : len(ids[j])] = torch.tensor(type_ids[j])
            with self._lock, torch.inference_mode():
                moved = None if types is None else types.to(self.device)
                result[batch] = head(input_ids.to(self.device), mask.to(self.device), moved).float().cpu().numpy()
                self.stats.texts_forwarded += len(batch)
                self.stats.batches += 1
            self._mine.forwarded = self._forwarded_here() + len(batch)
            if on_batch is not None:
                on_batch(batch, result[batch])
            if progress:
                progress(min(start + batch_size, len(order)), len(order))
        return result
