"""Team mode, tried as an attacker in the browser: no free path boxes, nothing read from outside the allow-listed roots
(not through a crafted session value, not through a symlink planted inside a root), no file contents echoed in
messages; and outside team mode (one person on their laptop) the free boxes stay."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from analysis_pages_support import ROOT, SMALL_BUDGET, build_fixture

from runtime import settings
from store.policy import PolicyError, parse_policy

SECRET = "sk-live-51HxQ9Zt0pSecretValue"
TEAM_VARS = ("VEREDICTO_TEAM_MODE", "VEREDICTO_DATA_ROOTS", "VEREDICTO_CHECKPOINT_ROOTS", "VEREDICTO_DATA", "VEREDICTO_CHECKPOINTS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in TEAM_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Shared roots (checkpoints/, data/) and, beside them, a credentials file nobody in the browser may read."""
    root = tmp_path_factory.mktemp("team")
    fixture = build_fixture(root / "shared")
    data_root = root / "shared" / "data"
    data_root.mkdir()
    fixture["frame"].to_csv(data_root / "eval.csv", index=False)
    secrets = root / "private"
    secrets.mkdir()
    creds = secrets / "credentials.json"
    creds.write_text(json.dumps({"text": "service account", "label": SECRET, "private_key": SECRET}) + "\n")
    # a symlink planted inside the data root, pointing out of it
    (data_root / "innocent.json").symlink_to(creds)
    # a data file under the root whose label column holds values the checkpoint does not know (and that are secret)
    pd.DataFrame({"text": ["good", "bad", "fine"], "label": [SECRET, "negative", "positive"]}).to_csv(data_root / "leaky.csv", index=False)
    return {"checkpoints": fixture["checkpoints"], "data_root": data_root, "creds": creds, "root": root}


# --------------------------------------------------------------------------- settings


def test_team_mode_is_on_by_setting_or_whenever_reviewer_identity_is_configured():
    assert not settings.team_mode({}, environ={})
    assert settings.team_mode({}, environ={"VEREDICTO_TEAM_MODE": "1"})
    assert settings.team_mode({"auth": {"client_id": "x"}}, environ={})
    assert settings.team_mode({"veredicto": {"reviewers": {"Ana": "pbkdf2_sha256$..."}}}, environ={})
    # configured identity cannot be switched off by the variable: a team server stays a team server
    assert settings.team_mode({"auth": {"client_id": "x"}}, environ={"VEREDICTO_TEAM_MODE": "0"})

    class Missing:  # Streamlit raises on access when there is no secrets.toml at all
        def get(self, key, default=None):
            raise FileNotFoundError("no secrets.toml")

    assert not settings.team_mode(Missing(), environ={})


def test_roots_default_to_what_the_app_was_opened_with_else_the_demo(tmp_path):
    home = {"VEREDICTO_HOME": str(tmp_path)}
    assert settings.data_roots(home) == (tmp_path / "demo" / "data",)
    assert settings.checkpoint_roots(home) == (tmp_path / "demo" / "checkpoints",)
    opened = {**home, "VEREDICTO_DATA": str(tmp_path / "x.csv"), "VEREDICTO_CHECKPOINTS": str(tmp_path / "ck")}
    assert settings.data_roots(opened) == (tmp_path / "x.csv",) and settings.checkpoint_roots(opened) == (tmp_path / "ck",)
    listed = {**opened, "VEREDICTO_DATA_ROOTS": os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])}
    assert settings.data_roots(listed) == (tmp_path / "a", tmp_path / "b")


def test_a_path_outside_the_roots_is_refused_without_repeating_it(env):
    with pytest.raises(settings.PathNotAllowed) as caught:
        settings.allowed_path(env["creds"], [env["data_root"]])
    assert "credentials" not in str(caught.value) and "private" not in str(caught.value)
    with pytest.raises(settings.PathNotAllowed):  # '..' does not climb out either: the path is resolved first
        settings.allowed_path(env["data_root"] / ".." / ".." / "private" / "credentials.json", [env["data_root"]])
    assert settings.allowed_path(env["data_root"] / "eval.csv", [env["data_root"]]) == (env["data_root"] / "eval.csv").resolve()


def test_a_symlink_inside_a_root_pointing_out_is_refused_and_never_listed(env):
    link = env["data_root"] / "innocent.json"
    assert link.is_symlink()
    with pytest.raises(settings.PathNotAllowed):
        settings.allowed_path(link, [env["data_root"]])
    listed = settings.list_allowed([env["data_root"]], suffixes=(".csv", ".json"))
    assert {p.name for p in listed} == {"eval.csv", "leaky.csv"}


def test_the_listing_is_bounded_in_depth_and_count(tmp_path):
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (tmp_path / "a" / "one.csv").write_text("x")
    (tmp_path / "a" / "b" / "two.csv").write_text("x")
    (deep / "three.csv").write_text("x")  # three levels down: not listed
    assert {p.name for p in settings.list_allowed([tmp_path], suffixes=(".csv",))} == {"one.csv", "two.csv"}
    for i in range(20):
        (tmp_path / f"f{i:02}.csv").write_text("x")
    assert len(settings.list_allowed([tmp_path], suffixes=(".csv",), limit=5)) == 5


# --------------------------------------------------------------------------- policy messages


def test_policy_messages_in_team_mode_name_the_key_and_line_not_the_value():
    for text in (
        f"version: 1\ngates:\n  min_macro_f1: {SECRET}\n",
        f"version: 1\nname: 42\ngates:\n  max_ece: 0.1\nsettings:\n  fairness_by: {{{SECRET}: 1}}\n",
    ):
        with pytest.raises(PolicyError):
            parse_policy(text)
        with pytest.raises(PolicyError) as team:
            parse_policy(text, quote_values=False)
        assert "line" in str(team.value) and SECRET not in str(team.value)
    with pytest.raises(PolicyError, match="min_macro_f1") as caught:
        parse_policy(f"gates:\n  min_macro_f1: '{SECRET}'\n", quote_values=False)
    assert SECRET not in str(caught.value)
    with pytest.raises(PolicyError) as caught:
        parse_policy(f"gates:\n  min_macro_f1: '{SECRET}'\n")
    assert SECRET in str(caught.value)  # outside team mode the helpful message is unchanged
    with pytest.raises(PolicyError) as caught:
        parse_policy("gates:\n  max_ece: 93\n", quote_values=False)
    assert "93" not in str(caught.value) and "between 0 and 1" in str(caught.value)


# --------------------------------------------------------------------------- the app


def open_app(env, monkeypatch, *, team: bool, data_file: str = "eval.csv", page: str | None = None, state: dict | None = None):
    """app.py on the fixture roots; `state` is put in session state before the first run (a crafted browser session)."""
    from streamlit.testing.v1 import AppTest

    if team:
        monkeypatch.setenv("VEREDICTO_TEAM_MODE", "1")
    monkeypatch.setenv("VEREDICTO_DATA_ROOTS", str(env["data_root"]))
    monkeypatch.setenv("VEREDICTO_CHECKPOINT_ROOTS", str(env["checkpoints"]))
    monkeypatch.setenv("VEREDICTO_CHECKPOINTS", str(env["checkpoints"]))
    monkeypatch.setenv("VEREDICTO_DATA", str(env["data_root"] / data_file))
    monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(env["root"] / "cache"))
    for name, value in SMALL_BUDGET.items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    if not page:
        for key, value in (state or {}).items():
            at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page)
        for key, value in (state or {}).items():  # set while the tree holds no such widget yet (AppTest checks it against the old one)
            at.session_state[key] = value
        at.run()
    return at


def shown(at) -> str:
    """Everything the browser would show as text: messages, markdown, captions, widget labels and options."""
    parts = [str(getattr(e, "value", "")) for kind in ("error", "warning", "info", "success", "markdown", "caption", "exception") for e in getattr(at, kind)]
    parts += [f"{w.label} {getattr(w, 'options', '')}" for w in [*at.selectbox, *at.text_input, *at.multiselect]]
    return "\n".join(parts)


def test_team_mode_offers_no_free_path_box(env, monkeypatch):
    at = open_app(env, monkeypatch, team=True)
    assert not at.exception, [e.message for e in at.exception]
    assert not [t for t in at.text_input if t.label in ("Checkpoints directory", "Data file")]
    data = at.selectbox(key="team_data_file")
    assert {Path(o).name for o in data.options} == {"eval.csv", "leaky.csv"}  # the symlink out is not offered
    assert at.session_state["veredicto_session"].evalset.name == "eval.csv"


def test_a_crafted_session_value_pointing_at_credentials_is_refused(env, monkeypatch):
    """There is no box to type the path in; forcing the widget's state to the credentials file reads nothing from it."""
    for crafted in (str(env["creds"]), str(env["data_root"] / "innocent.json")):
        at = open_app(env, monkeypatch, team=True, state={"team_data_file": crafted})
        session = at.session_state["veredicto_session"] if "veredicto_session" in at.session_state else None  # noqa: SIM401 - AppTest's state has no .get
        refused = "outside the folders this server shares" in " ".join(e.value for e in at.error)
        assert (session is None and refused) or session.evalset.name == "eval.csv"  # refused, or ignored for the default
        assert SECRET not in shown(at)


def test_the_state_check_refuses_a_crafted_value_even_if_the_widget_let_it_through(env, monkeypatch):
    """Belt and braces: whatever the selectbox does with an unknown value, the sidebar resolves and checks the path."""
    import dashboard.state as state

    monkeypatch.setattr(state, "allowed_files", lambda roots, suffixes: [str(env["creds"])])  # as if the listing were fooled
    at = open_app(env, monkeypatch, team=True)
    assert "veredicto_session" not in at.session_state
    assert "outside the folders this server shares" in " ".join(e.value for e in at.error)
    assert SECRET not in shown(at)


def test_the_label_mismatch_message_in_team_mode_holds_no_value_from_the_file(env, monkeypatch):
    at = open_app(env, monkeypatch, team=True, data_file="leaky.csv")
    assert at.session_state["veredicto_session"].evalset.name == "leaky.csv"
    errors = " ".join(e.value for e in at.error)
    assert "not among the checkpoint's labels" in errors and "negative, positive" in errors
    assert SECRET not in shown(at)


def test_outside_team_mode_the_free_boxes_and_the_full_listing_stay(env, monkeypatch):
    at = open_app(env, monkeypatch, team=False, data_file="leaky.csv")
    assert {t.label for t in at.text_input} >= {"Checkpoints directory", "Data file"}
    assert SECRET in " ".join(e.value for e in at.error)  # one person reading their own file gets both sides listed


def test_the_signoff_policy_path_outside_the_roots_is_refused(env, monkeypatch):
    import dashboard.state as state

    outside = env["root"] / "private" / "policy.yaml"
    outside.write_text(f"version: 1\nname: {SECRET}\ngates:\n  min_macro_f1: {SECRET}\n")
    inside = env["data_root"] / "quick.yaml"
    inside.write_text("version: 1\ngates:\n  min_macro_f1: 0.0\n")  # one cheap gate, so the page renders quickly
    monkeypatch.setenv("VEREDICTO_POLICY", str(inside))
    at = open_app(env, monkeypatch, team=True, page="pages/signoff.py")
    assert not at.exception, [e.message for e in at.exception]
    assert not [t for t in at.text_input if t.label == "Policy file"]
    choice = at.selectbox(key="signoff_policy_choice")
    assert {"data/quick.yaml", "policies/example.yaml"} <= set(choice.options) and "private/policy.yaml" not in choice.options  # nothing from outside

    # as if the listing were fooled into offering it: the page still resolves and checks the path before reading it
    listing = state.allowed_files  # the sidebar's data listing stays real: only the policy listing is fooled
    monkeypatch.setattr(state, "allowed_files", lambda roots, suffixes: [str(outside)] if ".yaml" in suffixes else listing(roots, suffixes))
    monkeypatch.setenv("VEREDICTO_POLICY", str(outside.parent / "missing.yaml"))
    at = open_app(env, monkeypatch, team=True, page="pages/signoff.py", state={"signoff_policy_choice": str(outside)})
    assert at.session_state["veredicto_session"].evalset.name == "eval.csv"  # the sidebar is fine: the refusal is the policy's
    assert "The policy cannot be used: That policy file is outside the folders this server shares" in " ".join(e.value for e in at.error)
    assert SECRET not in shown(at)
