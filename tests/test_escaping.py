"""Nothing a user typed reaches HTML, Markdown or a spreadsheet as code: each test is the attack it prevents.

A reviewer name, a comment, a decision edited in the database, a checkpoint or data name, a label, a text, a metadata
value or a policy name carrying markup must come out of the report as text (checked by parsing the HTML, not by
searching it), out of the app's Markdown as the characters typed, and out of every CSV export as a literal."""

from __future__ import annotations

import csv
import dataclasses
import io
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from test_gates import GENRES

from analysis.synthetic import probs_for, table_from_arrays
from runtime.escaping import csv_bytes, csv_cell, csv_safe, md
from store.audit import AuditStore
from store.gates import evaluate_gates
from store.policy import parse_policy
from store.report import build_report, make_report

ATTACK = '"><script>alert(1)</script>'
IMG = "<img src=x onerror=alert(2)>"
FORMULA = '=HYPERLINK("http://x","click")'
# the report's own classes (its stylesheet's, and Plotly's div); nothing else may appear in a class attribute
REPORT_CLASSES = {
    "plotly-graph-div",
    "figure",
    "verdict",
    "pass",
    "fail",
    "na",
    "stale",
    "approve",
    "reject",
    "changes_requested",
    "num",
    "ci",
    "meta",
    "toc",
    "page",
    "muted",
    "cards",
    "card",
    "k",
    "v",
    "s",
    "badge",
    "example",
    "note",
    "trust",
}


class Elements(HTMLParser):
    """Every element and attribute the browser would build from the page, and the text inside <script>/<style>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self._raw: str | None = None
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        if tag == "script":
            self._raw = ""

    def handle_data(self, data):
        if self._raw is not None:
            self._raw += data

    def handle_endtag(self, tag):
        if tag == "script" and self._raw is not None:
            self.scripts.append(self._raw)
            self._raw = None


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


def hostile_table(name: str, wrong: set[int]):
    """200 examples whose checkpoint name, data name, labels, texts and metadata values all carry markup."""
    gold = np.tile([0, 1], 100)
    pred = gold.copy()
    pred[sorted(wrong)] = 1 - pred[sorted(wrong)]
    conf = np.clip(0.8 + np.random.default_rng(0).normal(0, 0.05, 200), 0.55, 0.99)
    return table_from_arrays(
        probs_for(pred, 2, conf),
        gold,
        (f"neg{ATTACK}", f"pos{IMG}"),
        texts=[f"review {i} {ATTACK} {IMG}" for i in range(200)],
        metadata={"genre": np.array([f"{g}{ATTACK}" for g in GENRES])},
        checkpoint_name=name,
        data_name=f"data{IMG}.csv",
        data_fingerprint="d" * 64,
    )


@pytest.fixture
def hostile_report(tmp_path):
    baseline = hostile_table(f"before{ATTACK}", set(range(0, 200, 10)))
    after = hostile_table(f"after{ATTACK}", set(range(0, 200, 7)) | set(range(100, 150, 3)))
    policy = parse_policy(
        f"version: 1\nname: '{ATTACK.replace(chr(39), chr(39) * 2)}'\ngates:\n  min_macro_f1: 0.8\n  max_slice_drop_vs_baseline: 0.05\nsettings:\n  slice_min_size: 20\n",
        "policy.yaml",
    )
    store = AuditStore(tmp_path / "store")
    gates = evaluate_gates(policy, after, baseline=baseline, store=store, checkpoint_path=f"/m/{IMG}")
    store.append(reviewer=f"alice{ATTACK}", decision="reject", comment=f"no {IMG} {ATTACK}", **gates.signoff_fields())
    store.append(reviewer=f"bob{IMG}", decision="approve", comment="", **gates.signoff_fields())
    records = store.records(checkpoint_fingerprint=gates.fingerprint)
    # a decision edited in the database (the column takes any 32 characters): exactly what once became the row's class
    records = [dataclasses.replace(records[0], decision=ATTACK), *records[1:]]
    return build_report(gates, after, baseline=baseline, records=records, chain=store.verify(), store_url=f"sqlite:///{IMG}")


def test_nothing_typed_becomes_an_element_or_attribute_of_the_report(hostile_report):
    page = hostile_report
    found = parse(page)
    tags = [tag for tag, _ in found.tags]
    assert "img" not in tags
    # scripts: plotly.js in the head, then exactly one per figure; none of them is something a user typed
    assert tags.count("script") == 1 + page.count("Plotly.newPlot(")
    assert all(not s.lstrip().startswith("alert") and "<script" not in s.lower() and "<img" not in s.lower() for s in found.scripts)
    for tag, attrs in found.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert name in {"class", "id", "href", "lang", "charset", "name", "content", "type", "style"}, (tag, name)
            assert "alert" not in (value or ""), (tag, name, value)
    # every class is one the stylesheet defines (or Plotly's own), never a stored value
    classes = {c for tag, attrs in found.tags for n, v in attrs if n == "class" for c in (v or "").split()}
    assert classes <= REPORT_CLASSES, classes - REPORT_CLASSES
    # the history row whose decision was tampered with has no class at all, the others theirs
    history = page.split('id="signoffs"')[1]
    assert history.count("<tr class=") == 1 and '<tr class="approve">' in history


def test_what_people_typed_is_shown_as_text_in_the_report(hostile_report):
    page = hostile_report
    body = page.split("</script></head>")[1]
    escaped = "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    for shown in (f"alice{escaped}", f"before{escaped}", f"after{escaped}", f"neg{escaped}", escaped, "&lt;img src=x onerror=alert(2)&gt;"):
        assert shown in body, shown


def test_a_decision_edited_in_the_store_does_not_reach_an_attribute(tmp_path):
    """The same attack through the store itself: the row is rewritten in the database, then the report is made."""
    from test_report import AFTER, BASELINE, policy

    store = AuditStore(tmp_path / "store")
    gates = evaluate_gates(policy(), AFTER, baseline=BASELINE, store=store, checkpoint_path="/m/after")
    store.append(reviewer="alice", decision="approve", **gates.signoff_fields())
    with store.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("UPDATE veredicto_signoffs SET decision = ? WHERE seq = 1", (ATTACK,))
    page = make_report(gates, AFTER, baseline=BASELINE, store=store)
    found = parse(page)
    assert [t for t, _ in found.tags].count("script") == 1 + page.count("Plotly.newPlot(")
    rows = [dict(attrs) for tag, attrs in found.tags if tag == "tr"]
    assert all(set(r) <= {"class"} and r.get("class") in (None, "pass", "fail", "na") for r in rows)
    assert "Audit chain BROKEN" in page


# --------------------------------------------------------------------------- Markdown


@pytest.mark.parametrize(
    "typed",
    [
        "[click me](javascript:alert(1))",
        "![](http://tracker.example/pixel.png)",
        "**bold** _it_ `code` ~~gone~~",
        "# heading\n- item\n> quote",
        ":red[alarm] :material/warning: $x^2$",
        "<script>alert(1)</script> &lt;",
        "a | b | c",
    ],
)
def test_markdown_values_render_as_the_characters_typed(typed):
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(f"Reviewer **{md(typed)}** said so")
    found = parse(rendered)
    assert [t for t, _ in found.tags] == ["p", "strong"]  # no link, image, code, heading, list, quote or raw HTML
    text = " ".join(typed.split())
    assert text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") in rendered
    for control in ":$|":  # Streamlit's directives, KaTeX and tables get their characters escaped too
        assert control not in md(typed).replace("\\" + control, "")


@pytest.mark.parametrize("typed", ["1. first", "- item", "+ item", "# heading", "=== rule", "12) twelve", "> quoted"])
def test_a_value_that_opens_a_line_does_not_open_a_block(typed):
    """The app lists values as "- {value}" and quotes texts line by line: a value must not start a list, heading or quote."""
    from markdown_it import MarkdownIt

    for template in ("- {}", "> {}", "{}"):
        rendered = MarkdownIt("commonmark").render(template.format(md(typed)))
        expected = {"- {}": ["ul", "li"], "> {}": ["blockquote", "p"], "{}": ["p"]}[template]
        assert [t for t, _ in parse(rendered).tags] == expected, (template, rendered)


def test_plain_words_and_sentences_stay_readable():
    assert md("Ana Ruiz") == "Ana Ruiz" and md(None) == "" and md(3) == "3"
    assert md("No text to change.") == "No text to change." and md("distilbert-base (v2), 3 + 4 = 7!") == "distilbert-base (v2), 3 + 4 = 7!"


# --------------------------------------------------------------------------- CSV


def test_a_formula_cell_reads_back_as_a_literal_and_numbers_stay_numbers():
    frame = pd.DataFrame(
        {
            "text": [FORMULA, "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain", "-0.5"],
            "score": [-0.5, 1.0, -2.0, 0.0, 3.5, -1e-3, 2.0, 0.1],
            "count": [-1, 2, 3, 4, 5, 6, 7, 8],
        }
    )
    data = csv_bytes(frame).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert rows[0] == ["text", "score", "count"]
    assert [r[0] for r in rows[1:]] == [f"'{FORMULA}", "'+cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "plain", "-0.5"]
    assert [r[1] for r in rows[1:]] == ["-0.5", "1.0", "-2.0", "0.0", "3.5", "-0.001", "2.0", "0.1"]  # written as numbers, no quote
    back = pd.read_csv(io.StringIO(data), usecols=["score", "count"])
    assert back["score"].dtype == float and back["score"].tolist() == frame["score"].tolist()
    assert back["count"].tolist() == frame["count"].tolist()
    assert csv_cell(-0.5) == -0.5 and csv_cell("-0.5") == "-0.5" and csv_cell("=1+1") == "'=1+1"
    assert list(csv_safe(pd.DataFrame({"=evil": ["x"]})).columns) == ["'=evil"]


def rendered_tags(markdown: str) -> list[str]:
    from markdown_it import MarkdownIt

    return [t for t, _ in parse(MarkdownIt("commonmark").enable("table").enable("strikethrough").render(markdown)).tags]


LINK = "[verify here](javascript:alert(1)) ![](http://tracker.example/p.png) <b>x</b>"


def test_view_model_messages_show_a_hostile_slice_or_checkpoint_name_as_text():
    """The view models build the Markdown the pages show; a metadata value or checkpoint name must not become a link or image."""
    from analysis.views import slice_changes
    from probes.run import ProbeReport, ProbeResult
    from probes.views import failing_examples

    deltas = pd.DataFrame(
        {
            "feature": ["genre"],
            "slice": [LINK],
            "size": [30],
            "worse": [True],
            "clearly_worse": [True],
            "accuracy_before": [0.9],
            "accuracy_after": [0.6],
            "delta": [-0.3],
            "fixed": [0],
            "broken": [9],
            "p_value": [0.004],
        }
    )
    message = slice_changes(deltas, accuracy_improved=True).message
    assert set(rendered_tags(message)) == {"p"} and "verify here" in message

    result = ProbeResult("names", "invariance", "Names", "same prediction", 40, 40, 0, 40, tuple(range(40)), (), (), 0, 0.0)
    report = ProbeReport(LINK, "fp", ("negative", "positive"), "d.csv", "data-fp", 40, (result,), 0, 3, "auto", None, None, 0, 0.0)
    assert set(rendered_tags(failing_examples([report], 0, "names").none_message)) == {"p"}


def test_the_sidebar_shows_a_hostile_data_file_and_checkpoint_name_as_text(tmp_path, monkeypatch):
    """A data file named `**loud**_[click].csv` and a broken checkpoint folder named `broken_**folder**` are shown as
    the characters typed (escaped Markdown), never as bold text or a link."""
    import shutil

    from analysis_pages_support import ROOT, build_fixture
    from streamlit.testing.v1 import AppTest

    env = build_fixture(tmp_path)
    hostile = tmp_path / "**loud**_[click].csv"
    shutil.copy(env["data"], hostile)
    (env["checkpoints"] / "broken_**folder**").mkdir()
    (env["checkpoints"] / "broken_**folder**" / "config.json").write_text("{not json")
    monkeypatch.setenv("VEREDICTO_CHECKPOINTS", str(env["checkpoints"]))
    monkeypatch.setenv("VEREDICTO_DATA", str(hostile))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    assert not at.exception
    captions = [c.value for c in at.sidebar.caption]
    assert any(value.startswith(r"**\*\*loud\*\*\_\[click\].csv** · 60 examples") for value in captions), captions
    skipped = [w.value for w in at.sidebar.warning if w.value.startswith("Skipped")]
    assert skipped and all(value.startswith(r"Skipped **broken\_\*\*folder\*\***: ") for value in skipped), skipped
