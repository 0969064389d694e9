"""Find, validate, fingerprint and safely load Hugging Face checkpoint directories.

The fingerprint covers every file that changes how the model behaves (weights, config, tokenizer files),
so an approval given to one model never carries over to one that tokenizes or truncates differently.

Safety rules: weights are read from `model.safetensors` only (never a pickle),
`trust_remote_code` is always off, and nothing is fetched from a hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from models.errors import CheckpointError
from models.task import SINGLE_LABEL, decide_task, describe_task, parse_task

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
CONVERT_HINT = (
    "Convert it once, in an environment you trust, with: "
    "`AutoModelForSequenceClassification.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)`."
)
_UNBOUNDED = 1_000_000  # tokenizers without a known limit report ~1e30


@dataclass(frozen=True)
class CheckpointRef:
    """A validated checkpoint directory: what it is and exactly which weights it holds."""

    path: Path
    name: str
    labels: tuple[str, ...]
    fingerprint: str  # sha256 over every file that decides behaviour: config, weights, tokenizer (`checkpoint_fingerprint`)
    model_type: str
    max_length: int  # tokens per text, special tokens included
    task: str = SINGLE_LABEL  # models.task.SINGLE_LABEL or MULTI_LABEL: softmax or a sigmoid per label
    task_source: str = "config"  # "config" (problem_type) or "override" (--task / the sidebar)

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:12]

    @property
    def multi_label(self) -> bool:
        return self.task != SINGLE_LABEL

    @property
    def task_description(self) -> str:
        return describe_task(self.task, self.task_source)

    @property
    def scoring_key(self) -> str:
        """What names this checkpoint's probabilities in caches: the fingerprint, plus the task when it is not single-label.

        The same weights read as multi-label (sigmoid) and as single-label (softmax) give different numbers, so
        they never share a cached row; single-label keys are the bare fingerprint, as before tasks existed.
        """
        return self.fingerprint if self.task == SINGLE_LABEL else f"{self.fingerprint}:{self.task}"

    def with_task(self, task: str | None) -> CheckpointRef:
        """This checkpoint read as `task` (None or the same task: unchanged)."""
        chosen = parse_task(task)
        return self if chosen is None or chosen == self.task else replace(self, task=chosen, task_source="override")

    def label_index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise CheckpointError(f"Checkpoint '{self.name}' has no label '{label}'. Its labels are: {', '.join(self.labels)}.") from None


def _read_config(path: Path) -> dict:
    config_path = path / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"'{path}' is not a checkpoint: it has no config.json. Point Veredicto at a directory saved with `save_pretrained`.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(
            f"{config_path} is not UTF-8 text, so it cannot be a Hugging Face config. Re-save the checkpoint with `save_pretrained`."
        ) from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{config_path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). Fix or regenerate it with `save_pretrained`."
        ) from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path} must hold a JSON object, not {type(config).__name__}.")
    if "auto_map" in config:
        raise CheckpointError(
            f"Checkpoint '{path.name}' refused: its config.json has `auto_map`, i.e. it needs custom Python code "
            "from the checkpoint to load. Veredicto never runs code shipped with a model (trust_remote_code is off). "
            "Use a checkpoint of a standard transformers architecture, or remove `auto_map` if the architecture is built in."
        )
    return config


def _weight_files(path: Path) -> list[Path]:
    single = path / "model.safetensors"
    index = path / "model.safetensors.index.json"
    if single.is_file():
        return [single]
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, UnicodeDecodeError, AttributeError):
            raise CheckpointError(f"{index} is not a valid safetensors index. Re-save the checkpoint with `save_pretrained`.") from None
        files = [path / s for s in shards]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(f"Checkpoint '{path.name}' is incomplete: shard(s) {', '.join(missing)} listed in {index.name} are missing.")
        return files
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"Checkpoint '{path.name}' refused: it only has pickle weights ({', '.join(pickles)}). Loading a pickle can run "
            f"arbitrary code, so Veredicto only loads model.safetensors. {CONVERT_HINT}"
        )
    raise CheckpointError(f"Checkpoint '{path.name}' has no weights: expected model.safetensors next to config.json.")


def _check_safetensors(file: Path) -> None:
    """Cheap structural check: header parses and every tensor lies inside the file."""
    size = file.stat().st_size
    problem = None
    try:
        with file.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                problem = "the file is shorter than a safetensors header"
            else:
                (header_len,) = struct.unpack("<Q", raw)
                if header_len > size - 8 or header_len > 100_000_000:
                    problem = "its header length points past the end of the file"
                else:
                    header = json.loads(fh.read(header_len))
                    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
                    if 8 + header_len + max(ends, default=0) > size:
                        problem = f"tensor data ends at byte {8 + header_len + max(ends)} but the file has only {size} bytes (truncated?)"
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, IndexError, AttributeError):
        problem = "its header is not valid safetensors JSON"
    if problem:
        raise CheckpointError(f"{file} is corrupt: {problem}. Copy the checkpoint again or re-save it with `save_pretrained(safe_serialization=True)`.")


def _labels(config: dict, path: Path) -> tuple[str, ...]:
    id2label = config.get("id2label")
    if not id2label:
        n = int(config.get("num_labels", 2))
        return tuple(f"LABEL_{i}" for i in range(n))
    try:
        items = sorted((int(k), str(v)) for k, v in id2label.items())
    except (ValueError, AttributeError):
        raise CheckpointError(f"config.json of '{path.name}' has an id2label whose keys are not integers: {id2label!r}.") from None
    if [i for i, _ in items] != list(range(len(items))):
        raise CheckpointError(f"config.json of '{path.name}' has id2label keys {[i for i, _ in items]}; expected 0..{len(items) - 1}.")
    names = tuple(v for _, v in items)
    if len(set(names)) != len(names):
        raise CheckpointError(f"config.json of '{path.name}' repeats a label name in id2label: {names}.")
    return names


def _max_length(config: dict, path: Path) -> int:
    limits = []
    tok_config = path / "tokenizer_config.json"
    if tok_config.is_file():
        try:
            value = json.loads(tok_config.read_text(encoding="utf-8")).get("model_max_length")
            if isinstance(value, (int, float)) and 0 < value < _UNBOUNDED:
                limits.append(int(value))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            raise CheckpointError(f"{tok_config} is not valid JSON. Re-save the tokenizer with `save_pretrained`.") from None
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style models reserve padding_idx + 1 positions.
        offset = config.get("pad_token_id", 0) + 1 if config.get("model_type") in {"roberta", "xlm-roberta", "camembert"} else 0
        limits.append(positions - offset)
    return min(limits) if limits else 512


# What makes up a checkpoint's behaviour, and so its fingerprint (`checkpoint_fingerprint`). A file is in when
# loading the checkpoint reads it and its content can change a prediction:
# - config.json: architecture, id2label (what each output means), problem type, dropout and pad ids;
# - the weights: model.safetensors, or model.safetensors.index.json plus every shard it lists (the index decides
#   which shard each tensor is read from);
# - every file AutoTokenizer reads (`TOKENIZER_BEHAVIOUR_FILES`): tokenizer_config.json (model_max_length, so the
#   truncation point, do_lower_case, strip_accents, special tokens), special_tokens_map.json, added_tokens.json,
#   tokenizer.json (the fast tokenizer: vocabulary, normalizer, pre-tokenizer, post-processor), and each slow
#   tokenizer's vocabulary files (vocab.txt, vocab.json + merges.txt, sentencepiece models, ...: the union of
#   `vocab_files_names` over the tokenizers transformers ships; tests/test_checkpoints.py checks the installed
#   transformers adds none we miss) and the chat template (read by AutoTokenizer, even if a classifier never uses it);
# - adapter_config.json / adapter_model.safetensors: with `peft` installed, from_pretrained applies a PEFT adapter
#   found next to the config, so it changes the model.
# Out, because loading never reads them or they describe rather than define the model: README.md and other notes,
# provenance.json (the training record; it stores this very fingerprint, so it cannot be part of it), trainer_state.json,
# training_args.bin, logs and runs/ (training history), generation_config.json (only `generate()` reads it; a
# sequence classifier never generates), pickle weights (never loaded: safetensors only), and subfolders (Trainer's
# intermediate checkpoint-N/ folders are checkpoints of their own).
FINGERPRINT_VERSION = 2  # 1: config.json + weights only (before tokenizer files counted); see `legacy_fingerprint`
TOKENIZER_BEHAVIOUR_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.json",
    "chat_template.jinja",
    "chat_template.json",
    # slow tokenizers' vocabulary files (`vocab_files_names` across transformers' tokenizers)
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.model",
    "sentencepiece.bpe.model",
    "spm.model",
    "tokenizer.model",
    "source.spm",
    "target.spm",
    "bpe.codes",
    "byte_maps.json",
    "emoji.json",
    "entity_vocab.json",
    "normalizer.json",
    "prophetnet.tokenizer",
    "vocab-src.json",
    "vocab-tgt.json",
    "word_pronunciation.json",
    "word_shape.json",
)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@lru_cache(maxsize=256)
def _fingerprint_cached(files: tuple[tuple[str, int, int], ...], version: int) -> str:
    digest = hashlib.sha256()
    if version >= 2:
        digest.update(b"veredicto-checkpoint-v2\0")
    for name, size, _ in files:
        digest.update(Path(name).name.encode() + b"\0")
        if version >= 2:  # the length frames each file, so bytes cannot move from one file to the next unnoticed
            digest.update(size.to_bytes(8, "big"))
        with open(name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def fingerprint_files(files: list[Path], *, version: int = FINGERPRINT_VERSION) -> str:
    """sha256 over the files' names, sizes and bytes in the order given, memoised on (path, size, mtime)."""
    key = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _fingerprint_cached(key, version)


def behaviour_files(path: Path) -> list[Path]:
    """The files of checkpoint `path` that decide how it behaves (see the list above), sorted by name."""
    named = ["config.json", *TOKENIZER_BEHAVIOUR_FILES, *ADAPTER_FILES]
    files = {p.name: p for p in (path / n for n in named) if p.is_file()}
    weights = _weight_files(path)
    index = path / "model.safetensors.index.json"
    if index.is_file() and (path / "model.safetensors") not in weights:
        weights.append(index)
    files.update((w.name, w) for w in weights)
    return [files[n] for n in sorted(files)]


def checkpoint_fingerprint(path: str | os.PathLike) -> str:
    """The fingerprint of checkpoint directory `path`: sha256 over the name, size and bytes of each behaviour file, by name.

    A rename of one of them is a change; where the folder lives is not (byte-identical copies share it).
    """
    return fingerprint_files(behaviour_files(Path(path)))


def legacy_fingerprint(path: str | os.PathLike) -> str:
    """The version-1 fingerprint (config.json and weights only), as recorded before tokenizer files counted.

    Only for recognising what an old record or manifest meant; it does not cover the tokenizer, so nothing
    should be approved or trusted on it.
    """
    path = Path(path)
    return fingerprint_files([path / "config.json", *_weight_files(path)], version=1)


def inspect_checkpoint(path: str | os.PathLike, *, task: str | None = None, base: bool = False) -> CheckpointRef:
    """Validate a checkpoint directory without loading it; raise CheckpointError with advice if unusable.

    `task` overrides what config.json says (`problem_type`); regression and non-classifier heads are refused either way,
    except for a `base` to fine-tune from (a pretrained encoder such as `BertModel` gets a classification head then).
    """
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise CheckpointError(f"Checkpoint directory '{path}' does not exist. Check the path, or run `veredicto demo` to build the demo checkpoints.")
    if not path.is_dir():
        raise CheckpointError(f"'{path}' is a file; a checkpoint is a directory with config.json, tokenizer files and model.safetensors.")
    config = _read_config(path)
    chosen, source = decide_task(config, path.name, task, base=base)
    weights = _weight_files(path)
    for file in weights:
        _check_safetensors(file)
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise CheckpointError(
            f"Checkpoint '{path.name}' has no tokenizer (none of {', '.join(TOKENIZER_FILES)}). "
            "Save the tokenizer next to the model with `tokenizer.save_pretrained(DIR)`."
        )
    return CheckpointRef(
        path=path,
        name=path.name,
        labels=_labels(config, path),
        fingerprint=checkpoint_fingerprint(path),
        model_type=str(config.get("model_type", "unknown")),
        max_length=_max_length(config, path),
        task=chosen,
        task_source=source,
    )


def discover_checkpoints(root: str | os.PathLike) -> tuple[list[CheckpointRef], dict[Path, str]]:
    """All checkpoints under `root` (itself included), and a message for each directory that failed validation."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise CheckpointError(f"Checkpoints directory '{root}' does not exist. Pick a directory that holds checkpoint folders, or run `veredicto demo`.")
    found: list[CheckpointRef] = []
    problems: dict[Path, str] = {}
    for config in sorted(root.rglob("config.json")):
        if any(part.startswith(".") or part == "__pycache__" for part in config.relative_to(root).parts[:-1]):
            continue
        try:
            found.append(inspect_checkpoint(config.parent))
        except CheckpointError as exc:
            problems[config.parent] = str(exc)
    return found, problems


def load_checkpoint(ref: CheckpointRef, device: str = "cpu"):
    """Load (model, tokenizer) for a validated checkpoint: local files, safetensors, no remote code."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.path, local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types for a broken tokenizer
        raise CheckpointError(f"The tokenizer of '{ref.name}' could not be loaded: {exc}. Re-save it with `tokenizer.save_pretrained(DIR)`.") from None
    try:
        model = AutoModelForSequenceClassification.from_pretrained(ref.path, local_files_only=True, trust_remote_code=False, use_safetensors=True)
    except Exception as exc:  # noqa: BLE001 - and as many for weights that do not fit the config
        raise CheckpointError(
            f"The model '{ref.name}' could not be loaded as a sequence classifier: {exc}. Check that config.json and model.safetensors belong together."
        ) from None
    if model.config.num_labels != len(ref.labels):
        raise CheckpointError(f"'{ref.name}' has {model.config.num_labels} outputs but {len(ref.labels)} labels in id2label.")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device).eval(), tokenizer
