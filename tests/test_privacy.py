"""Personal data: the scanner finds exactly what was planted (checksums decide), redaction masks it, CI can gate on it."""

from __future__ import annotations

import json
import re

import pytest
from privacy_support import CUSTOMERS, NEAR_MISSES, PIECES, PLANTED, planted_file, planted_frame
from stdnum import iban, luhn
from stdnum.es import dni

from cli.main import main
from evaldata.loading import load_eval_data
from privacy.pii import KINDS, find_pii, scan_evalset, scan_texts
from privacy.redact import PLACEHOLDERS, Tally, redact, redact_frame


@pytest.mark.parametrize(("kind", "value"), PLANTED)
def test_each_planted_value_is_found_whole_with_its_kind_and_span(kind, value):
    text = f"Ticket: the customer wrote {value} about the refund."
    (finding,) = find_pii(text)
    assert (finding.kind, finding.value) == (kind, value)
    assert text[finding.start : finding.end] == value


@pytest.mark.parametrize("value", NEAR_MISSES)
def test_a_near_miss_whose_checksum_fails_is_not_reported(value):
    assert find_pii(f"Ticket note: {value} was typed here, nothing else.") == ()


def test_the_near_misses_really_are_near_misses_by_the_reference_library():
    # the test data itself is checked against stdnum, so a typo in it cannot make the scanner look right
    assert iban.is_valid("DE89 3704 0044 0532 0130 00") and not iban.is_valid("DE89 3704 0044 0532 0130 01")
    assert luhn.is_valid("4111111111111111") and not luhn.is_valid("4111111111111112")
    assert dni.is_valid("54362315K") and not dni.is_valid("54362315Z")


def test_overlaps_keep_the_longest_most_specific_finding():
    text = "Mail Maria.Lopez@example.com or see http://192.168.1.20/admin, Maria."
    found = [(f.kind, f.value) for f in find_pii(text)]
    # the name inside the email and the IP inside the URL are not reported on their own
    assert found == [("EMAIL", "Maria.Lopez@example.com"), ("URL", "http://192.168.1.20/admin"), ("NAME", "Maria")]


def test_a_name_needs_its_capital_and_takes_a_capitalised_surname():
    assert [f.value for f in find_pii("maria said Maria Fernández-Soto met Luis at noon.")] == ["Maria Fernández-Soto", "Luis"]


def test_scan_of_an_evalset_counts_per_column_and_kind(tmp_path):
    evalset = load_eval_data(planted_file(tmp_path))
    scan = scan_evalset(evalset)
    frame = planted_frame()
    by_column = {c.column: c for c in scan.columns}
    assert set(by_column) == {"text", "customer"}  # labels are in `label`, not scanned as metadata
    expected = {kind: sum(k == kind for k, _v in PLANTED) for kind in KINDS}
    assert dict(by_column["text"].counts) == {k: n for k, n in expected.items() if n}
    assert by_column["text"].rows_with_pii == len(PLANTED)
    n_email = sum(c == CUSTOMERS[0] for c in frame["customer"])
    n_name = sum(c == CUSTOMERS[1] for c in frame["customer"])
    assert dict(by_column["customer"].counts) == {"EMAIL": n_email, "NAME": n_name}
    # a row counts once, whichever columns hold personal data
    any_row = [bool(a) or bool(b) for a, b in zip(scan_texts(frame["text"]), scan_texts(frame["customer"]))]
    assert scan.rows_with_pii == sum(any_row) and scan.rate == pytest.approx(sum(any_row) / len(frame))
    assert scan.counts_frame().set_index("column").loc["text", "NATIONAL_ID"] == 6
    assert "person names" in scan.describe()


def test_examples_show_the_value_in_context_with_other_personal_data_masked():
    frame = planted_frame().iloc[:1].assign(text="Write to ann@example.com or call +44 20 7946 0958 now")
    from privacy.pii import scan_frame

    scan = scan_frame(frame, ["text"], examples=1)
    email, phone = scan.columns[0].examples
    assert (email.kind, email.value, phone.kind, phone.value) == ("EMAIL", "ann@example.com", "PHONE", "+44 20 7946 0958")
    assert email.before == "Write to " and email.after == " or call <PHONE> now"
    assert phone.masked == "…te to <EMAIL> or call <PHONE> now"  # 30 characters either side, cut with an ellipsis


def test_redaction_puts_typed_placeholders_and_counts_them():
    text = "Jennifer Okafor (jo@example.com, +44 20 7946 0958) paid with 4111 1111 1111 1111 from 10.0.0.7."
    result = redact(text)
    assert result.text == "<NAME> (<EMAIL>, <PHONE>) paid with <CARD> from <IP>."
    assert dict(result.counts) == {"EMAIL": 1, "CARD": 1, "PHONE": 1, "IP": 1, "NAME": 1} and result.masked == 5
    assert redact("nothing here").text == "nothing here" and redact("nothing here").masked == 0
    hits = redact.cache_info().hits
    assert redact(text) is result and redact.cache_info().hits == hits + 1  # memoised per text
    assert set(PLACEHOLDERS.values()) == {"<EMAIL>", "<PHONE>", "<IBAN>", "<CARD>", "<NATIONAL_ID>", "<IP>", "<URL>", "<NAME>"}


def test_redact_frame_masks_text_and_string_metadata_and_tallies():
    frame = planted_frame()
    tally = Tally()
    out = redact_frame(frame, tally=tally)
    for _kind, value in PLANTED:
        assert not out["text"].str.contains(value, regex=False).any()
    assert not out["customer"].isin(["john.smith@example.net", "Carlos Ruiz"]).any()
    assert frame["text"].iloc[0].count("maria.lopez") == 1  # the input is not changed
    assert tally.by_kind()["NATIONAL_ID"] == 6 and tally.total == sum(redact(t).masked for t in [*frame["text"], *frame["customer"], *frame["label"]])


# --- the CLI and the gate ------------------------------------------------------------------------------------------


def test_scan_pii_exit_codes(tmp_path, capsys):
    data = planted_file(tmp_path)
    scan = scan_evalset(load_eval_data(data, label_col=""))
    assert main(["scan-pii", "--data", str(data)]) == 0  # no threshold: report only
    out = capsys.readouterr().out
    assert "NATIONAL_ID" in out and "maria.lopez" not in out and "Carlos" not in out  # counts, never the values
    assert main(["scan-pii", "--data", str(data), "--max-rate", str(scan.rate)]) == 0
    assert "max_pii_rate" in capsys.readouterr().out
    assert main(["scan-pii", "--data", str(data), "--max-rate", str(scan.rate - 0.01), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is False and result["rows_with_pii"] == scan.rows_with_pii


def test_scan_pii_json_and_policy_threshold(tmp_path, capsys):
    data = planted_file(tmp_path)
    policy = tmp_path / "p.yaml"
    policy.write_text("gates:\n  max_pii_rate: 0.05\n")
    assert main(["scan-pii", "--data", str(data), "--policy", str(policy), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is False and result["max_rate"] == 0.05 and result["columns"]["text"]["counts"]["IBAN"] == 2
    clean = tmp_path / "clean.csv"
    clean.write_text("text,label\na fine film,positive\na dull film,negative\n")
    assert main(["scan-pii", "--data", str(clean), "--policy", str(policy)]) == 0
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-rate", "1.5"], "--max-rate must be a share between 0 and 1"),
        (["--policy", "{policy_without}"], "sets no gates.max_pii_rate"),
        (["--text-col", "body"], "has no text column 'body'"),
    ],
)
def test_scan_pii_bad_input_exits_2_with_a_message(tmp_path, capsys, args, message):
    data = planted_file(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text("gates:\n  min_macro_f1: 0.5\n")
    args = [a.replace("{policy_without}", str(other)) for a in args]
    assert main(["scan-pii", "--data", str(data), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "maria.lopez" not in err


def test_scan_pii_on_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["scan-pii", "--data", str(tmp_path / "none.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_max_pii_rate_gate_measures_the_share_of_rows(tmp_path):
    import numpy as np

    from analysis.predictions import PredictionTable
    from store.gates import FAIL, PASS, evaluate_gates
    from store.policy import parse_policy

    evalset = load_eval_data(planted_file(tmp_path))
    frame = evalset.frame.rename(columns={"label": "gold"}).assign(pred=evalset.frame["label"])
    labels = ("negative", "positive")
    gold = np.array([labels.index(g) for g in frame["gold"]])
    table = PredictionTable("m", "f" * 64, evalset.name, evalset.fingerprint, labels, np.eye(2)[gold], gold, frame, evalset.metadata)
    rate = scan_evalset(evalset).rate
    for threshold, status in ((rate, PASS), (rate - 0.01, FAIL)):
        report = evaluate_gates(parse_policy(f"gates:\n  max_pii_rate: {threshold}\n", "p.yaml"), table)
        result = report.result("max_pii_rate")
        assert result.status == status and result.measured == pytest.approx(rate)
        assert "maria" not in result.detail and "bank account numbers" in result.detail


def test_a_redacted_explanation_merges_the_tokens_of_each_finding_and_keeps_shap_additivity():
    from attr_factory import make_attribution, tokens_of

    from explain.plots import token_heat_figure, top_words

    text = "Ask Jennifer Okafor at jo@example.com, she was great"
    # sub-word pieces that cut across the finding: "jo@exa" / "mple.com" (the comma after it is not part of the email)
    pattern = r"\s*jo@exa|mple\.com|,|\s*\S+"
    attribution = make_attribution(text, {"great": 0.5, "Jennifer": 0.2, "Okafor": 0.1, "jo@exa": 0.05, "mple.com": 0.05}, tokens=tokens_of(text, pattern))
    shown = attribution.redacted()
    assert shown.text == "Ask <NAME> at <EMAIL>, she was great"
    assert [t.text.strip() for t in shown.tokens] == ["Ask", "<NAME>", "at", "<EMAIL>", ",", "she", "was", "great"]
    scores = dict(zip((t.text.strip() for t in shown.tokens), shown.scores_for("positive")))
    assert scores["<NAME>"] == pytest.approx(0.3) and scores["<EMAIL>"] == pytest.approx(0.1) and scores["great"] == pytest.approx(0.5)
    assert shown.scores.sum(axis=0) == pytest.approx(attribution.scores.sum(axis=0))  # SHAP still adds up
    figure = token_heat_figure(shown).to_json() + str(top_words(shown))
    assert "Jennifer" not in figure and "Okafor" not in figure and "jo@" not in figure and "mple.com" not in figure
    plain = make_attribution("nothing personal here", {"here": 0.1})
    assert plain.redacted() is plain


def test_a_redacted_sentence_pair_masks_each_text_on_its_own_tokens():
    """Both texts of a pair are masked (before, the second text's tokens were cut out of the first text and it failed)."""
    import numpy as np

    from explain.attribution import Attribution, Token

    first, second = "write to jo@example.com today", "Jennifer Okafor said it was great"
    tokens = [Token(m.group(), m.start(), m.end(), seg) for seg, text in ((0, first), (1, second)) for m in re.finditer(r"\s*\S+", text)]
    pos = np.arange(1, len(tokens) + 1) / 100
    attribution = Attribution(
        first, tuple(tokens), ("negative", "positive"), np.column_stack([-pos, pos]), np.zeros(2), np.array([0.2, 0.8]), "positive", "ig", {}, 1, 0.0, "fp",
        text_pair=second,
    )  # fmt: skip
    shown = attribution.redacted()
    assert (shown.text, shown.text_pair) == ("write to <EMAIL> today", "<NAME> said it was great")
    assert [(t.text.strip(), t.segment) for t in shown.tokens] == [
        ("write", 0), ("to", 0), ("<EMAIL>", 0), ("today", 0), ("<NAME>", 1), ("said", 1), ("it", 1), ("was", 1), ("great", 1)
    ]  # fmt: skip
    scores = shown.scores_for("positive")
    assert scores[4] == pytest.approx(pos[4] + pos[5])  # 'Jennifer' + 'Okafor'
    for segment in (0, 1):  # each text's total is kept
        kept = [i for i, t in enumerate(shown.tokens) if t.segment == segment]
        was = [i for i, t in enumerate(attribution.tokens) if t.segment == segment]
        assert scores[kept].sum() == pytest.approx(pos[was].sum())
    assert "Okafor" not in json.dumps(shown.to_dict()) and "jo@" not in json.dumps(shown.to_dict())


# --- the redacted report ------------------------------------------------------------------------------------------


def test_a_redacted_report_shows_none_of_the_planted_values_and_counts_them(tiny_bert, tmp_path, capsys):
    from privacy_support import leaks
    from tiny import make_tiny_checkpoint

    before_model = make_tiny_checkpoint(tmp_path / "tiny-before", "bert", seed=3)  # other weights: some predictions flip

    data = planted_file(tmp_path)
    policy = tmp_path / "p.yaml"
    # slices on the customer column: its values (emails, names) become slice names in the evidence and the gate details
    policy.write_text(
        "gates:\n  min_macro_f1: 0.0\n  max_slice_drop_vs_baseline: 1.0\n  max_pii_rate: 1.0\nsettings:\n  slice_min_size: 1\n  slice_columns: [customer]\n"
    )
    common = ["report", "--model", str(tiny_bert), "--baseline", str(before_model), "--data", str(data), "--policy", str(policy)]
    common += ["--store", str(tmp_path / "store"), "--cache-dir", str(tmp_path / "cache"), "--examples", "3"]
    plain, redacted = tmp_path / "plain.html", tmp_path / "redacted.html"
    assert main([*common, "--out", str(plain)]) == 0, capsys.readouterr().err
    assert main([*common, "--out", str(redacted), "--redact"]) == 0, capsys.readouterr().err
    before, after = plain.read_text(encoding="utf-8"), redacted.read_text(encoding="utf-8")
    assert leaks(before), "the unredacted report should show some planted values, or this test proves nothing"
    assert leaks(after) == []
    body = after.split("</script></head>")[1]
    for piece in PIECES:  # also the pieces a tokenizer or a wrapped line could cut a value into
        assert piece not in body, piece
    assert "Redacted report: personal data is masked." in after and "Redacted report" not in before
    scan = scan_evalset(load_eval_data(data))
    notice = after.split('id="redaction"')[1].split("</div>")[0]
    assert f"{sum(scan.totals.values()):,} value(s)" in notice
    assert f"{scan.totals['NATIONAL_ID']} national ID numbers (&lt;NATIONAL_ID&gt;)" in notice
    assert "&lt;EMAIL&gt;" in after.split("</script></head>")[1]  # placeholders, HTML-escaped, where the values were


def test_words_quoted_from_personal_data_are_masked_where_they_came_from():
    from privacy.redact import redact_quoted

    source = "Jennifer Okafor wrote from jo@example.com: great"
    note = "The 3 words pushing hardest toward 'positive': 'Okafor', 'great', 'example'."
    assert redact_quoted(note, source) == "The 3 words pushing hardest toward 'positive': '<NAME>', 'great', '<EMAIL>'."
    assert redact_quoted(note, "no personal data: Okafor is just a word here") == note


# --- the Data page's section (view model and figure) ----------------------------------------------------------------


def test_pii_section_counts_and_masks_its_examples_when_redacting(tmp_path):
    import json

    from privacy_support import leaks

    from privacy.figures import pii_counts_figure
    from privacy.views import pii_section

    evalset = load_eval_data(planted_file(tmp_path))
    shown = pii_section(evalset, redact=True)
    plain = pii_section(evalset, redact=False)
    assert shown.counts.equals(plain.counts) and shown.counts.set_index("column").loc["text", "IBAN"] == 2
    assert leaks(shown.examples.to_csv()) == [] and "<IBAN>" in " ".join(shown.examples["example"])
    assert "[maria.lopez@example.com]" in " ".join(plain.examples["example"])  # unredacted: the value, bracketed in its context
    assert set(shown.examples["row"]) <= set(range(1, len(evalset) + 1))
    assert "Redact personal data" in shown.message and "max_pii_rate" in shown.message
    figure = pii_counts_figure(shown.scan)
    bars = {trace.name: dict(zip(trace.y, trace.x)) for trace in figure.data}
    assert bars["text"]["national ID numbers"] == 6 and bars["customer"]["email addresses"] == shown.scan.columns[1].counts["EMAIL"]
    assert leaks(json.dumps(figure.to_plotly_json(), default=str)) == []


def test_words_of_explanations_are_private_where_they_lie_inside_personal_data_of_their_own_text():
    import re

    import pandas as pd

    from privacy.redact import private_words

    frame = pd.DataFrame({"text": ["Call Jennifer Okafor today", "jennifer wrote"], "text_pair": ["mail maria.lopez@example.com", "ok"]})
    rows = []
    for example in range(2):
        for segment, column in enumerate(("text", "text_pair")):
            rows += [(m.group().lower(), example, segment, m.start(), m.end()) for m in re.finditer(r"\w+", frame[column][example])]
    units = pd.DataFrame(rows, columns=["word", "example", "segment", "start", "end"])
    # "jennifer" alone (row 1) is no personal data, but the word list cannot show it: row 0 has it inside a name
    assert private_words(units, frame) == {
        "jennifer": "<NAME> 1",
        "okafor": "<NAME> 2",
        "maria": "<EMAIL> 1",
        "lopez": "<EMAIL> 2",
        "example": "<EMAIL> 3",
        "com": "<EMAIL> 4",
    }
    assert private_words(units[units["example"] == 1], frame) == {}  # judged in its own text: the lone 'jennifer' is not
