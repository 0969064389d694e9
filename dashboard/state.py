"""The sidebar (checkpoints + dataset), the cached loaders, and `current_session()` for pages."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from analysis.predictions import PredictionTable, predict_table
from evaldata.loading import FORMATS, EvalSet, LabelMismatchError, guess_column, load_eval_data, parse_mapping, read_file
from explain.shap_explainer import warm_up
from models.checkpoints import CheckpointRef, discover_checkpoints
from models.errors import DataError, VeredictoError
from models.inference import Predictor
from runtime import LRUCache, current, settings
from runtime.escaping import md

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


@dataclass(frozen=True)
class Session:
    """What the user chose in the sidebar. With two checkpoints the first is the baseline ("before")."""

    checkpoints: tuple[CheckpointRef, ...]
    evalset: EvalSet
    label_mapping: dict = field(default_factory=dict)

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
def _predictor(path: str, fingerprint: str) -> Predictor:
    predictor = Predictor(path)
    _shap_warm_up(predictor.tokenizer)  # once per process, whichever checkpoint loads first
    return predictor


@st.cache_resource
def _shap_warm_up(_tokenizer) -> threading.Thread:
    """Once per process, in the background: compile shap's kernels before anyone asks for an explanation."""

    def run():
        with contextlib.suppress(Exception):  # if it fails, the first explanation compiles them instead
            warm_up(_tokenizer)

    thread = threading.Thread(target=run, name="shap-warm-up", daemon=True)
    thread.start()
    return thread


def get_predictor(ref: CheckpointRef) -> Predictor:
    """The one Predictor per checkpoint, shared by every page and every browser session."""
    return _predictor(str(ref.path), ref.fingerprint)


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


@st.cache_data(show_spinner="Reading data…", max_entries=16)
def _load_path(path: str, stamp: tuple, text_col: str | None, label_col: str | None) -> EvalSet:
    return load_eval_data(path, text_col=text_col, label_col=label_col)


@st.cache_data(show_spinner="Reading upload…", max_entries=8)
def _load_bytes(raw: bytes, name: str, text_col: str | None, label_col: str | None) -> EvalSet:
    return load_eval_data(raw, name=name, text_col=text_col, label_col=label_col)


@st.cache_data(show_spinner=False, max_entries=16)
def _columns_path(path: str, stamp: tuple) -> list[str]:
    return list(read_file(path)[0].columns)


@st.cache_data(show_spinner=False, max_entries=8)
def _columns_bytes(raw: bytes, name: str) -> list[str]:
    return list(read_file(raw, name=name)[0].columns)


def _table_store() -> LRUCache:
    """The prediction tables every session shares (at most 12), owned by the runtime and guarded by its lock."""
    return current().tables


def cached_table(key: tuple, compute: Callable[[], PredictionTable]) -> PredictionTable:
    """The shared table for `key`, else `compute()` kept in the shared store (the least recently used beyond its bound is dropped)."""
    return _table_store().get_or_compute(key, compute)


def get_table(ref: CheckpointRef, evalset: EvalSet, mapping: dict | None = None) -> PredictionTable:
    """Predictions of one checkpoint on the evaluation set, computed once (with a progress bar) and kept."""
    key = (ref.fingerprint, evalset.fingerprint, tuple(sorted((mapping or {}).items())))

    def compute() -> PredictionTable:
        bar = st.progress(0.0, text=f"Scoring {len(evalset):,} examples with {ref.name}…")

        def progress(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"Scoring with {ref.name}: {done:,}/{total:,} texts")

        try:
            return predict_table(get_predictor(ref), evalset, label_mapping=mapping, progress=progress)
        except LabelMismatchError as exc:
            if team_mode():  # the file may not be the reader's to see: counts and the checkpoint's labels only
                raise DataError(exc.without_values) from None
            raise
        finally:
            bar.empty()

    return cached_table(key, compute)


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
    """Show why there is no session in the sidebar, and remember it for the page's main area."""
    st.error(message)
    st.session_state[PROBLEM_KEY] = message


def sidebar() -> None:
    """Draw the sidebar and keep the resulting Session (or the reason there is none) in session state."""
    default_ckpts, default_data = demo_defaults()
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(PROBLEM_KEY, None)
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
                load = lambda t, l: _load_bytes(upload.getvalue(), upload.name, t, l)  # noqa: E731
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
                load = lambda t, l: _load_path(str(path), _stamp(path), t, l)  # noqa: E731
            with st.expander("Columns and labels", expanded=guess_column(columns, "text") is None or guess_column(columns, "label") is None):
                text_col = _column_choice("Text column", columns, guess_column(columns, "text"), "text_col")
                label_col = _column_choice("Label column", columns, guess_column(columns, "label"), "label_col")
                mapping = parse_mapping(
                    st.text_input(
                        "Label mapping (optional)",
                        key="label_mapping",
                        placeholder="pos=positive,neg=negative",
                        help="Rename dataset labels to the checkpoint's labels.",
                    )
                )
            evalset = load(text_col, label_col)
        except settings.PathNotAllowed as exc:
            _problem(str(exc))
            return
        except VeredictoError as exc:
            _problem(str(exc))
            return
        for warning in evalset.warnings:
            st.caption(f"⚠️ {md(warning)}")
        st.caption(f"**{md(evalset.name)}** · {len(evalset):,} examples · data {evalset.short_fingerprint}")
    st.session_state[SESSION_KEY] = Session(tuple(by_label[c] for c in chosen), evalset, mapping)


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


def tables(session: Session) -> list[PredictionTable]:
    """Prediction tables of every chosen checkpoint; a label mismatch stops the page with its message."""
    try:
        return [get_table(ref, session.evalset, session.label_mapping) for ref in session.checkpoints]
    except VeredictoError as exc:
        st.error(str(exc))
        st.stop()
