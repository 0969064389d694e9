"""`python -m cli.serve run app.py ...`: Streamlit's own command line (what `veredicto app` starts), with the model
libraries imported before the server starts.

Without it a page's first run after a (re)start pays for importing torch, transformers and the checkpoints' model
classes before it reads a single stored result: about 3.5 s of a 6 s Overview on the demo (py-spy, issue 12). The
imports run before the server, not in a thread beside it: two threads importing the same packages at once can see a
partly initialised module (tried: Streamlit's import of pandas failed with "partially initialized module").
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path


def checkpoints_root() -> Path:
    """The checkpoints folder the app opens with: `$VEREDICTO_CHECKPOINTS`, else the bundled demo's."""
    from training.demo import default_demo_dir, demo_paths

    return Path(os.environ.get("VEREDICTO_CHECKPOINTS") or demo_paths(default_demo_dir()).checkpoints)


def warm_up(root: Path) -> list[str]:
    """Import the inference layer and the model class of each checkpoint in `root` (at most 8); returns the classes.
    An import that fails here fails again, with its message, where a page needs it."""
    imported: list[str] = []
    with contextlib.suppress(Exception):
        import transformers

        import analysis.predictions  # noqa: F401 - with it models.inference, torch, numpy, pandas
        import explain.plots  # noqa: F401 - plotly, which every page draws with

        for config in sorted(root.glob("*/config.json"))[:8] if root.is_dir() else []:
            for name in json.loads(config.read_text(encoding="utf-8")).get("architectures") or []:
                if getattr(transformers, name, None) is not None:  # imports the architecture's modeling module
                    imported.append(name)
    return imported


def main() -> None:
    warm_up(checkpoints_root())
    from streamlit.web.cli import main as streamlit

    sys.exit(streamlit(prog_name="streamlit"))


if __name__ == "__main__":
    main()
