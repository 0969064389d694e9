"""`veredicto probe`: cost first, a line per test, before/after, report files, an exit code a CI job can use."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_probes_models import make_invariant_checkpoint, make_keyword_checkpoint

from cli.main import main

TEXTS = [
    "John said the film was good.",
    "the film was good and he loved it",
    "John and his brother enjoyed the story in Mexico",
    "a great movie, john!",
    "the plot was dull",
    "Maria hated it, she said it was awful",
]


def expected_name_failures(texts) -> tuple[int, int]:
    """(failed, tried) for the names probe on a model that says 'positive' exactly when "john" is in the text."""
    from probes.perturb import perturb

    failed = tried = 0
    for text in texts:
        variants = perturb("names", text)
        if variants:
            tried += 1
            failed += any(("john" in v.lower()) != ("john" in text.lower()) for v in variants)
    return failed, tried


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe-cli")
    data = root / "data.csv"
    pd.DataFrame(
        {"text": [f"{t} ({i})" for i, t in enumerate(TEXTS * 3)], "label": ["positive", "positive", "positive", "positive", "negative", "negative"] * 3}
    ).to_csv(data, index=False)
    failed, tried = expected_name_failures(pd.read_csv(data)["text"])
    return {
        "data": data,
        "names_failed": failed,
        "names_tried": tried,
        "invariant": make_invariant_checkpoint(root / "invariant"),
        "john": make_keyword_checkpoint(root / "john", {"john": +1}),
        "root": root,
    }


def test_one_checkpoint_prints_cost_then_results_and_writes_json(env, capsys, tmp_path):
    out = tmp_path / "r" / "report.json"
    code = main(["probe", "--model", str(env["john"]), "--data", str(env["data"]), "--tests", "names", "gender", "typos", "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    err = captured.err
    cost_at = err.index("Cost of john:")
    assert "model calls" in err[cost_at:] and "on this machine" in err[cost_at:]
    assert err.index("Cost of john:") < err.index("Estimated")  # the estimate is printed before the run's check
    lines = {
        line.split()[0]: line
        for line in captured.out.splitlines()
        if line.startswith("  ") and line.strip() and line.split()[0] in ("Person", "Gendered", "Typos")
    }
    names_line = lines["Person"]
    failed, tried = env["names_failed"], env["names_tried"]
    assert tried == 12 and failed >= 9  # 12 texts name someone, 9 of them John
    assert f"{failed / tried:.1%}" in names_line and f"{failed}/{tried}" in names_line
    assert "0.0%" in lines["Gendered"]
    payload = json.loads(out.read_text(encoding="utf-8"))
    (report,) = payload["reports"]
    by_test = {r["test"]: r for r in report["results"]}
    assert by_test["names"]["n_failed"] == failed and by_test["names"]["n_tried"] == tried
    assert all("john" in f["original"].lower() for f in by_test["names"]["failures"])
    assert report["checkpoint_name"] == "john" and report["data_name"] == "data.csv"


def test_two_checkpoints_compare_and_fail_above_gates(env, capsys, tmp_path):
    out = tmp_path / "failures.csv"
    code = main(
        [
            "probe",
            "--model",
            str(env["invariant"]),
            "--model",
            str(env["john"]),
            "--data",
            str(env["data"]),
            "--tests",
            "fairness",
            "--out",
            str(out),
            "--fail-above",
            "0.2",
            "--examples",
            "0",
        ]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert "Before (invariant) -> after (john):" in captured.out
    compare = [l for l in captured.out.splitlines() if l.strip().startswith("Person names")][-1]
    rate = env["names_failed"] / env["names_tried"]
    assert f"0.0% -> {rate:.1%}" in compare and "more brittle" in compare
    assert f"FAIL: names {rate:.1%} above 20.0% (john)" in captured.err
    failures = pd.read_csv(out)
    assert set(failures["checkpoint"]) == {"john"} and set(failures["test"]) == {"names"}
    assert main(["probe", "--model", str(env["invariant"]), "--data", str(env["data"]), "--tests", "fairness", "--fail-above", "0.2"]) == 0


def test_directional_probes_are_guessed_from_sentiment_labels_or_turned_off(env, capsys):
    assert main(["probe", "--model", str(env["john"]), "--data", str(env["data"]), "--tests", "negation"]) == 0
    captured = capsys.readouterr()
    assert "Directional probes: negation: P(positive) should fall by at least 0.10" in captured.err and "guessed from the labels" in captured.err
    assert "Negation" in captured.out
    assert main(["probe", "--model", str(env["john"]), "--data", str(env["data"]), "--no-directional"]) == 0
    out = capsys.readouterr().out
    assert "Negation" not in out and "Person names" in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--tests", "tipos"], "Unknown probe 'tipos'"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--positive-label", "fresh"], "watches class 'fresh', which the checkpoint does not have"),
        (["--no-directional", "--tests", "negation"], "needs to know which class should move"),
        (["--out", "report.txt"], "--out must end in .json"),
        (["--fail-above", "5"], "between 0 and 1"),
    ],
)
def test_bad_input_exits_2_with_a_message(env, extra, message, capsys):
    # in-process: an exception that is not a user-facing VeredictoError would fail the test right here
    assert main(["probe", "--model", str(env["john"]), "--data", str(env["data"]), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("veredicto probe: ") and message in err
