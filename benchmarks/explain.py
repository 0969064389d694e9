"""Benchmark: our SHAP and LIME against the libraries used as their docs show, in ONE run.

    .venv/bin/python benchmarks/explain.py [--model DIR] [--data CSV] [--n 20] [--max-evals 500] [--num-samples 1000]
    .venv/bin/python benchmarks/explain.py --methods ig [--n-steps 50] [--ti-path /tmp/tipkgs]

On the first --n texts of the demo test set with the demo "after" checkpoint it measures:

1. our SHAP (`explain_text(..., "shap")`) vs `shap.Explainer(transformers.pipeline(...))` as SHAP's
   docs use it, same max_evals;
2. our LIME (`explain_text(..., "lime")`) vs plain `LimeTextExplainer` whose classifier function calls
   `transformers.pipeline(..., batch_size=32)`, same num_samples and seed;
3. each of ours vs the bare cost of the forward passes it needed: the texts ours actually forwarded
   (cache misses) x their per-text cost at the best batch size, running the model's full forward
   (a Predictor with `first_token=False`, so the last layer computes every position, as the
   library does). The best batch size is picked first on a sample of such texts; the per-text cost
   is re-timed right after each explanation on (a random sample of up to --bare-per-text of) the
   very texts it forwarded, so it sees the same load.

With `--methods ig` (the gradient section) it measures, text by text at equal --n-steps:

4. our Integrated Gradients (`explain_text(..., "ig", n_steps=...)`, one run: every class) vs Captum's
   `LayerIntegratedGradients` as its BERT tutorial uses it (word embeddings, [CLS] pad..pad [SEP] reference, softmax
   forward, target = the predicted class, return_convergence_delta; `tests.test_gradients.captum_ig`, the very function
   the equality test compares ours with), and vs transformers-interpret's `SequenceClassificationExplainer` (layer IG
   on the word embeddings, its own defaults otherwise). Captum and transformers-interpret explain ONE target per run,
   ours every class in one run (binary softmax: one backward serves both), so both are printed: "one class" (their run
   for the predicted class) and "every class" (their runs for each class, one after the other);
5. ours vs the bare forward+backward of the same points (the path's n_steps plus its two ends), a plain torch loop on
   `inputs_embeds` with the model's full forward: the least any IG on this model costs.

transformers-interpret 0.10.0 pins ipython<8 and an older transformers; it is NOT in the venv. Install it aside,
without its dependencies, and pass that folder (otherwise the benchmark tries a plain import and says why it skips):

    .venv/bin/pip install --target /tmp/tipkgs --no-deps transformers-interpret==0.10.0 "ipython<8" \
        backcall decorator jedi parso matplotlib-inline pexpect ptyprocess pickleshare prompt-toolkit traitlets wcwidth
    .venv/bin/python benchmarks/explain.py --methods ig --ti-path /tmp/tipkgs

With --first-shap it measures the first SHAP explanation after start instead: --first-runs fresh processes, each
starting shap's warm-up on a thread as the app's first run does (`dashboard.state.sidebar`), loading the checkpoint,
then explaining a demo test text of ~30 tokens at once (the earliest a user can click) and a second one; prints
"first SHAP explanation after start, s" against the second one's time.

With --pairs it explains sentence pairs instead: the demo has no pair model, so the demo "after" checkpoint
(BERT, whose tokenizer marks a pair's two segments and token types) reads pairs of two demo test texts
(text i, text i + n), kept when the pair fits the model. A pair's cost is its forward passes, whatever the
head was trained for. Neither library's documented usage takes a pair, so there is no baseline: the figure
is ours / bare (what the explanation costs beyond the forward passes it made).

Ours, bare and the baseline alternate text by text so that load from other processes hits all alike.
Both start warm (one explanation each on another text first: numba JIT, torch, tokenizer).
Prints the ratios and seconds per explanation; never asserts anything about time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

DEMO = ROOT / ".veredicto" / "demo"
DEFAULT_MODEL = DEMO / "checkpoints" / "sentiment-after"
DEFAULT_DATA = DEMO / "data" / "sentiment_test.csv"
BATCH_SIZES = (8, 16, 32, 64, 128)
T = TypeVar("T")
CLOCKS = ("ours", "captum_one", "captum_every", "ti_one", "ti_every", "bare")  # the gradient section's sides


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"checkpoint directory (default: {DEFAULT_MODEL})")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"CSV with a 'text' column (default: {DEFAULT_DATA})")
    ap.add_argument("--n", type=int, default=20, help="texts to explain (default 20)")
    ap.add_argument("--max-evals", type=int, default=500, help="SHAP budget for both sides (default 500, shap's default)")
    ap.add_argument("--num-samples", type=int, default=1000, help="LIME samples for both sides (default 1000, ours)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", nargs="+", default=["shap", "lime"], choices=["shap", "lime", "ig"], help="ig: the gradient section")
    ap.add_argument("--n-steps", type=int, default=50, help="Integrated Gradients steps for every side (default 50, Captum's)")
    ap.add_argument("--ti-path", type=Path, default=None, help="folder transformers-interpret was installed into with pip --target (see above)")
    ap.add_argument("--bare-sample", type=int, default=256, help="forwarded texts timed per batch size to pick the best one")
    ap.add_argument("--bare-per-text", type=int, default=256, help="forwarded texts re-timed after each explanation (scaled to all)")
    ap.add_argument("--right-size", action="store_true", help="run ours at the best batch size found by the calibration (default: the Predictor's default)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads for both sides (default: torch's choice)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    ap.add_argument("--pairs", action="store_true", help="explain sentence pairs (two demo texts each): ours vs bare only")
    ap.add_argument("--first-shap", action="store_true", help="measure the first SHAP explanation after start (fresh processes)")
    ap.add_argument("--first-runs", type=int, default=3, help="fresh processes for --first-shap (default 3)")
    return ap.parse_args(argv)


class RecordingCache:
    """A fresh probability cache that remembers which texts were forwarded (every put is one forward)."""

    def __init__(self):
        from models.inference import ProbabilityCache

        self.inner = ProbabilityCache()
        self.forwarded: list[str] = []

    def get(self, key):
        return self.inner.get(key)

    def put(self, key, value):
        self.forwarded.append(key[1])
        self.inner.put(key, value)

    def __len__(self):
        return len(self.inner)


def pipeline_probs(pipe, label2id, texts, **kw) -> np.ndarray:
    out = np.zeros((len(texts), len(label2id)))
    for i, scores in enumerate(pipe(list(texts), **kw)):
        for item in scores if isinstance(scores, list) else [scores]:
            out[i, label2id[item["label"]]] = item["score"]
    return out


def forward_seconds(predictor, texts: list[str], batch_size: int) -> float:
    """Wall time of predict_proba on `texts` with a fresh cache (every text forwarded) at `batch_size`."""
    from models.inference import ProbabilityCache

    saved = predictor.batch_size, predictor.cache
    try:
        predictor.batch_size, predictor.cache = batch_size, ProbabilityCache()
        t = time.perf_counter()
        predictor.predict_proba(texts)
        return time.perf_counter() - t
    finally:
        predictor.batch_size, predictor.cache = saved


def per_text_cost(predictor, texts: list[str], batch_sizes=BATCH_SIZES) -> dict[int, float]:
    """Seconds per text at each batch size, on `texts` (the kind of texts the explainer forwards)."""
    forward_seconds(predictor, texts[:64], 32)  # warm
    return {b: forward_seconds(predictor, texts, b) / len(texts) for b in batch_sizes}


def note(side: Side, method: str, i: int, n: int) -> None:
    print(f"  [{method} {i + 1}/{n}] ours {side.ours:.1f}s  bare {side.bare:.1f}s  baseline {side.baseline:.1f}s", file=sys.stderr, flush=True)


def bare_seconds(predictor, forwarded: list[str], batch_size: int, args, rng) -> float:
    """Bare forward cost of `forwarded`: timed on a random sample of them (--bare-per-text), scaled up."""
    if not forwarded:
        return 0.0
    sample = forwarded if len(forwarded) <= args.bare_per_text else rng.sample(forwarded, args.bare_per_text)
    return forward_seconds(predictor, sample, batch_size) * len(forwarded) / len(sample)


def right_size(predictor, best: int, args) -> int:
    """With --right-size, ours runs at the best batch size found (SHAP rounds of twice that, half repeat).

    Returns SHAP's round size (explain's default unless right-sized)."""
    from explain.shap_explainer import DEFAULT_BATCH_SIZE

    predictor.batch_size = best if args.right_size else args.default_batch_size
    return 2 * best if args.right_size else DEFAULT_BATCH_SIZE


class Side:
    """Ours, bare and baseline seconds, accumulated text by text."""

    def __init__(self):
        self.ours = self.bare = self.baseline = 0.0
        self.requested = self.forwarded = 0

    def time_ours(self, predictor, bare, explain, best: int, args, rng):
        """One explanation of ours on a fresh recording cache, then the bare cost of what it forwarded."""
        cache = RecordingCache()
        predictor.cache = cache
        t = time.perf_counter()
        att = explain()
        self.ours += time.perf_counter() - t
        self.requested += att.n_model_calls
        self.forwarded += len(cache.forwarded)
        self.bare += bare_seconds(bare, cache.forwarded, best, args, rng)
        return att

    def time_baseline(self, explain):
        t = time.perf_counter()
        out = explain()
        self.baseline += time.perf_counter() - t
        return out


def calibrate(predictor, bare, explain, args, rng):
    """Warm both sides up on a spare text, then find the best batch size on the texts ours forwarded."""
    cache = RecordingCache()
    predictor.cache = cache
    explain()
    sample = rng.sample(cache.forwarded, min(args.bare_sample, len(cache.forwarded)))
    costs = per_text_cost(bare, sample)
    return costs, min(costs, key=costs.get)


def run_shap(predictor, bare, texts, warm_text, args, rng):
    import shap
    import transformers

    from explain.api import explain_text
    from explain.shap_explainer import align_to_text

    pipe = transformers.pipeline("text-classification", model=str(args.model), top_k=None, device="cpu")
    docs_explainer = shap.Explainer(pipe)  # as SHAP's docs do it
    docs_explainer([warm_text], max_evals=args.max_evals, silent=True)
    costs, best = calibrate(predictor, bare, lambda: explain_text(predictor, warm_text, "shap", max_evals=args.max_evals, seed=args.seed), args, rng)
    rounds = right_size(predictor, best, args)

    side = Side()
    diffs, scales = [], []
    for i, text in enumerate(texts):
        if i:
            note(side, "shap", i - 1, len(texts))
        att = side.time_ours(
            predictor,
            bare,
            lambda text=text: explain_text(predictor, text, "shap", max_evals=args.max_evals, seed=args.seed, batch_size=rounds),
            best,
            args,
            rng,
        )
        exp = side.time_baseline(lambda text=text: docs_explainer([text], max_evals=args.max_evals, silent=True))
        with predictor.exclusive():
            enc = predictor.tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        _, theirs, _ = align_to_text(text, enc["offset_mapping"], enc["special_tokens_mask"], exp.values[0])
        if theirs.shape == att.scores.shape:
            diffs.append(float(np.abs(theirs - att.scores).mean()))
            scales.append(float(np.abs(att.scores).mean()))
    extra = dict(mean_abs_diff=float(np.mean(diffs)) if diffs else None, mean_abs_score=float(np.mean(scales)) if scales else None)
    return side, costs, best, extra


def run_lime(predictor, bare, texts, warm_text, args, rng):
    import transformers
    from lime.lime_text import LimeTextExplainer

    from explain.api import explain_text
    from explain.lime_explainer import word_features

    labels = list(predictor.labels)
    label2id = {l: i for i, l in enumerate(labels)}
    pipe = transformers.pipeline("text-classification", model=str(args.model), top_k=None, device="cpu", batch_size=32)

    def classifier_fn(batch):
        return pipeline_probs(pipe, label2id, batch, truncation=True)

    def plain(text):
        explainer = LimeTextExplainer(class_names=labels, random_state=args.seed)
        n = word_features(explainer, text).num_words()
        return explainer.explain_instance(text, classifier_fn, num_features=n, num_samples=args.num_samples, labels=range(len(labels)))

    plain(warm_text)
    costs, best = calibrate(predictor, bare, lambda: explain_text(predictor, warm_text, "lime", num_samples=args.num_samples, seed=args.seed), args, rng)
    right_size(predictor, best, args)

    side = Side()
    max_diff = 0.0
    for i, text in enumerate(texts):
        if i:
            note(side, "lime", i - 1, len(texts))
        att = side.time_ours(
            predictor, bare, lambda text=text: explain_text(predictor, text, "lime", num_samples=args.num_samples, seed=args.seed), best, args, rng
        )
        exp = side.time_baseline(lambda text=text: plain(text))
        for c, label in enumerate(labels):
            theirs = dict(exp.as_list(label=c))
            for word, weight in att.extra["feature_weights"][label]:
                max_diff = max(max_diff, abs(weight - theirs[word]))
    return side, costs, best, dict(max_weight_diff=max_diff)


def run_pairs(method: str):
    """The pair case for `method`: ours vs the bare forward cost of what it forwarded (no library baseline takes pairs)."""

    def run(predictor, bare, pairs, warm_pair, args, rng):
        from explain.api import explain_text

        budget = {"max_evals": args.max_evals} if method == "shap" else {"num_samples": args.num_samples}

        def ours(pair):
            return explain_text(predictor, pair[0], method, text_pair=pair[1], seed=args.seed, **budget)

        costs, best = calibrate(predictor, bare, lambda: ours(warm_pair), args, rng)
        rounds = right_size(predictor, best, args)
        if method == "shap":
            budget["batch_size"] = rounds
        side = Side()
        for i, pair in enumerate(pairs):
            if i:
                note(side, method, i - 1, len(pairs))
            att = side.time_ours(predictor, bare, lambda pair=pair: ours(pair), best, args, rng)
            assert att.is_pair and {t.segment for t in att.tokens} == {0, 1}
        return side, costs, best, {}

    return run


def transformers_interpret(path: Path | None):
    """transformers-interpret's `SequenceClassificationExplainer`, or None and why it is skipped."""
    if path is not None:
        if not path.is_dir():
            return None, f"--ti-path {path} is not a folder"
        sys.path.insert(0, str(path))
    try:
        from transformers_interpret import SequenceClassificationExplainer
    except Exception as exc:  # noqa: BLE001 - not installed, or its pinned dependencies (ipython<8, transformers) clash with ours
        return None, f"transformers-interpret does not import ({type(exc).__name__}: {exc}); install it aside as this file's docstring says and pass --ti-path"
    return SequenceClassificationExplainer, ""


def bare_path(model, tokenizer, text: str, n_steps: int, multi_label: bool) -> None:
    """A plain torch loop over the points our IG runs (n_steps + the two ends), in our chunks: forward on `inputs_embeds`
    (the model's full forward) and one backward per class (one for a binary softmax), no bookkeeping."""
    import torch

    from explain.gradient_explainer import DEFAULT_BATCH_SIZE, gauss_legendre

    enc = tokenizer(text, return_tensors="pt", return_special_tokens_mask=True, truncation=True)
    ids = enc["input_ids"]
    layer = model.get_input_embeddings()
    with torch.no_grad():
        x = layer(ids)
        x0 = layer(torch.where(enc["special_tokens_mask"].bool(), ids, torch.full_like(ids, tokenizer.pad_token_id)))
    alphas = np.append(gauss_legendre(n_steps)[0], [0.0, 1.0])
    n_labels = int(model.config.num_labels)
    classes = [1] if n_labels == 2 and not multi_label else list(range(n_labels))
    for start in range(0, len(alphas), DEFAULT_BATCH_SIZE):
        a = torch.tensor(alphas[start : start + DEFAULT_BATCH_SIZE], dtype=x.dtype).view(-1, 1, 1)
        points = (x0 + a * (x - x0)).requires_grad_(True)
        logits = model(inputs_embeds=points, attention_mask=torch.ones(len(a), ids.shape[1], dtype=torch.long)).logits
        p = torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)
        for c in classes:
            torch.autograd.grad(p[:, c].sum(), points, retain_graph=c != classes[-1])


def run_ig(predictor, texts, warm_text, args) -> dict:
    """The gradient section: ours vs Captum's tutorial usage vs transformers-interpret vs the bare path, text by text."""
    from explain.api import explain_text
    from tests.test_gradients import captum_ig

    labels, multi = list(predictor.labels), predictor.ref.multi_label
    model, tokenizer = predictor.model, predictor.tokenizer
    ti_class, ti_skipped = transformers_interpret(args.ti_path)
    ti = ti_class(model, tokenizer) if ti_class is not None else None

    def timed(run: Callable[[], T]) -> tuple[float, T]:
        t = time.perf_counter()
        out = run()
        return time.perf_counter() - t, out

    def one_text(text: str, clock: dict[str, float], checks: dict[str, float]) -> None:
        seconds, att = timed(lambda: explain_text(predictor, text, "ig", n_steps=args.n_steps))
        clock["ours"] += seconds
        target = labels.index(att.target)
        checks["completeness"] = max(checks["completeness"], att.extra["completeness_error"])
        for c in range(len(labels)):  # Captum: one run per class
            seconds, (theirs, _delta) = timed(partial(captum_ig, predictor, text, c, args.n_steps, multi_label=multi))
            clock["captum_every"] += seconds
            if c == target:
                clock["captum_one"] += seconds
                checks["sum_diff"] = max(checks["sum_diff"], abs(float(theirs.sum()) - float(att.scores[:, c].sum())))
        if ti is not None:
            for c, label in enumerate(labels):  # transformers-interpret: one run per class too
                seconds, _ = timed(partial(ti, text, class_name=label, n_steps=args.n_steps))
                clock["ti_every"] += seconds
                clock["ti_one"] += seconds if c == target else 0.0
        clock["bare"] += timed(lambda: bare_path(model, tokenizer, text, args.n_steps, multi))[0]

    one_text(warm_text, dict.fromkeys(CLOCKS, 0.0), dict(completeness=0.0, sum_diff=0.0))  # warm every side up
    clock, checks = dict.fromkeys(CLOCKS, 0.0), dict(completeness=0.0, sum_diff=0.0)
    for i, text in enumerate(texts):
        one_text(text, clock, checks)
        print(f"  [ig {i + 1}/{len(texts)}] " + "  ".join(f"{k} {v:.1f}s" for k, v in clock.items()), file=sys.stderr, flush=True)
    n = len(texts)
    per = {k: v / n for k, v in clock.items()}
    r: dict = dict(n_steps=args.n_steps, seconds_per_explanation=per, ti_skipped=ti_skipped or None, **checks)
    r["ours_over_captum_one_class"] = clock["ours"] / clock["captum_one"]
    r["ours_over_captum_every_class"] = clock["ours"] / clock["captum_every"]
    r["ours_over_bare"] = clock["ours"] / clock["bare"]
    if ti is not None:
        r["ti_over_ours_one_class"] = clock["ti_one"] / clock["ours"]
        r["ti_over_ours_every_class"] = clock["ti_every"] / clock["ours"]

    print(f"\n== INTEGRATED GRADIENTS (n_steps={args.n_steps}, {len(labels)} classes) ==")
    print(f"  ours      {per['ours']:7.3f} s/explanation   (explain_text 'ig': every class in one run)")
    print(f"  Captum    {per['captum_one']:7.3f} s one class, {per['captum_every']:7.3f} s every class   [LayerIntegratedGradients as its BERT tutorial]")
    if ti is not None:
        print(f"  TI        {per['ti_one']:7.3f} s one class, {per['ti_every']:7.3f} s every class   [transformers-interpret SequenceClassificationExplainer]")
    else:
        print(f"  TI        skipped: {ti_skipped}")
    print(f"  bare      {per['bare']:7.3f} s/explanation   (plain torch forward+backward of the same {args.n_steps + 2} points, full forward)")
    print(
        f"  one class:   ours / Captum {r['ours_over_captum_one_class']:.2f}x (target <= 1.3x)"
        + (f",  TI / ours {r['ti_over_ours_one_class']:.2f}x (target >= 2x)" if ti is not None else "")
    )
    print(
        f"  every class: ours / Captum {r['ours_over_captum_every_class']:.2f}x"
        + (f",  TI / ours {r['ti_over_ours_every_class']:.2f}x" if ti is not None else "")
    )
    print(f"  ours / bare forward+backward: {r['ours_over_bare']:.2f}x")
    print(
        f"  values: |sum ours - sum Captum| (predicted class) at most {checks['sum_diff']:.1e}; ours' completeness error at most {checks['completeness']:.1e}"
    )
    r["load_average_end"] = os.getloadavg()[0]
    print(f"  load average {r['load_average_end']:.1f} at the end of this part")
    return r


FIRST_SHAP = """
import json, sys, threading, time
started = time.perf_counter()
sys.path.insert(0, {root!r})
from explain.shap_explainer import warm_up
threading.Thread(target=warm_up, name="shap-warm-up", daemon=True).start()  # as the app's first run does
from models.inference import Predictor
predictor = Predictor({model!r}, device="cpu")
loaded = time.perf_counter() - started
from explain.api import explain_text
seconds = []
for text in {texts!r}:
    t = time.perf_counter()
    explain_text(predictor, text, "shap", max_evals={max_evals}, seed=0)
    seconds.append(time.perf_counter() - t)
print(json.dumps(dict(loaded=loaded, first=seconds[0], second=seconds[1])))
"""


def first_shap(predictor, frame, args) -> dict:
    """The first SHAP explanation after start (and the next one) in --first-runs fresh processes, on ~30-token texts."""
    import subprocess

    candidates = [str(t) for t in frame["text"].tolist()[:400]]
    counts = predictor.token_counts(candidates)
    texts = [t for t, n in zip(candidates, counts) if 26 <= n <= 34][:2]
    code = FIRST_SHAP.format(root=str(ROOT), model=str(args.model), texts=texts, max_evals=args.max_evals)
    runs = []
    for _ in range(args.first_runs):
        out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  [first-shap {len(runs)}/{args.first_runs}] {runs[-1]}", file=sys.stderr, flush=True)
    first, second, loaded = (float(np.median([r[k] for r in runs])) for k in ("first", "second", "loaded"))
    lengths = ", ".join(str(n) for n in predictor.token_counts(texts))
    each = ", ".join(f"{r['first']:.2f}" for r in runs)
    print(f"\n== FIRST SHAP EXPLANATION AFTER START ({len(texts)} texts of {lengths} tokens, max_evals={args.max_evals}) ==")
    print(f"  first SHAP explanation after start, s: {first:.2f} (median of {len(runs)} fresh processes: {each})")
    print(f"  the next explanation, s:              {second:.2f}   first / next: {first / second:.2f}x")
    print(f"  checkpoint load before it, s:         {loaded:.2f}   load average {os.getloadavg()[0]:.1f}")
    return dict(first_seconds=first, second_seconds=second, runs=runs)


def fitting_pairs(predictor, texts: list[str], n: int) -> list[tuple[str, str]]:
    """Up to n + 1 pairs (text i, text i + half) that fit the model whole (a pair is explained whole)."""
    half = len(texts) // 2
    pairs = list(zip(texts[:half], texts[half:]))
    fits = predictor.token_counts(pairs) <= predictor.max_length
    return [p for p, ok in zip(pairs, fits) if ok][: n + 1]


def main(argv=None) -> int:
    args = parse_args(argv)
    import pandas as pd
    import torch

    from models import Predictor

    for path, what in ((args.model, "--model"), (args.data, "--data")):
        if not path.exists():
            print(f"{what} {path} does not exist. Build the demo first (`veredicto demo`) or pass {what}.", file=sys.stderr)
            return 2
    if args.pairs and "ig" in args.methods:
        print("--pairs measures SHAP and LIME only; run the gradient section (--methods ig) without it.", file=sys.stderr)
        return 2
    frame = pd.read_csv(args.data)
    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Predictor(str(args.model), device="cpu")
    bare = Predictor(str(args.model), device="cpu", first_token=False) if set(args.methods) - {"ig"} else None
    if args.first_shap:
        result = first_shap(predictor, frame, args)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    texts: list  # texts, or (text, text_pair) pairs with --pairs
    if args.pairs:
        texts = fitting_pairs(predictor, [str(t) for t in frame["text"].tolist()[: 4 * (args.n + 1)]], args.n)
    else:
        texts = [str(t) for t in frame["text"].tolist()[: args.n + 1]]
    warm_text, texts = texts[-1], texts[: args.n]
    args.default_batch_size = predictor.batch_size
    n_tokens = predictor.token_counts(texts)
    print(
        f"model {predictor.ref.name} ({predictor.ref.model_type}, {predictor.ref.short_fingerprint}); {len(texts)} texts, "
        f"{n_tokens.mean():.1f} tokens on average (min {n_tokens.min()}, max {n_tokens.max()}); "
        f"first-token shortcut {'on' if predictor.first_token else 'off'}; torch threads {torch.get_num_threads()}, os.cpu_count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start"
    )
    results = {
        "model": str(args.model),
        "n_texts": len(texts),
        "pairs": bool(args.pairs),
        "max_evals": args.max_evals,
        "num_samples": args.num_samples,
        "predictor_batch_size": predictor.batch_size,
        "load_average_start": os.getloadavg()[0],
    }
    rng = random.Random(args.seed)
    n = len(texts)
    for method in args.methods:
        started = time.perf_counter()
        if method == "ig":
            results["ig"] = run_ig(predictor, texts, warm_text, args)
            continue
        if args.pairs:
            side, costs, best, extra = run_pairs(method)(predictor, bare, texts, warm_text, args, rng)
            baseline = "none: neither library's documented usage explains a sentence pair"
        elif method == "shap":
            side, costs, best, extra = run_shap(predictor, bare, texts, warm_text, args, rng)
            baseline = f"shap.Explainer(pipeline), max_evals={args.max_evals}"
        else:
            side, costs, best, extra = run_lime(predictor, bare, texts, warm_text, args, rng)
            baseline = f"LimeTextExplainer + pipeline(batch_size=32), num_samples={args.num_samples}"
        r = dict(
            ours_seconds=side.ours,
            baseline_seconds=side.baseline,
            bare_seconds=side.bare,
            requested=side.requested,
            forwarded=side.forwarded,
            per_text_cost=costs,
            best_batch_size=best,
            speedup=side.baseline / side.ours if side.baseline else None,
            ours_over_bare=side.ours / side.bare,
            ours_batch_size=predictor.batch_size,
            load_average_end=os.getloadavg()[0],
            wall_seconds=time.perf_counter() - started,
            **extra,
        )
        results[method] = r
        print(f"\n== {method.upper()} ==")
        print(
            f"  ours      {side.ours / n:7.3f} s/explanation   ({side.requested / n:.0f} texts asked, {side.forwarded / n:.0f} forwarded per explanation; "
            f"Predictor batch size {predictor.batch_size})"
        )
        print(f"  baseline  {side.baseline / n:7.3f} s/explanation   [{baseline}]")
        print(
            f"  bare      {side.bare / n:7.3f} s/explanation   (texts ours forwarded x their per-text cost at the best batch size, {best}, timed right after each)"
        )
        print("  calibration, per-text forward cost by batch size: " + ", ".join(f"{b}: {c * 1e3:.2f} ms" for b, c in costs.items()))
        speedup = f"{r['speedup']:.1f}x" if r["speedup"] is not None else "n/a"
        print(f"  speed-up vs baseline: {speedup}   ours / bare forward cost: {r['ours_over_bare']:.2f}x")
        if method == "shap" and r.get("mean_abs_diff") is not None:
            print(
                f"  values vs docs usage: mean |diff| {r['mean_abs_diff']:.2e} (mean |score| {r['mean_abs_score']:.2e}; "
                "differences come from the evaluation order under the budget: our batch_size is larger)"
            )
        if method == "lime" and "max_weight_diff" in r:
            print(f"  weights vs plain LIME (same seed): max |diff| {r['max_weight_diff']:.1e}")
        print(f"  load average {r['load_average_end']:.1f} at the end of this part ({r['wall_seconds']:.0f} s)")
    print(
        "\nsummary: "
        + "; ".join(
            f"IG {results[m]['ours_over_captum_one_class']:.2f}x Captum's time (one class), {results[m]['ours_over_bare']:.2f}x the bare forward+backward"
            if m == "ig"
            else (f"{m.upper()} {results[m]['speedup']:.1f}x faster than the baseline, " if results[m]["speedup"] is not None else f"{m.upper()} (pairs) ")
            + f"{results[m]['ours_over_bare']:.2f}x the bare forward cost"
            for m in args.methods
            if m in results
        )
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
