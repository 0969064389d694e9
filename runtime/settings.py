"""Where everything lives: one place that reads the environment, once per call (nothing is cached at import,
so a changed variable counts from the next call on).

The home folder holds the demo checkpoints (`demo/`), the attribution cache (`cache/`) and the stores
(`store/veredicto.db` for sign-offs, `store/optuna.db` for hyperparameter searches):

- `$VEREDICTO_HOME` when set;
- else, running from a source checkout (`pyproject.toml` beside the packages: `make run`, `make test`),
  `<checkout>/.veredicto`;
- else (installed with `pip install .`, the packages in site-packages) `~/.veredicto`, never site-packages.

Each part can be moved on its own, as before: `VEREDICTO_DEMO_DIR`, `VEREDICTO_CACHE_DIR`, `VEREDICTO_STORE_DIR`
(the folder of both SQLite stores) and `VEREDICTO_STORE_URL` (any SQLAlchemy URL or path; it wins over the folder).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "VEREDICTO_HOME"
DEMO_DIR_ENV = "VEREDICTO_DEMO_DIR"
CACHE_DIR_ENV = "VEREDICTO_CACHE_DIR"
STORE_DIR_ENV = "VEREDICTO_STORE_DIR"
STORE_URL_ENV = "VEREDICTO_STORE_URL"
HOME_NAME = ".veredicto"
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
    """`$VEREDICTO_CACHE_DIR`, else `cache/` in the home folder."""
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
