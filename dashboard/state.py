"""The sidebar (checkpoints + dataset), the cached loaders, and `current_session()` for pages."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from analysis.predictions import PredictionTable, ScoringPlan, predict_table
from analysis.thresholds import MAX_FILE_BYTES, Thresholds, parse_thresholds, tune_thresholds
from evaldata.loading import (
    DEFAULT_LABEL_SEP,
    FORMATS,
    EvalSet,
    LabelMismatchError,
    detect_label_columns,
    guess_column,
    load_eval_data,
    parse_mapping,
    read_columns,
    read_file,
)
from explain.shap_explainer import warm_up
from models.checkpoints import CheckpointRef, discover_checkpoints
from models.errors import DataError, VeredictoError
from models.inference import Predictor
from models.task import MULTI_LABEL, SINGLE_LABEL
from runtime import LRUCache, current, settings
from runtime.background import Job
from runtime.escaping import md
from store.results import open_predictor, store_warnings

PAGES = [  # (file, title, icon); a page is registered when its file exists
    ("overview.py", "Overview", ":material/dashboard:"),
    ("explore.py", "Explore", ":material/search:"),
    ("errors.py", "Errors", ":material/error:"),
    ("compare.py", "Compare", ":material/compare_arrows:"),
    ("insights.py", "Insights", ":material/insights:"),
    ("robustness.py", "Robustness", ":material/shield:"),
    ("data.py", "Data", ":material/dataset:"),
    ("training.py", "Training", ":material/model_training:"),
    ("signoff.py", "Sign-off", ":material/verified:"),
]

SESSION_KEY = "veredicto_session"
LISTING_TTL_S = 30  # how long a listing of the allowed roots is reused before the folders are looked at again
PROBLEM_KEY = "veredicto_sidebar_problem"
FIRST_LOOK_S, POLL_S = 0.3, 0.25  # a background job is waited for this long before a bar shows, then its bar is redrawn this often
REDACT_KEY = "redact_personal_data"
GOLD_KEY = "use_corrected_gold"  # the sidebar's one choice: every page judges against the reviewers' label corrections
GOLD_TOGGLE = "use_corrected_gold_toggle"  # the switch's widget state; GOLD_KEY keeps the choice across pages even when widget state is dropped
TRAINING_KEY, TEAM_TRAINING_KEY = "training_file", "team_training_file"  # the Data page's picker (widget state)
TRAINING_CHOICE = "training_data_choice"  # the picked training file, kept across pages: the Sign-off gates read it too
PROVENANCE = "(the checkpoint's provenance)"
TRAINING_SOURCE, TRAINING_UPLOAD_KEY = "training_source", "training_upload"  # the picker's "file or upload" switch and uploader (widget state)
TRAINING_UPLOAD = "training_data_upload"  # the uploaded training file (name, bytes), kept across pages like TRAINING_CHOICE
UPLOADED = "upload:"  # TRAINING_CHOICE of an uploaded training file: this prefix, then its name


@dataclass(frozen=True)
class Session:
    """What the user chose in the sidebar. With two checkpoints the first is the baseline ("before")."""

    checkpoints: tuple[CheckpointRef, ...]  # read as the task chosen in the sidebar (`ref.task`, `ref.task_source`)
    evalset: EvalSet
    label_mapping: dict = field(default_factory=dict)
    thresholds: Thresholds | None = None  # multi-label: per-label thresholds chosen in the sidebar (None: 0.5 for every label)
    pair_col: str | None = None  # the data file's second text column (sentence pairs); a training file is read with the same

    @property
    def baseline(self) -> CheckpointRef:
        return self.checkpoints[0]

    @property
    def candidate(self) -> CheckpointRef:
        return self.checkpoints[-1]


def demo_defaults() -> tuple[str, str]:
    """Checkpoints directory and data file to open with: environment first, then the bundled demo."""
    from training.demo import default_demo_dir, demo_paths

    paths = demo_paths(default_demo_dir())
    return (
        os.environ.get("VEREDICTO_CHECKPOINTS", str(paths.checkpoints)),
        os.environ.get("VEREDICTO_DATA", str(paths.test_data)),
    )


def baseline_first(refs: list[CheckpointRef]) -> list[CheckpointRef]:
    """Order checkpoints so that a base/'before' model comes first and a fine-tuned/'after' one last."""

    def rank(ref: CheckpointRef) -> tuple[int, str]:
        name = ref.name.lower()
        if any(w in name for w in ("before", "base", "baseline", "pretrained")):
            return (0, name)
        if any(w in name for w in ("after", "finetuned", "fine-tuned", "tuned")):
            return (2, name)
        return (1, name)

    return sorted(refs, key=rank)


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=6)
def _predictor(path: str, fingerprint: str, task: str = SINGLE_LABEL, _ref: CheckpointRef | None = None) -> Predictor:
    """Reads and fills the results store (`store.results`, in `$VEREDICTO_CACHE_DIR`): an app restart reads predictions instead of rescoring."""
    return open_predictor(_ref if _ref is not None else path)


def show_store_warnings(*predictors: Predictor) -> None:
    """The results store's warnings in the sidebar, one line each: the shared store's (a file moved aside, a folder that
    cannot be written: results then stay in memory) on every run while it holds; `predictors`' (a write that failed) when given."""
    for warning in store_warnings(*predictors):
        st.sidebar.warning(md(warning), icon=":material/warning:")


@st.cache_resource(show_spinner=False)
def _shap_warm_up() -> threading.Thread:
    """Once per process, in the background, as soon as the first page has its predictions (`tables`): import shap before
    anyone asks for an explanation, which needs a prediction table first (it holds nothing an explanation needs: see
    `explain.shap_explainer.warm_up`). Not earlier: the import takes seconds of CPU and holds the GIL, and started with
    the app it ran on the same cores as the first scoring and slowed it (issue 12)."""

    def run():
        with contextlib.suppress(Exception):  # if it fails, the first explanation imports shap instead
            warm_up()

    thread = threading.Thread(target=run, name="shap-warm-up", daemon=True)
    thread.start()
    return thread


def get_predictor(ref: CheckpointRef) -> Predictor:
    """The one Predictor per checkpoint and task (a multi-label reading gives sigmoids), shared by every page and every browser session."""
    return _predictor(str(ref.path), ref.fingerprint, ref.task, ref)


def team_mode() -> bool:
    """Team mode (runtime.settings): `VEREDICTO_TEAM_MODE=1`, or reviewer identity configured in this app's secrets."""
    return settings.team_mode(st.secrets)


@st.cache_data(show_spinner=False, max_entries=16, ttl=LISTING_TTL_S)
def allowed_files(roots: tuple[str, ...], suffixes: tuple[str, ...]) -> list[str]:
    """Files with `suffixes` under `roots` (bounded listing, no symlink out of a root), reused for a short while."""
    return [str(p) for p in settings.list_allowed([Path(r) for r in roots], suffixes=suffixes)]


@st.cache_data(show_spinner=False, max_entries=16, ttl=LISTING_TTL_S)
def allowed_checkpoint_folders(roots: tuple[str, ...]) -> list[str]:
    """Folders under `roots` that hold a checkpoint (config.json) themselves or one level down: what team mode offers."""

    def holds_checkpoint(folder: Path) -> bool:
        if (folder / "config.json").is_file():
            return True
        try:
            return any((child / "config.json").is_file() for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))
        except OSError:
            return False

    return [str(p) for p in settings.list_allowed([Path(r) for r in roots], folders=True) if holds_checkpoint(p)]


def _short(path: str, roots: tuple[str, ...]) -> str:
    """A path as the sidebar shows it: relative to the root it lies under, prefixed by that root's name."""
    for root in roots:
        base = Path(root).expanduser().resolve()
        if Path(path).is_relative_to(base):
            rel = Path(path).relative_to(base)
            return f"{base.name}/{rel}" if str(rel) != "." else base.name
    return Path(path).name


def _root_choice(label: str, options: list[str], default: str, roots: tuple[str, ...], *, key: str, help: str) -> str:
    """Team mode's pick of a folder or file under the shared roots (never a free path box), opening on `default`."""
    wanted = str(Path(default).expanduser().resolve())
    index = options.index(wanted) if wanted in options else 0
    return st.selectbox(label, options, index=index, format_func=lambda p: _short(p, roots), key=key, help=help)


@st.cache_data(show_spinner=False, max_entries=16)
def _discover(root: str, stamp: tuple):
    return discover_checkpoints(root)


@dataclass(frozen=True)
class Columns:
    """How the sidebar reads the data file: text, second text (sentence pairs) and gold (one column, or 0/1 columns per label)."""

    text: str | None
    label: str | None
    pair: str | None = None
    label_sep: str | None = None  # multi-label tags joined in `label`
    label_cols: tuple[str, ...] = ()  # multi-label: one 0/1 column per label

    def load(self, source, name: str | None = None) -> EvalSet:
        return load_eval_data(
            source, name=name, text_col=self.text, label_col=self.label, pair_col=self.pair, label_sep=self.label_sep, label_cols=self.label_cols or None
        )


@st.cache_data(show_spinner="Reading data…", max_entries=16)
def _load_path(path: str, stamp: tuple, columns: Columns) -> EvalSet:
    return columns.load(path)


@st.cache_data(show_spinner="Reading upload…", max_entries=8)
def _load_bytes(raw: bytes, name: str, columns: Columns) -> EvalSet:
    return columns.load(raw, name)


@st.cache_data(show_spinner=False, max_entries=16)
def _columns_path(path: str, stamp: tuple) -> list[str]:
    return read_columns(path)


@st.cache_data(show_spinner=False, max_entries=8)
def _columns_bytes(raw: bytes, name: str) -> list[str]:
    return list(read_file(raw, name=name)[0].columns)


def _table_store() -> LRUCache:
    """The prediction tables every session shares (at most 12), owned by the runtime and guarded by its lock."""
    return current().tables


def follow(job: Job) -> Any:
    """`job`'s result, drawing its progress while it runs (a job answered from the store ends before a bar would show).

    The page's script run waits here, but the work is the job's thread's: going to another page stops this wait, not the
    job, and other sessions needing the same result follow the same job."""
    if not job.wait(FIRST_LOOK_S):
        bar = st.progress(job.fraction(), text=job.describe())
        note = st.caption("This runs in the background: other pages stay usable meanwhile, and this page picks it up where it is.")
        while not job.wait(POLL_S):
            bar.progress(job.fraction(), text=job.describe())  # each update is also where Streamlit stops this run on navigation
        bar.empty()
        note.empty()
    return job.outcome()


def in_background(key: tuple, label: str, compute: Callable[[Job], Any], **keeping: Callable) -> Any:
    """`compute(job)` run once for every session as a background job (`runtime.background.Jobs.start`: `kept`/`keep`
    read and keep its result, e.g. in the shared tables) and followed here with a progress bar."""
    return follow(current().jobs.start(key, label, compute, **keeping))


def embedding_index(predictor: Predictor, table: PredictionTable, state):
    """`table`'s embedding index (`probes.views.build_embeddings`), built by a background job every session shares."""
    from probes.views import build_embeddings

    return in_background(
        ("embeddings", *state.key), f"Embedding with {predictor.ref.name}", lambda job: build_embeddings(predictor, table, state, progress=job.progress)
    )


def thresholds_for(ref: CheckpointRef, thresholds: Thresholds | None) -> Thresholds | None:
    """The sidebar's thresholds where they fit this checkpoint (a multi-label one with the same labels), else None (0.5 each)."""
    return thresholds if ref.multi_label and thresholds is not None and thresholds.labels == ref.labels else None


def table_key(ref: CheckpointRef, evalset: EvalSet, mapping: dict | None = None, thresholds: Thresholds | None = None) -> tuple:
    """What names one prediction table in the shared store: checkpoint and task, data as read (pair and gold columns), mapping, thresholds."""
    chosen = thresholds_for(ref, thresholds)
    return (ref.scoring_key, evalset.fingerprint, tuple(sorted((mapping or {}).items())), None if chosen is None or chosen.is_default else chosen.values)


def get_table(ref: CheckpointRef, evalset: EvalSet, mapping: dict | None = None, thresholds: Thresholds | None = None) -> PredictionTable:
    """Predictions of one checkpoint on the evaluation set: from the shared tables, else scored (or read from the results
    store) by a background job that this page follows with a progress bar."""
    key, tables = table_key(ref, evalset, mapping, thresholds), _table_store()
    table = tables.get(key)
    if table is not None:
        return table
    predictor = get_predictor(ref)  # its model loads at first use: in the job, only when something must be scored

    def compute(job: Job) -> PredictionTable:
        def say(plan: ScoringPlan) -> None:  # asked only when the store lacks the whole table (reads its rows into memory for the scoring)
            if 0 < plan.missing < plan.total:  # say why only part is scored: a data file changed under a filled store
                job.note = f"{plan.missing:,} of {plan.total:,} texts are new or changed since the results store was filled; the rest are read from it"

        return predict_table(predictor, evalset, label_mapping=mapping, thresholds=thresholds_for(ref, thresholds), progress=job.progress, on_plan=say)

    try:
        table = in_background(("table", *key), f"Scoring with {ref.name}", compute, kept=lambda: tables.get(key), keep=lambda value: tables.put(key, value))
    except LabelMismatchError as exc:
        if team_mode():  # the file may not be the reader's to see: counts and the checkpoint's labels only
            raise DataError(exc.without_values) from None
        raise
    if predictor.store_warning:  # the store failed while this table was scored (the shared store's warnings are the sidebar's)
        st.sidebar.warning(md(predictor.store_warning), icon=":material/warning:")
    return table


def _tree_stamp(root: Path) -> tuple:
    """Changes whenever a config or weight file under `root` is added, removed or rewritten,
    so a replaced checkpoint is re-fingerprinted instead of being judged under its old identity."""
    if not root.is_dir():
        return ()
    files = [*root.rglob("config.json"), *root.rglob("*.safetensors")]
    return tuple(sorted((str(f), *_stamp(f)) for f in files))


def _stamp(path: Path) -> tuple:
    stat = path.stat()
    return (stat.st_mtime_ns, stat.st_size)


def _column_choice(label: str, columns: list[str], guess: str | None, key: str) -> str | None:
    choice = st.selectbox(label, columns, index=columns.index(guess) if guess in columns else None, key=key, placeholder="Choose a column")
    if choice is None:
        raise VeredictoError(f"Choose the {label.lower()}: no column name looks like it. Columns: {', '.join(columns)}.")
    return choice


def _problem(message: str) -> None:
    """Show why there is no session in the sidebar, and remember it for the page's main area.

    Escaped as Markdown: messages quote file, column, label and threshold names from the user's files."""
    message = md(message)
    st.error(message)
    st.session_state[PROBLEM_KEY] = message


def _keep_gold_choice() -> None:
    st.session_state[GOLD_KEY] = bool(st.session_state.get(GOLD_TOGGLE))


def sidebar() -> None:
    """Draw the sidebar and keep the resulting Session (or the reason there is none) in session state."""
    default_ckpts, default_data = demo_defaults()
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(PROBLEM_KEY, None)
    show_store_warnings()
    with st.sidebar:
        st.subheader("Checkpoints")
        team = team_mode()
        try:
            if team:
                roots = tuple(str(r) for r in settings.checkpoint_roots())
                folders = allowed_checkpoint_folders(roots)
                if not folders:
                    _problem("No checkpoint under the folders this server shares. Ask whoever runs Veredicto to set VEREDICTO_CHECKPOINT_ROOTS.")
                    return
                root = _root_choice(
                    "Checkpoints folder",
                    folders,
                    default_ckpts,
                    roots,
                    key="team_checkpoints",
                    help="Folders holding checkpoints under the roots this server shares (VEREDICTO_CHECKPOINT_ROOTS).",
                )
                root_path = settings.allowed_path(root, [Path(r) for r in roots], "folder")  # a crafted session value is refused here
            else:
                root = st.text_input(
                    "Checkpoints directory",
                    value=default_ckpts,
                    help="A folder holding Hugging Face checkpoint folders (config.json, tokenizer, model.safetensors).",
                )
                root_path = Path(root).expanduser()
            refs, problems = _discover(str(root_path), _tree_stamp(root_path))
        except settings.PathNotAllowed as exc:
            _problem(str(exc))
            return
        except VeredictoError as exc:
            _problem(str(exc))
            return
        for path, message in problems.items():
            st.warning(f"Skipped **{md(path.name)}**: {md(message)}")
        if not refs:
            _problem(f"No usable checkpoint under {_short(root, roots) if team else root}. Run `veredicto demo` to build the demo, or point to another folder.")
            return
        by_label = {f"{r.name} · {r.short_fingerprint}": r for r in baseline_first(refs)}
        chosen = st.multiselect(
            "Compare up to two (baseline first)",
            list(by_label),
            default=list(by_label)[:2],
            max_selections=2,
            help="Pick one checkpoint to inspect, or two to compare before/after fine-tuning. The first is the baseline.",
        )
        if not chosen:
            st.info("Choose at least one checkpoint.")
            return
        try:
            task = _task_choice(by_label[chosen[-1]])
        except VeredictoError as exc:
            _problem(str(exc))
            return
        picked = tuple(by_label[c].with_task(task) for c in chosen)
        candidate = picked[-1]

        st.subheader("Evaluation data")
        source = st.radio(
            "Source", ["File on the server" if team else "File on this machine", "Upload"], horizontal=True, label_visibility="collapsed", key="data_source"
        )
        try:
            if source == "Upload":
                upload = st.file_uploader(
                    "CSV, JSONL or Parquet",
                    type=[s.lstrip(".") for s in FORMATS],
                    help=f"At most {settings.MAX_UPLOAD_MB} MB (server.maxUploadSize).",
                )
                st.caption(f"Up to {settings.MAX_UPLOAD_MB} MB.")
                if upload is None:
                    st.info("Upload an evaluation file (it stays on this server)." if team else "Upload an evaluation file (it stays on this machine).")
                    return
                columns = _columns_bytes(upload.getvalue(), upload.name)
                load = lambda c: _load_bytes(upload.getvalue(), upload.name, c)  # noqa: E731
            else:
                if team:
                    data_roots = tuple(str(r) for r in settings.data_roots())
                    files = allowed_files(data_roots, tuple(FORMATS))
                    if not files:
                        _problem("No data file under the folders this server shares. Upload one, or ask whoever runs Veredicto to set VEREDICTO_DATA_ROOTS.")
                        return
                    chosen_file = _root_choice(
                        "Data file",
                        files,
                        default_data,
                        data_roots,
                        key="team_data_file",
                        help="Evaluation files under the roots this server shares (VEREDICTO_DATA_ROOTS); or upload one.",
                    )
                    path = settings.allowed_path(chosen_file, [Path(r) for r in data_roots])  # a crafted session value is refused here
                else:
                    path = Path(st.text_input("Data file", value=default_data)).expanduser()
                if not path.is_file():
                    _problem(f"Data file '{path}' does not exist. Check the path, or run `veredicto demo` for the demo data.")
                    return
                columns = _columns_path(str(path), _stamp(path))
                load = lambda c: _load_path(str(path), _stamp(path), c)  # noqa: E731
            detected = detect_label_columns(columns, candidate.labels) if candidate.multi_label else ()
            unguessed = guess_column(columns, "text") is None or (guess_column(columns, "label") is None and not detected)
            with st.expander("Columns and labels", expanded=unguessed):
                read_as = _columns_choice(columns, candidate, detected)
                mapping = parse_mapping(
                    st.text_input(
                        "Label mapping (optional)",
                        key="label_mapping",
                        placeholder="pos=positive,neg=negative",
                        help="Rename dataset labels to the checkpoint's labels.",
                    )
                )
            evalset = load(read_as)
            thresholds = _thresholds_choice(candidate, evalset, read_as, mapping, team) if candidate.multi_label else None
        except settings.PathNotAllowed as exc:
            _problem(str(exc))
            return
        except VeredictoError as exc:
            _problem(str(exc))
            return
        for warning in evalset.warnings:
            st.caption(f"⚠️ {md(warning)}")
        st.caption(
            f"**{md(evalset.name)}** · {len(evalset):,} {'sentence pairs' if evalset.pair else 'examples'} · data {evalset.short_fingerprint}"
            + (f" · thresholds {md(thresholds.describe())}" if thresholds is not None else "")
        )
        st.session_state.setdefault(REDACT_KEY, team_mode())
        st.toggle(
            "Redact personal data",
            key=REDACT_KEY,
            help="Show emails, phone numbers, IBANs, card and ID numbers, IP addresses, URLs and names as <EMAIL>, <PHONE>, … in tables and "
            "explanations. Display only: the models still read the original texts. On by default in team mode.",
        )
        if not candidate.multi_label:  # a multi-label row has a set of gold labels, not one a reviewer corrects
            st.toggle(
                "Use reviewers' label corrections",
                value=bool(st.session_state.get(GOLD_KEY, False)),
                key=GOLD_TOGGLE,
                on_change=_keep_gold_choice,
                help="Judge every page's metrics against the gold labels as reviewers corrected them on the Data page, instead of as labelled in the file.",
            )
    st.session_state[SESSION_KEY] = Session(picked, evalset, mapping, thresholds, read_as.pair)


AS_CONFIG = "as in config.json"
NO_PAIR = "(none)"
PAIR_NAME = "text_pair"  # a column named so is read as the second text unless the user picks otherwise
ONE_COLUMN = "One column, tags joined by a separator"
PER_LABEL = "One 0/1 column per label"
DEFAULT_THRESHOLDS, FILE_THRESHOLDS, EACH_THRESHOLDS, TUNED_THRESHOLDS = "0.5 for every label", "From a file", "Per label", "Tuned on a validation file"


def _task_choice(ref: CheckpointRef) -> str | None:
    """The sidebar's task: as config.json says (the default), or single-/multi-label chosen here; shown with where it came from."""
    choice = st.selectbox(
        "Task",
        [AS_CONFIG, SINGLE_LABEL, MULTI_LABEL],
        key="task",
        format_func=lambda o: f"{AS_CONFIG} ({ref.task})" if o == AS_CONFIG else o,
        help="Many multi-label checkpoints do not set problem_type in config.json: choose multi-label for an independent sigmoid per label.",
    )
    task = None if choice == AS_CONFIG else choice
    st.caption(f"Task: {md(ref.with_task(task).task_description)}")
    return task


def _columns_choice(columns: list[str], ref: CheckpointRef, detected: tuple[str, ...]) -> Columns:
    """Text, second text and gold columns; for a multi-label checkpoint, gold as one separated column or one 0/1 column per label."""
    text_col = _column_choice("Text column", columns, guess_column(columns, "text"), "text_col")
    options = [NO_PAIR, *[c for c in columns if c != text_col]]
    pair = st.selectbox(
        "Second text (sentence pairs)",
        options,
        index=options.index(PAIR_NAME) if PAIR_NAME in options else 0,  # only the name transformers' pipelines use for it
        key="pair_col",
        help="For checkpoints that read two texts (NLI, paraphrase, query–passage): the column of the second text.",
    )
    pair_col = None if pair == NO_PAIR else pair
    if not ref.multi_label:
        return Columns(text_col, _column_choice("Label column", columns, guess_column(columns, "label"), "label_col"), pair_col)
    per_label = bool(detected) and guess_column(columns, "label") is None
    gold_format = st.radio("Gold labels", [ONE_COLUMN, PER_LABEL], index=int(per_label), key="gold_format")
    if gold_format == PER_LABEL:
        label_cols = st.multiselect(
            "0/1 columns, one per label", [c for c in columns if c not in (text_col, pair_col)], default=list(detected), key="label_cols"
        )
        if not label_cols:
            raise DataError("Choose the 0/1 label columns (one per label, named like the labels or mapped below).")
        return Columns(text_col, None, pair_col, None, tuple(label_cols))
    label_col = _column_choice("Label column", columns, guess_column(columns, "label"), "label_col")
    sep = st.text_input(
        "Tag separator", value=DEFAULT_LABEL_SEP, max_chars=5, key="label_sep", help="What joins the tags of a row; an empty cell means no tag."
    )
    if not sep:
        raise DataError("Give the tag separator: the character that joins the tags of a row, e.g. | or ;.")
    return Columns(text_col, label_col, pair_col, sep)


def _thresholds_choice(ref: CheckpointRef, evalset: EvalSet, read_as: Columns, mapping: dict, team: bool) -> Thresholds:
    """Per-label thresholds of a multi-label checkpoint: 0.5, a YAML/JSON upload, a number per label, or tuned on a validation file."""
    default = Thresholds.default(ref.labels)
    with st.expander("Thresholds", expanded=False):
        how = st.radio(
            "Thresholds", [DEFAULT_THRESHOLDS, FILE_THRESHOLDS, EACH_THRESHOLDS, TUNED_THRESHOLDS], key="thresholds_source", label_visibility="collapsed"
        )
        if how == FILE_THRESHOLDS:
            upload = st.file_uploader(
                "YAML or JSON: one `label: threshold` per line",
                type=["yaml", "yml", "json"],
                key="thresholds_file",
                help=f"At most {MAX_FILE_BYTES // 1024} KiB.",
            )
            if upload is None:
                return default
            if upload.size > MAX_FILE_BYTES:
                raise DataError(f"The thresholds file is larger than {MAX_FILE_BYTES // 1024} KiB; it holds one `label: threshold` per line.")
            return parse_thresholds(upload.getvalue(), ref.labels, "the uploaded thresholds file")
        if how == EACH_THRESHOLDS:
            values = {
                label: st.number_input(md(label), min_value=0.0, max_value=1.0, value=default.values[i], step=0.05, key=f"threshold_{i}")
                for i, label in enumerate(ref.labels)
            }
            return default.with_values(values, "set in the sidebar")
        if how == TUNED_THRESHOLDS:
            return _tuned_thresholds(ref, evalset, read_as, mapping, team)
    return default


def _tuned_thresholds(ref: CheckpointRef, evalset: EvalSet, read_as: Columns, mapping: dict, team: bool) -> Thresholds:
    """Each label's F1-best threshold on a validation file picked like the data file (team mode: only under the shared roots)."""
    if team:
        data_roots = tuple(str(r) for r in settings.data_roots())
        files = allowed_files(data_roots, tuple(FORMATS))
        if not files:
            raise DataError("No file under the folders this server shares to tune on. Ask whoever runs Veredicto to set VEREDICTO_DATA_ROOTS.")
        chosen = _root_choice(
            "Validation file", files, "", data_roots, key="team_validation_file", help="A labelled validation split, not the evaluation data."
        )
        path = settings.allowed_path(chosen, [Path(r) for r in data_roots])  # a crafted session value is refused here
    else:
        typed = st.text_input(
            "Validation file", key="validation_file", placeholder="path/to/validation.csv", help="A labelled validation split, not the evaluation data."
        )
        if not typed:
            raise DataError("Give a labelled validation file to tune the thresholds on (never the evaluation data itself).")
        path = Path(typed).expanduser()
    if not path.is_file():
        raise DataError(f"Validation file '{path.name}' does not exist.")
    validation = _load_path(str(path), _stamp(path), read_as)
    key = ("tuned-thresholds", ref.scoring_key, validation.fingerprint, evalset.fingerprint, tuple(sorted(mapping.items())))

    def compute():
        with st.spinner(f"Tuning thresholds on {md(validation.name)}…"):
            try:
                return tune_thresholds(get_predictor(ref), validation, label_mapping=mapping, evaluation=evalset)
            except LabelMismatchError as exc:
                raise (DataError(exc.without_values) if team_mode() else exc) from None

    return _table_store().get_or_compute(key, compute)


def redacting() -> bool:
    """Whether pages mask personal data in what they show (the sidebar's switch; on by default in team mode)."""
    return bool(st.session_state.get(REDACT_KEY, team_mode()))


def current_session() -> Session:
    """The sidebar's selection; stops the page with a pointer to the sidebar when there is none."""
    session = st.session_state.get(SESSION_KEY)
    if session is None:
        from streamlit.runtime.pages_manager import PagesManager

        if PagesManager.uses_pages_directory:
            # A fresh server whose first request is a shared link (/explore?example=3) runs the page alone,
            # as a legacy pages/ app; switch to app.py's st.navigation once and rerun so the sidebar exists.
            PagesManager.uses_pages_directory = False
            st.rerun()
        problem = st.session_state.get(PROBLEM_KEY)
        if problem:
            st.error(problem)
        else:
            st.info("Choose a checkpoint and an evaluation file in the sidebar to begin.")
        st.stop()
    return session


def tables(session: Session, *, as_labelled: bool = False, only: int | None = None) -> list[PredictionTable]:
    """Prediction tables of every chosen checkpoint; a label mismatch stops the page with its message.

    The one place that picks the gold labels: with the sidebar's "Use reviewers' label corrections" on (and not
    `as_labelled`, which the Data page asks for: decisions are made on the labels as in the file) the tables are judged
    against the corrections (`store.labels.corrected_tables`), and the page says so. `only`: the table of
    `session.checkpoints[only]` alone, for a page that shows one checkpoint at a time (Errors, Explore, Data: their first
    open after a restart at 100k rows reads one checkpoint's results, not two)."""
    try:
        refs = session.checkpoints if only is None else [session.checkpoints[only]]
        found = [get_table(ref, session.evalset, session.label_mapping, session.thresholds) for ref in refs]
    except VeredictoError as exc:
        st.error(str(exc))
        st.stop()
    _shap_warm_up()  # once per process, now that the first scoring is done
    if as_labelled or not st.session_state.get(GOLD_KEY) or found[0].multi_label:
        return found
    from store.audit import StoreError, open_store
    from store.labels import corrected_tables

    try:
        fixed = corrected_tables(open_store(), found)
    except StoreError as exc:
        st.caption(f"The reviewers' label decisions could not be read, so the gold labels are shown as labelled: {md(exc)}")
        return found
    if not fixed.count:
        st.caption("No reviewer has corrected a gold label of this data yet (Data page), so the gold labels are as labelled.")
        return found
    st.info(
        f"Gold labels **with {fixed.count:,} reviewer correction{'s' * (fixed.count != 1)}** (Data page): every number here judges the same "
        "predictions against the corrected labels. Turn off 'Use reviewers' label corrections' in the sidebar to see them as labelled.",
        icon=":material/fact_check:",
    )
    return list(fixed.tables)


def _keep_training_choice(widget_key: str) -> None:
    st.session_state[TRAINING_CHOICE] = str(st.session_state.get(widget_key) or "")


def _training_source_changed() -> None:
    if st.session_state.get(TRAINING_SOURCE) != "Upload":  # back to a file: the upload is no longer the choice
        st.session_state[TRAINING_CHOICE] = ""
        st.session_state.pop(TRAINING_UPLOAD, None)


def training_choice(session: Session):
    """The Data page's "Training data" picker: a file like the data file (team mode: only under the shared data roots),
    or, left empty, the file the candidate's provenance names (team mode: only when it lies under those roots), or an
    upload (as the evaluation data sidebar takes one, up to `settings.MAX_UPLOAD_MB`).
    The choice is kept for the session (`TRAINING_CHOICE`, an upload's bytes in `TRAINING_UPLOAD`), so the Sign-off page's
    gates read the same file (`chosen_training`). Returns a `quality.training.TrainingData`; a file that cannot be used
    raises `DataError` / `PathNotAllowed`."""
    from quality.training import HOW_TO_GIVE, TrainingData

    kept = str(st.session_state.get(TRAINING_CHOICE) or "")
    team = team_mode()
    options = ["File on the server" if team else "File on this machine", "Upload"]
    source = st.radio(
        "Training data source",
        options,
        index=1 if kept.startswith(UPLOADED) else 0,
        horizontal=True,
        key=TRAINING_SOURCE,
        on_change=_training_source_changed,
        label_visibility="collapsed",
    )
    if source == "Upload":
        upload = st.file_uploader(
            "Training data (CSV, JSONL or Parquet)",
            type=[s.lstrip(".") for s in FORMATS],
            key=TRAINING_UPLOAD_KEY,
            help=f"The file the checkpoint was trained on, with a text column (a label column adds label balance). At most {settings.MAX_UPLOAD_MB} MB.",
        )
        st.caption(f"Up to {settings.MAX_UPLOAD_MB} MB.")
        if upload is not None:
            st.session_state[TRAINING_UPLOAD] = (upload.name, upload.getvalue())
            st.session_state[TRAINING_CHOICE] = UPLOADED + upload.name
        elif not kept.startswith(UPLOADED):  # nothing uploaded yet (an earlier upload stays chosen across pages)
            where = "this server" if team else "this machine"
            return TrainingData(None, "", f"Upload the training file (it stays on {where}), or pick a file. {HOW_TO_GIVE}")
    elif team:
        data_roots = tuple(str(r) for r in settings.data_roots())
        files = [PROVENANCE, *allowed_files(data_roots, tuple(FORMATS))]
        st.selectbox(
            "Training data",
            files,
            index=files.index(kept) if kept in files else 0,
            format_func=lambda p: p if p == PROVENANCE else _short(p, data_roots),
            key=TEAM_TRAINING_KEY,
            on_change=_keep_training_choice,
            args=(TEAM_TRAINING_KEY,),
            help="The file the checkpoint was trained on, under the roots this server shares (VEREDICTO_DATA_ROOTS).",
        )
    else:
        st.text_input(
            "Training data",
            value=kept,
            key=TRAINING_KEY,
            on_change=_keep_training_choice,
            args=(TRAINING_KEY,),
            placeholder="path/to/train.csv (empty: the file the checkpoint's provenance names)",
            help="The file the checkpoint was trained on (CSV, JSONL or Parquet with a text column; a label column adds label balance).",
        )
    return chosen_training(session)


def _reading_passes() -> Callable[[Iterator], Iterator]:
    """A `quality.training.TrainingFile.wrap` for this page run: each pass over the file draws a progress bar (which pass,
    rows read, share of the file) where the page is, removed when the pass ends."""
    passes = itertools.count(1)

    def wrap(chunks: Iterator) -> Iterator:
        n = next(passes)
        bar = st.progress(0.0, text=f"Reading the training data in chunks, pass {n}…")
        try:
            for chunk in chunks:
                rows = chunk.start + len(chunk.frame)
                bar.progress(min(1.0, chunk.done), text=f"Reading the training data in chunks, pass {n}: {rows:,} rows ({chunk.done:.0%} of the file)")
                yield chunk
        finally:
            bar.empty()

    return wrap


def _train_chunk_rows() -> int:
    from evaldata.streaming import DEFAULT_CHUNK_ROWS

    try:
        return settings.train_chunk_rows(DEFAULT_CHUNK_ROWS)
    except settings.BadSetting as exc:
        raise DataError(f"Training data: {exc}") from None


def chosen_training(session: Session):
    """The training data the session chose on the Data page (`TRAINING_CHOICE`), else the file the candidate's provenance
    names; in team mode only files under the shared data roots (a crafted session value is refused: `PathNotAllowed`).
    A file on disk is never loaded whole: it is read `$VEREDICTO_TRAIN_CHUNK_ROWS` rows at a time whenever it is used
    (`TrainingData.file`), each pass with a progress bar; an upload (at most `settings.MAX_UPLOAD_MB`) is read in memory."""
    from quality.training import training_data

    chosen = str(st.session_state.get(TRAINING_CHOICE) or "").strip()
    upload = st.session_state.get(TRAINING_UPLOAD)
    pair_col = session.pair_col if session.evalset.pair else None  # sentence pairs: the second text named as in the data file
    if chosen.startswith(UPLOADED) and upload is not None:
        name, raw = upload
        # read once per upload for every session: pages rerun on every click
        key = ("training-upload", hashlib.sha256(raw).hexdigest(), name, pair_col)
        return _table_store().get_or_compute(key, lambda: training_data(None, raw, name=name, pair_col=pair_col))
    team = team_mode()
    data_roots = [Path(r) for r in settings.data_roots()] if team else None
    chunk_rows = _train_chunk_rows()
    if not chosen or chosen == PROVENANCE:
        return training_data(session.candidate.path, roots=data_roots, chunk_rows=chunk_rows, wrap=_reading_passes())
    path = settings.allowed_path(chosen, data_roots) if data_roots is not None else Path(chosen).expanduser()
    if not path.is_file():
        raise DataError(f"Training file '{path.name}' does not exist. Check the path.")
    # only its first rows are read here (the columns); the passes over it are cached with what they measure
    return training_data(None, path, pair_col=pair_col, chunk_rows=chunk_rows, wrap=_reading_passes())
