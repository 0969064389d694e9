"""What the Training page shows for one checkpoint, as plain data: whether its provenance could be read, the warnings
about it, its facts and hyperparameters, and the one-line account of its search. No Streamlit here."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.hparams import diff_hyperparameters
from models.errors import VeredictoError
from training.provenance import PARAM_LABELS, Provenance, fingerprint_matches, load_provenance, summary


@dataclass(frozen=True)
class TrainingView:
    """`provenance` is None when there is none (`error` says why when it could not be read)."""

    name: str
    provenance: Provenance | None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    facts: pd.DataFrame | None = None  # about, value
    hyperparameters: pd.DataFrame | None = None  # hyperparameter, value; None when no trial finished
    search: str | None = None  # the search in one line; None when trained once with fixed hyperparameters


def training_view(ref) -> TrainingView:
    """Everything the Training page says about checkpoint `ref` (a CheckpointRef)."""
    try:
        prov = load_provenance(ref.path)
    except VeredictoError as exc:
        return TrainingView(ref.name, None, error=str(exc))
    if prov is None:
        return TrainingView(ref.name, None)
    warnings = []
    if fingerprint_matches(prov, ref.fingerprint) is False:
        recorded = (prov.record.get("checkpoint") or {}).get("fingerprint", "")
        warnings.append(
            f"The provenance describes weights `{recorded[:12]}`, but this checkpoint's weights are `{ref.short_fingerprint}`: "
            "the model was changed after training, so this record may not describe it."
        )
    if prov.status == "interrupted":
        warnings.append("The search was interrupted: the checkpoint is the best trial found before it stopped. `veredicto finetune ... --resume` continues it.")
    elif prov.status == "running":
        warnings.append("The search was still running when this record was written (or it was killed): the list of trials may be incomplete.")
    facts = summary(prov)
    params = prov.hyperparameters
    hyper = pd.DataFrame({"hyperparameter": [PARAM_LABELS.get(k, k) for k in params], "value": [str(v) for v in params.values()]}) if params else None
    search = None
    if prov.is_search:
        best = prov.best or {}
        search = (
            f"**Search:** {len(prov.trials)} trial(s), TPE sampler, {((prov.record.get('search') or {}).get('pruner') or {}).get('name', 'no pruner')}; "
            + (f"best trial {best['trial'] + 1} with validation {prov.metric_label} **{best['value']:.4f}**." if best else "no trial completed.")
        )
    return TrainingView(ref.name, prov, None, tuple(warnings), pd.DataFrame({"about": list(facts), "value": list(facts.values())}), hyper, search)


def curve_choices(prov: Provenance) -> list[int]:
    """The Training page's 'Curves of' choices: -1 (the saved model) and each trial that recorded curves; empty when
    there was no search, so the page shows the saved model's curves without asking."""
    if not (prov.is_search and prov.trials):
        return []
    return [-1] + [t["number"] for t in prov.trials if (t.get("curves") or {}).get("validation") or (t.get("curves") or {}).get("train")]


def learning_curves(prov: Provenance, trial: int | None = None) -> dict | None:
    """The curves of the saved model (`trial` None) or of one trial; None when none were recorded."""
    curves = prov.record.get("curves") if trial is None else next(t.get("curves") for t in prov.trials if t["number"] == trial)
    if not curves or not (curves.get("train") or curves.get("validation")):
        return None
    return curves


def hyperparameter_changes(first: TrainingView, second: TrainingView) -> pd.DataFrame | None:
    """Every hyperparameter of the two checkpoints side by side; None unless both carry a provenance."""
    if first.provenance is None or second.provenance is None or not first.provenance.record or not second.provenance.record:
        return None
    return diff_hyperparameters(first.provenance.record, second.provenance.record, (first.name, second.name))


@dataclass(frozen=True)
class ProvenanceDiff:
    """Compare's 'How they were trained': `error` when a provenance.json cannot be read; otherwise `table` holds the
    settings that differ (None when neither checkpoint carries a provenance)."""

    error: str | None = None
    table: pd.DataFrame | None = None


def provenance_diff(before, after) -> ProvenanceDiff:
    """The hyperparameters that differ between checkpoints `before` and `after` (CheckpointRefs)."""
    try:
        records = [load_provenance(ref.path) for ref in (before, after)]
    except VeredictoError as exc:
        return ProvenanceDiff(error=str(exc))
    if all(r is None for r in records):
        return ProvenanceDiff()
    first, second = (r.record if r is not None else None for r in records)
    return ProvenanceDiff(table=diff_hyperparameters(first, second, names=(before.name, after.name), only_changed=True))
