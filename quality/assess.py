"""All three data-quality checks at once, for `veredicto quality`, the data-quality gates and the report.

quality = assess(predictor, table, training)       # training: quality.training.TrainingData
quality.leakage / quality.drift / quality.label_issues   # None when not measured; `missing` says why
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from analysis.predictions import PredictionTable
from models.protocol import InferenceLayer, Progress
from quality.drift import DEFAULT_CAP, Drift, measure_drift, sample_rows
from quality.label_issues import LabelIssues, NotSingleLabelError, find_issues
from quality.leakage import DEFAULT_THRESHOLD, CleanMetrics, Leakage, LeakageScan, find_leakage, metrics_without_leaked
from quality.training import TrainingData

CHECKS = ("leakage", "drift", "label_issues")


@dataclass(frozen=True, eq=False)
class DataQuality:
    """What was measured; `missing[check]` says in words why a check has no result (e.g. no training data)."""

    training: TrainingData
    leakage: Leakage | None = None
    clean_metrics: CleanMetrics | None = None
    drift: Drift | None = None
    label_issues: LabelIssues | None = None
    missing: Mapping[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Plain sentences for a terminal or a report, one per check."""
        out = [self.training.describe()]
        if self.leakage is not None:
            out.append("Leakage: " + self.leakage.summary())
            if self.clean_metrics is not None and self.clean_metrics.removed:
                t = self.clean_metrics.table()
                out.append(
                    f"Without the {self.clean_metrics.removed} leaked rows: accuracy {t.loc['accuracy', 'all rows']:.3f} → {t.loc['accuracy', 'without leaked rows']:.3f}, "
                    f"macro-F1 {t.loc['macro_f1', 'all rows']:.3f} → {t.loc['macro_f1', 'without leaked rows']:.3f}."
                )
        if self.drift is not None:
            out.append("Drift: " + self.drift.summary())
        if self.label_issues is not None:
            out.append("Label issues: " + self.label_issues.summary())
        out.extend(f"{check.replace('_', ' ').capitalize()}: not measured. {why}" for check, why in self.missing.items())
        return out

    def as_dict(self) -> dict:
        return {
            "training": {
                "source": self.training.source,
                "name": self.training.name,
                "message": self.training.message,
            },
            "leakage": None if self.leakage is None else self.leakage.as_dict(),
            "metrics_without_leaked": None if self.clean_metrics is None else self.clean_metrics.table().to_dict(orient="index"),
            "drift": None if self.drift is None else self.drift.as_dict(),
            "label_issues": None if self.label_issues is None else self.label_issues.as_dict(),
            "missing": dict(self.missing),
        }


def _mapped(counts: Counter[str], mapping: Mapping[str, str] | None) -> Counter[str]:
    """Label counts with the data labels renamed to the checkpoint's (`mapping`), as `_train_labels` renames each label."""
    out: Counter[str] = Counter()
    for label, n in counts.items():
        out[dict(mapping or {}).get(label, label)] += n
    return out


def _train_labels(training: TrainingData, mapping: Mapping[str, str] | None) -> list[str] | None:
    if not training.has_labels or training.evalset is None:
        return None
    mapping = dict(mapping or {})
    return [mapping.get(v, v) for v in training.evalset.gold]


def assess(
    predictor: InferenceLayer | None,
    table: PredictionTable,
    training: TrainingData,
    *,
    checks: Collection[str] = CHECKS,
    label_mapping: Mapping[str, str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    drift_cap: int = DEFAULT_CAP,
    neighbours: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
) -> DataQuality:
    """Run the `checks` that their inputs allow; the others are listed in `missing` with the reason.

    Leakage needs training texts; drift needs training texts and the predictor (embeddings, tokenizer);
    label issues need a single-label table (and the predictor for the neighbour hints when `neighbours`).
    """
    missing: dict[str, str] = {}
    leakage = clean = drift = issues = None
    eval_texts = table.inputs  # what the model reads: sentence pairs are compared and measured as pairs
    if training.available and training.pair != table.pair:
        for check in [c for c in checks if c in ("leakage", "drift")]:
            missing[check] = (
                "The evaluation data is sentence pairs but the training data has one text per row: give the training file's second text column (--train-pair-col)."
                if table.pair
                else "The training data is sentence pairs but the evaluation data has one text per row: read both files the same way."
            )
        checks = [c for c in checks if c not in missing]
    train, file = training.evalset, training.file
    train_labels: list[str] | Counter[str] | None = _train_labels(training, label_mapping)
    train_texts: list | None = train.inputs if train is not None else None  # texts, or (text, text_pair) pairs
    train_total = None
    if file is not None and ({"leakage", "drift"} & set(checks)):
        # a file read in chunks: one pass feeds the leakage scan and counts the labels, a second reads the drift sample
        scan = LeakageScan(eval_texts, threshold=threshold) if "leakage" in checks else None
        train_total, counts = file.read(scan.add_train if scan is not None else None)
        if scan is not None:
            leakage = scan.result()
            clean = metrics_without_leaked(table, leakage)
        train_labels = None if counts is None else _mapped(counts, label_mapping)
        if "drift" in checks and predictor is not None:
            train_texts = file.sample(sample_rows(train_total, drift_cap, seed))
    if "leakage" in checks:
        if not training.available:
            missing["leakage"] = training.message
        elif leakage is None and train_texts is not None:
            leakage = find_leakage(train_texts, eval_texts, threshold=threshold, progress=progress)
            clean = metrics_without_leaked(table, leakage)
    if "drift" in checks:
        if not training.available:
            missing["drift"] = training.message
        elif predictor is None:
            missing["drift"] = "Drift needs the checkpoint (its tokenizer and embeddings)."
        elif train_texts is not None:
            drift = measure_drift(
                predictor,
                train_texts,
                eval_texts,
                train_labels=train_labels,
                eval_labels=None if table.multi_label else table.frame["gold"].tolist(),  # multi-label: a set per row, no one share
                cap=drift_cap,
                seed=seed,
                progress=progress,
                train_total=train_total,
            )
    if "label_issues" in checks:
        index = None
        try:
            if neighbours and predictor is not None:
                from probes.embeddings import build_index

                index = build_index(predictor, table)
            issues = find_issues(table, index)
        except NotSingleLabelError as exc:
            missing["label_issues"] = str(exc)
    return DataQuality(training, leakage, clean, drift, issues, missing)
