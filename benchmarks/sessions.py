"""Several reviewers at once: 8 concurrent sessions against a lone one, on the demo checkpoint.

Each session does what Explore does for one example, through the same code path as
`dashboard.explanations.get_attribution` (without Streamlit): the first view (the example's prediction,
a one-text `predict_proba`, and the attribution-cache reads that find nothing yet), then SHAP and LIME
computed through `AttributionCache.get_or_compute` with the page's `progress`, `waiting`, `reuse` and
`store` callbacks. The predictor is shared, as `st.cache_resource` shares it between browser sessions.

Each example is first explained by a lone session (cold caches, one example after the other), then 8
sessions start together on the 8 examples (cold caches again). Printed per session: seconds to the first
view and to full SHAP+LIME, each as a ratio to the same example's lone session, the seconds its own runs
took (without waiting in line), the most runs it was told were ahead of it, and the progress updates it
got. The machine may be shared with other work: ratios are measured in one run.

Run: .venv/bin/python benchmarks/sessions.py [--sessions 8] [--max-evals 500] [--num-samples 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaldata.loading import load_eval_data
from explain.cache import AttributionCache, key_params
from models.inference import Predictor, ProbabilityCache
from training.demo import default_demo_dir, demo_paths

METHODS = ("shap", "lime")


@dataclass
class Session:
    text: str
    first_view: float = 0.0
    full: float = 0.0
    most_ahead: int = 0
    progress_updates: int = 0
    seconds_explaining: dict[str, float] = field(default_factory=dict)


def run_session(predictor: Predictor, cache: AttributionCache, session: Session, params: dict[str, dict], start: threading.Barrier | None) -> None:
    """What Explore does for one example, timed from the moment the reviewer opens it."""
    if start is not None:
        start.wait()
    t0 = time.perf_counter()
    predictor.predict_proba([session.text])  # the example's prediction
    for m in METHODS:
        cache.get(predictor.ref.fingerprint, session.text, m, **params[m])  # cached explanations (none yet)
    session.first_view = time.perf_counter() - t0

    def waiting(ahead: int, in_line: int) -> None:
        session.most_ahead = max(session.most_ahead, ahead)

    def progress(done: int, total: int) -> None:
        session.progress_updates += 1

    for m in METHODS:
        attribution = cache.get_or_compute(
            predictor,
            session.text,
            m,
            progress=progress,
            waiting=waiting,
            **params[m],
        )
        session.seconds_explaining[m] = attribution.seconds
    session.full = time.perf_counter() - t0


def main() -> None:
    paths = demo_paths(default_demo_dir())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=paths.after)
    parser.add_argument("--data", type=Path, default=paths.test_data)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--max-evals", type=int, default=key_params("shap")["max_evals"])
    parser.add_argument("--num-samples", type=int, default=key_params("lime")["num_samples"])
    args = parser.parse_args()

    import torch

    from explain.api import explain_text
    from explain.shap_explainer import warm_up

    data = load_eval_data(args.data)
    texts = sorted(dict.fromkeys(t for t in data.texts if len(t.split()) >= 8), key=len)
    step = max(1, len(texts) // (args.sessions + 1))
    examples = [texts[i * step] for i in range(args.sessions)]  # different examples, short to long
    params = {"shap": key_params("shap", {"max_evals": args.max_evals}), "lime": key_params("lime", {"num_samples": args.num_samples})}
    predictor = Predictor(args.model, device="cpu")
    print(f"model {predictor.ref.name} ({predictor.ref.short_fingerprint}), {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs")
    print(
        f"budgets: SHAP max_evals={args.max_evals}, LIME num_samples={args.num_samples}; {args.sessions} sessions, examples of {len(examples[0].split())}-{len(examples[-1].split())} words"
    )
    warm_up()  # import shap, once per process (the app starts it at its first run)
    for m in METHODS:  # imports and first calls, outside the timing
        explain_text(predictor, "a short warm-up text for the model", m, max_evals=20, num_samples=20)

    with tempfile.TemporaryDirectory(prefix="veredicto-sessions-") as tmp:
        lones = []
        for k, text in enumerate(examples):
            predictor.cache = ProbabilityCache()
            lones.append(Session(text))
            # in a thread, as Streamlit runs every session: torch's main thread behaves differently (its OpenMP
            # team spins on a loaded machine: 3-10x slower here), which would flatter the concurrent sessions
            alone = threading.Thread(target=run_session, args=(predictor, AttributionCache(Path(tmp) / f"lone{k}"), lones[-1], params, None))
            alone.start()
            alone.join()

        predictor.cache = ProbabilityCache()
        cache = AttributionCache(Path(tmp) / "together")
        sessions = [Session(t) for t in examples]
        start = threading.Barrier(len(sessions))
        threads = [threading.Thread(target=run_session, args=(predictor, cache, s, params, start)) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    total_lone = sum(s.full for s in lones)
    print(
        f"\nlone sessions, one after the other: {total_lone:.1f} s in all; {len(sessions)} at once: the last finished after {max(s.full for s in sessions):.1f} s"
    )
    print(
        f"\n{'session':>7}{'words':>7}{'lone first':>11}{'first view (s)':>16}{'x lone':>8}{'lone S+L':>10}{'SHAP+LIME (s)':>15}{'x lone':>8}{'explaining (s)':>16}{'most ahead':>12}{'progress':>10}"
    )
    for i, (s, lone) in enumerate(zip(sessions, lones), 1):
        print(
            f"{i:>7}{len(s.text.split()):>7}{lone.first_view:>11.3f}{s.first_view:>16.3f}{s.first_view / lone.first_view:>8.1f}"
            f"{lone.full:>10.1f}{s.full:>15.1f}{s.full / lone.full:>8.1f}{sum(s.seconds_explaining.values()):>16.1f}{s.most_ahead:>12}{s.progress_updates:>10}"
        )
    firsts = [s.first_view / lone.first_view for s, lone in zip(sessions, lones)]
    fulls = [s.full / lone.full for s, lone in zip(sessions, lones)]
    print(f"\nfirst view / lone: median {statistics.median(firsts):.1f}x, worst {max(firsts):.1f}x")
    print(f"SHAP+LIME / lone:  median {statistics.median(fulls):.1f}x, worst {max(fulls):.1f}x (fair line: the k-th in line waits for k-1 runs)")
    worst_first = max(s.first_view for s in sessions)
    print(f"slowest first view with {len(sessions)} at once: {worst_first:.3f} s ({worst_first / total_lone:.3f} of the lone SHAP+LIME work)")
    silent = [i for i, (s, lone) in enumerate(zip(sessions, lones), 1) if s.full > 2 * lone.full and s.most_ahead == 0]
    print("every session that waited was told its place in line" if not silent else f"sessions {silent} waited without being told their place")


if __name__ == "__main__":
    main()
