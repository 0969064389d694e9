"""Policy files: the documented example loads; every mistake gets a message naming the file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli.main import main
from store.policy import GATES, SETTINGS, PolicyError, load_policy, parse_policy

ROOT = Path(__file__).resolve().parents[1]


def test_example_policy_sets_every_gate_and_documents_it():
    policy = load_policy(ROOT / "policies" / "example.yaml")
    single_label = [key for key, spec in GATES.items() if "single-label" in spec.tasks]
    assert list(policy.gates) == single_label  # every single-label gate is shown in the example, in the documented order
    assert policy.gates["min_macro_f1"] == 0.80 and policy.gates["approvals_required"] == 1
    text = policy.text
    for key in [*GATES, *SETTINGS]:
        assert key in text, f"{key} is not documented in policies/example.yaml"
    assert policy.where("gates.max_ece").startswith(str(ROOT / "policies" / "example.yaml") + ", line ")
    assert len(policy.sha256) == 64


def test_multi_label_example_sets_only_gates_that_apply_and_every_multi_label_only_gate():
    policy = load_policy(ROOT / "policies" / "multilabel.yaml")
    assert all("multi-label" in GATES[key].tasks for key in policy.gates)
    assert {key for key, spec in GATES.items() if spec.tasks == ("multi-label",)} <= set(policy.gates)
    assert isinstance(parse_policy("gates:\n  min_label_recall: {toxic: 0.8}\n").gates["min_label_recall"]["toxic"], float)


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
    ("bad choice", "gates:\n  max_ece: 0.1\nsettings:\n  faithfulness_method: gradcam\n", "line 4", ["must be one of shap, lime, ig"]),
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


# --------------------------------------------------------------------------- uploads cannot burn the server's CPU


@pytest.fixture
def yaml_work(monkeypatch):
    """Counts the work PyYAML does for any caller: tokens scanned, events parsed, nodes composed, objects constructed."""
    import yaml

    counts = {"tokens": 0, "events": 0, "nodes": 0, "objects": 0}

    def counting(cls, name, key):
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            counts[key] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    counting(yaml.scanner.Scanner, "fetch_more_tokens", "tokens")
    counting(yaml.parser.Parser, "get_event", "events")
    counting(yaml.composer.Composer, "compose_node", "nodes")
    counting(yaml.constructor.BaseConstructor, "construct_object", "objects")
    return counts


def billion_laughs(levels: int, anchor: str = "lol") -> str:
    """Each level is a mapping of four aliases to the level below: 4**levels nodes for anything that follows aliases."""
    lines = [f"{anchor}0: &{anchor}0 {{x: 1}}"]
    for i in range(1, levels):
        below = f"*{anchor}{i - 1}"
        lines.append(f"{anchor}{i}: &{anchor}{i} {{a: {below}, b: {below}, c: {below}, d: {below}}}")
    return "\n".join(lines) + "\ngates:\n  max_ece: 0.1\n"


@pytest.mark.parametrize("levels", [3, 8, 12])
def test_billion_laughs_policy_is_refused_before_anything_expands_it(levels, yaml_work):
    text = billion_laughs(levels, anchor="hunter")
    assert len(text) < 1000  # under a kilobyte expanding to 4**levels nodes; before this guard, 516 bytes took 18 s of server CPU
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "upload.yaml")
    message = str(info.value)
    assert message == "upload.yaml, line 1: policy files may not use YAML anchors/aliases (&name / *name); write the values out."
    assert "hunter" not in message  # names the line, never quotes the file
    assert yaml_work["nodes"] == 0 and yaml_work["objects"] == 0, "nothing may compose or construct the document before the refusal"
    assert yaml_work["events"] <= 10 and yaml_work["tokens"] <= len(text), yaml_work  # stops at the first anchor


def test_alias_late_in_a_long_policy_costs_work_in_proportion_to_the_text(yaml_work):
    padding = "".join(f"  # note {i}\n" for i in range(2000))
    text = "version: 1\nname: late\ngates:\n  min_macro_f1: 0.8\n" + padding + "description: *missing\n"
    with pytest.raises(PolicyError, match=r"upload.yaml, line 2005: policy files may not use YAML anchors/aliases"):
        parse_policy(text, "upload.yaml")
    assert yaml_work["nodes"] == 0 and yaml_work["objects"] == 0
    assert yaml_work["events"] <= 20 and yaml_work["tokens"] <= text.count("\n") + 20, yaml_work


@pytest.mark.parametrize(
    "text, line",
    [
        ("gates: &g\n  max_ece: 0.1\n", 1),  # an anchor on a mapping, never used
        ("gates:\n  max_ece: &t 0.1\n", 2),  # an anchor on a scalar, never used
        ("base: &b {max_ece: 0.1}\ngates:\n  <<: *b\n", 1),  # a merge key needs an alias
        ("gates:\n  min_class_recall: &r [0.7]\n", 2),
    ],
)
def test_anchor_without_alias_is_refused_too(text, line, yaml_work):
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert str(info.value).startswith(f"p.yaml, line {line}: policy files may not use YAML anchors/aliases (&name / *name)")
    assert yaml_work["nodes"] == 0


@pytest.mark.parametrize(
    "text",
    [
        "gates: " + "[" * 60_000,  # flow style: PyYAML's composer would recurse until RecursionError
        "gates: " + "{a: " * 15_000,
        "".join(" " * i + f"k{i}:\n" for i in range(300)),  # block style, by indentation
    ],
    ids=["flow sequences", "flow mappings", "block mappings"],
)
def test_deeply_nested_yaml_is_refused_at_the_limit_not_at_the_end(text, yaml_work):
    from store.policy import MAX_NESTING

    with pytest.raises(PolicyError, match=rf"nests more than {MAX_NESTING} levels deep; a policy needs 3"):
        parse_policy(text, "p.yaml")
    assert yaml_work["nodes"] == 0
    assert yaml_work["events"] <= 2 * MAX_NESTING + 5, yaml_work
    assert yaml_work["tokens"] < len(text) // 10, yaml_work  # the scanner stops too, well before the end of the text


def test_oversized_policy_is_refused_before_it_is_decoded_or_parsed(tmp_path, yaml_work):
    from store.policy import MAX_POLICY_BYTES

    valid = b"gates:\n  max_ece: 0.1\n"
    at_limit = valid + b"#" * (MAX_POLICY_BYTES - len(valid) - 1) + b"\n"
    assert len(at_limit) == MAX_POLICY_BYTES
    assert parse_policy(at_limit, "p.yaml").gates["max_ece"] == 0.1  # the limit itself is allowed
    yaml_work.update(dict.fromkeys(yaml_work, 0))
    with pytest.raises(PolicyError, match=r"p.yaml: the policy file is larger than 64 KiB"):
        parse_policy(at_limit + b"#", "p.yaml")
    with pytest.raises(PolicyError, match=r"larger than 64 KiB"):
        parse_policy("gates:\n  max_ece: 0.1\n# " + "é" * (MAX_POLICY_BYTES // 2), "p.yaml")  # counted in UTF-8 bytes, not characters
    big = tmp_path / "big.yaml"
    big.write_bytes(valid + b"#" * (8 * MAX_POLICY_BYTES))
    with pytest.raises(PolicyError, match=rf"{big}: the policy file is larger than 64 KiB"):
        load_policy(big)
    assert yaml_work == {"tokens": 0, "events": 0, "nodes": 0, "objects": 0}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[gates]\n" + ".".join(["a"] * 30_000) + " = 1\n", "line 2: a dotted key with more than 16 parts"),  # quadratic in tomllib
        ("[" + ".".join(["a"] * 20) + "]\nx = 1\n", "line 1: a dotted key with more than 16 parts"),
        ("a = " + "[" * 30_000 + "]" * 30_000 + "\n", "line 1: the policy nests more than 16 levels of [ ] or { }"),  # RecursionError in tomllib
        ("[gates]\nx = " + "{a = " * 20 + "1" + "}" * 20 + "\n", "line 2: the policy nests more than 16 levels"),
    ],
    ids=["long dotted key", "long table header", "nested arrays", "nested inline tables"],
)
def test_toml_shapes_that_grow_work_faster_than_the_text_are_refused_before_tomllib_reads_them(text, fragment, monkeypatch):
    import tomllib

    def must_not_run(_text):
        raise AssertionError("tomllib read the policy before the shape check refused it")

    monkeypatch.setattr(tomllib, "loads", must_not_run)
    with pytest.raises(PolicyError, match="^" + re.escape(f"p.toml, {fragment}")):
        parse_policy(text, "p.toml")


def test_dots_and_brackets_inside_toml_strings_and_comments_are_not_nesting():
    dots, brackets = ".".join("abcdefghijklmnopqrstuvwxyz"), "[" * 40 + "{" * 40
    text = (
        f'name = "{dots} {brackets} \\" {dots}"  # {dots} {brackets}\n'
        f"description = '''\n{dots} = 1\n[{' ' * 3000}x\n{brackets}\n''''\n"  # ends with one quote inside the string
        f'[ gates ]  # {dots}\nmin_macro_f1 = 0.8\n"min_class_recall" = {{ pos = 0.7 }}\n'
        f'[settings]\nslice_columns = ["{dots}", \'{brackets}\', """a\\"""]b""" ]\n'
    )
    policy = parse_policy(text, "p.toml")
    assert policy.name == f'{dots} {brackets} " {dots}' and policy.description.endswith("'")
    assert dict(policy.gates) == {"min_macro_f1": 0.8, "min_class_recall": {"pos": 0.7}}
    assert policy.settings["slice_columns"] == (dots, brackets, 'a"""]b')
    assert policy.lines["gates"] == 7 and policy.lines["gates.min_macro_f1"] == 8 and policy.lines["settings"] == 10


def test_every_policy_shape_the_docs_show_still_loads():
    for name in ("example.yaml", "multilabel.yaml"):
        assert load_policy(ROOT / "policies" / name).gates
    flow = parse_policy("version: 1\ngates: {min_class_recall: {pos: 0.7, neg: 0.6}, max_ece: 0.1}\nsettings: {slice_columns: [genre, year]}\n", "p.yaml")
    assert dict(flow.gates["min_class_recall"]) == {"pos": 0.7, "neg": 0.6} and flow.settings["slice_columns"] == ("genre", "year")
    headers = parse_policy("[gates]\nmin_macro_f1 = 0.8\n[gates.min_class_recall]\npos = 0.7\n", "p.toml")
    assert dict(headers.gates["min_class_recall"]) == {"pos": 0.7} and headers.lines["gates.min_class_recall"] == 3
