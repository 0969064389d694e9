"""End-to-end journeys in a real headless Chromium on the bundled demo, with screenshots of every page.

Screenshots land in test-output/screenshots/ for a person to open and check.
"""

import os
import re
import time

import pytest
from browser import IDLE, SCRIPT_DONE, browser_page, chromium_path, page_has_no_error, running_app, screenshot, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.demo]


@pytest.fixture(scope="module")
def demo():
    from training.demo import default_demo_dir, demo_paths, read_manifest

    paths = demo_paths(default_demo_dir())
    if read_manifest(default_demo_dir()) is None:
        pytest.skip("the demo is not built: run `veredicto demo` (make test does)")
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/install_chromium.sh should have installed it")
        pytest.skip("Chromium is not installed: run scripts/install_chromium.sh (make test does)")
    return paths


@pytest.fixture(scope="module")
def app_url(demo, tmp_path_factory):
    os.environ["VEREDICTO_CACHE_DIR"] = str(tmp_path_factory.mktemp("browser-cache"))
    with running_app(demo.checkpoints, demo.test_data) as url:
        yield url


def open_page(page, url: str, path: str = "") -> None:
    page.goto(f"{url}/{path}")
    wait_for_app(page)
    page_has_no_error(page)


def test_overview_shows_metrics_for_both_checkpoints(app_url):
    with browser_page() as page:
        open_page(page, app_url)
        body = page.inner_text("body")
        assert "sentiment-before (baseline)" in body and "sentiment-after (candidate)" in body
        assert body.count("Accuracy") >= 2 and "Macro-F1" in body
        screenshot(page, "01-overview")


def test_select_a_misclassified_example_and_see_its_explanation(app_url):
    with browser_page() as page:
        open_page(page, app_url, "explore")
        page.get_by_text("mistakes", exact=True).click()
        wait_for_app(page)
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first data row's selection checkbox
        wait_for_app(page)
        page.wait_for_selector("text=Do the methods agree?", timeout=300_000)
        wait_for_app(page)
        page_has_no_error(page)
        body = page.inner_text("body")
        assert "wrong (the model disagrees with the gold label)" in body and "example=" in page.url
        assert page.locator(".js-plotly-plot").count() >= 4  # probabilities + SHAP and LIME views
        screenshot(page, "02-explore-mistake-explained")


def test_compare_lists_flipped_examples(app_url):
    with browser_page() as page:
        open_page(page, app_url, "compare")
        page.wait_for_selector("text=Flipped examples")
        body = page.inner_text("body")
        assert "McNemar" in body or "mcnemar" in body.lower()
        assert "fixed" in body.lower() and "broken" in body.lower()
        # where those words are: the headline's counts and the flipped examples' filter (the table's cells are drawn on a canvas)
        assert {"Fixed", "Broken"} <= {t.strip() for t in page.locator('[data-testid="stMetricLabel"]').all_inner_texts()}
        options = page.locator('[data-testid="stRadio"]').filter(has_text="All flips").inner_text()
        assert re.search(r"Fixed \([\d,]+\)", options) and re.search(r"Broken \([\d,]+\)", options), options
        screenshot(page, "03-compare")


def test_the_page_is_read_only_once_lazily_loaded_elements_are_drawn(app_url):
    """The cause of a flaky Compare test: the script had finished ('notRunning') while st.metric's JavaScript chunk was
    still loading, so the headline was a placeholder (stSkeleton) without its text. Here that chunk is held back until
    the test lets it go, which makes the slow case certain: wait_for_app must not return while it is held."""
    with browser_page() as page:  # a server's first request may be a deep link, which runs the page twice (see current_session)
        open_page(page, app_url, "compare")
    held = []
    with browser_page() as page:  # a new browser: nothing of Streamlit's JavaScript is cached yet
        page.route(re.compile(r"/static/js/Metric\.[^/]*\.js$"), lambda route: held.append(route))  # not answered until released
        page.goto(f"{app_url}/compare")
        page.wait_for_function(SCRIPT_DONE, timeout=900_000)
        page.wait_for_function("() => document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=60_000)
        deadline = time.monotonic() + 60
        while not held:  # the browser asked for the chunk; its route reaches this thread at the next Playwright call
            if time.monotonic() > deadline:
                screenshot(page, "99-metric-never-requested")
                pytest.fail("the Metric component was never requested")
            page.wait_for_timeout(50)
        assert page.locator('[data-testid="stMetricLabel"]').count() == 0
        assert not page.evaluate(IDLE), "the script is done but the headline is a placeholder: the page is not ready"
        for route in held:
            route.continue_()
        wait_for_app(page)
        assert {"Fixed", "Broken"} <= {t.strip() for t in page.locator('[data-testid="stMetricLabel"]').all_inner_texts()}


@pytest.mark.parametrize("name", ["errors", "insights", "robustness", "training", "signoff"])
def test_every_other_page_renders(app_url, name):
    with browser_page() as page:
        open_page(page, app_url, name)
        screenshot(page, f"04-{name}")


def test_uploading_a_broken_csv_shows_a_clear_message(app_url, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_bytes("review,stars\ncaf\xe9 au lait,5\n".encode("latin-1"))
    with browser_page() as page:
        open_page(page, app_url)
        page.get_by_text("Upload", exact=True).click()
        wait_for_app(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(broken))
        page.wait_for_selector("text=is not UTF-8", timeout=60_000)
        wait_for_app(page)
        page_has_no_error(page)
        assert "Re-save the file as UTF-8" in page.inner_text("body")
        screenshot(page, "05-broken-upload")
