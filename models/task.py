"""What kind of classifier a checkpoint is: decided once, here, from its config (or an explicit override).

- single-label: one softmax over the labels; the prediction is the most probable label.
- multi-label: an independent sigmoid per label; the prediction is the set of labels at or above their threshold.

Either kind may read a sentence pair (two text columns): that is a property of the inputs, not of the
checkpoint (`models.inference.Predictor` takes `(text, text_pair)` tuples), checked against the tokenizer.

Everything else is refused with a message that names the config field that says so: regression
(`num_labels == 1` or `problem_type: regression`) and any head that is not a sequence classifier
(token classification, question answering, causal/masked LM, seq2seq), which `AutoModelForSequenceClassification`
would otherwise load with a freshly initialised head and score at random.
"""

from __future__ import annotations

from models.errors import CheckpointError

SINGLE_LABEL = "single-label"
MULTI_LABEL = "multi-label"
TASKS = (SINGLE_LABEL, MULTI_LABEL)
_PROBLEM_TYPES = {"single_label_classification": SINGLE_LABEL, "multi_label_classification": MULTI_LABEL}
_OVERRIDE_HINT = f"Pass --task {MULTI_LABEL} (or pick the task in the sidebar) if it is a multi-label classifier whose config does not say so."


def parse_task(value: str | None) -> str | None:
    """A task name as users write it ('multi-label', 'multi_label', 'single') -> one of `TASKS`; None stays None."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().lower().replace("_", "-")
    aliases = {"single": SINGLE_LABEL, "single-label": SINGLE_LABEL, "multi": MULTI_LABEL, "multi-label": MULTI_LABEL, "multilabel": MULTI_LABEL}
    if text not in aliases:
        raise CheckpointError(f"Unknown task '{value}'. Use one of: {', '.join(TASKS)}.")
    return aliases[text]


def decide_task(config: dict, name: str, override: str | None = None, *, base: bool = False) -> tuple[str, str]:
    """(task, where it came from: 'config' or 'override') for a checkpoint's config.json; refuses what is not a text classifier.

    A `base` (what fine-tuning starts from) may have any encoder architecture: its head is replaced.
    """
    if base:
        return parse_task(override) or SINGLE_LABEL, "override" if override else "config"
    architectures = config.get("architectures") or []
    if not isinstance(architectures, list):
        architectures = [architectures]
    other = [str(a) for a in architectures if not str(a).endswith("ForSequenceClassification")]
    if other:
        raise CheckpointError(
            f"Checkpoint '{name}' refused: config.json says `architectures: {other}`, which is not a sequence classifier "
            "(token classification, question answering, language-model and seq2seq heads are not supported). "
            "Veredicto evaluates text classifiers saved from a *ForSequenceClassification model."
        )
    problem_type = config.get("problem_type")
    if problem_type == "regression":
        raise CheckpointError(
            f"Checkpoint '{name}' refused: config.json says `problem_type: regression`. Veredicto evaluates classifiers "
            "(single-label or multi-label), not regression models."
        )
    num_labels = config.get("num_labels")
    id2label = config.get("id2label")
    n = len(id2label) if isinstance(id2label, dict) and id2label else num_labels
    if n == 1:
        raise CheckpointError(
            f"Checkpoint '{name}' refused: config.json has a single output (`num_labels: 1` / one id2label entry), which "
            "transformers treats as regression. Veredicto evaluates classifiers with two or more labels."
        )
    if problem_type is not None and problem_type not in _PROBLEM_TYPES:
        raise CheckpointError(f"Checkpoint '{name}' refused: config.json has an unknown `problem_type: {problem_type}`. {_OVERRIDE_HINT}")
    chosen = parse_task(override)
    if chosen is not None:
        return chosen, "override"
    return _PROBLEM_TYPES.get(problem_type or "", SINGLE_LABEL), "config"


def describe_task(task: str, source: str = "config") -> str:
    """'multi-label (set by the user; the config does not say)' / 'single-label' for pages, reports and the CLI."""
    return task if source == "config" else f"{task} (set by the user, not read from config.json)"
