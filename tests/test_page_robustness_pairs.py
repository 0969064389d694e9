"""The Robustness page on sentence pairs: the user picks which text of each pair the probes perturb.

Fixture: kw-after answers 'positive' exactly when the input holds "john"; the names appear only in the second text,
so a name swap flips the examples naming John when the second text is perturbed and none when only the first one is.
"""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_pages_support import ROOT, SMALL_BUDGET
from test_page_robustness import button, chart
from test_probes_models import make_keyword_checkpoint

PAGE = "pages/robustness.py"
NAMES = ["John", "Maria", "Carlos", "Emma"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("robustness-pairs")
    single = make_keyword_checkpoint(root / "single" / "kw-after", {"john": +1}).parent
    rows = [{"text": f"the film number {i}", "other": f"{NAMES[i % 4]} said it was good", "label": "positive"} for i in range(12)]
    data = root / "pairs.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    return {"checkpoints": single, "data": data, "cache": root / "cache"}


def _sidebar_then_page() -> None:
    """app.py's sidebar, then the page (AppTest keeps the sidebar's widgets reachable only without st.navigation)."""
    import os
    import runpy

    from dashboard.state import sidebar

    sidebar()
    runpy.run_path(os.environ["ROBUSTNESS_PAGE"], run_name="__main__")


def open_with_pairs(env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    for name, value in {
        **SMALL_BUDGET,
        "VEREDICTO_CHECKPOINTS": str(env["checkpoints"]),
        "VEREDICTO_DATA": str(env["data"]),
        "VEREDICTO_CACHE_DIR": str(env["cache"]),
        "ROBUSTNESS_PAGE": str(ROOT / PAGE),
    }.items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_function(_sidebar_then_page, default_timeout=300)
    at.run()
    at.selectbox(key="pair_col").set_value("other").run()  # the sidebar's "Second text (sentence pairs)"
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.mark.parametrize(("segment", "expected"), [("second", 3 / 12), ("first", None), ("both", 3 / 12)])
def test_the_segment_choice_decides_which_text_the_name_swap_changes(env, monkeypatch, segment, expected):
    at = open_with_pairs(env, monkeypatch)
    at.radio(key="robustness_segment").set_value(segment).run()
    button(at, "robustness_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    (only,) = chart(at, "robustness-rates")["data"]
    rates = dict(zip(only["customdata"], only["y"]))
    if expected is None:  # the first texts hold no name: the test applies to no example (no rate)
        assert rates.get("names") is None
    else:
        assert rates["names"] == pytest.approx(expected)
