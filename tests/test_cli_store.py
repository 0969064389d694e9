"""The CLI reads and fills the results store: a second command (a new process) scores nothing; an unusable store is one stderr warning."""

from __future__ import annotations

import pandas as pd
import pytest

from cli.main import main
from runtime import current


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "e.csv"
    pd.DataFrame({"text": ["good film", "awful", "good film", "fine, I guess"], "label": ["positive", "negative", "positive", "positive"]}).to_csv(
        path, index=False
    )
    return path


def predict(model, data, out, *extra):
    current().clear()  # a new process: nothing in memory
    return main(["predict", "--model", str(model), "--data", str(data), "--out", str(out), *map(str, extra)])


def test_a_second_predict_reads_the_store_and_forwards_nothing(tiny_bert, data, tmp_path, monkeypatch, forwarded):
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(tmp_path / "store"))
    assert predict(tiny_bert, data, tmp_path / "a.parquet") == 0
    assert sum(forwarded) == 3
    forwarded.clear()
    assert predict(tiny_bert, data, tmp_path / "b.parquet") == 0
    assert forwarded == []
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))


def test_an_unusable_store_is_one_warning_and_the_command_still_works(tiny_bert, data, tmp_path, monkeypatch, capsys, forwarded):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(blocker))
    assert predict(tiny_bert, data, tmp_path / "a.parquet") == 0
    err = capsys.readouterr().err
    assert err.count("warning: The results store folder") == 1 and "in memory only" in err and "VEREDICTO_CACHE_DIR" in err
    assert sum(forwarded) == 3 and len(pd.read_parquet(tmp_path / "a.parquet")) == 4


POLICY = "version: 1\ngates:\n  min_macro_f1: {f1}\n  max_probe_failure_rate: 1.0\nsettings:\n  probe_limit: 6\n  probe_tests: [invariance]\n"


def gate(model, data, policy, *extra):
    current().clear()  # a new process: nothing in memory
    return main(["gate", "--model", str(model), "--data", str(data), "--policy", str(policy), *map(str, extra)])


def test_a_second_gate_reads_the_stored_evaluation_and_a_changed_policy_misses(tiny_bert, data, tmp_path, monkeypatch, capsys, forwarded):
    import store.gates as gates

    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(tmp_path / "store"))
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(f1=0.0))
    code = gate(tiny_bert, data, policy)
    first = capsys.readouterr()
    assert code == 0, first.out + first.err
    assert sum(forwarded) > 3 and "Gates read from the results store" not in first.err  # the probes scored perturbed texts
    evaluated: list[int] = []
    real = gates.evaluate_gates
    monkeypatch.setattr(gates, "evaluate_gates", lambda *a, **k: evaluated.append(1) or real(*a, **k))

    forwarded.clear()
    assert gate(tiny_bert, data, policy) == 0
    second = capsys.readouterr()
    assert forwarded == [] and evaluated == []  # nothing scored, nothing evaluated
    assert second.out == first.out and "Verdict: all 2 gate(s) pass" in second.out  # the same table and verdict
    assert f"Gates read from the results store {tmp_path / 'store'}" in second.err and "--recompute" in second.err

    policy.write_text(POLICY.format(f1=0.01))  # a changed threshold: another policy, evaluated again
    assert gate(tiny_bert, data, policy) == 0
    assert evaluated == [1] and "Gates read from the results store" not in capsys.readouterr().err

    assert gate(tiny_bert, data, policy, "--recompute") == 0  # forced: evaluated although stored
    assert evaluated == [1, 1] and "Gates read from the results store" not in capsys.readouterr().err
