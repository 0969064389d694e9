"""Fine-tuning with an Optuna search on a tiny model: the checkpoint, its provenance, resume, Ctrl-C, pruning, bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from finetune_support import fast_space, file_modes, make_texts, umask, write_csv
from tiny import make_tiny_checkpoint

from evaldata.loading import load_eval_data
from models.checkpoints import inspect_checkpoint
from models.errors import CheckpointError, DataError, VeredictoError
from training import finetune
from training import search as search_mod
from training.finetune import DEFAULT_HYPERPARAMETERS, SearchConfig, prepare_data, run_search
from training.model import quiet
from training.provenance import load_provenance
from training.run import _trial_callback


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("finetune")


@pytest.fixture(scope="module")
def base(workdir) -> Path:
    return make_tiny_checkpoint(workdir / "base", "bert", labels=None)


@pytest.fixture(scope="module")
def data_file(workdir) -> Path:
    return write_csv(make_texts(20, seed=0), workdir / "train.csv")


def config(workdir: Path, base: Path, data: Path, out: str, **kw) -> SearchConfig:
    defaults = dict(base=base, data=data, out=workdir / out, trials=3, seed=0, space=fast_space(), storage=f"sqlite:///{workdir / 'optuna.db'}")
    return SearchConfig(**{**defaults, **kw})


@pytest.fixture(scope="module")
def search(workdir, base, data_file):
    lines: list[str] = []
    result = run_search(config(workdir, base, data_file, "tuned"), log=lines.append, progress=False)
    return result, lines


def test_search_writes_a_safe_hugging_face_checkpoint(search):
    result, _ = search
    ref = inspect_checkpoint(result.out)  # config.json + tokenizer + safetensors, validated like any checkpoint
    assert ref.labels == ("negative", "positive")  # the data's classes, not the base's LABEL_0/LABEL_1
    assert (result.out / "model.safetensors").is_file()
    assert not [p for p in result.out.iterdir() if p.suffix in (".bin", ".pt", ".pkl")]
    assert not [p for p in result.out.parent.iterdir() if p.name.startswith(".tuned")]  # no temporary leftovers
    assert result.interrupted is False
    assert result.states == {"COMPLETE": 3}


def test_provenance_records_base_data_split_trials_and_versions(search, base, data_file):
    result, _ = search
    prov = load_provenance(result.out)
    r = prov.record
    assert r["kind"] == "search" and r["status"] == "complete"
    assert r["base"]["fingerprint"] == inspect_checkpoint(base).fingerprint
    assert r["base"]["head"] == "new"
    assert r["checkpoint"]["fingerprint"] == inspect_checkpoint(result.out).fingerprint
    assert r["data"]["fingerprint"] == load_eval_data(data_file).fingerprint
    split = r["split"]
    assert split["train_rows"] + split["validation_rows_count"] == 40
    assert split["validation_rows_count"] == 8 and split["seed"] == 0
    assert split["train_label_counts"] == {"negative": 16, "positive": 16}
    assert len(split["validation_rows"]) == 8
    assert r["tokenization"]["max_length"] == 128 and r["tokenization"]["train_truncated"] == 0

    trials = r["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert all(t["state"] == "COMPLETE" for t in trials)
    # trial 0 is the library defaults, moved into the search space
    assert trials[0]["default_trial"] is True
    assert trials[0]["params"] == fast_space().clip(DEFAULT_HYPERPARAMETERS)
    for t in trials:
        assert set(t["params"]) == {"learning_rate", "epochs", "batch_size", "weight_decay", "warmup_ratio"}
        assert len(t["curves"]["validation"]) == t["params"]["epochs"]  # one evaluation per epoch
        assert [int(k) for k in t["intermediate"]] == list(range(1, t["params"]["epochs"] + 1))
        assert t["value"] == pytest.approx(t["curves"]["validation"][-1]["macro_f1"])
        assert t["curves"]["train"], "training loss is logged within each epoch"
    best = max(trials, key=lambda t: (t["value"], -t["number"]))
    assert r["best"]["trial"] == best["number"] == result.best_trial == r["saved_trial"]
    assert r["best"]["value"] == pytest.approx(result.best_value)
    assert {k: r["hyperparameters"][k] for k in best["params"]} == best["params"]
    assert r["hyperparameters"]["max_length"] == 128 and r["hyperparameters"]["seed"] == 0
    assert r["curves"] == best["curves"]
    assert r["search"]["sampler"]["name"] == "TPESampler" and r["search"]["pruner"]["name"] == "MedianPruner"
    assert r["search"]["space"]["learning_rate"]["log"] is True
    assert {"python", "torch", "transformers", "optuna"} <= set(r["versions"])
    assert r["wall_seconds"] > 0


def test_checkpoint_files_get_the_plain_file_mode(workdir, base, data_file):
    """Weights, config, tokenizer files and provenance.json all get the mode the umask gives a plain file (transformers
    writes the weights through a private 0600 temporary file)."""
    with umask(0o027):
        result = run_search(config(workdir, base, data_file, "modes", trials=1), log=lambda m: None, progress=False)
    modes = file_modes(result.out)
    assert {"model.safetensors", "config.json", "provenance.json"} <= set(modes) and any(name.startswith("tokenizer") for name in modes)
    assert modes == dict.fromkeys(modes, 0o640)


def test_saved_weights_are_the_best_trials(search, workdir, base, data_file):
    """Re-training the best trial's hyperparameters with the same seed gives the saved model's validation score."""
    result, _ = search
    data = prepare_data(data_file, seed=0)
    b = finetune.resolve_base(base, data.labels)
    with quiet():
        _, tok = finetune.load_model(b, seed=0)
        encoded = finetune.encode(tok, data, b.labels, b.max_length)
        run = finetune.train_run(b, encoded, result.best_params, seed=0)
    assert run.metrics["macro_f1"] == pytest.approx(result.best_value, abs=1e-6)


def test_progress_is_reported_per_trial(search):
    _, lines = search
    text = "\n".join(lines)
    for n in (1, 2, 3):
        assert f"Trial {n} ({n}/3 of this run)" in text
    assert "epoch 1: validation macro-F1" in text
    assert "best so far, saved to" in text
    assert text.splitlines()[-1].startswith("Done: 3 complete, 0 pruned, 0 failed")


def test_the_search_is_seeded(search, workdir, base, data_file):
    """A second search with the same seed proposes the same hyperparameters and reaches the same scores."""
    result, _ = search
    again = run_search(config(workdir, base, data_file, "tuned-again", trials=2), log=lambda m: None, progress=False)
    first = load_provenance(result.out).trials[:2]
    second = load_provenance(again.out).trials
    assert [t["params"] for t in second] == [t["params"] for t in first]
    assert [t["value"] for t in second] == pytest.approx([t["value"] for t in first], abs=1e-6)


def test_a_finished_search_is_not_silently_repeated_and_resume_continues_it(search, workdir, base, data_file):
    result, _ = search
    with pytest.raises(VeredictoError, match="already has 3 trial\\(s\\).*--resume"):
        run_search(config(workdir, base, data_file, "tuned"), log=lambda m: None, progress=False)
    lines: list[str] = []
    resumed = run_search(config(workdir, base, data_file, "tuned", trials=4, resume=True), log=lines.append, progress=False)
    assert resumed.study_name == result.study_name
    assert "1 trial(s) to run (3 already finished)" in lines[0] or any("1 trial(s) to run (3 already finished)" in l for l in lines)
    trials = load_provenance(resumed.out).trials
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    study = optuna.load_study(study_name=result.study_name, storage=f"sqlite:///{workdir / 'optuna.db'}")
    assert len(study.trials) == 4
    # nothing left to do: resuming again runs no trial but still leaves a consistent output
    again = run_search(config(workdir, base, data_file, "tuned", trials=4, resume=True), log=lambda m: None, progress=False)
    assert again.best_trial == resumed.best_trial
    assert load_provenance(again.out).record["checkpoint"]["fingerprint"] == inspect_checkpoint(again.out).fingerprint


def test_ctrl_c_keeps_the_best_checkpoint_so_far_and_resume_finishes(workdir, base, data_file, monkeypatch):
    real = search_mod.train_run
    calls = {"n": 0}

    def interrupt_second_trial(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(search_mod, "train_run", interrupt_second_trial)
    cfg = config(workdir, base, data_file, "interrupted", trials=3, seed=1)
    lines: list[str] = []
    result = run_search(cfg, log=lines.append, progress=False)
    assert result.interrupted is True
    assert "Interrupted: keeping the best checkpoint found so far." in lines
    prov = load_provenance(result.out)
    assert prov.status == "interrupted"
    assert prov.record["saved_trial"] == 0 and prov.best["trial"] == 0
    assert [t["state"] for t in prov.trials] == ["COMPLETE", "FAIL"]
    assert prov.record["checkpoint"]["fingerprint"] == inspect_checkpoint(result.out).fingerprint

    monkeypatch.setattr(search_mod, "train_run", real)
    done = run_search(replace(cfg, resume=True), log=lambda m: None, progress=False)
    states = [t["state"] for t in load_provenance(done.out).trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]  # the interrupted trial stays recorded as failed
    assert load_provenance(done.out).status == "complete"


def test_poor_trials_are_pruned_after_an_epoch(workdir, base, data_file, monkeypatch):
    class PruneAfterFirstTrial(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return trial.number >= 1

    monkeypatch.setattr(search_mod, "_make_pruner", lambda name, space: (PruneAfterFirstTrial(), {"name": "PruneAfterFirstTrial"}))
    space = replace(fast_space(), epochs=(2, 2))
    lines: list[str] = []
    result = run_search(config(workdir, base, data_file, "pruned", trials=2, space=space), log=lines.append, progress=False)
    assert result.states == {"COMPLETE": 1, "PRUNED": 1}
    pruned = load_provenance(result.out).trials[1]
    assert pruned["state"] == "PRUNED" and pruned["pruned_at_epoch"] == 1
    assert len(pruned["curves"]["validation"]) == 1  # stopped after the first of two epochs
    assert any("pruned after epoch 1" in line for line in lines)


def test_the_pruning_callback_reports_each_epoch_and_stops_training():
    class FakeTrial:
        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) >= 2

    class Control:
        should_training_stop = False

    class State:
        epoch = 1.0

    trial, control, state = FakeTrial(), Control(), State()
    callback = _trial_callback(trial, "accuracy", None)
    callback.on_evaluate(None, state, control, metrics={"eval_accuracy": 0.5, "eval_loss": 1.0})
    assert control.should_training_stop is False
    state.epoch = 2.0
    callback.on_evaluate(None, state, control, metrics={"eval_accuracy": 0.4, "eval_loss": 1.1})
    assert trial.reports == [(1, 0.5), (2, 0.4)]
    assert control.should_training_stop is True and callback.pruned_at == 2


# --------------------------------------------------------------------------- bad input, no training needed


def test_unknown_base_directory(workdir, data_file):
    with pytest.raises(CheckpointError, match="does not exist.*local Hugging Face checkpoint"):
        run_search(config(workdir, workdir / "no-such-model", data_file, "x"), log=lambda m: None)


def test_base_that_is_not_a_checkpoint(workdir, data_file):
    folder = workdir / "not-a-model"
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="no config.json"):
        run_search(config(workdir, folder, data_file, "x"), log=lambda m: None)


def test_label_column_with_one_class(workdir, base):
    frame = make_texts(10, classes=("positive",))
    path = write_csv(frame, workdir / "one_class.csv")
    with pytest.raises(DataError, match="single class \\('positive', 10 example\\(s\\)\\).*at least two"):
        run_search(config(workdir, base, path, "x"), log=lambda m: None)


def test_too_few_examples_per_class(workdir, base):
    frame = make_texts(10)
    frame = frame[(frame["sentiment"] == "positive") | (frame.index == frame.index[frame["sentiment"] == "negative"][0])]
    path = write_csv(frame, workdir / "rare.csv")
    with pytest.raises(DataError, match="Too few examples per class.*'negative': 1.*--validation"):
        run_search(config(workdir, base, path, "x"), log=lambda m: None)


def test_unknown_label_column_lists_the_columns(workdir, base, data_file):
    with pytest.raises(DataError, match="no label column 'topic'.*review, sentiment"):
        run_search(config(workdir, base, data_file, "x", label_col="topic"), log=lambda m: None)


def test_duplicates_are_dropped_before_the_split(workdir):
    import pandas as pd

    frame = make_texts(10)
    doubled = pd.concat([frame, frame.iloc[:5]], ignore_index=True)
    data = prepare_data(write_csv(doubled, workdir / "dupes.csv"), seed=0)
    assert data.info["data"]["duplicates_dropped"] == 5
    assert not set(data.train_texts) & set(data.val_texts)
    assert len(data.train_texts) + len(data.val_texts) == 20


def test_separate_validation_file_with_an_unknown_label(workdir, data_file):
    other = make_texts(4, classes=("negative", "neutral"), seed=3)
    path = write_csv(other, workdir / "val_neutral.csv")
    with pytest.raises(DataError, match="validation data.*'neutral'"):
        prepare_data(data_file, validation=path)


def test_out_directory_with_unrelated_files_is_never_overwritten(workdir, base, data_file):
    out = workdir / "precious"
    out.mkdir(exist_ok=True)
    (out / "thesis.txt").write_text("do not delete")
    with pytest.raises(VeredictoError, match="not empty.*will not overwrite"):
        run_search(config(workdir, base, data_file, "precious"), log=lambda m: None)
    assert (out / "thesis.txt").read_text() == "do not delete"


def test_out_inside_the_base_is_refused(workdir, base, data_file):
    with pytest.raises(VeredictoError, match="inside it"):
        run_search(
            SearchConfig(base=base, data=data_file, out=base / "tuned", space=fast_space(), storage=f"sqlite:///{workdir / 'optuna.db'}"), log=lambda m: None
        )


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(trials=0), "--trials must be at least 1"),
        (dict(timeout=-5), "--timeout must be a positive"),
        (dict(metric="auc"), "Unknown metric 'auc'"),
        (dict(resume=True, restart=True), "only one of them"),
        (dict(max_length=4), "at least 8 tokens"),
        (dict(max_length=100_000), "exceeds what 'base' supports \\(128 tokens\\)"),
        (dict(validation_fraction=1.5), "strictly between 0 and 1"),
    ],
)
def test_bad_settings_have_clear_messages(workdir, base, data_file, changes, message):
    with pytest.raises(VeredictoError, match=message):
        run_search(config(workdir, base, data_file, "x", **changes), log=lambda m: None)


def test_bad_search_space():
    with pytest.raises(VeredictoError, match="learning-rate range"):
        finetune.SearchSpace(learning_rate=(1e-3, 1e-5))
    with pytest.raises(VeredictoError, match="warm-up ratio"):
        finetune.SearchSpace(warmup_ratio=(0.0, 1.0))


def test_storage_urls(tmp_path, monkeypatch):
    monkeypatch.delenv("VEREDICTO_STORE_URL", raising=False)
    monkeypatch.setenv("VEREDICTO_STORE_DIR", str(tmp_path / "store"))
    assert finetune.default_storage_url() == f"sqlite:///{(tmp_path / 'store' / 'optuna.db').resolve()}"
    assert finetune.resolve_storage(tmp_path / "x.db") == f"sqlite:///{(tmp_path / 'x.db').resolve()}"
    assert finetune.resolve_storage("postgresql://me:secret@db/optuna") == "postgresql://me:secret@db/optuna"
    assert "secret" not in search_mod._safe_url("postgresql://me:secret@db/optuna")
    monkeypatch.setenv("VEREDICTO_STORE_URL", "sqlite:////tmp/team.db")
    assert finetune.default_storage_url() == "sqlite:////tmp/team.db"


# --------------------------------------------------------------------------- the command line


def test_cli_bad_base_exits_2_with_the_message(workdir, data_file, capsys):
    from cli.main import main

    code = main(["finetune", "--base", str(workdir / "missing"), "--data", str(data_file), "--out", str(workdir / "cli-x")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("veredicto finetune: Base model directory") and "does not exist" in err


def test_cli_rejects_a_malformed_range(workdir, data_file, capsys):
    from cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["finetune", "--base", "b", "--data", "d", "--out", "o", "--lr", "fast"])
    assert exc.value.code == 2
    assert "expected LOW,HIGH" in capsys.readouterr().err


def test_cli_runs_a_search_and_prints_the_checkpoint(workdir, base, data_file, capsys):
    from cli.main import main

    out = workdir / "cli-out"
    args = [
        "finetune",
        "--base",
        str(base),
        "--data",
        str(data_file),
        "--out",
        str(out),
        "--trials",
        "1",
        "--quiet",
        "--lr",
        "1e-4,3e-3",
        "--epochs",
        "1,1",
        "--batch-sizes",
        "8",
        "--no-default-trial",
        "--text-col",
        "review",
        "--label-col",
        "sentiment",
        "--store",
        str(workdir / "cli.db"),
        "--seed",
        "3",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out.resolve())
    assert "Trial 1 (1/1 of this run)" in captured.err
    prov = load_provenance(out)
    assert prov.record["search"]["space"]["epochs"] == {"low": 1, "high": 1}
    assert prov.trials[0]["params"]["batch_size"] == 8 and prov.trials[0]["default_trial"] is False
    assert prov.record["seed"] == 3 and prov.record["search"]["storage"] == f"sqlite:///{(workdir / 'cli.db').resolve()}"
    # running the same command again does not silently redo or overwrite the search
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0


def test_timeout_starts_no_new_trial_after_the_deadline(workdir, base, data_file):
    space = replace(fast_space(), epochs=(1, 1))
    result = run_search(config(workdir, base, data_file, "timed", trials=5, timeout=0.001, space=space), log=lambda m: None, progress=False)
    assert result.states == {"COMPLETE": 1}  # the running trial finishes; none starts after the deadline
    assert load_provenance(result.out).record["search"]["timeout_seconds"] == 0.001
