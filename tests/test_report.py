"""The stakeholder report: one self-contained HTML file (Plotly inline once, no CDN) with summary,
gates, metrics with intervals, before/after, worst slices, explained examples and sign-off history;
it renders offline in a real Chromium and prints to PDF."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs
from test_gates import ALL_GATES, BASELINE, GENRES, make_table, policy

from analysis.compare import compare_tables, flipped_examples, macro_f1_interval
from analysis.metrics import table_metrics
from cli.main import main
from store.audit import AuditStore
from store.gates import evaluate_gates
from store.report import FLIP_SAMPLE, build_report, make_report, pick_examples, report_figures, sample_rows

HORROR = [i for i in range(200) if GENRES[i] == "horror"]
AFTER = make_table("after", {i for i in range(0, 200, 10) if GENRES[i] == "horror"} | set(HORROR[1:9]))


@pytest.fixture
def store(tmp_path):
    return AuditStore(tmp_path / "store")


@pytest.fixture
def gates(store):
    return evaluate_gates(policy(ALL_GATES), AFTER, baseline=BASELINE, store=store, checkpoint_path="/m/after")


def external_resources(html: str) -> list[str]:
    """Anything the browser would fetch: script/img/iframe src, stylesheet links, CSS @import/url(http…)."""
    found = re.findall(r"<(?:script|img|iframe|audio|video|source)[^>]*\ssrc=[\"']([^\"']+)", html, flags=re.I)
    found += re.findall(r"<link[^>]*href=[\"']([^\"']+)", html, flags=re.I)
    found += re.findall(r"@import\s+url\(([^)]+)\)", html)
    return found


def test_report_is_self_contained_with_plotly_inline_exactly_once(gates):
    html = build_report(gates, AFTER, baseline=BASELINE)
    assert html.startswith("<!DOCTYPE html>")
    assert html.count(get_plotlyjs()) == 1
    assert external_resources(html) == []
    assert "cdn.plot.ly/plotly" not in html.split(get_plotlyjs())[0] + html.split(get_plotlyjs())[1]
    assert "@media print" in html and "@page" in html
    assert html.count("Plotly.newPlot(") == len(report_figures(gates, AFTER, BASELINE))


def test_report_shows_gates_metrics_deltas_and_worst_slices(gates):
    html = build_report(gates, AFTER, baseline=BASELINE)
    text = re.sub(r"<[^>]+>", " ", html.split("</script></head>")[1])
    text = " ".join(text.split())
    # summary and gates: the failing slice gate with measured value and threshold
    assert "Gates: blocked: 1 of 5 gate(s) fail." in text
    assert "Fails Worst slice drop vs baseline : measured 0.160, required ≤ 0.050." in text
    for r in gates.results:
        assert f"{r.title} {'PASS' if r.passed else 'FAIL'} {r.measured_text} {r.threshold_text}" in text
    # metrics with intervals
    m = table_metrics(AFTER)
    lo, hi = gates.evidence.accuracy_ci
    assert f"accuracy {m.accuracy * 100:.1f}% (95% Wilson interval {lo * 100:.1f}%–{hi * 100:.1f}%)" in text
    f1_lo, f1_hi = macro_f1_interval(AFTER.gold_idx, AFTER.pred_idx, len(AFTER.labels))
    assert f1_lo < m.macro_f1 < f1_hi
    assert f"macro-F1 {m.macro_f1:.3f} (95% bootstrap interval {f1_lo:.3f}–{f1_hi:.3f}" in text
    assert re.search(r"neg 0\.\d{3} \(0\.\d\d–[01]\.\d\d\) 0\.\d{3} \(0\.\d\d–[01]\.\d\d\)", text)
    # before/after with the bootstrap interval, and flips counted as compare_tables/flipped_examples count them
    comp = compare_tables(BASELINE, AFTER)
    row = comp.deltas.loc["macro_f1"]
    assert f"Macro-F1 {row['before']:.3f} {row['after']:.3f} {row['delta']:+.3f} {row['ci_low']:+.3f} to {row['ci_high']:+.3f}" in text
    flips = flipped_examples(BASELINE, AFTER)["status"].value_counts()
    assert f"{flips['fixed']} fixed, {flips['broken']} broken" in text
    # worst slices: horror only (everything else is above overall)
    assert "genre = horror: 50 examples, accuracy 74%" in text
    assert "genre = drama" not in text.split("Worst slices")[2]


def test_report_figures_carry_the_analysis_data(gates):
    figures = report_figures(gates, AFTER, BASELINE)
    assert set(figures) == {"confusion", "reliability", "worst_slices", "metric_delta", "class_delta", "slice_delta"}
    worst = figures["worst_slices"].data[0]
    assert list(worst.y) == ["horror (n=50)"] and worst.x[0] == pytest.approx(37 / 50)
    deltas = figures["slice_delta"].data[0]
    names, values = (list(deltas.y), list(deltas.x)) if deltas.orientation == "h" else (list(deltas.x), list(deltas.y))
    horror = [i for i, name in enumerate(names) if str(name).startswith("genre: horror")]
    assert len(horror) == 1 and values[horror[0]] == pytest.approx(-16.0) == min(values)  # percentage points, the worst
    confusion = figures["confusion"].data[0]
    assert sorted(int(t) for t in confusion.text) == sorted(np.bincount(AFTER.gold_idx * 2 + AFTER.pred_idx, minlength=4).tolist())


def test_signoff_history_marks_stale_records_and_escapes_what_people_typed(gates, store):
    store.append(reviewer="alice", decision="approve", **gates.signoff_fields())
    fields = {**gates.signoff_fields(), "checkpoint_fingerprint": "0" * 64}  # the same path, older weights
    store.append(reviewer="bob", decision="approve", **fields)
    store.append(reviewer="<script>alert(1)</script>", decision="changes_requested", comment="see <b>horror</b>", **gates.signoff_fields())
    html = make_report(gates, AFTER, baseline=BASELINE, store=store)
    body = html.split("</script></head>")[1]
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "see &lt;b&gt;horror&lt;/b&gt;" in body
    assert "Audit chain verified: 3 record(s)" in body
    history = body.split('id="signoffs"')[1]
    assert history.count("<tr class=") == 3
    assert '<tr class="stale">' in history and "other weights (stale)" in history
    assert "Sign-off: changes requested." in body


def test_broken_chain_is_shown_in_the_report(gates, store):
    store.append(reviewer="alice", decision="approve", **gates.signoff_fields())
    with store.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("UPDATE veredicto_signoffs SET reviewer = 'mallory' WHERE seq = 1")
    html = make_report(gates, AFTER, baseline=BASELINE, store=store)
    assert "Audit chain BROKEN</strong> at record #1" in html


def test_the_report_counts_an_approval_only_for_this_policy_and_data(gates, store):
    """An approval given under another policy (or on other data) must not make the stakeholder report say 'approved'."""
    other = policy("gates:\n  min_macro_f1: 0.1\n")
    store.append(
        reviewer="alice", identity="secrets:alice", decision="approve", **{**gates.signoff_fields(), "policy_sha256": other.sha256, "policy_text": other.text}
    )
    store.append(reviewer="bob", identity="secrets:bob", decision="approve", **{**gates.signoff_fields(), "dataset_fingerprint": "e" * 64})
    html = make_report(gates, AFTER, baseline=BASELINE, store=store)
    assert "Sign-off: approved." not in html and "Sign-off: unsigned." in html
    assert "2 approval(s) of these weights (alice, bob) were given for other data or under another policy" in html
    store.append(reviewer="carol", identity="secrets:carol", decision="approve", **gates.signoff_fields())
    assert "Sign-off: approved." in make_report(gates, AFTER, baseline=BASELINE, store=store)


def test_report_without_baseline_or_store_says_so(store):
    gates = evaluate_gates(policy("gates:\n  min_macro_f1: 0.5\n"), AFTER)
    html = build_report(gates, AFTER)
    assert 'id="comparison"' not in html and "none (no before/after comparison)" in html
    assert "No audit store was consulted." in html and "no model was loaded" in html


def test_examples_are_picked_for_a_reason_and_deterministically():
    picks = pick_examples(AFTER, BASELINE, n=4)
    assert picks == pick_examples(AFTER, BASELINE, n=4)
    index, reason = picks[0]
    assert reason.startswith("the most confident mistake") and not AFTER.correct[index]
    assert any(r.startswith("right before fine-tuning, wrong after") for _, r in picks)
    assert any(r.startswith("a confident correct prediction") for _, r in picks)
    assert len({i for i, _ in picks}) == 4


def test_explained_examples_with_shap_and_lime_on_a_real_model(tiny_bert_predictor, tmp_path):
    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data

    data = tmp_path / "e.csv"
    pd.DataFrame(
        {"text": ["a good film", "an awful boring film", "great acting", "bad plot and bad acting"], "label": ["positive", "negative", "positive", "negative"]}
    ).to_csv(data, index=False)
    table = predict_table(tiny_bert_predictor, load_eval_data(data))
    gates = evaluate_gates(policy("gates:\n  min_macro_f1: 0.0\nsettings:\n  slice_min_size: 1\n"), table)
    html = make_report(gates, table, predictor=tiny_bert_predictor, n_examples=2)
    for k in (1, 2):
        for method in ("shap", "lime", "ig"):  # Integrated Gradients by default too: a fraction of a second per example
            assert f'id="fig-ex{k}-{method}-heat"' in html and f'id="fig-ex{k}-{method}-top"' in html
    assert re.search(r"SHAP (—|\\u2014) why", html) and re.search(r"LIME (—|\\u2014) why", html)
    assert re.search(r"Integrated Gradients (—|\\u2014) why", html)
    body = html.split("</script></head>")[1]
    assert body.count("How far to trust these explanations") == 2
    assert "Verdict:" in body
    assert body.count("<strong>Integrated Gradients:</strong>") == 2  # its faithfulness, in words, per example
    agreement = body.split("<strong>Agreement between the methods:</strong>")[1].split("</li>")[0]  # every pair of the three
    assert "SHAP and LIME agree" in agreement and "SHAP and Integrated Gradients agree" in agreement and "LIME and Integrated Gradients agree" in agreement
    assert "Integrated Gradients is a gradient method" in body


def test_the_report_states_integrated_gradients_completeness(tiny_bert_predictor, tmp_path):
    """Each IG explanation's note gives its completeness: scores summing to P(class) - P(class | baseline), within the delta."""
    import html as html_lib

    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data
    from explain.faithfulness import within
    from store.report import explain_examples

    data = tmp_path / "e.csv"
    pd.DataFrame({"text": ["a good film", "an awful boring film", "great acting"], "label": ["positive", "negative", "positive"]}).to_csv(data, index=False)
    table = predict_table(tiny_bert_predictor, load_eval_data(data))
    examples = explain_examples(tiny_bert_predictor, table, pick_examples(table, None, 2), methods=("ig",))
    html = build_report(evaluate_gates(policy("gates:\n  min_macro_f1: 0.0\n"), table), table, examples=examples)
    for example in examples:
        (ig,) = example.attributions
        c = ig.class_index(example.pred)
        p = tiny_bert_predictor.predict_proba([example.text])[0, c]  # the model's own probability
        total, base, delta = ig.scores[:, c].sum(), ig.base_values[c], abs(ig.extra["convergence_delta"][c])
        assert abs(total - (p - base)) <= delta + 1e-5
        assert html_lib.escape(f"Its scores add up to the model's output within {within(np.abs(ig.extra['convergence_delta']).max())}") in html
    assert html.count("A gradient method; how closely its scores add up (its completeness) is stated below.") == len(examples)


def test_cli_report_writes_one_offline_file(tiny_bert, tmp_path, capsys):
    data = tmp_path / "e.csv"
    pd.DataFrame({"text": [f"a {w} film {i}" for i, w in enumerate(["good", "bad", "fine", "awful"] * 5)], "label": ["positive", "negative"] * 10}).to_csv(
        data, index=False
    )
    pol = tmp_path / "p.yaml"
    pol.write_text("name: ci\ngates:\n  min_macro_f1: 0.0\n  max_drop_vs_baseline: 0.0\n  approvals_required: 1\n")
    out = tmp_path / "out" / "report.html"
    code = main(
        [
            "report",
            "--model",
            str(tiny_bert),
            "--baseline",
            str(tiny_bert),
            "--data",
            str(data),
            "--out",
            str(out),
            "--policy",
            str(pol),
            "--store",
            str(tmp_path / "store"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--examples",
            "1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    html = out.read_text(encoding="utf-8")
    assert external_resources(html) == [] and html.count(get_plotlyjs()) == 1
    assert "Release report: tiny-bert" in html and 'id="fig-ex1-shap-heat"' in html
    assert "No sign-off yet for this checkpoint." in html
    assert "Wrote" in capsys.readouterr().err


def test_cli_report_refuses_a_non_html_output(tiny_bert, tmp_path, capsys):
    assert main(["report", "--model", str(tiny_bert), "--data", str(tmp_path / "x.csv"), "--out", str(tmp_path / "r.pdf")]) == 2
    assert "--out must end in .html" in capsys.readouterr().err


@pytest.mark.browser
def test_report_renders_offline_in_chromium_and_prints_to_pdf(gates, store, tmp_path):
    from browser import SHOTS, browser_page, chromium_path

    if not chromium_path():
        pytest.skip("no Chromium: install Debian's chromium package to run browser tests")
    store.append(reviewer="alice", decision="approve", **gates.signoff_fields())
    html = make_report(gates, AFTER, baseline=BASELINE, store=store)
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    with browser_page(width=900, height=1200) as page:
        requests, errors = [], []
        page.route("**/*", lambda route: (requests.append(route.request.url), route.continue_() if route.request.url.startswith("file:") else route.abort()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_function("() => document.querySelectorAll('div.figure .main-svg').length > 0")
        page.wait_for_timeout(500)
        assert errors == []
        assert [u for u in requests if not u.startswith("file:")] == []  # nothing fetched from the network
        n_figures = page.locator("div.figure").count()
        assert n_figures == len(report_figures(gates, AFTER, BASELINE))
        assert page.locator("div.figure .plotly .main-svg").count() >= n_figures  # every chart was drawn
        assert page.locator("#gates tbody tr").count() == 5
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=True)
        (SHOTS / "report.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 3


@pytest.mark.demo
def test_gate_and_report_on_the_bundled_demo(tmp_path, capsys):
    """The example policy on the real demo checkpoints (a 240-review slice of the test split, to keep it quick)."""
    import json

    from training.demo import demo_paths

    paths = demo_paths()
    if not (paths.before / "model.safetensors").is_file() or not (paths.after / "model.safetensors").is_file():
        pytest.skip(f"the demo is not built under {paths.root}: run `veredicto demo` first")
    data = tmp_path / "demo_test.csv"
    frame = pd.read_csv(paths.test_data)
    pd.concat([group.head(120) for _, group in frame.groupby("label")]).to_csv(data, index=False)
    store, cache = str(tmp_path / "store"), str(tmp_path / "cache")
    common = ["--model", str(paths.after), "--baseline", str(paths.before), "--data", str(data), "--store", store, "--cache-dir", cache]

    code = main(["gate", *common, "--policy", "policies/example.yaml", "--json", str(tmp_path / "gates.json")])
    printed = capsys.readouterr()
    assert code in (0, 1), printed.err
    printed = printed.out
    gates = json.loads((tmp_path / "gates.json").read_text())
    assert [g["key"] for g in gates["gates"]] == [
        "min_macro_f1",
        "min_class_recall",
        "max_ece",
        "max_drop_vs_baseline",
        "max_slice_drop_vs_baseline",
        "min_faithfulness",
        "max_probe_failure_rate",
        "max_pii_rate",
        "approvals_required",
        "max_leakage_rate",
        "max_label_issue_rate",
        "max_drift_auc",
    ]
    by_key = {g["key"]: g for g in gates["gates"]}
    assert code == 1 and by_key["approvals_required"]["status"] == "fail"  # nobody has approved yet
    assert by_key["max_pii_rate"]["status"] == "pass"  # a few reviews name an actor: well under the example's 5% of rows
    assert all(g["status"] in ("pass", "fail") for g in gates["gates"]), printed  # every gate could be evaluated
    assert gates["metrics"]["baseline"]["name"] == "sentiment-before"

    out = tmp_path / "demo-report.html"
    assert main(["report", *common, "--out", str(out), "--examples", "2"]) == 0
    html = out.read_text(encoding="utf-8")
    assert external_resources(html) == [] and html.count(get_plotlyjs()) == 1
    assert "Release report: sentiment-after" in html and 'id="comparison"' in html and 'id="fig-ex2-lime-heat"' in html


def test_with_reviewer_corrections_the_report_shows_both_headline_numbers(gates, store):
    from sklearn.metrics import accuracy_score, f1_score

    from store.identity import Reviewer
    from store.labels import record_label_decision

    assert "label correction" not in make_report(gates, AFTER, baseline=BASELINE, store=store)  # none yet: one set of numbers
    wrong = np.flatnonzero(~AFTER.correct)[:2]
    ana = Reviewer("Ana", "secrets:Ana")
    for row in wrong:  # the reviewers side with the model on two of its mistakes
        record_label_decision(store, AFTER, row=int(row), verdict="wrong", corrected=AFTER.labels[int(AFTER.pred_idx[row])], reviewer=ana)
    record_label_decision(store, AFTER, row=0, verdict="right", reviewer=ana)  # a confirmation changes nothing
    html = make_report(gates, AFTER, baseline=BASELINE, store=store)
    gold = AFTER.gold_idx.copy()
    gold[wrong] = AFTER.pred_idx[wrong]
    fixed_acc, fixed_f1 = accuracy_score(gold, AFTER.pred_idx), f1_score(gold, AFTER.pred_idx, average="macro")
    labelled_acc = accuracy_score(AFTER.gold_idx, AFTER.pred_idx)
    assert "Accuracy with 2 label corrections</div><div class=v>" + f"{fixed_acc:.1%}" in html
    assert f"As labelled: accuracy {labelled_acc:.1%}" in html and f"with the corrections: accuracy {fixed_acc:.1%}" in html
    assert f"macro-F1 {fixed_f1:.3f}." in html and fixed_acc > labelled_acc
    assert "<div class=k>Accuracy</div><div class=v>" + f"{labelled_acc:.1%}" in html  # the headline stays as labelled


# --- multi-label checkpoints and sentence pairs ---------------------------------------------------------------------------


def _visible(html: str) -> str:
    import html as html_lib

    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html.split("</script></head>")[1])).split())


def test_a_multi_label_report_shows_per_label_metrics_thresholds_and_both_texts_of_pairs():
    from multilabel_support import ml_table, random_pair
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss

    from analysis.thresholds import Thresholds

    base, cand = random_pair(n=80, seed=2, pairs=True)
    tuned = Thresholds(cand.labels, (0.4, 0.5, 0.6), "tuned on val.csv (F1-best per label)")
    cand = ml_table(cand.probs, cand.gold_matrix, name="after", thresholds=tuned, pairs=cand.frame["text_pair"].tolist())
    base = ml_table(base.probs, base.gold_matrix, name="before", thresholds=tuned, pairs=base.frame["text_pair"].tolist())
    gates = evaluate_gates(policy("version: 1\ngates:\n  min_micro_f1: 0.1\n  max_hamming_loss: 0.9\n  max_ece: 0.1\n"), cand, baseline=base)
    html = build_report(gates, cand, baseline=base)
    text = _visible(html)
    gold, pred = cand.gold_matrix, cand.pred_matrix
    assert f"micro-F1 {f1_score(gold, pred, average='micro'):.3f}" in text and f"macro-F1 {f1_score(gold, pred, average='macro'):.3f}" in text
    assert f"samples-F1 {f1_score(gold, pred, average='samples', zero_division=1):.3f}" in text
    assert f"subset accuracy {accuracy_score(gold, pred):.1%}" in text and f"Hamming loss {hamming_loss(gold, pred):.3f}" in text
    assert (
        "Task multi-label; a label is predicted at or above its threshold (tuned on val.csv (F1-best per label)): toxic 0.40, insult 0.50, threat 0.60" in text
    )
    assert "· sentence pairs (two texts per example)" in text
    assert "Label Precision (95% CI) Recall (95% CI) F1 Gold examples Predicted Threshold" in text
    assert "does not apply: 'max_ece' is for single-label checkpoints" in text
    assert "Confusion matrix" not in html  # no single confusion matrix for a multi-label checkpoint
    figures = report_figures(gates, cand, base)
    missed = np.array(figures["cooccurrence_missed"].data[0].z)
    both_missed = (gold & ~pred).astype(int)
    assert (missed == both_missed.T @ both_missed).all() and "Label co-occurrence" in text
    assert html.count("Plotly.newPlot(") == len(figures)
    # before / after per label, with both texts of every flipped pair
    assert "Per label" in text and "Status Text Second text Gold Before After Labels fixed Labels broken" in text
    flips = flipped_examples(base, cand)
    first = sample_rows(flips, "status", FLIP_SAMPLE, "flipped examples")[0].iloc[0]  # the first row the report lists
    assert f"{first['text']} {first['text_pair']} {first['gold']}" in text
    comp = compare_tables(base, cand)
    for label, row in comp.per_class.iterrows():
        assert f"{label} {row['f1_before']:.3f} {row['f1_after']:.3f} {row['f1_delta']:+.3f}" in text
    assert "Subset accuracy" in text and "Hamming loss" in text


def test_explained_examples_of_a_pair_table_explain_both_texts(tmp_path):
    from tiny import make_tiny_checkpoint

    from analysis.predictions import predict_table
    from evaldata.loading import load_eval_data
    from models.inference import Predictor
    from store.report import explain_examples

    data = tmp_path / "pairs.csv"
    data.write_text("text,second,label\nthe film was good,I loved this story,positive\na terrible boring movie,never again,negative\n", encoding="utf-8")
    predictor = Predictor(make_tiny_checkpoint(tmp_path / "m"))
    cand = predict_table(predictor, load_eval_data(data, pair_col="second"))
    examples = explain_examples(predictor, cand, [(0, "a pick")], methods=("shap",))
    (shap,) = examples[0].attributions
    assert (examples[0].text, examples[0].text_pair) == ("the film was good", "I loved this story")
    assert shap.text_pair == "I loved this story" and {t.segment for t in shap.tokens} == {0, 1}  # both texts were explained
    gates = evaluate_gates(policy("version: 1\ngates:\n  min_macro_f1: 0.1\n"), cand)
    html = build_report(gates, cand, examples=examples)
    assert "the film was good Second text: I loved this story" in _visible(html) and "fig-ex1-shap-heat" in html


def test_the_report_stays_bounded_at_100k_rows_and_says_what_it_samples(tiny_bert_predictor):
    """Evidently's HTML report reached 600 MB at 150k rows: ours holds plotly.js once, aggregate charts and capped,
    stratified samples of examples, so 100k rows make a file of the same few megabytes as 10k rows."""
    from analysis.synthetic import synthetic_pair
    from store.report import SIZE_NOTE

    sizes = {}
    for n in (10_000, 100_000):
        before, after = synthetic_pair(n, seed=1, labels=("negative", "positive"))
        gates = evaluate_gates(policy(ALL_GATES), after, baseline=before)
        html = make_report(gates, after, baseline=before, predictor=tiny_bert_predictor, n_examples=2, methods=("ig",))
        sizes[n] = len(html.encode("utf-8"))
        assert html.count(get_plotlyjs()) == 1
        assert 'id="fig-ex2-ig-heat"' in html  # the explained examples are there too
        text = _visible(html)
        flipped = int(np.sum(before.pred_idx != after.pred_idx))  # two labels: every change is a fix or a break
        assert flipped > FLIP_SAMPLE
        assert f"Showing {FLIP_SAMPLE} of {flipped:,} flipped examples, a sample stratified by status (seed 0):" in text
        listed = html.split("<h3>Flipped predictions</h3>")[1].split("</table>")[0]
        assert listed.count("<tr>") == FLIP_SAMPLE + 1  # the header row and the sample
        assert listed.count("<td>fixed</td>") >= 10 and listed.count("<td>broken</td>") >= 5  # both statuses, in proportion
        assert " ".join(SIZE_NOTE.split()) in text
    assert sizes[100_000] < 10_000_000
    assert abs(sizes[100_000] - sizes[10_000]) < 50_000  # nothing in it grows with the number of examples
