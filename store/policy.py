"""Release policies: which gates a checkpoint must pass before it may be deployed.

A policy is a YAML or TOML file (see `policies/example.yaml`)::

    version: 1
    name: sentiment release
    gates:
      min_macro_f1: 0.80
      min_class_recall: 0.70        # or a mapping {label: minimum}
      max_ece: 0.10
      # multi-label checkpoints: min_micro_f1, min_label_recall, max_hamming_loss
      max_drop_vs_baseline: 0.01
      max_slice_drop_vs_baseline: 0.05
      min_faithfulness: 0.05
      approvals_required: 2
    settings:
      slice_min_size: 20

Every mistake (unknown key, wrong type, value out of range, duplicate key, syntax error,
missing file) raises `PolicyError` with the file, the line and the key, and a hint.

Policies come from uploads, so parsing one must cost work in proportion to its size. Before
anything builds or walks the document, one linear pass refuses what would make the work grow
faster than the input: files over `MAX_POLICY_BYTES`, YAML anchors and aliases (each alias level
multiplies the document: "billion laughs"), nesting deeper than `MAX_NESTING`, and TOML dotted
keys with more than `MAX_NESTING` parts (tomllib's dotted-key handling is quadratic).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomllib
import yaml

from models.errors import VeredictoError
from models.task import MULTI_LABEL, SINGLE_LABEL

POLICY_VERSION = 1
MAX_POLICY_BYTES = 64 * 1024  # policies/example.yaml, every gate and setting documented, is about 3 KiB
MAX_NESTING = 16  # a policy needs 3 levels (gates -> min_class_recall -> label); headroom for flow style and [[headers]]


class PolicyError(VeredictoError):
    """A policy file that cannot be used; the message names the file, line and key."""


@dataclass(frozen=True)
class GateSpec:
    """What a policy may set for one gate; `store.gates.EVALUATORS[key]` measures it (a new gate needs both)."""

    key: str
    title: str
    kind: str  # "fraction" (0..1), "count" (int >= 0), "recall" (fraction or {label: fraction})
    direction: str  # "min" (measured >= threshold passes) or "max" (measured <= threshold passes)
    help: str
    tasks: tuple[str, ...] = (SINGLE_LABEL, MULTI_LABEL)  # the checkpoint kinds it applies to; on another it is "not evaluated", never a pass


GATES: dict[str, GateSpec] = {
    g.key: g
    for g in (
        GateSpec("min_macro_f1", "Macro-F1", "fraction", "min", "lowest acceptable macro-averaged F1 on the evaluation set (0..1)"),
        GateSpec(
            "min_class_recall",
            "Recall of every class",
            "recall",
            "min",
            "lowest acceptable recall of each class: one number for all classes, or a mapping label -> minimum",
            (SINGLE_LABEL,),
        ),
        GateSpec("max_ece", "Expected calibration error", "fraction", "max", "highest acceptable expected calibration error (0..1, 10 bins)", (SINGLE_LABEL,)),
        GateSpec(
            "max_drop_vs_baseline",
            "Drop vs baseline",
            "fraction",
            "max",
            "largest acceptable drop of settings.drop_metric (macro_f1 or accuracy) against the baseline checkpoint, e.g. 0.01 = 1 point",
        ),
        GateSpec(
            "max_slice_drop_vs_baseline",
            "Worst slice drop vs baseline",
            "fraction",
            "max",
            "largest acceptable accuracy drop against the baseline on any slice with at least settings.slice_min_size examples",
        ),
        GateSpec(
            "min_faithfulness",
            "Explanation faithfulness",
            "fraction",
            "min",
            "lowest acceptable mean faithfulness (comprehensiveness) of explanations on a sample of settings.faithfulness_sample texts",
        ),
        GateSpec(
            "max_probe_failure_rate",
            "Worst probe failure rate",
            "fraction",
            "max",
            "highest acceptable failure rate of any behavioural or bias probe (settings.probe_tests) on settings.probe_limit examples each",
        ),
        GateSpec(
            "max_pii_rate",
            "Personal data in the evaluation data",
            "fraction",
            "max",
            "highest acceptable share of evaluation rows holding personal data (emails, phones, IBANs, cards, national IDs, IPs, URLs, names)",
        ),
        GateSpec("approvals_required", "Approvals", "count", "min", "number of distinct reviewers who must approve these exact weights"),
        GateSpec(
            "max_leakage_rate",
            "Train–evaluation leakage",
            "fraction",
            "max",
            "highest acceptable share of evaluation texts also in the training data (exact or near-duplicate); needs the training data",
        ),
        GateSpec(
            "max_label_issue_rate",
            "Label issues",
            "fraction",
            "max",
            "highest acceptable share of evaluation rows whose gold label confident learning flags as probably wrong",
            (SINGLE_LABEL,),
        ),
        GateSpec(
            "max_drift_auc",
            "Train–evaluation drift",
            "fraction",
            "max",
            "highest acceptable ROC AUC of a classifier telling training from evaluation texts apart (0.5 = alike); needs the training data",
        ),
        # --- multi-label checkpoints (issue 10) ---
        GateSpec(
            "min_micro_f1", "Micro-F1", "fraction", "min", "lowest acceptable micro-averaged F1 over every (example, label) decision (0..1)", (MULTI_LABEL,)
        ),
        GateSpec(
            "min_label_recall",
            "Recall of every label",
            "recall",
            "min",
            "lowest acceptable recall of each label of a multi-label checkpoint: one number for all labels, or a mapping label -> minimum",
            (MULTI_LABEL,),
        ),
        GateSpec("max_hamming_loss", "Hamming loss", "fraction", "max", "highest acceptable share of wrong (example, label) decisions, 0..1", (MULTI_LABEL,)),
    )
}


@dataclass(frozen=True)
class SettingSpec:
    key: str
    kind: str  # "int", "str", "list[str]", "choice"
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None


SETTINGS: dict[str, SettingSpec] = {
    s.key: s
    for s in (
        SettingSpec("drop_metric", "choice", "macro_f1", "metric compared against the baseline", ("macro_f1", "accuracy")),
        SettingSpec("slice_min_size", "int", 20, "slices smaller than this are ignored by the slice gate (too noisy)", minimum=1),
        SettingSpec("slice_columns", "list[str]", None, "metadata columns to slice on (default: every non-ID metadata column, plus text length)"),
        SettingSpec("ece_bins", "int", 10, "number of equal-width confidence bins for the calibration error", minimum=2),
        SettingSpec("faithfulness_sample", "int", 12, "how many texts to explain for the faithfulness gate", minimum=1),
        SettingSpec(
            "faithfulness_method",
            "choice",
            "shap",
            "explainer used for the faithfulness gate (ig: Integrated Gradients, a fraction of a second a text)",
            ("shap", "lime", "ig"),
        ),
        SettingSpec("probe_tests", "list[str]", None, "probes for the probe gate, by name or kind (default: every invariance and fairness probe)"),
        SettingSpec("probe_limit", "int", 200, "examples per probe for the probe gate", minimum=1),
        SettingSpec("seed", "int", 0, "seed for sampling texts and for the explainers", minimum=0),
    )
}

TOP_LEVEL = ("version", "name", "description", "gates", "settings")


@dataclass(frozen=True)
class Policy:
    """A validated policy. `text` is the file exactly as read and `sha256` its hash: both go into every sign-off."""

    gates: Mapping[str, Any]  # only the gates the file sets, in file order
    settings: Mapping[str, Any]  # every setting, defaults filled in
    name: str
    description: str
    text: str
    sha256: str
    source: str
    fmt: str  # "yaml" | "toml"
    lines: Mapping[str, int] = field(default_factory=dict)  # "gates.max_ece" -> 1-based line

    def where(self, key: str) -> str:
        """'example.yaml, line 7' for a dotted key (or just the file when the line is unknown)."""
        line = self.lines.get(key)
        return f"{self.source}, line {line}" if line else self.source

    def threshold(self, key: str) -> Any:
        return self.gates.get(key)


# --------------------------------------------------------------------------- bounded work, before anything walks the document

ALIAS_MESSAGE = "policy files may not use YAML anchors/aliases (&name / *name); write the values out"


def _yaml_syntax_error(exc: yaml.YAMLError, source: str) -> PolicyError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f", line {mark.line + 1}" if mark is not None else ""
    return PolicyError(f"{source}{where}: not valid YAML ({problem}). Check indentation and that every key ends with ':'.")


def _check_yaml_events(text: str, source: str) -> int:
    """Stream the parser's events once and refuse anchors, aliases and deep nesting; returns the number of events examined.

    The parser keeps no document in memory and an alias is one event however much it would expand to, so this pass
    is linear in the text; it stops at the first offending event, before `yaml.compose`/`safe_load` build anything.
    """
    depth = 0
    events = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            events += 1
            mark = event.start_mark  # the pure-Python parser always sets it; the stubs allow None
            where = f"{source}, line {mark.line + 1}" if mark is not None else source
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise PolicyError(f"{where}: {ALIAS_MESSAGE}.")
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_NESTING:
                    raise PolicyError(
                        f"{where}: the policy nests more than {MAX_NESTING} levels deep; a policy needs 3 "
                        "(gates -> min_class_recall -> label). See policies/example.yaml."
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _yaml_syntax_error(exc, source) from None
    return events


def _check_toml_shape(text: str, source: str) -> None:
    """One pass over the text, outside strings and comments: refuse brackets nested, or dotted keys longer, than MAX_NESTING.

    tomllib's cost per dotted key grows with the square of its parts, and it recurses per nested array/inline table,
    so both are bounded here before it runs. Malformed strings are left for tomllib to report with their line.
    """
    depth = 0  # open [ and { outside strings
    parts = 1  # parts of the dotted name being read (a.b.c -> 3); any other punctuation ends it
    line = 1
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            parts = 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'":
            multi = text.startswith(c * 3, i)
            i += 3 if multi else 1
            while i < n:
                d = text[i]
                if c == '"' and d == "\\":
                    line += text[i + 1 : i + 2] == "\n"
                    i += 2
                    continue
                if d == "\n":
                    if not multi:
                        break  # unterminated: tomllib says where
                    line += 1
                elif d == c and not multi:
                    i += 1
                    break
                elif d == c and text.startswith(c * 3, i):
                    run = 3
                    while run < 5 and text[i + run : i + run + 1] == c:  # a closing run of 4 or 5: the content ends with 1 or 2 quotes
                        run += 1
                    i += run
                    break
                i += 1
            continue
        elif c == ".":
            parts += 1
            if parts > MAX_NESTING:
                raise PolicyError(
                    f"{source}, line {line}: a dotted key with more than {MAX_NESTING} parts; a policy needs at most 3 "
                    "(gates.min_class_recall.label). See policies/example.yaml."
                )
        elif c in "[{":
            depth += 1
            parts = 1
            if depth > MAX_NESTING:
                raise PolicyError(
                    f"{source}, line {line}: the policy nests more than {MAX_NESTING} levels of [ ] or {{ }}; a policy needs 3 "
                    "(gates -> min_class_recall -> label). See policies/example.yaml."
                )
        elif c in "]}":
            depth = max(depth - 1, 0)
            parts = 1
        elif not (c.isalnum() or c in "_- \t\r"):
            parts = 1
        i += 1


# --------------------------------------------------------------------------- line numbers


def _yaml_lines(text: str, source: str) -> dict[str, int]:
    """Dotted key -> line for every mapping key, and a PolicyError on duplicate keys (PyYAML keeps the last silently)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}  # safe_load reports the syntax error with its line
    lines: dict[str, int] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                dotted = f"{prefix}{key}"
                if key in seen:
                    raise PolicyError(f"{source}, line {line}: '{dotted}' is set twice (first on line {seen[key]}). Keep one of them.")
                seen[key] = line
                lines[dotted] = line
                walk(value_node, dotted + ".")

    walk(root, "")
    return lines


# Each quantifier is followed by something it cannot match, so a line is matched in one pass: the earlier
# r"^\s*\[+\s*([^\]]+?)\s*\]+..." backtracked cubically on a '[' followed by spaces (a 2,000-character line took 14 s).
_TOML_TABLE = re.compile(r"^[ \t]*\[\[?([^\[\]\n]*)\]\]?[ \t]*(?:#.*)?$")
_TOML_KEY = re.compile(r"^\s*(\"[^\"]+\"|'[^']+'|[A-Za-z0-9_.-]+)\s*=")


def _toml_lines(text: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TOML_TABLE.match(line)
        if header:
            table = ".".join(p.strip().strip("\"'") for p in header.group(1).split("."))
            lines.setdefault(table, number)
            continue
        key = _TOML_KEY.match(line)
        if key:
            dotted = ".".join(p.strip().strip("\"'") for p in key.group(1).split("."))
            full = f"{table}.{dotted}" if table else dotted
            lines.setdefault(full, number)
            parts = full.split(".")
            for i in range(1, min(len(parts), MAX_NESTING + 1)):  # a line inside a multi-line string may look like a 30,000-part key
                lines.setdefault(".".join(parts[:i]), number)
    return lines


# --------------------------------------------------------------------------- validation


def _type_name(value: Any, quote: bool = True) -> str:
    """What `value` is, for a message; with `quote=False` (team mode) only its kind, never the value from the file."""
    if not quote and value is not None:
        return (
            "a true/false value"
            if isinstance(value, bool)
            else "a number"
            if isinstance(value, (int, float))
            else "text"
            if isinstance(value, str)
            else _type_name(value)
        )
    if value is None:
        return "nothing (empty value)"
    if isinstance(value, bool):
        return f"a true/false value ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _suggest(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _fraction(value: Any, where: str, key: str, quote: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyError(f"{where}: '{key}' must be a number between 0 and 1, not {_type_name(value, quote)}.")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        if not quote:
            raise PolicyError(f"{where}: '{key}' must be between 0 and 1 (a fraction: 0.95, not 95).")
        hint = f" (write {value / 100:g} for {value:g}%)" if 1 < value <= 100 else ""
        raise PolicyError(f"{where}: '{key}' must be between 0 and 1, not {value:g}{hint}.")
    return value


def _validate(data: Any, text: str, source: str, fmt: str, lines: dict[str, int], quote: bool = True) -> Policy:
    def at(key: str) -> str:
        line = lines.get(key)
        return f"{source}, line {line}" if line else source

    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy must be a mapping with a 'gates' section, not {_type_name(data, quote)}. See policies/example.yaml.")
    for key in data:
        if key not in TOP_LEVEL:
            raise PolicyError(f"{at(str(key))}: unknown key '{key}'. A policy has: {', '.join(TOP_LEVEL)}.{_suggest(str(key), TOP_LEVEL)}")
    version = data.get("version", POLICY_VERSION)
    if isinstance(version, bool) or version != POLICY_VERSION:
        raise PolicyError(
            f"{at('version')}: 'version' must be {POLICY_VERSION} (this Veredicto reads policy version {POLICY_VERSION}), not {_type_name(version, quote)}."
        )
    name = data.get("name", "") or ""
    description = data.get("description", "") or ""
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise PolicyError(f"{at(key)}: '{key}' must be text, not {_type_name(value, quote)}.")

    raw_gates = data.get("gates")
    if raw_gates is None:
        raise PolicyError(
            f"{at('gates') if 'gates' in data else source}: the policy has no gates. Add a 'gates' section with at least one of: {', '.join(GATES)}."
        )
    if not isinstance(raw_gates, dict):
        raise PolicyError(f"{at('gates')}: 'gates' must be a mapping of gate name to threshold, not {_type_name(raw_gates, quote)}.")
    if not raw_gates:
        raise PolicyError(f"{at('gates')}: 'gates' is empty. Set at least one of: {', '.join(GATES)}.")
    gates: dict[str, Any] = {}
    for key, value in raw_gates.items():
        dotted = f"gates.{key}"
        if key not in GATES:
            raise PolicyError(f"{at(dotted)}: unknown gate '{key}'.{_suggest(str(key), GATES)} Known gates: {', '.join(GATES)}.")
        spec = GATES[key]
        if value is None:
            raise PolicyError(f"{at(dotted)}: gate '{key}' has no value. Give it a threshold ({spec.help}) or remove the line.")
        if spec.kind == "fraction":
            gates[key] = _fraction(value, at(dotted), dotted, quote)
        elif spec.kind == "count":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PolicyError(f"{at(dotted)}: '{dotted}' must be a whole number of reviewers (0 or more), not {_type_name(value, quote)}.")
            gates[key] = int(value)
        else:  # recall: a number for every class, or {label: number}
            if isinstance(value, dict):
                if not value:
                    raise PolicyError(f"{at(dotted)}: '{dotted}' is an empty mapping. Give one number for all classes or label: minimum pairs.")
                gates[key] = MappingProxyType({str(label): _fraction(v, at(f"{dotted}.{label}"), f"{dotted}.{label}", quote) for label, v in value.items()})
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise PolicyError(
                        f"{at(dotted)}: '{dotted}' must be a number between 0 and 1 (for every class) or a mapping label -> number, not {_type_name(value, quote)}."
                    )
                gates[key] = _fraction(value, at(dotted), dotted, quote)

    raw_settings = data.get("settings") or {}
    if not isinstance(raw_settings, dict):
        raise PolicyError(f"{at('settings')}: 'settings' must be a mapping, not {_type_name(raw_settings, quote)}.")
    settings = {key: spec.default for key, spec in SETTINGS.items()}
    for key, value in raw_settings.items():
        dotted = f"settings.{key}"
        if key not in SETTINGS:
            raise PolicyError(f"{at(dotted)}: unknown setting '{key}'.{_suggest(str(key), SETTINGS)} Known settings: {', '.join(SETTINGS)}.")
        setting = SETTINGS[key]
        if setting.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or (setting.minimum is not None and value < setting.minimum):
                raise PolicyError(f"{at(dotted)}: '{dotted}' must be a whole number ≥ {setting.minimum}, not {_type_name(value, quote)}.")
        elif setting.kind == "choice":
            if value not in setting.choices:
                raise PolicyError(f"{at(dotted)}: '{dotted}' must be one of {', '.join(setting.choices)}, not {_type_name(value, quote)}.")
        elif setting.kind == "list[str]":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise PolicyError(f"{at(dotted)}: '{dotted}' must be a list of column names, not {_type_name(value, quote)}.")
            value = tuple(v.strip() for v in value)
        settings[key] = value

    return Policy(
        gates=MappingProxyType(gates),
        settings=MappingProxyType(settings),
        name=name.strip(),
        description=description.strip(),
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        source=source,
        fmt=fmt,
        lines=MappingProxyType(lines),
    )


# --------------------------------------------------------------------------- entry points


def _format_of(source: str, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower()
    else:
        suffix = Path(source).suffix.lower()
        fmt = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}.get(suffix)
        if fmt is None:
            raise PolicyError(f"{source}: unknown policy format '{suffix or '(no extension)'}'. Name the file .yaml, .yml or .toml.")
    if fmt not in ("yaml", "toml"):
        raise PolicyError(f"{source}: policy format must be yaml or toml, not '{fmt}'.")
    return fmt


def parse_policy(text: str | bytes, source: str = "policy.yaml", fmt: str | None = None, *, quote_values: bool = True) -> Policy:
    """Validate policy text (e.g. an uploaded file); `fmt` defaults to the extension of `source`.

    `quote_values=False` (team mode): messages name the file, line and key but never repeat a value from the file,
    which may not be the reader's to see."""
    fmt = _format_of(source, fmt)
    # checked before decoding; a str longer than the limit in characters is too long in bytes too, without encoding it
    if len(text) > MAX_POLICY_BYTES or (isinstance(text, str) and len(text.encode("utf-8")) > MAX_POLICY_BYTES):
        raise PolicyError(
            f"{source}: the policy file is larger than {MAX_POLICY_BYTES // 1024} KiB, the most a policy may be "
            "(policies/example.yaml, with every gate documented, is about 3 KiB). Keep only the gates, settings and comments the release needs."
        )
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise PolicyError(f"{source}, line {line}: the file is not UTF-8 text. Save it as UTF-8.") from None
    text = text.lstrip("\ufeff")
    if fmt == "yaml":
        _check_yaml_events(text, source)  # anchors, aliases and deep nesting are refused before anything builds the document
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise _yaml_syntax_error(exc, source) from None
        lines = _yaml_lines(text, source)
    else:
        _check_toml_shape(text, source)  # deep nesting and long dotted keys are refused before tomllib reads them
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            match = re.search(r"\(at line (\d+), column (\d+)\)", message)
            where = f", line {match.group(1)}" if match else ""
            detail = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
            raise PolicyError(f"{source}{where}: not valid TOML ({detail}). Check quoting and '[section]' headers.") from None
        lines = _toml_lines(text)
    if data is None:
        raise PolicyError(f"{source}: the policy file is empty. Start from policies/example.yaml.")
    return _validate(data, text, source, fmt, lines, quote_values)


def load_policy(path: str | os.PathLike, *, quote_values: bool = True) -> Policy:
    """Read and validate a policy file; every problem is a PolicyError naming the file, the line and the key."""
    path = Path(path).expanduser()
    if not path.exists():
        raise PolicyError(f"Policy file '{path}' does not exist. Check the path, or start from policies/example.yaml.")
    if path.is_dir():
        raise PolicyError(f"'{path}' is a directory; give the path of a .yaml or .toml policy file.")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)  # one byte over is enough for parse_policy to refuse it; never read a huge file whole
    except OSError as exc:
        raise PolicyError(f"Policy file '{path}' cannot be read: {exc.strerror}.") from None
    return parse_policy(raw, source=str(path), quote_values=quote_values)
