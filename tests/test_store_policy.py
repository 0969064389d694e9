"""Policy files: the documented example loads; every mistake gets a message naming the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from store.policy import GATES, SETTINGS, PolicyError, load_policy, parse_policy

ROOT = Path(__file__).resolve().parents[1]


def test_example_policy_sets_every_gate_and_documents_it():
    policy = load_policy(ROOT / "policies" / "example.yaml")
    assert list(policy.gates) == list(GATES)  # every gate is shown in the example, in the documented order
    assert policy.gates["min_macro_f1"] == 0.80 and policy.gates["approvals_required"] == 1
    text = policy.text
    for key in [*GATES, *SETTINGS]:
        assert key in text, f"{key} is not documented in policies/example.yaml"
    assert policy.where("gates.max_ece").startswith(str(ROOT / "policies" / "example.yaml") + ", line ")
    assert len(policy.sha256) == 64


def test_toml_policy_is_equivalent_to_yaml():
    yaml_policy = parse_policy("gates:\n  min_macro_f1: 0.8\n  min_class_recall: {pos: 0.7, neg: 0.6}\nsettings:\n  slice_min_size: 5\n", "p.yaml")
    toml_policy = parse_policy("[gates]\nmin_macro_f1 = 0.8\nmin_class_recall = { pos = 0.7, neg = 0.6 }\n\n[settings]\nslice_min_size = 5\n", "p.toml")
    assert dict(yaml_policy.gates) == {"min_macro_f1": 0.8, "min_class_recall": {"pos": 0.7, "neg": 0.6}}
    assert {k: dict(v) if hasattr(v, "items") else v for k, v in toml_policy.gates.items()} == {
        k: dict(v) if hasattr(v, "items") else v for k, v in yaml_policy.gates.items()
    }
    assert toml_policy.settings["slice_min_size"] == 5 and toml_policy.settings["drop_metric"] == "macro_f1"
    assert toml_policy.lines["gates.min_class_recall"] == 3


YAML_CASES = [
    ("unknown gate", "version: 1\ngates:\n  min_macro_f1: 0.8\n  min_f1_score: 0.7\n", "line 4", ["unknown gate 'min_f1_score'", "Known gates"]),
    ("suggestion", "gates:\n  max_ec: 0.1\n", "line 2", ["Did you mean 'max_ece'?"]),
    ("text instead of number", "gates:\n  max_ece: low\n", "line 2", ["'gates.max_ece' must be a number between 0 and 1, not the text 'low'"]),
    ("percent instead of fraction", "gates:\n  min_macro_f1: 85\n", "line 2", ["between 0 and 1", "write 0.85 for 85%"]),
    ("boolean", "gates:\n  max_ece: yes\n", "line 2", ["not a true/false value"]),
    ("fractional approvals", "gates:\n  approvals_required: 1.5\n", "line 2", ["whole number of reviewers"]),
    ("empty gate", "gates:\n  max_ece:\n", "line 2", ["gate 'max_ece' has no value"]),
    ("recall per label wrong type", "gates:\n  min_class_recall:\n    pos: 0.7\n    neg: high\n", "line 4", ["'gates.min_class_recall.neg'"]),
    ("list as recall", "gates:\n  min_class_recall: [0.7]\n", "line 2", ["mapping label -> number, not a list"]),
    ("unknown setting", "gates:\n  max_ece: 0.1\nsettings:\n  slice_minsize: 3\n", "line 4", ["unknown setting 'slice_minsize'", "slice_min_size"]),
    ("bad choice", "gates:\n  max_ece: 0.1\nsettings:\n  faithfulness_method: gradcam\n", "line 4", ["must be one of shap, lime"]),
    ("duplicate key", "gates:\n  max_ece: 0.1\n  min_macro_f1: 0.8\n  max_ece: 0.2\n", "line 4", ["set twice (first on line 2)"]),
    ("unknown top-level key", "gates:\n  max_ece: 0.1\nthresholds:\n  x: 1\n", "line 3", ["unknown key 'thresholds'"]),
    ("wrong version", "version: 2\ngates:\n  max_ece: 0.1\n", "line 1", ["'version' must be 1"]),
    ("gates not a mapping", "gates:\n  - max_ece\n", "line 1", ["'gates' must be a mapping"]),
    ("syntax error", "gates:\n  max_ece: 0.1\n   min_macro_f1: 0.8\n", "line 3", ["not valid YAML"]),
    ("tab indentation", "gates:\n\tmax_ece: 0.1\n", "line 2", ["not valid YAML"]),
]


@pytest.mark.parametrize("case, text, line, fragments", YAML_CASES, ids=[c[0] for c in YAML_CASES])
def test_bad_yaml_policy_names_the_line_and_key(case, text, line, fragments):
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "release.yaml")
    message = str(info.value)
    assert message.startswith(f"release.yaml, {line}:"), message
    for fragment in fragments:
        assert fragment in message, message


TOML_CASES = [
    ("unknown gate", "version = 1\n[gates]\nmin_macro_f1 = 0.8\nmin_f1 = 0.7\n", "line 4", ["unknown gate 'min_f1'"]),
    ("wrong type", '[gates]\nmax_ece = "0.1"\n', "line 2", ["not the text '0.1'"]),
    ("syntax error", "[gates]\nmax_ece = \n", "line 2", ["not valid TOML"]),
    ("dotted key", "gates.min_macro_f1 = 2\n", "line 1", ["between 0 and 1"]),
    ("unknown setting", "[gates]\nmax_ece = 0.1\n[settings]\nseeed = 1\n", "line 4", ["unknown setting 'seeed'", "Did you mean 'seed'?"]),
]


@pytest.mark.parametrize("case, text, line, fragments", TOML_CASES, ids=[c[0] for c in TOML_CASES])
def test_bad_toml_policy_names_the_line_and_key(case, text, line, fragments):
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "release.toml")
    message = str(info.value)
    assert message.startswith(f"release.toml, {line}:"), message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "text, fragment",
    [("", "the policy file is empty"), ("name: x\n", "the policy has no gates"), ("gates: {}\n", "'gates' is empty"), ("- 1\n", "must be a mapping")],
)
def test_policy_without_gates_is_refused(text, fragment):
    with pytest.raises(PolicyError, match=fragment):
        parse_policy(text, "p.yaml")


def test_missing_directory_unknown_extension_and_non_utf8_files(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(PolicyError, match="is a directory"):
        load_policy(tmp_path)
    (tmp_path / "p.json").write_text("{}")
    with pytest.raises(PolicyError, match="Name the file .yaml, .yml or .toml"):
        load_policy(tmp_path / "p.json")
    (tmp_path / "p.yaml").write_bytes(b"gates:\n  max_ece: 0.1\nname: caf\xe9\n")
    with pytest.raises(PolicyError, match="line 3: the file is not UTF-8"):
        load_policy(tmp_path / "p.yaml")


def test_cli_gate_with_bad_policy_exits_2_naming_the_line(tmp_path, capsys):
    policy = tmp_path / "bad.yaml"
    policy.write_text("gates:\n  min_macro_f1: 0.8\n  max_eec: 0.1\n")
    code = main(["gate", "--model", str(tmp_path / "none"), "--data", str(tmp_path / "none.csv"), "--policy", str(policy)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{policy}, line 3: unknown gate 'max_eec'. Did you mean 'max_ece'?" in err
