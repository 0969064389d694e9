"""'Redact personal data' on: no page shows a planted email, phone, IBAN, card, ID, IP, URL or name; off: they do.

The data file plants personal data of every kind in the texts and a metadata column (tests/privacy_support.py);
every element of the rendered page (Markdown, captions, tables, chart specs) is searched for the values as written,
HTML-escaped, URL-encoded and JSON-escaped, and for distinctive pieces of them.
"""

from __future__ import annotations

import pytest
from analysis_pages_support import app_test, build_fixture, dataframe, select_row
from privacy_support import PIECES, PLANTED, leaks, planted_file, planted_frame

from dashboard.state import REDACT_KEY

NAME_ROW = next(i for i, (kind, _value) in enumerate(PLANTED) if kind == "NAME")
EMAIL_ROW = next(i for i, (kind, _value) in enumerate(PLANTED) if kind == "EMAIL")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy-page")
    env = build_fixture(root)
    return {**env, "data": planted_file(root)}


def page_text(at) -> str:
    """Everything the page rendered: each element's message (tables' Arrow bytes included) plus the tables as CSV."""

    def walk(node):
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    parts = [str(getattr(node, "proto", "")) for node in walk(at._tree)]
    parts += [d.value.to_csv() for d in at.dataframe]
    return "\n".join(parts)


def assert_nothing_shows(at) -> None:
    text = page_text(at)
    assert leaks(text) == []
    assert [p for p in PIECES if p in text] == []


@pytest.mark.parametrize(
    ("page", "query"),
    [
        ("pages/overview.py", {}),
        ("pages/errors.py", {}),
        ("pages/compare.py", {}),
        ("pages/robustness.py", {}),
        ("pages/insights.py", {}),
        ("pages/data.py", {}),
    ],
)
def test_with_redaction_on_a_page_shows_no_planted_value(env, monkeypatch, page, query):
    at = app_test(env, monkeypatch, page, query=query, state={REDACT_KEY: True})
    assert_nothing_shows(at)


def test_the_errors_page_masks_the_opened_example_and_the_metadata_slices(env, monkeypatch):
    at = app_test(env, monkeypatch, "pages/errors.py", state={REDACT_KEY: True})
    table = dataframe(at, "errors-examples-")
    assert table.value["text"].str.contains("<", regex=False).any()  # placeholders where the values were
    for row in range(min(4, len(table.value))):
        select_row(at, dataframe(at, "errors-examples-"), row)
        assert_nothing_shows(at)
    # without redaction the same page shows them: the search above can find what it looks for
    plain = app_test(env, monkeypatch, "pages/errors.py")
    assert leaks(page_text(plain))


@pytest.mark.parametrize("row", [NAME_ROW, EMAIL_ROW])
def test_explore_masks_the_table_the_text_and_the_explanations(env, monkeypatch, row):
    at = app_test(env, monkeypatch, "pages/explore.py", query={"example": str(row)}, state={REDACT_KEY: True})
    assert any(m.value.startswith("> ") and "<" in m.value for m in at.markdown)  # the example text, masked
    assert_nothing_shows(at)
    plain = app_test(env, monkeypatch, "pages/explore.py", query={"example": str(row)})
    assert leaks(page_text(plain))


def test_the_data_page_counts_personal_data_per_column_and_masks_the_examples(env, monkeypatch, tmp_path):
    from collections import Counter

    monkeypatch.setenv("VEREDICTO_STORE_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    at = app_test(env, monkeypatch, "pages/data.py", state={REDACT_KEY: True})
    counts = next(d.value for d in at.dataframe if "rows with PII" in d.value.columns).set_index("column")
    planted = Counter(kind for kind, _value in PLANTED)  # one value per row of the text column
    assert counts.loc["text", "rows with PII"] == len(PLANTED)
    assert {kind: counts.loc["text", kind] for kind in planted} == dict(planted)
    assert counts.loc["customer", "EMAIL"] > 0 and counts.loc["customer", "NAME"] > 0  # the metadata column is scanned too
    assert at.get("plotly_chart"), "the per-column counts figure"
    examples = next(d.value for d in at.dataframe if "example" in d.value.columns)
    assert examples["example"].str.contains("<EMAIL>", regex=False).any()
    assert_nothing_shows(at)
    # without redaction the examples show the values in context: the search above can find what it looks for
    plain = app_test(env, monkeypatch, "pages/data.py")
    assert leaks(page_text(plain))


def test_team_mode_redacts_by_default(env, monkeypatch, tmp_path):
    monkeypatch.setenv("VEREDICTO_TEAM_MODE", "1")
    monkeypatch.setenv("VEREDICTO_CHECKPOINT_ROOTS", str(env["checkpoints"].parent))
    monkeypatch.setenv("VEREDICTO_DATA_ROOTS", str(env["data"].parent))
    at = app_test(env, monkeypatch, "pages/errors.py")  # the switch not touched
    assert dataframe(at, "errors-examples-").value["text"].str.contains("<", regex=False).any()
    assert_nothing_shows(at)


def test_the_signoff_page_masks_slice_names_in_the_gate_details(env, monkeypatch, tmp_path):
    policy = tmp_path / "policy.yaml"
    # slices on the customer column: emails and names become slice names in the slice gate's detail
    policy.write_text(
        "gates:\n  min_macro_f1: 0.0\n  max_slice_drop_vs_baseline: 1.0\n  max_pii_rate: 1.0\nsettings:\n  slice_min_size: 1\n  slice_columns: [customer]\n"
    )
    monkeypatch.setenv("VEREDICTO_STORE_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    monkeypatch.setenv("VEREDICTO_POLICY", str(policy))
    at = app_test(env, monkeypatch, "pages/signoff.py", state={REDACT_KEY: True})
    assert_nothing_shows(at)
    # the report built from the page is redacted too
    at.button(key="signoff_build_report").click().run()
    assert not at.exception, [e.message for e in at.exception]
    html = at.session_state["signoff_report"][1]
    assert "Redacted report: personal data is masked." in html and leaks(html) == []


# words of the planted values as the word list writes them (lower-cased \w+ units), none of them in a row without personal data
PLANTED_WORDS = {"okafor", "maria", "lopez", "7946", "0958", "2671", "4399", "54362315k", "111222333", "36574261809", "8a2e", "7781", "shop"}


def test_the_insights_word_list_masks_words_cut_from_personal_data(env, monkeypatch):
    """The failure: 'okafor' or 'lopez' alone is no personal data to the scanner, so the word list, the bars, the
    warnings and the drill-down showed the words of names, emails and numbers the texts carry."""
    import json

    at = app_test(env, monkeypatch, "pages/insights.py", budget={"VEREDICTO_LIME_SAMPLES": "30"}, state={REDACT_KEY: True})
    at.radio(key="insights_method").set_value("lime").run()  # the sample size is chosen for SHAP and LIME only
    at.slider(key="insights_size").set_value(len(planted_frame()))  # every row: the planted ones all explained
    at.run()
    if at.button and any(b.key == "insights_compute" for b in at.button):
        at.button(key="insights_compute").click().run()
    at.number_input(key="insights_min_count").set_value(1).run()
    at.number_input(key="insights_k").set_value(50).run()
    assert not at.exception, [e.message for e in at.exception]
    words = dataframe(at, "insights_words_").value
    shown = {str(w).lower() for w in words.index}
    assert shown & PLANTED_WORDS == set() and any(str(w).startswith("<NAME> ") for w in words.index), sorted(shown)[:40]
    charts = " ".join(chart.proto.spec for chart in at.get("plotly_chart")).lower()
    assert [w for w in PLANTED_WORDS if json.dumps(w) in charts] == []
    select_row(at, dataframe(at, "insights_words_"), list(words.index).index(next(w for w in words.index if str(w).startswith("<NAME> "))))
    assert_nothing_shows(at)  # the drill-down of a masked word: its examples, masked
    plain = app_test(env, monkeypatch, "pages/insights.py", budget={"VEREDICTO_LIME_SAMPLES": "30"})
    plain.radio(key="insights_method").set_value("lime").run()
    plain.slider(key="insights_size").set_value(len(planted_frame())).run()  # explained above: read from the cache
    plain.number_input(key="insights_min_count").set_value(1).run()
    assert {"okafor", "lopez"} <= set(dataframe(plain, "insights_words_").value.index)  # without redaction: the words as they are
