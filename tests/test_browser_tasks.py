"""Browser journeys for a multi-label and a sentence-pair checkpoint, in a real headless Chromium.

Each app serves two checkpoints trained here in seconds (a random tiny BERT as the baseline, the same fine-tuned on
hand-made data as the candidate), so the journeys need no demo and no download. Screenshots go to
test-output/screenshots/ (10-… multi-label, 20-… pairs) for a person to look at.
"""

from __future__ import annotations

import os

import pytest
from browser import browser_page, chromium_path, page_has_no_error, running_app, screenshot, wait_for_app
from finetune_support import pair_rows, tagged_rows, write_csv
from test_finetune_tasks import FAST
from tiny import make_tiny_checkpoint

from models.task import MULTI_LABEL
from training.data import prepare_data
from training.run import train_single

pytestmark = pytest.mark.browser


def _needs_chromium() -> None:
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/install_chromium.sh should have installed it")
        pytest.skip("Chromium is not installed: run scripts/install_chromium.sh (make test does)")


def _train(root, name: str, rows, **columns):
    base = make_tiny_checkpoint(root / "base", "bert", labels=None)
    source = write_csv(rows, root / f"{name}-train.csv")
    return train_single(base, prepare_data(source, **columns), root / "checkpoints" / name, FAST, seed=0, log=lambda m: None, progress=False)


@pytest.fixture(scope="module")
def multi_label_app(tmp_path_factory):
    _needs_chromium()
    root = tmp_path_factory.mktemp("browser-multi")
    _train(root, "tags-after", tagged_rows(60, seed=1), text_col="review", label_col="tags", task=MULTI_LABEL)
    make_tiny_checkpoint(root / "checkpoints" / "tags-before", labels=("praise", "gripe"), problem_type="multi_label_classification", seed=3)
    test = tagged_rows(40, seed=2).rename(columns={"review": "text", "tags": "labels"})
    data = write_csv(test, root / "tags-test.csv")
    os.environ["VEREDICTO_CACHE_DIR"] = str(root / "cache")
    with running_app(root / "checkpoints", data) as url:
        yield url


@pytest.fixture(scope="module")
def pair_app(tmp_path_factory):
    _needs_chromium()
    root = tmp_path_factory.mktemp("browser-pair")
    _train(root, "pair-after", pair_rows(60, seed=1), text_col="premise", label_col="label", pair_col="hypothesis")
    make_tiny_checkpoint(root / "checkpoints" / "pair-before", labels=("negative", "positive"), seed=3)
    test = pair_rows(40, seed=2).rename(columns={"premise": "text", "hypothesis": "text_pair"})
    data = write_csv(test, root / "pairs-test.csv")
    os.environ["VEREDICTO_CACHE_DIR"] = str(root / "cache")
    with running_app(root / "checkpoints", data) as url:
        yield url


def _open(page, url: str, path: str = "") -> str:
    page.goto(f"{url}/{path}")
    wait_for_app(page)
    page_has_no_error(page)
    return page.inner_text("body")


def _go(page, name: str) -> str:
    """Follow the sidebar's page link (the session, and so the sidebar's choices, stays)."""
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=name).first.click()
    wait_for_app(page)
    page_has_no_error(page)
    return page.inner_text("body")


def _explain_first_row(page) -> str:
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first data row's selection checkbox
    wait_for_app(page)
    page.wait_for_selector("text=Do the methods agree?", timeout=600_000)
    wait_for_app(page)
    page_has_no_error(page)
    return page.inner_text("body")


def test_a_multi_label_checkpoint_end_to_end(multi_label_app):
    with browser_page() as page:
        body = _open(page, multi_label_app)
        assert "multi-label" in body
        for name in ("Micro-F1", "Subset accuracy", "Hamming loss"):
            assert name in body, name
        assert "0.5 for every label" in body or "default" in body.lower()  # where the thresholds come from is said
        assert "Accuracy" not in body.replace("Subset accuracy", "")  # no single-label accuracy on a multi-label checkpoint
        screenshot(page, "10-multilabel-overview")

        body = _go(page, "Errors")
        assert "Labels together" in body and "Confusion matrix" not in body
        assert page.locator(".js-plotly-plot").count() >= 3  # a label's 2x2 and the co-occurrence heatmaps
        screenshot(page, "11-multilabel-errors")

        body = _go(page, "Explore")
        body = _explain_first_row(page)
        assert "praise" in body and "gripe" in body
        assert page.locator(".js-plotly-plot").count() >= 3
        screenshot(page, "12-multilabel-explained")

        body = _go(page, "Compare")
        assert "Micro-F1" in body and "McNemar" in body
        screenshot(page, "13-multilabel-compare")


def test_a_sentence_pair_checkpoint_end_to_end(pair_app):
    with browser_page() as page:
        body = _open(page, pair_app)  # a column named text_pair is taken as the second text
        assert "Sentence pairs: the model reads each row's text and text_pair together." in body
        assert "Macro-F1" in body
        screenshot(page, "20-pair-overview")

        _go(page, "Explore")
        body = _explain_first_row(page)
        assert "Second text" in body or "text_pair" in body
        assert page.locator(".js-plotly-plot").count() >= 3
        screenshot(page, "21-pair-explained")
