"""Gold labels that are probably wrong: confident learning merged with the embedding-neighbour hints.

    issues = find_issues(table, index=None)      # index: probes.embeddings.EmbeddingIndex for the neighbour hints
    issues.frame        # ranked: rank, row, text, [text_pair: sentence pairs], gold, suggested, pred, confidence, gold_probability, flagged_by, ...
    issues.rate         # share of evaluation rows confident learning flags (what the max_label_issue_rate gate reads)

Confident learning is cleanlab's `find_label_issues(labels, pred_probs, return_indices_ranked_by="self_confidence")`
on the model's probabilities for the evaluation set. Those are out-of-sample probabilities exactly when the model
never saw the evaluation texts in training (check the leakage scan). The neighbour hints are
`probes.embeddings.label_noise` (the examples whose nearest neighbours mostly carry one other gold label).

Ranking: rows both methods flag first, then confident-learning rows in cleanlab's own order (lowest probability of the
gold label first), then rows only the neighbours flag (lowest probability of the gold label first). The suggested
label is the model's most probable label other than the gold one (confident learning), else the neighbours' label.
Only single-label checkpoints (one softmax over the labels) have one gold label per row to doubt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.predictions import PredictionTable
from models.errors import VeredictoError
from models.task import SINGLE_LABEL

CONFIDENT_LEARNING, NEIGHBOURS = "confident learning", "neighbours"
ISSUE_COLUMNS = [
    "rank",
    "row",
    "text",
    "gold",
    "suggested",
    "pred",
    "confidence",
    "gold_probability",
    "flagged_by",
    "neighbour_suggested",
    "neighbour_agreement",
]


class NotSingleLabelError(VeredictoError):
    """Label issues are defined here for single-label tables only."""


def _require_single_label(table: PredictionTable) -> None:
    probs = np.asarray(table.probs, dtype=float)
    gold = np.asarray(table.gold)
    softmax = probs.ndim == 2 and probs.shape[1] >= 2 and bool(np.allclose(probs.sum(axis=1), 1.0, atol=1e-3))
    if table.task != SINGLE_LABEL or gold.ndim != 1 or not softmax:
        raise NotSingleLabelError(
            "Label issues (confident learning) are not available for this task: they need a single-label checkpoint, "
            "one gold label per row and one softmax over the labels (multi-label checkpoints score each label on its own)."
        )


def confident_learning(table: PredictionTable) -> np.ndarray:
    """Row positions cleanlab flags, ranked by self-confidence (most likely mislabelled first)."""
    _require_single_label(table)
    if len(table) == 0:
        return np.zeros(0, dtype=int)
    from cleanlab.filter import find_label_issues

    return np.asarray(
        find_label_issues(
            labels=np.asarray(table.gold_idx, dtype=int), pred_probs=np.asarray(table.probs, dtype=float), return_indices_ranked_by="self_confidence", n_jobs=1
        ),
        dtype=int,
    )


@dataclass(frozen=True, eq=False)
class LabelIssues:
    frame: pd.DataFrame  # ISSUE_COLUMNS, ranked
    n: int  # evaluation rows examined
    confident_learning_count: int
    neighbour_count: int | None  # None when no embedding index was given
    neighbour_sample: int | None = None  # the neighbours looked at this many examples only (a seeded sample of a large set)

    @property
    def rate(self) -> float:
        """Share of evaluation rows confident learning flags."""
        return self.confident_learning_count / self.n if self.n else float("nan")

    def summary(self) -> str:
        text = f"Confident learning flags {self.confident_learning_count} of {self.n} gold labels ({self.rate:.1%}) as probably wrong"
        if self.neighbour_count is None:
            return text + " (neighbour hints not computed)."
        both = int((self.frame["flagged_by"] == f"{CONFIDENT_LEARNING} + {NEIGHBOURS}").sum()) if len(self.frame) else 0
        sampled = f" (of a random sample of {self.neighbour_sample:,} examples they looked at)" if self.neighbour_sample else ""
        return text + f"; the embedding neighbours flag {self.neighbour_count}{sampled}, {both} of them the same rows."

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "rate": self.rate,
            "confident_learning": self.confident_learning_count,
            "neighbours": self.neighbour_count,
            "flagged": len(self.frame),
        }


def find_issues(table: PredictionTable, index=None, *, k: int = 10, threshold: float = 0.7) -> LabelIssues:
    """Confident learning on `table`, merged with `probes.embeddings.label_noise(index, k, threshold)` when `index` is given."""
    ranked = confident_learning(table)
    probs = np.asarray(table.probs, dtype=float)
    gold = np.asarray(table.gold_idx, dtype=int)
    labels = table.labels
    noise, sample = None, None
    if index is not None:
        from probes.embeddings import LABEL_NOISE_SAMPLE, label_noise

        if len(index) != len(table):
            raise VeredictoError(f"The embedding index has {len(index)} rows but the table {len(table)}; build it from the same table.")
        sample = LABEL_NOISE_SAMPLE if len(index) > LABEL_NOISE_SAMPLE else None  # all-against-all grows with n²
        noise = label_noise(index, k=k, threshold=threshold, sample=sample).set_index("row")
    hinted = [] if noise is None else [int(r) for r in noise.index]
    cl = set(ranked.tolist())
    both = [int(r) for r in ranked if noise is not None and int(r) in noise.index]
    only_cl = [int(r) for r in ranked if int(r) not in both]
    gold_p = probs[np.arange(len(gold)), gold] if len(gold) else np.zeros(0)
    only_nb = sorted((r for r in hinted if r not in cl), key=lambda r: (gold_p[r], r))
    rows = []
    for rank, r in enumerate(both + only_cl + only_nb, start=1):
        others = probs[r].copy()
        others[gold[r]] = -np.inf
        hint = noise.loc[r] if noise is not None and r in noise.index else None
        by = [m for m, flagged in ((CONFIDENT_LEARNING, r in cl), (NEIGHBOURS, hint is not None)) if flagged]
        rows.append(
            {
                "rank": rank,
                "row": r,
                "text": table.frame["text"].iat[r],
                **({"text_pair": table.frame["text_pair"].iat[r]} if table.pair else {}),
                "gold": labels[gold[r]],
                "suggested": labels[int(np.argmax(others))] if r in cl else str(hint["suggested"]) if hint is not None else "",
                "pred": labels[int(np.argmax(probs[r]))],
                "confidence": float(probs[r].max()),
                "gold_probability": float(gold_p[r]),
                "flagged_by": " + ".join(by),
                "neighbour_suggested": "" if hint is None else str(hint["suggested"]),
                "neighbour_agreement": float("nan") if hint is None else float(hint["agreement"]),
            }
        )
    frame = pd.DataFrame(rows, columns=[*ISSUE_COLUMNS[:3], "text_pair", *ISSUE_COLUMNS[3:]] if table.pair else ISSUE_COLUMNS)
    return LabelIssues(frame, len(table), len(cl), None if noise is None else len(noise), sample)
