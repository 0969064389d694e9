"""Several reviewers at once: the races a shared server must win.

- explanation runs take turns first come, first served, and a waiting session is told its place;
- a one-text prediction is not stuck behind another session's SHAP or LIME run (it runs between batches);
- SHAP and LIME give bit-identical results, and exact `texts_forwarded`, with other sessions running.

No test asserts on time: interleaving is proven with events (a step that could only happen if the other
thread got in), and the `timeout`s below only bound how long a broken build hangs before failing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from explain.api import explain_text, explanation_queue
from explain.cache import AttributionCache
from models import Predictor, Usage
from models.fairlock import FairLock
from models.inference import ProbabilityCache
from runtime import current

HANG = 60  # seconds before a broken build's test gives up waiting (never reached when it works)


def fresh(path, **kw):
    return Predictor(path, device="cpu", cache=ProbabilityCache(), **kw)


def until(condition, step: float = 0.005) -> None:
    """Wait for another thread to reach a state (polling; HANG bounds a broken build, nothing is timed)."""
    for _ in range(int(HANG / step)):
        if condition():
            return
        time.sleep(step)
    raise AssertionError("the other thread never got there")


def _queue_up(lock: FairLock, name: str, order: list, release: dict, reports: dict) -> threading.Thread:
    """Start a thread that waits for `lock` and holds it until `release[name]` is set; returns once it is in line."""
    in_line = threading.Event()
    reports[name] = []

    def on_wait(ahead, total):
        reports[name].append((ahead, total))
        in_line.set()

    def run():
        with lock.turn(on_wait):
            order.append(name)
            assert release[name].wait(HANG)

    release[name] = threading.Event()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert in_line.wait(HANG)
    return thread


# --- the fair line ---------------------------------------------------------------------------


def test_waiters_get_the_lock_in_arrival_order_and_hear_their_place():
    lock = FairLock()
    order: list[str] = []
    release: dict[str, threading.Event] = {}
    reports: dict[str, list] = {}
    lock.acquire()  # another session's run holds the line
    threads = [_queue_up(lock, name, order, release, reports) for name in ("first", "second", "third")]
    assert lock.in_line() == 4 and order == []
    lock.release()
    until(lambda: order == ["first"] and reports["second"][-1] == (1, 3) and reports["third"][-1] == (2, 3))
    release["first"].set()
    until(lambda: order == ["first", "second"] and reports["third"][-1] == (1, 2))
    release["second"].set()
    release["third"].set()
    for thread in threads:
        thread.join(HANG)
    assert order == ["first", "second", "third"]
    # each heard its place (runs ahead, all in line) when it queued and each time it moved up
    assert reports == {"first": [(1, 2)], "second": [(2, 3), (1, 3)], "third": [(3, 4), (2, 3), (1, 2)]}
    assert lock.in_line() == 0


def test_a_thread_that_releases_and_asks_again_goes_behind_the_waiters():
    """threading.RLock usually hands the lock straight back to a looping holder; a SHAP loop would starve the others."""
    lock = FairLock()
    order: list[str] = []
    release: dict[str, threading.Event] = {}
    reports: dict[str, list] = {}
    lock.acquire()
    waiter = _queue_up(lock, "quick", order, release, reports)
    release["quick"].set()
    lock.release()
    lock.acquire()  # the looping holder asks again at once
    order.append("loop")
    lock.release()
    waiter.join(HANG)
    assert order == ["quick", "loop"]


def test_the_lock_is_reentrant_and_only_its_holder_releases_it():
    lock = FairLock()
    with lock, lock.turn():
        assert lock.held_by_me() and lock.in_line() == 1
    assert not lock.held_by_me() and lock.in_line() == 0
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()


def test_a_waiter_that_gives_up_leaves_the_line():
    """A Streamlit rerun stops the script thread inside the status update: the line must not keep its ticket."""
    lock = FairLock()
    failed = []

    def impatient():
        def on_wait(ahead, total):
            raise KeyboardInterrupt("rerun")

        try:
            lock.acquire(on_wait)
        except KeyboardInterrupt:
            failed.append(True)

    lock.acquire()
    thread = threading.Thread(target=impatient)
    thread.start()
    thread.join(HANG)
    assert failed == [True] and lock.in_line() == 1
    lock.release()
    assert lock.in_line() == 0
    with lock:  # and the next comer is not stuck behind a ghost
        pass


# --- explanation runs on a fake layer --------------------------------------------------------


class GatedLayer:
    """A model-free inference layer whose first prediction blocks until `go` is set (a long run in progress)."""

    def __init__(self, tokenizer, fingerprint: str):
        self.ref = SimpleNamespace(
            name="gated",
            fingerprint=fingerprint,
            labels=("negative", "positive"),
            max_length=64,
            scoring_key=fingerprint,
            multi_label=False,
            task="single-label",
        )
        self.labels = self.ref.labels
        self.max_length = 64
        self.device = "cpu"
        self.tokenizer = tokenizer
        self._held = threading.RLock()
        self.forwarded = 0
        self.running, self.go = threading.Event(), threading.Event()

    def predict_proba(self, texts, *, progress=None):
        if not self.go.is_set():
            self.running.set()
            assert self.go.wait(HANG)
        with self._held:
            self.forwarded += len(texts)
        return np.array([[0.1, 0.9] if "good" in t else [0.8, 0.2] for t in texts], dtype=np.float32).reshape(len(texts), 2)

    @contextlib.contextmanager
    def exclusive(self):
        with self._held:
            yield Usage(lambda: self.forwarded)

    @contextlib.contextmanager
    def usage(self):
        yield Usage(lambda: self.forwarded)


@pytest.fixture
def tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_bert), local_files_only=True)


def test_a_second_session_waits_in_line_and_is_told_so_then_reuses_the_first_result(tmp_path, tokenizer):
    layer = GatedLayer(tokenizer, "a" * 64)
    cache = AttributionCache(tmp_path)
    text = "a good film about the sea"
    results: dict[str, object] = {}
    heard: list[tuple[int, int]] = []
    told = threading.Event()
    writes: list[str] = []
    put = cache.put
    cache.put = lambda attribution, **params: (writes.append(attribution.text), put(attribution, **params))[1]

    def first():
        results["first"] = cache.get_or_compute(layer, text, "lime", num_samples=50)

    def second():
        def waiting(ahead, total):
            heard.append((ahead, total))
            told.set()

        results["second"] = cache.get_or_compute(layer, text, "lime", num_samples=50, waiting=waiting)

    a = threading.Thread(target=first)
    a.start()
    assert layer.running.wait(HANG)  # the first run is computing (and holds its turn)
    b = threading.Thread(target=second)
    b.start()
    assert told.wait(HANG)  # never a silent wait: told before the first run ends
    assert heard == [(1, 2)] and explanation_queue(layer).in_line() == 2
    forwarded_by_first_so_far = layer.forwarded
    layer.go.set()
    a.join(HANG)
    b.join(HANG)
    assert heard == [(1, 2), (0, 1)]  # then its turn came
    assert forwarded_by_first_so_far == 0 and layer.forwarded == 50  # the second read the first's result: no second run
    assert writes == [text]  # stored once, before the line moved on: neither a second run nor a second write
    np.testing.assert_array_equal(results["first"].scores, results["second"].scores)


def test_cached_explanations_are_read_while_a_run_holds_the_line(tmp_path, tokenizer):
    layer = GatedLayer(tokenizer, "b" * 64)
    cache = AttributionCache(tmp_path)
    layer.go.set()
    stored = cache.get_or_compute(layer, "the good old days", "lime", num_samples=30)
    layer.go.clear()
    running = threading.Thread(target=lambda: cache.get_or_compute(layer, "another text entirely", "lime", num_samples=30))
    running.start()
    assert layer.running.wait(HANG) and explanation_queue(layer).in_line() == 1
    hit = cache.get(layer.ref.fingerprint, "the good old days", "lime", num_samples=30)  # this thread never queues
    assert hit is not None and hit.scores.tolist() == stored.scores.tolist()
    layer.go.set()
    running.join(HANG)


# --- the real predictor: interleaving, identical results, exact counts -----------------------


@pytest.mark.parametrize("method", ["shap", "lime"])
def test_a_quick_prediction_completes_while_a_long_explanation_is_in_progress(tiny_bert, method):
    """Before: SHAP/LIME held the predictor for the whole run and Overview's 'try a sentence' waited for all of it."""
    predictor = fresh(tiny_bert, batch_size=8)
    quick_done = threading.Event()
    seen: list[tuple[int, int]] = []
    quick: list[np.ndarray] = []

    def progress(done, total):
        seen.append((done, total))
        if len(seen) == 1:  # mid-run: the explanation has more batches to go
            other = threading.Thread(target=lambda: (quick.append(predictor.predict_proba(["is this one positive?"])), quick_done.set()))
            other.start()
            assert quick_done.wait(HANG), "the one-text prediction waited for the whole explanation"

    att = explain_text(predictor, "the plot was thin but the actors were wonderful", method, max_evals=120, num_samples=120, batch_size=16, progress=progress)
    assert quick_done.is_set() and quick[0].shape == (1, len(predictor.labels))
    assert seen[0][0] < seen[-1][0]  # the prediction ran before the explanation's last step
    lone = explain_text(fresh(tiny_bert, batch_size=8), att.text, method, max_evals=120, num_samples=120, batch_size=16)
    np.testing.assert_array_equal(att.scores, lone.scores)
    assert att.extra["texts_forwarded"] == lone.extra["texts_forwarded"]  # the quick text is not counted as the explanation's


TEXTS = [
    "the soup was cold",
    "a long and winding story about two brothers at sea",
    "terrible acting, wonderful music",
    "I would watch it again tomorrow with my whole family",
]


def test_shap_and_lime_are_identical_and_count_exactly_with_sessions_running_at_once(tiny_bert):
    """Four sessions explain four texts at once while a fifth predicts sentences; then the same jobs run alone.

    Jobs on different texts can share masked strings (all-masked texts), and which job forwards a shared string
    depends on which ran first; so the lone replay runs the jobs in the order the line ran them, from a cold cache,
    and must give the same bits and the same per-job counts.
    """
    budget = dict(max_evals=80, num_samples=120, batch_size=16)
    shared = fresh(tiny_bert)
    ran: list[tuple[str, str]] = []
    start = threading.Barrier(len(TEXTS) + 1)
    together: dict = {}
    errors: list[Exception] = []
    stop_chatter = threading.Event()
    chatter_forwarded = []

    def session(text):
        try:
            start.wait(HANG)
            for method in ("shap", "lime"):
                together[text, method] = explain_text(shared, text, method, store=lambda a: ran.append((a.text, a.method)), **budget)
        except Exception as exc:  # noqa: BLE001 -- a thread cannot fail the test itself: reported below
            errors.append(exc)

    def chatter():  # another reviewer trying sentences meanwhile
        with shared.usage() as usage:
            start.wait(HANG)
            i = 0
            while not stop_chatter.is_set():
                shared.predict_proba([f"chatter sentence number {i}"])
                i += 1
            chatter_forwarded.append(usage.texts_forwarded)

    before = shared.stats.texts_forwarded
    talker = threading.Thread(target=chatter)
    threads = [threading.Thread(target=session, args=(t,)) for t in TEXTS]
    talker.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG * 4)
    stop_chatter.set()
    talker.join(HANG)
    assert not errors, errors
    assert sorted(ran) == sorted(together) and chatter_forwarded[0] > 0
    alone = fresh(tiny_bert)
    lone = {(text, method): explain_text(alone, text, method, **budget) for text, method in ran}
    for key, att in lone.items():
        np.testing.assert_array_equal(together[key].scores, att.scores)
        np.testing.assert_array_equal(together[key].base_values, att.base_values)
        assert together[key].extra["texts_forwarded"] == att.extra["texts_forwarded"], key
    # every text that went through the model is counted by exactly one job (no global-delta double counting)
    total = shared.stats.texts_forwarded - before
    assert sum(att.extra["texts_forwarded"] for att in together.values()) + chatter_forwarded[0] == total


def test_each_checkpoint_has_its_own_line(tiny_bert):
    a = SimpleNamespace(ref=SimpleNamespace(fingerprint="c" * 64))
    b = SimpleNamespace(ref=SimpleNamespace(fingerprint="d" * 64))
    assert explanation_queue(a) is explanation_queue(a) is current().shared(("explanation_queue", "c" * 64), FairLock)
    assert explanation_queue(a) is not explanation_queue(b)


def test_the_page_says_where_a_waiting_run_stands():
    from dashboard.explanations import progress_message, waiting_message

    assert waiting_message("SHAP", 2, 4).startswith("SHAP — waiting: 2 explanations ahead of yours (place 3 of 4")
    assert "1 explanation ahead of yours" in waiting_message("LIME", 1, 2)
    assert waiting_message("SHAP", 0, 1) == "Your turn: computing the SHAP explanation…"
    assert progress_message("shap", "SHAP", 300, 500) == "computing SHAP: 300/500 evaluations"
    assert progress_message("lime", "LIME", 64, 900) == "computing LIME: 64/900 perturbed texts scored"
    assert progress_message("ig", "Integrated Gradients", 22, 22) == "computing Integrated Gradients: 22/22 path points"
