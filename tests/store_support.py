"""Helpers for the store tests: a fresh SQLite file or a fresh PostgreSQL database per test, and writer processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "VEREDICTO_TEST_PG_URL"
PG_SKIP = f"{PG_ENV} is not set: start a throwaway server with `export {PG_ENV}=$(scripts/start_postgres.sh)` to run the PostgreSQL variant of this test"
BACKENDS = ["sqlite", "postgresql"]


def fresh_store_url(backend: str, tmp_path: Path):
    """(url, cleanup) for an empty store on `backend`; skips PostgreSQL with the reason when no server is configured."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'audit' / 'veredicto.db'}", lambda: None
    admin = os.environ.get(PG_ENV)
    if not admin:
        pytest.skip(PG_SKIP)
    import sqlalchemy as sa

    name = f"vt_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{PG_ENV}={admin} is set but the server cannot be reached: {exc}")
    url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)

    def cleanup():
        from store import audit

        for key in [k for k in audit._engines if k[1] == url]:
            audit._engines.pop(key).dispose()
        for key in [k for k in audit._stores if k[1] == url]:
            audit._stores.pop(key)
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()

    return url, cleanup


def python(script: str, *args: str, **popen) -> subprocess.Popen:
    """Start `python -c script args...` with the repository importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, env=env, text=True, **popen)


def signoff(i: int = 0, **overrides) -> dict:
    """Keywords for AuditStore.append with recognisable values."""
    fields = dict(
        reviewer="alice",
        decision="approve",
        comment=f"record {i}",
        identity="cli:test",
        checkpoint_name="sentiment-after",
        checkpoint_path="/models/sentiment-after",
        checkpoint_fingerprint="a" * 64,
        dataset_name="test.csv",
        dataset_fingerprint="b" * 64,
        policy_text="version: 1\ngates:\n  min_macro_f1: 0.8\n",
        metrics={"macro_f1": 0.8123, "per_class": {"fresh": {"recall": 0.9}}, "n": 200},
        gates=[{"key": "min_macro_f1", "status": "pass", "measured": 0.8123, "threshold": 0.8}],
    )
    fields.update(overrides)
    return fields
