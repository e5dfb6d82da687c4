"""Config problems in one pass with "did you mean", env names for missing secrets and misspelt
variables, lists from env, secrets cleaned at load, and credentials only where they are used.
Real connector models (Jira, GitHub), real files, the real loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from syncer.config import load_config
from tests.helpers.config_helpers import clear_okrsync_env, write_project

JIRA = """\
[sources.jira]
kind = "jira"
base_url = "https://acme.atlassian.net"
jql = "project = WEB"
"""
GITHUB = """\
[sources.gh]
kind = "github"
repos = ["acme/app"]
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_okrsync_env(monkeypatch)


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems or [str(info.value)]


def test_every_typo_is_reported_at_once_with_a_suggestion(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKRSYNC_SOURCES__JIRA__TOKEN", "tok-1234")
    body = ('[smpt]\nhost = "x"\n\n[okr]\ncatalog = "okrs.toml"\n\n[report]\n'
            'send_corn = "0 8 * * 1"\n\n' + JIRA.replace("jql =", "jq =") + "\n"
            + GITHUB + 'epic_lable = "epic"\n')
    found = problems(write_project(tmp_path, body))
    joined = "\n".join(found)
    assert len(found) == 5, joined
    assert "smpt (line 1): unknown section (did you mean `smtp`?)" in joined
    assert "okr (line 4): unknown section (did you mean `okrs`?)" in joined
    assert "report.send_corn (line 8): unknown key (did you mean `send_cron`?)" in joined
    assert "sources.jira.jq (line 13): unknown key (did you mean `jql`?)" in joined
    assert "sources.gh.epic_lable (line 18): unknown key (did you mean `epic_label`?)" in joined


def test_missing_github_credentials_name_the_variables(tmp_path: Path) -> None:
    [only] = problems(write_project(tmp_path, GITHUB))
    assert "OKRSYNC_SOURCES__GH__TOKEN" in only and "OKRSYNC_SOURCES__GH__PRIVATE_KEY" in only


def test_missing_jira_token_names_the_variable(tmp_path: Path) -> None:
    [only] = problems(write_project(tmp_path, JIRA))
    assert "[sources.jira.token]" in only
    assert "set it in the environment as OKRSYNC_SOURCES__JIRA__TOKEN" in only


def test_misspelt_env_variables_are_errors_naming_the_right_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKRSYNC_STORE_PATH", "/data/okrsync.db")
    monkeypatch.setenv("OKRSYNC_SOURCES__JIRA__API_TOKEN", "secret-value-1234")
    found = "\n".join(problems(write_project(tmp_path, JIRA)))
    assert "did you mean OKRSYNC_STORE__PATH?" in found
    assert ("sources.jira.api_token: unknown key (did you mean `token`?) "
            "(from env OKRSYNC_SOURCES__JIRA__API_TOKEN)") in found
    assert "secret-value-1234" not in found


def test_right_env_names_apply_and_stray_ones_only_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKRSYNC_STORE__PATH", str(tmp_path / "data" / "okrsync.db"))
    monkeypatch.setenv("OKRSYNC_SOURCES__JIRA__TOKEN", "tok-1234")
    monkeypatch.setenv("OKRSYNC_WHATEVER", "1")
    cfg = load_config(write_project(tmp_path, JIRA))
    assert cfg.store_path == tmp_path / "data" / "okrsync.db"
    assert any("OKRSYNC_WHATEVER" in w for w in cfg.warnings)


@pytest.mark.parametrize("value", ["a@x.com,b@y.com", " a@x.com , b@y.com ",
                                   '["a@x.com", "b@y.com"]'])
def test_lists_from_env_are_comma_separated_or_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OKRSYNC_REPORT__RECIPIENTS", value)
    monkeypatch.setenv("OKRSYNC_SOURCES__GH__REPOS", "acme/app,acme/api")
    monkeypatch.setenv("OKRSYNC_SOURCES__GH__TOKEN", "tok-1234")
    cfg = load_config(write_project(tmp_path, GITHUB))
    assert cfg.report.recipients == ["a@x.com", "b@y.com"]
    assert cfg.sources["gh"].repos == ["acme/app", "acme/api"]  # type: ignore[attr-defined]


def test_invalid_jira_hypothesis_pattern_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKRSYNC_SOURCES__JIRA__TOKEN", "tok-1234")
    path = write_project(tmp_path, JIRA + 'hypothesis_pattern = "(?P<h>.+"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "sources.jira.hypothesis_pattern"
    assert info.value.line == 5 and "not a valid regex" in info.value.message


def test_secrets_are_stripped_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKRSYNC_SOURCES__JIRA__TOKEN", "  tok-1234\n")
    monkeypatch.setenv("OKRSYNC_SMTP__PASSWORD", "pw-5678\r\n")
    cfg = load_config(write_project(tmp_path, JIRA))
    assert cfg.sources["jira"].token.get_secret_value() == "tok-1234"  # type: ignore[attr-defined]
    assert cfg.smtp.password.get_secret_value() == "pw-5678"


@pytest.mark.parametrize(("variable", "key", "value"), [
    ("OKRSYNC_SOURCES__JIRA__TOKEN", "sources.jira.token", "\u201ctok-1234\u201d"),
    ("OKRSYNC_SOURCES__JIRA__TOKEN", "sources.jira.token", "tok-12\n34"),
    ("OKRSYNC_SMTP__PASSWORD", "smtp.password", "pw-56\x1b[2J78"),
])
def test_a_secret_with_control_or_non_ascii_characters_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, key: str, value: str
) -> None:
    monkeypatch.setenv("OKRSYNC_SOURCES__JIRA__TOKEN", "tok-ok-1234")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, JIRA))
    assert info.value.key == key
    assert variable in info.value.message
    shown = str(info.value)
    assert "1234" not in shown and "5678" not in shown  # the value is never echoed


def test_commands_that_never_connect_need_no_credentials(tmp_path: Path) -> None:
    app = '[sources.app]\nkind = "github"\nrepos = ["acme/app"]\napp_id = 1\ninstallation_id = 2\n'
    path = write_project(tmp_path, JIRA + "\n" + GITHUB + "\n" + app)
    with pytest.raises(ConfigError):
        load_config(path)
    cfg = load_config(path, credentials=False)
    assert set(cfg.sources) == {"jira", "gh", "app"}
    # every other setting is still checked
    broken = write_project(tmp_path / "b", JIRA.replace("https://", "ftp://"))
    with pytest.raises(ConfigError) as info:
        load_config(broken, credentials=False)
    assert info.value.key == "sources.jira.base_url"


def test_a_line_break_in_a_mail_address_is_a_config_error(tmp_path: Path) -> None:
    body = ('[teams.web]\nowner = "Dana"\nemail = "leads@example.com\\r\\nBcc: x@evil.example"\n'
            '\n[report]\nrecipients = ["a@example.com", "b@example.com\\n"]\n')
    found = "\n".join(problems(write_project(tmp_path, body)))
    assert "teams.web.email (line 3): an e-mail address must be one line" in found
    assert "report.recipients (line 6)" in found
    assert "evil" not in found
