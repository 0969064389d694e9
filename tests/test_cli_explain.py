"""`veredicto explain` and `veredicto precompute`: readable output, JSON that round-trips, a cache that resumes after a kill."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cli.main import main
from explain.attribution import Attribution
from explain.cache import FILENAME, text_hash
from explain.plots import top_words

TEXT = "the film was good and the acting was great"
FAST = ["--method", "lime", "--num-samples", "40"]


def explain_json(model, *args, capsys):
    assert main(["explain", "--model", str(model), "--json", *args]) == 0
    return Attribution.from_dict(json.loads(capsys.readouterr().out))


def test_json_is_the_full_attribution_and_the_table_shows_its_top_words(tiny_bert, capsys):
    attribution = explain_json(tiny_bert, "--text", TEXT, *FAST, capsys=capsys)
    assert attribution.text == TEXT and attribution.method == "lime" and attribution.target == attribution.predicted
    assert attribution.params["num_samples"] == 40

    assert main(["explain", "--model", str(tiny_bert), "--text", TEXT, *FAST, "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert f"Text:        {TEXT}" in out
    assert f"Explaining:  '{attribution.target}' with LIME" in out
    toward, against = top_words(attribution, k=3)  # same seed, same numbers
    toward_block = out.split(f"Toward '{attribution.target}':")[1].split("Against")[0]
    listed = [line.split()[1:3] for line in toward_block.strip().splitlines() if line.strip() != "(none)"]
    assert listed == [[w, f"{v:+.4f}"] for w, v in toward]
    for _word, value in against:
        assert f"{value:+.4f}" in out.split("Against")[1]
    trust = out.split("How far to trust it:")[1]
    assert "Verdict:" in trust and f"'{attribution.target}' from {attribution.probabilities.max():.2f}" in trust


def test_another_target_and_stdin_text(tiny_bert, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(TEXT))
    attribution = explain_json(tiny_bert, "--text", "-", "--target", "negative", *FAST, capsys=capsys)
    assert attribution.text == TEXT and attribution.target == "negative"


def test_shap_is_the_default_method(tiny_bert, capsys):
    attribution = explain_json(tiny_bert, "--text", TEXT, "--max-evals", "20", capsys=capsys)
    assert attribution.method == "shap" and attribution.params["max_evals"] == 20


@pytest.mark.parametrize(
    "args, message",
    [
        (["--text", TEXT, "--target", "stellar"], "Unknown target label 'stellar'"),
        (["--text", "   "], "nothing to explain"),
        (["--text", TEXT, "--top", "0"], "--top must be at least 1"),
    ],
)
def test_bad_input_gets_a_message_and_exit_2(tiny_bert, capsys, args, message):
    assert main(["explain", "--model", str(tiny_bert), *FAST, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_integrated_gradients_json_carries_its_completeness_check(tiny_bert, capsys):
    from models import Predictor

    attribution = explain_json(tiny_bert, "--text", TEXT, "--method", "ig", "--n-steps", "8", "--baseline", "mask", capsys=capsys)
    assert attribution.method == "ig" and attribution.params["n_steps"] == 8 and attribution.params["baseline"] == "mask"
    # the model's own probabilities, and IG's completeness: each class's scores add up to P(class) - P(class | baseline)
    assert attribution.probabilities == pytest.approx(Predictor(str(tiny_bert), device="cpu").predict_proba([TEXT])[0], abs=1e-5)
    delta = np.asarray(attribution.extra["convergence_delta"])
    assert delta.shape == (len(attribution.labels),)
    assert attribution.scores.sum(0) - (attribution.probabilities - attribution.base_values) == pytest.approx(delta, abs=1e-9)
    assert attribution.extra["completeness_error"] == pytest.approx(np.abs(delta).max())


def test_the_gradient_table_states_its_unit_and_completeness(tiny_bert, capsys):
    from explain.faithfulness import within

    ig = explain_json(tiny_bert, "--text", TEXT, "--method", "ig", capsys=capsys)
    assert main(["explain", "--model", str(tiny_bert), "--text", TEXT, "--method", "ig", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "with Integrated Gradients" in out and "Scores are Integrated Gradients attributions (probability points)" in out
    trust = out.split("How far to trust it:")[1]
    error = np.abs(ig.scores.sum(0) - (ig.probabilities - ig.base_values)).max()  # completeness, recomputed from the JSON
    assert f"Its scores add up to the model's output within {within(error)}" in trust and "'pad' baseline's, over 20 integration steps" in trust
    assert main(["explain", "--model", str(tiny_bert), "--text", TEXT, "--method", "grad_input", "--json"]) == 0
    attribution = Attribution.from_dict(json.loads(capsys.readouterr().out))
    assert attribution.method == "grad_input" and attribution.extra["additive"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n-steps", "0"], "n_steps must be a whole number from 1 to 1000, got 0"),
        (["--n-steps", "1001"], "n_steps must be a whole number from 1 to 1000, got 1001"),
        (["--baseline", "noise"], "Unknown baseline 'noise' for Integrated Gradients. Choose one of: pad, mask, zero."),
    ],
)
def test_bad_gradient_settings_exit_2_with_explain_api_messages(tiny_bert, tmp_path, capsys, args, message):
    for cache in ([], ["--cache-dir", str(tmp_path)]):  # with a cache, nothing is stored either
        assert main(["explain", "--model", str(tiny_bert), "--text", TEXT, "--method", "ig", *args, *cache]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not sqlite3.connect(tmp_path / FILENAME).execute("SELECT COUNT(*) FROM attributions").fetchone()[0]


def test_the_cli_offers_every_method_explain_text_has():
    from cli.explain import METHODS
    from explain import api

    assert set(METHODS) == set(api.METHODS)


def test_explain_with_a_cache_computes_once(tiny_bert, tmp_path, capsys):
    first = explain_json(tiny_bert, "--text", TEXT, *FAST, "--cache-dir", str(tmp_path), capsys=capsys)
    second = explain_json(tiny_bert, "--text", TEXT, *FAST, "--cache-dir", str(tmp_path), capsys=capsys)
    assert second.to_dict() == first.to_dict()  # seconds included: it was read, not recomputed
    assert sqlite3.connect(tmp_path / FILENAME).execute("SELECT COUNT(*) FROM attributions").fetchone()[0] == 1


def write_data(path, n, extra=()):
    words = ["good", "awful", "great", "boring", "wonderful", "terrible", "funny", "slow"]
    texts = [f"the film {i} was {words[i % 8]} and the cast {words[(i * 3) % 8]}" for i in range(n)] + list(extra)
    pd.DataFrame({"text": texts, "label": ["positive", "negative"] * (len(texts) // 2) + ["positive"] * (len(texts) % 2)}).to_csv(path, index=False)
    return texts


def test_precompute_fills_the_cache_and_a_second_run_skips_it(tiny_bert, tmp_path, capsys):
    data = tmp_path / "d.csv"
    write_data(data, 5, extra=["the film 0 was good and the cast good", "good"])  # a duplicate, a one-token text
    cache = tmp_path / "cache"
    args = ["precompute", "--model", str(tiny_bert), "--data", str(data), "--cache-dir", str(cache), "--num-samples", "30", "--max-evals", "20"]
    assert main([*args, "--method", "both"]) == 0
    err = capsys.readouterr().err
    assert "Precomputing shap, lime for 6 distinct text(s)" in err and "1 duplicate(s) share one result" in err
    assert "SHAP: 0 of 6 already cached, skipped; 6 to compute." in err and "LIME: 0 of 6 already cached" in err
    assert "skipped (shap) 'good': " in err and "single token" in err
    assert "2 text(s) could not be explained" in err
    conn = sqlite3.connect(cache / FILENAME)
    assert conn.execute("SELECT method, COUNT(*) FROM attributions GROUP BY method ORDER BY method").fetchall() == [("lime", 5), ("shap", 5)]

    assert main([*args, "--method", "lime"]) == 0
    err = capsys.readouterr().err
    assert "LIME: 5 of 6 already cached, skipped; 1 to compute." in err  # only the unexplainable one is retried
    assert "SHAP" not in err.split("LIME")[0]
    assert main([*args, "--what", "shap", "--limit", "2"]) == 0
    assert "SHAP: 2 of 2 already cached" in capsys.readouterr().err


def test_precompute_with_ig_fills_what_insights_and_explore_read(tiny_bert, tmp_path, capsys):
    """`--method ig` caches Integrated Gradients under the dashboard's default parameters, so the pages find them."""
    from explain.cache import AttributionCache, key_params
    from models.checkpoints import inspect_checkpoint

    data = tmp_path / "d.csv"
    texts = write_data(data, 4, extra=["the film 0 was good and the cast good"])
    cache = tmp_path / "cache"
    args = ["precompute", "--model", str(tiny_bert), "--data", str(data), "--cache-dir", str(cache), "--method", "ig"]
    assert main(args) == 0
    assert "IG: 0 of 4 already cached, skipped; 4 to compute." in capsys.readouterr().err
    found = AttributionCache(cache).get_many(inspect_checkpoint(tiny_bert).scoring_key, texts, "ig", **key_params("ig"))
    assert set(found) == set(texts) and {a.method for a in found.values()} == {"ig"}
    assert main(args) == 0
    assert "IG: 4 of 4 already cached, skipped; 0 to compute." in capsys.readouterr().err
    assert main([*args[:-1], "grad_input"]) == 0
    assert "GRAD_INPUT: 0 of 4 already cached" in capsys.readouterr().err


def test_precompute_fills_the_cache_with_integrated_gradients(tiny_bert, tmp_path, capsys):
    data = tmp_path / "d.csv"
    texts = write_data(data, 3)
    cache = tmp_path / "cache"
    assert main(["precompute", "--model", str(tiny_bert), "--data", str(data), "--cache-dir", str(cache), "--method", "ig"]) == 0
    assert "IG: 0 of 3 already cached, skipped; 3 to compute." in capsys.readouterr().err
    rows = sqlite3.connect(cache / FILENAME).execute("SELECT method, params, text_hash FROM attributions").fetchall()
    assert sorted(rows) == sorted(("ig", '{"baseline":"pad","n_steps":20}', text_hash(t)) for t in texts)  # the keys the app reads
    # what `explain --method ig` reads from that cache is what it would compute
    cached = explain_json(tiny_bert, "--text", texts[0], "--method", "ig", "--cache-dir", str(cache), capsys=capsys)
    fresh = explain_json(tiny_bert, "--text", texts[0], "--method", "ig", capsys=capsys)
    assert cached.scores == pytest.approx(fresh.scores, abs=1e-6) and cached.params == fresh.params


def test_precompute_refuses_a_bad_limit(tiny_bert, tmp_path, capsys):
    data = tmp_path / "d.csv"
    write_data(data, 2)
    assert main(["precompute", "--model", str(tiny_bert), "--data", str(data), "--limit", "0", "--cache-dir", str(tmp_path)]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def cached_rows(path):
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT fingerprint, method, params, text_hash, payload FROM attributions").fetchall()
    except sqlite3.OperationalError:  # the table is not created yet
        return []
    finally:
        conn.close()


# `veredicto precompute`, paused where a kill does the most harm: after three explanations are committed, the fourth
# row is inserted and its transaction is open when the process stops for good, waiting to be killed. Deterministic on
# any hardware (a loop that polls the cache and kills "soon" lost the race when the run finished first).
PAUSED_PRECOMPUTE = r"""
import sqlite3, sys, threading

committed = 0

def writes_attributions(sql):
    return sql.lstrip().upper().startswith("INSERT") and "attributions" in sql

class PausesBeforeTheFourthCommit(sqlite3.Connection):
    rows = 0

    def execute(self, sql, *args):
        global committed
        if writes_attributions(sql):
            self.rows += 1
        if sql.strip().upper() == "COMMIT" and self.rows:
            if committed >= 3:
                print("paused", flush=True)
                threading.Event().wait()
            committed += self.rows
        return super().execute(sql, *args)

    def executemany(self, sql, rows):
        rows = list(rows)
        if writes_attributions(sql):
            self.rows += len(rows)
        return super().executemany(sql, rows)

connect = sqlite3.connect
sqlite3.connect = lambda *a, **k: connect(*a, factory=PausesBeforeTheFourthCommit, **k)
from cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_precompute_killed_midway_resumes_without_partial_or_duplicate_rows(tiny_bert, tmp_path):
    data = tmp_path / "d.csv"
    n = 40
    texts = write_data(data, n)
    cache = tmp_path / "cache"
    db = cache / FILENAME
    args = ["precompute", "--model", str(tiny_bert), "--data", str(data), "--method", "lime", "--num-samples", "50", "--cache-dir", str(cache)]
    cmd = [sys.executable, "-m", "cli.main", *args]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    log = tmp_path / "precompute.err"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", PAUSED_PRECOMPUTE, *args], stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        paused = any(line.strip() == "paused" for line in iter(proc.stdout.readline, ""))
        assert paused, f"precompute ended without reaching its fourth commit: {log.read_text()[-2000:]}"
        assert len(cached_rows(db)) == 3  # the fourth row is written but not committed: invisible
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "precompute finished before it could be killed; give it more work"
    before = cached_rows(db)
    assert 3 <= len(before) < n
    assert len(before) == 3  # the open transaction died with the process
    by_hash = {text_hash(t): t for t in texts}
    for _fp, method, _params, h, payload in before:  # every committed row is whole and readable
        attribution = Attribution.from_dict(json.loads(payload))
        assert method == "lime" and attribution.text == by_hash[h]

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"LIME: {len(before)} of {n} already cached, skipped; {n - len(before)} to compute." in done.stderr
    after = cached_rows(db)
    assert len(after) == n == len({row[3] for row in after})  # all there, none twice
    assert {row[3] for row in before} <= {row[3] for row in after}
    assert {row[4] for row in before} <= {row[4] for row in after}  # rows from before the kill kept as they were
