"""Release policies shipped with Veredicto: `example.yaml`, the documented example that `veredicto report` and the
Sign-off page start from. A package (its YAML is package data) so that it is found the same way in the checkout and
in an installed copy."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def example_policy() -> Path:
    """The bundled example policy file, wherever Veredicto is installed."""
    return Path(str(files(__name__) / "example.yaml"))


def default_policy() -> Path:
    """The policy the Sign-off page opens with: $VEREDICTO_POLICY, else the bundled example (what `veredicto demo` evaluates ahead)."""
    return Path(os.environ.get("VEREDICTO_POLICY") or example_policy())
