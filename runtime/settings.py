"""Where everything lives: one place that reads the environment, once per call (nothing is cached at import,
so a changed variable counts from the next call on).

The home folder holds the demo checkpoints (`demo/`), the results store (`cache/`: `results.sqlite` for probabilities and
embeddings, `store.results`, and `attributions.sqlite` for explanations, `explain.cache`) and the stores
(`store/veredicto.db` for sign-offs, `store/optuna.db` for hyperparameter searches):

- `$VEREDICTO_HOME` when set;
- else, running from a source checkout (`pyproject.toml` beside the packages: `make run`, `make test`),
  `<checkout>/.veredicto`;
- else (installed with `pip install .`, the packages in site-packages) `~/.veredicto`, never site-packages.

Each part can be moved on its own, as before: `VEREDICTO_DEMO_DIR`, `VEREDICTO_CACHE_DIR`, `VEREDICTO_STORE_DIR`
(the folder of both SQLite stores) and `VEREDICTO_STORE_URL` (any SQLAlchemy URL or path; it wins over the folder).

Team mode (one server, several people in browsers) is on when `VEREDICTO_TEAM_MODE=1` and whenever reviewer identity
is configured (`[auth]` or `[veredicto.reviewers]` in Streamlit secrets, which the page passes in: nothing here imports
Streamlit). In team mode the app reads data and checkpoints only under allow-listed roots (`VEREDICTO_DATA_ROOTS`,
`VEREDICTO_CHECKPOINT_ROOTS`, os.pathsep-separated folders or files; by default what the operator opened the app with,
`veredicto app --data/--checkpoints`, else the demo's data and checkpoint folders) or from uploads: `allowed_path`
resolves a path (symlinks included) and refuses it unless it lies inside a root, and `list_allowed` lists what the
roots hold, boundedly, for the sidebar's choices.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOME_ENV = "VEREDICTO_HOME"
DEMO_DIR_ENV = "VEREDICTO_DEMO_DIR"
CACHE_DIR_ENV = "VEREDICTO_CACHE_DIR"
STORE_DIR_ENV = "VEREDICTO_STORE_DIR"
STORE_URL_ENV = "VEREDICTO_STORE_URL"
TEAM_MODE_ENV = "VEREDICTO_TEAM_MODE"
DATA_ROOTS_ENV = "VEREDICTO_DATA_ROOTS"
CHECKPOINT_ROOTS_ENV = "VEREDICTO_CHECKPOINT_ROOTS"
TRAIN_CHUNK_ROWS_ENV = "VEREDICTO_TRAIN_CHUNK_ROWS"  # the app reads a training file on disk this many rows at a time (the CLI: --train-chunk-rows)
HOME_NAME = ".veredicto"
MAX_UPLOAD_MB = 200  # server.maxUploadSize (.streamlit/config.toml and `veredicto app`): the most an uploaded data file may be
LISTING_DEPTH = 2  # list_allowed looks into folders at most this many levels below a root (root/a/b/file), no deeper
LISTING_LIMIT = 500  # and returns at most this many entries, so a huge root cannot stall a rerun
AUDIT_DB = "veredicto.db"
OPTUNA_DB = "optuna.db"


class StoreURLError(ValueError):
    """`url` looks like a database URL (it has '://') but SQLAlchemy cannot parse it; `reason` says why."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"'{url}' is not a valid database URL ({reason})")
        self.url = url
        self.reason = reason


def source_root() -> Path | None:
    """The source checkout this code runs from (the folder with pyproject.toml above the packages), or None when installed."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


@dataclass(frozen=True)
class Settings:
    """The folders and store settings, as the environment says right now (see the module docstring)."""

    home: Path
    demo_dir: Path
    cache_dir: Path
    store_dir: Path
    store_url: str | None  # $VEREDICTO_STORE_URL as given (a URL or a path), None when unset


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value and value.strip() else None


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: `os.environ`)."""
    env = os.environ if environ is None else environ
    root = source_root()
    home = _path(env.get(HOME_ENV)) or (root / HOME_NAME if root is not None else Path.home() / HOME_NAME)
    return Settings(
        home=home,
        demo_dir=_path(env.get(DEMO_DIR_ENV)) or home / "demo",
        cache_dir=_path(env.get(CACHE_DIR_ENV)) or home / "cache",
        store_dir=_path(env.get(STORE_DIR_ENV)) or home / "store",
        store_url=(env.get(STORE_URL_ENV) or "").strip() or None,
    )


def home() -> Path:
    return load().home


def demo_dir() -> Path:
    """`$VEREDICTO_DEMO_DIR`, else `demo/` in the home folder."""
    return load().demo_dir


def cache_dir() -> Path:
    """The results store: `$VEREDICTO_CACHE_DIR`, else `cache/` in the home folder (predictions, embeddings, attributions)."""
    return load().cache_dir


def store_dir() -> Path:
    """`$VEREDICTO_STORE_DIR`, else `store/` in the home folder: the audit store's and the optuna store's SQLite files."""
    return load().store_dir


def store_url(value: str | os.PathLike | None = None, default_file: str = AUDIT_DB) -> str:
    """An SQLAlchemy URL from `value` (`--store`), else `$VEREDICTO_STORE_URL`, else SQLite `default_file` in `store_dir()`.

    A URL ('://') is returned as given once SQLAlchemy parses it (`StoreURLError` if it cannot); a path is a SQLite
    file, and a directory (or a name without a suffix) gets `default_file` inside it. Serves the audit store
    (`veredicto.db`) and the optuna store (`default_file=OPTUNA_DB`).
    """
    settings = load()
    if value is None or str(value).strip() == "":
        value = settings.store_url
    if value is None:
        path = settings.store_dir / default_file
    else:
        text = str(value).strip()
        if "://" in text:
            from sqlalchemy.engine import make_url  # third-party, imported only when a URL is given
            from sqlalchemy.exc import SQLAlchemyError

            try:
                make_url(text)
            except (SQLAlchemyError, ValueError) as exc:
                raise StoreURLError(text, str(exc)) from None
            return text
        path = Path(text).expanduser()
        if path.is_dir() or not path.suffix:
            path = path / default_file
    return f"sqlite:///{path.resolve()}"


# --------------------------------------------------------------------------- team mode


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def identity_configured(secrets: Any) -> bool:
    """True when Streamlit secrets configure reviewers: `[auth]` (OIDC) or `[veredicto.reviewers]` (accounts)."""
    try:
        if not hasattr(secrets, "get"):
            return False
        section = secrets.get("veredicto") or {}
        return bool(secrets.get("auth")) or bool(section.get("reviewers") if hasattr(section, "get") else None)
    except Exception:  # noqa: BLE001 - no secrets.toml at all raises on access, with a type that varies across Streamlit versions
        return False


def team_mode(secrets: Any = None, environ: Mapping[str, str] | None = None) -> bool:
    """Team mode: `VEREDICTO_TEAM_MODE=1`, or reviewer identity configured in `secrets` (it cannot be switched off then)."""
    env = os.environ if environ is None else environ
    return _truthy(env.get(TEAM_MODE_ENV)) or identity_configured(secrets)


def _roots(env: Mapping[str, str], variable: str, opened_with: str, default: Path) -> tuple[Path, ...]:
    listed = [Path(p).expanduser() for p in (env.get(variable) or "").split(os.pathsep) if p.strip()]
    if listed:
        return tuple(listed)
    opened = _path(env.get(opened_with))
    return (opened,) if opened is not None else (default,)


def data_roots(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Where team mode may read data: `$VEREDICTO_DATA_ROOTS`, else `$VEREDICTO_DATA` (`veredicto app --data`), else the demo's data folder."""
    env = os.environ if environ is None else environ
    return _roots(env, DATA_ROOTS_ENV, "VEREDICTO_DATA", load(env).demo_dir / "data")


def checkpoint_roots(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Where team mode may load checkpoints: `$VEREDICTO_CHECKPOINT_ROOTS`, else `$VEREDICTO_CHECKPOINTS`, else the demo's checkpoints."""
    env = os.environ if environ is None else environ
    return _roots(env, CHECKPOINT_ROOTS_ENV, "VEREDICTO_CHECKPOINTS", load(env).demo_dir / "checkpoints")


class BadSetting(ValueError):
    """An environment variable whose value cannot be used; the message names it and says what it takes."""


def train_chunk_rows(default: int, environ: Mapping[str, str] | None = None) -> int:
    """How many rows of a training file on disk the app holds at a time: `$VEREDICTO_TRAIN_CHUNK_ROWS`, else `default`."""
    env = os.environ if environ is None else environ
    value = (env.get(TRAIN_CHUNK_ROWS_ENV) or "").strip().replace("_", "")
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise BadSetting(f"{TRAIN_CHUNK_ROWS_ENV} must be a whole number of rows of at least 1 (e.g. 50000); unset it for the default of {default:,}.")
    return int(value)


class PathNotAllowed(ValueError):
    """A path outside every allowed root (after resolving symlinks). The message does not repeat the path or anything in it."""


def allowed_path(path: str | os.PathLike, roots: tuple[Path, ...] | list[Path], what: str = "file") -> Path:
    """`path` resolved (symlinks followed) when it lies inside one of `roots` (also resolved); else `PathNotAllowed`."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        resolved = None
    if resolved is not None:
        for root in roots:
            try:
                if resolved.is_relative_to(Path(root).expanduser().resolve()):
                    return resolved
            except (OSError, RuntimeError, ValueError):
                continue
    raise PathNotAllowed(
        f"That {what} is outside the folders this server shares, so it is not read. Choose one from the list, upload it, "
        f"or ask whoever runs Veredicto to add its folder to {DATA_ROOTS_ENV} or {CHECKPOINT_ROOTS_ENV}."
    )


def list_allowed(
    roots: tuple[Path, ...] | list[Path],
    *,
    suffixes: tuple[str, ...] = (),
    folders: bool = False,
    depth: int = LISTING_DEPTH,
    limit: int = LISTING_LIMIT,
) -> list[Path]:
    """Files with one of `suffixes` (or, with `folders`, folders: each root first) under `roots`, at most `depth` levels
    down and `limit` entries in all; hidden entries are skipped and so is anything whose resolved path leaves its root."""
    found: list[Path] = []
    for root in roots:
        try:
            base = Path(root).expanduser().resolve()
        except (OSError, RuntimeError):
            continue
        if base.is_file():
            if not folders and base.suffix.lower() in suffixes:
                found.append(base)
            continue
        if not base.is_dir():
            continue
        if folders:
            found.append(base)
        level = [base]
        for level_index in range(depth + 1):  # the root's own entries, then those of folders 1..depth levels below it
            below: list[Path] = []
            for folder in level:
                try:
                    entries = sorted(os.scandir(folder), key=lambda e: e.name)
                except OSError:
                    continue
                for entry in entries:
                    if len(found) >= limit:
                        return found
                    if entry.name.startswith(".") or entry.name == "__pycache__":
                        continue
                    try:
                        resolved = Path(entry.path).resolve()
                    except (OSError, RuntimeError):
                        continue
                    if not resolved.is_relative_to(base):
                        continue  # a symlink out of the root
                    if resolved.is_dir():
                        if level_index < depth:
                            below.append(resolved)
                            if folders:
                                found.append(resolved)
                    elif not folders and resolved.suffix.lower() in suffixes:
                        found.append(resolved)
            level = below
    return list(dict.fromkeys(found))
