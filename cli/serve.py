"""`python -m cli.serve run app.py ...`: Streamlit's own command line (what `veredicto app` starts), with the model
libraries imported before the server starts.

Without it a page's first run after a (re)start pays for importing torch, transformers and the checkpoints' model
classes before it reads a single stored result: about 3.5 s of a 6 s Overview on the demo (py-spy, issue 12). The
imports run before the server, not in a thread beside it: two threads importing the same packages at once can see a
partly initialised module (tried: Streamlit's import of pandas failed with "partially initialized module").
The pages' view-models (scikit-learn, scipy) and shap are imported too (`prepare` then takes them out of the garbage
collector's full collections): in the browser, after a restart, the Overview's
first run spent 1.5 s importing scikit-learn while the app's background shap import held the GIL (py-spy).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from pathlib import Path


def checkpoints_root() -> Path:
    """The checkpoints folder the app opens with: `$VEREDICTO_CHECKPOINTS`, else the bundled demo's."""
    from training.demo import default_demo_dir, demo_paths

    return Path(os.environ.get("VEREDICTO_CHECKPOINTS") or demo_paths(default_demo_dir()).checkpoints)


VIEW_MODELS = ("analysis.views", "analysis.figures", "explain.views", "explain.plots", "probes.views", "quality.views", "store.views", "privacy.views")


def warm_up(root: Path) -> list[str]:
    """Import the inference layer, the pages' view-models, shap, and the model class of each checkpoint in `root` (at
    most 8); returns the classes. An import that fails here fails again, with its message, where a page needs it."""
    imported: list[str] = []
    with contextlib.suppress(Exception):
        import importlib

        import transformers

        import analysis.predictions  # noqa: F401 - with it models.inference, torch, numpy, pandas
        from explain.shap_explainer import warm_up as shap_warm_up

        for module in VIEW_MODELS:
            importlib.import_module(module)
        shap_warm_up()

        for config in sorted(root.glob("*/config.json"))[:8] if root.is_dir() else []:
            for name in json.loads(config.read_text(encoding="utf-8")).get("architectures") or []:
                if getattr(transformers, name, None) is not None:  # imports the architecture's modeling module
                    imported.append(name)
    return imported


def prepare(root: Path) -> list[str]:
    """`warm_up(root)`, then freeze what it imported out of the garbage collector's reach: Streamlit runs a full
    `gc.collect(2)` after every script run (`runner.postScriptGC`), which walked the ~600k objects of torch,
    transformers, scikit-learn and shap each time: 0.3-0.5 s holding the GIL on every rerun of every session. Those
    objects live as long as the process anyway; after `gc.freeze()` the same collection takes ~5 ms."""
    imported = warm_up(root)
    gc.freeze()
    return imported


def main() -> None:
    prepare(checkpoints_root())
    from streamlit.web.cli import main as streamlit

    sys.exit(streamlit(prog_name="streamlit"))


if __name__ == "__main__":
    main()
