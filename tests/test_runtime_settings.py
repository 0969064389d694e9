"""runtime.settings: where Veredicto keeps its files. From a checkout the home is `<checkout>/.veredicto`
(what `make run` / `make test` use), installed it is `$VEREDICTO_HOME` or `~/.veredicto` (never site-packages),
the four VEREDICTO_* variables still move their part, and one `store_url` serves the audit and optuna stores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import settings
from store.audit import StoreError, resolve_store_url

ROOT = Path(__file__).resolve().parents[1]
VARS = ("VEREDICTO_HOME", "VEREDICTO_DEMO_DIR", "VEREDICTO_CACHE_DIR", "VEREDICTO_STORE_DIR", "VEREDICTO_STORE_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


def test_from_the_checkout_everything_lives_in_its_dot_veredicto():
    assert settings.source_root() == ROOT
    s = settings.load()
    assert s.home == ROOT / ".veredicto"
    assert (s.demo_dir, s.cache_dir, s.store_dir) == (ROOT / ".veredicto" / "demo", ROOT / ".veredicto" / "cache", ROOT / ".veredicto" / "store")
    assert settings.store_url() == f"sqlite:///{(ROOT / '.veredicto' / 'store' / 'veredicto.db').resolve()}"


def test_each_variable_moves_its_part_and_is_read_on_every_call(tmp_path, monkeypatch):
    monkeypatch.setenv("VEREDICTO_HOME", str(tmp_path / "home"))
    assert settings.cache_dir() == tmp_path / "home" / "cache" and settings.demo_dir() == tmp_path / "home" / "demo"
    monkeypatch.setenv("VEREDICTO_DEMO_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("VEREDICTO_STORE_DIR", str(tmp_path / "s"))
    assert (settings.demo_dir(), settings.cache_dir(), settings.store_dir()) == (tmp_path / "d", tmp_path / "c", tmp_path / "s")
    assert settings.store_url() == f"sqlite:///{(tmp_path / 's' / 'veredicto.db').resolve()}"
    assert settings.store_url(default_file=settings.OPTUNA_DB) == f"sqlite:///{(tmp_path / 's' / 'optuna.db').resolve()}"
    monkeypatch.setenv("VEREDICTO_STORE_URL", "postgresql://team@db/veredicto")  # the URL wins over the folder, for both stores
    assert settings.store_url() == settings.store_url(default_file=settings.OPTUNA_DB) == "postgresql://team@db/veredicto"


def test_store_url_takes_a_url_a_file_or_a_folder(tmp_path):
    assert settings.store_url(str(tmp_path)) == f"sqlite:///{tmp_path.resolve()}/veredicto.db"
    assert settings.store_url(tmp_path, default_file="optuna.db") == f"sqlite:///{tmp_path.resolve()}/optuna.db"
    assert settings.store_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path.resolve()}/x.db"
    assert settings.store_url("  sqlite:////tmp/a.db ") == "sqlite:////tmp/a.db"
    with pytest.raises(settings.StoreURLError) as caught:
        settings.store_url("not a scheme://x")
    assert caught.value.url == "not a scheme://x" and caught.value.reason


def test_the_audit_store_keeps_its_own_message_for_a_bad_url():
    with pytest.raises(StoreError, match=r"'nope://:::' is not a valid database URL \(.+\)\. Example: postgresql://"):
        resolve_store_url("nope://:::")


def _settings_in(folder: Path, home: Path, extra_env: dict[str, str] | None = None) -> dict:
    """Import a copy of runtime/ from `folder` (no pyproject.toml beside it, like site-packages) in a fresh interpreter."""
    code = (
        "import json, runtime.settings as s; x = s.load(); "
        "print(json.dumps({'root': str(s.source_root()), 'home': str(x.home), 'cache': str(x.cache_dir), 'file': s.__file__}))"
    )
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", **(extra_env or {})}
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(folder)!r}); {code}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=folder,
    )
    return json.loads(out.stdout)


def test_installed_the_home_is_veredicto_home_or_the_users_never_site_packages(tmp_path):
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "runtime", site / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    user = tmp_path / "user"
    found = _settings_in(site, user)
    assert found["file"].startswith(str(site)) and found["root"] == "None"
    assert found["home"] == str(user / ".veredicto") and found["cache"] == str(user / ".veredicto" / "cache")
    chosen = _settings_in(site, user, {"VEREDICTO_HOME": str(tmp_path / "team")})
    assert chosen["home"] == str(tmp_path / "team")


def test_runtime_imports_nothing_from_the_project():
    code = (
        "import sys, runtime, runtime.settings, runtime.process; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'models', 'explain', 'evaldata', 'analysis', 'store', 'cli', 'training', 'dashboard', 'probes', 'pages'}))"
    )
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_attribution_cache_folder_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    from explain.cache import default_cache_dir, shared_cache

    monkeypatch.chdir(tmp_path)
    assert default_cache_dir() == ROOT / ".veredicto" / "cache"  # was .veredicto/cache under the working directory
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(tmp_path / "cache"))
    first = shared_cache()
    assert first.directory == tmp_path / "cache" and shared_cache(tmp_path / "cache") is first  # one object per folder
    assert shared_cache(tmp_path / "other") is not first


def test_the_training_chunk_size_comes_from_the_environment_and_a_bad_one_says_what_it_takes():
    from runtime.settings import BadSetting, train_chunk_rows

    assert train_chunk_rows(50_000, {}) == 50_000 and train_chunk_rows(50_000, {"VEREDICTO_TRAIN_CHUNK_ROWS": " 7 "}) == 7
    for bad in ("0", "-3", "lots"):
        with pytest.raises(BadSetting, match="VEREDICTO_TRAIN_CHUNK_ROWS must be a whole number of rows of at least 1"):
            train_chunk_rows(50_000, {"VEREDICTO_TRAIN_CHUNK_ROWS": bad})
