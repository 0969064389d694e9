"""The `veredicto` command: predict writes a table; bad input exits 2 with a message and no traceback."""

import itertools
import subprocess
import sys

import pandas as pd
import pytest

from cli.main import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_predict_writes_probabilities_and_prediction(tiny_bert, tmp_path, capsys):
    data = tmp_path / "e.csv"
    pd.DataFrame({"text": ["good film", "awful", "good film"], "label": ["positive", "negative", "positive"], "src": list("abc")}).to_csv(data, index=False)
    out = tmp_path / "out" / "pred.parquet"
    assert main(["predict", "--model", str(tiny_bert), "--data", str(data), "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns[:3]) == ["text", "gold", "pred"]
    assert {"p_negative", "p_positive", "confidence", "correct", "src"} <= set(frame.columns)
    assert (frame[["p_negative", "p_positive"]].sum(axis=1) - 1).abs().max() < 1e-5
    assert (frame["pred"] == frame[["p_negative", "p_positive"]].idxmax(axis=1).str[2:]).all()
    assert "Wrote 3 rows" in capsys.readouterr().err


def test_predict_unlabelled_data(tiny_bert, tmp_path):
    data = tmp_path / "e.jsonl"
    data.write_text('{"text": "good"}\n{"text": "bad"}\n')
    out = tmp_path / "p.parquet"
    assert main(["predict", "--model", str(tiny_bert), "--data", str(data), "--out", str(out), "--label-col", ""]) == 0
    assert pd.read_parquet(out)["pred"].isin(["negative", "positive"]).all()


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_model", "does not exist"),
        ("pickle_model", "pickle weights"),
        ("unknown_labels", "label(s) the checkpoint does not know"),
        ("missing_column", "no text column 'body'"),
        ("bad_out", "--out must end in .parquet"),
    ],
)
def test_bad_input_exits_2_without_traceback(case, message, tiny_bert, tmp_path):
    import shutil

    data = tmp_path / "e.csv"
    pd.DataFrame({"text": ["good"], "label": ["stellar"] if case == "unknown_labels" else ["positive"]}).to_csv(data, index=False)
    model = tiny_bert
    if case == "missing_model":
        model = tmp_path / "nope"
    if case == "pickle_model":
        model = tmp_path / "pickled"
        shutil.copytree(tiny_bert, model)
        (model / "model.safetensors").rename(model / "pytorch_model.bin")
    extra = ["--text-col", "body"] if case == "missing_column" else []
    out = tmp_path / ("p.csv" if case == "bad_out" else "p.parquet")
    result = run_cli("predict", "--model", model, "--data", data, "--out", out, *extra)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("veredicto predict: ")


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "predict", "app"):
        assert command in result.stdout


def test_veredicto_app_listens_on_localhost_unless_a_host_is_given(monkeypatch):
    """The attack: `veredicto app` on a laptop in a café served the dashboard (and its files) to every interface."""
    import cli.app
    from runtime.settings import MAX_UPLOAD_MB

    calls = []
    monkeypatch.setattr(cli.app.subprocess, "call", lambda command, **kwargs: calls.append(command) or 0)
    assert main(["app"]) == 0
    assert main(["app", "--host", "0.0.0.0", "--port", "9000"]) == 0

    def flag(command, name):
        return command[command.index(name) + 1]

    local, team = calls
    assert flag(local, "--server.address") == "127.0.0.1"
    assert flag(team, "--server.address") == "0.0.0.0" and flag(team, "--server.port") == "9000"
    for command in calls:  # the upload limit is stated on every start, with or without a config.toml beside app.py
        assert flag(command, "--server.maxUploadSize") == str(MAX_UPLOAD_MB) and command.count("--server.maxUploadSize") == 1


def test_the_app_help_documents_the_host_option(capsys):
    with pytest.raises(SystemExit):
        main(["app", "--help"])
    out = capsys.readouterr().out
    assert "--host" in out and "127.0.0.1" in out and "0.0.0.0" in out


def test_veredicto_app_serves_without_watching_files(monkeypatch, tmp_path):
    """Issue 12: Streamlit's default file watcher over the checkout (.venv inside it) made the demo's Overview take 112 s
    instead of 63 s. Read as Streamlit itself reads its settings: the checkout's .streamlit/config.toml, and the flags
    `veredicto app` passes an installed copy that has none."""
    from streamlit import config

    import cli.app

    def effective(flags: dict | None = None) -> tuple:
        config.get_config_options(force_reparse=True, options_from_flags=flags)
        return config.get_option("server.fileWatcherType"), config.get_option("server.runOnSave")

    try:
        monkeypatch.chdir(cli.app.ROOT)
        assert effective() == ("none", False)
        monkeypatch.setattr(cli.app, "ROOT", tmp_path)  # an installed copy: no .streamlit/config.toml beside app.py
        monkeypatch.chdir(tmp_path)
        command = cli.app.streamlit_command(8501)
        flags = {arg[2:]: {"true": True, "false": False}.get(value, value) for arg, value in itertools.pairwise(command) if arg.startswith("--server.")}
        assert effective() == ("auto", False)  # Streamlit's defaults, which the flags must override
        assert effective(flags) == ("none", False)
    finally:
        monkeypatch.undo()
        config.get_config_options(force_reparse=True)


def test_the_app_server_is_streamlits_own_command_that_imports_the_checkpoints_model_classes_first(tmp_path):
    """`veredicto app` starts `python -m cli.serve run app.py`: Streamlit's command line, after importing the model
    libraries so the first page after a restart does not (issue 12)."""
    import os
    from pathlib import Path

    from tiny import make_tiny_checkpoint

    import cli.app

    assert cli.app.streamlit_command(8501)[1:5] == ["-m", "cli.serve", "run", str(cli.app.app_script())]
    root = Path(cli.app.ROOT)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    version = subprocess.run([sys.executable, "-m", "cli.serve", "version"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("Streamlit, version ")
    make_tiny_checkpoint(tmp_path / "checkpoints" / "tiny", "bert", seed=0)
    probe = (
        "import gc, sys; from pathlib import Path; from cli.serve import prepare; module = 'transformers.models.bert.modeling_bert'; "
        "before = module in sys.modules; print(before, prepare(Path(sys.argv[1])), module in sys.modules, 'shap' in sys.modules, gc.get_freeze_count() > 100_000)"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "checkpoints")], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    # imported, and out of the reach of the full collection Streamlit runs after every script run
    assert out.stdout.strip() == "False ['BertForSequenceClassification'] True True True", out.stderr[-2000:]
