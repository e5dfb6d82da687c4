"""Config loading: file + env layering, per-kind source models, errors with file/key/line,
path resolution, masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.errors import ConfigError, ExitCode
from syncer.config import Config, load_config
from tests.helpers.config_helpers import clear_okrsync_env, register_testkind, write_project

SOURCE = """\
[sources.src]
kind = "testkind"
url = "http://example.invalid"
repos = ["acme/app"]
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_okrsync_env(monkeypatch)
    register_testkind()


def test_defaults_and_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_path = write_project(tmp_path / "conf", '[store]\npath = "data/okrsync.db"\n')
    monkeypatch.chdir(tmp_path)  # somewhere else: must not matter
    cfg = load_config(cfg_path)
    assert cfg.path == cfg_path.resolve()
    assert cfg.store_path == (tmp_path / "conf" / "data" / "okrsync.db").resolve()
    assert cfg.catalog_path == (tmp_path / "conf" / "okrs.toml").resolve()
    assert cfg.rules_path == (tmp_path / "conf" / "rules.toml").resolve()
    assert cfg.labels.explicit_prefix == "okr:"
    assert cfg.labels.managed_prefix == "goal:"
    assert cfg.labels.ktlo == ["ktlo"]
    assert cfg.smtp.port == 25 and cfg.report.send_cron == "0 8 * * 1"
    assert cfg.daemon.interval_seconds == 900
    assert cfg.sources == {}
    assert any("no [sources" in w for w in cfg.warnings)


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "x.db"
    cfg = load_config(write_project(tmp_path, f'[store]\npath = "{db}"\n'))
    assert cfg.store_path == db


def test_source_is_built_with_its_kinds_model_and_named_after_its_table(tmp_path: Path) -> None:
    cfg = load_config(write_project(tmp_path, SOURCE))
    src = cfg.sources["src"]
    assert type(src).__name__ == "TestKindConfig"
    assert src.name == "src" and src.kind == "testkind"
    assert src.max_retries == 5  # SourceConfig default


def test_env_overrides_file_with_nested_delimiter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_project(tmp_path, SOURCE + '\n[smtp]\nport = 25\nhost = "mail.local"\n')
    monkeypatch.setenv("OKRSYNC_SMTP__PORT", "2525")
    monkeypatch.setenv("OKRSYNC_SMTP__PASSWORD", "smtp-pass-123")
    monkeypatch.setenv("OKRSYNC_SOURCES__SRC__TOKEN", "tok-abc-987")
    monkeypatch.setenv("OKRSYNC_SOURCES__SRC__MAX_RETRIES", "7")
    cfg = load_config(path)
    assert cfg.smtp.port == 2525
    assert cfg.smtp.host == "mail.local"  # file value kept where env is silent
    assert cfg.smtp.password.get_secret_value() == "smtp-pass-123"
    src = cfg.sources["src"]
    assert src.max_retries == 7
    token = src.token  # type: ignore[attr-defined]
    assert isinstance(token, SecretStr) and token.get_secret_value() == "tok-abc-987"


def test_masked_hides_every_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_project(tmp_path, SOURCE)
    monkeypatch.setenv("OKRSYNC_SMTP__PASSWORD", "smtp-pass-123")
    monkeypatch.setenv("OKRSYNC_SOURCES__SRC__TOKEN", "tok-abc-987")
    cfg = load_config(path)
    dumped = json.dumps(cfg.masked())
    assert "smtp-pass-123" not in dumped and "tok-abc-987" not in dumped
    assert cfg.masked()["smtp"]["password"] == "***"
    assert cfg.masked()["sources"]["src"]["token"] == "***"
    assert cfg.masked()["sources"]["src"]["repos"] == ["acme/app"]
    assert "tok-abc-987" not in repr(cfg) and "smtp-pass-123" not in str(cfg)


def test_empty_secret_is_shown_empty_not_masked(tmp_path: Path) -> None:
    cfg = load_config(write_project(tmp_path, SOURCE))
    assert cfg.masked()["smtp"]["password"] == ""


def test_unknown_kind_names_key_and_known_kinds(tmp_path: Path) -> None:
    path = write_project(tmp_path, '[sources.mine]\nkind = "gitlab"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.key == "sources.mine.kind"
    assert err.file == str(path.resolve())
    assert err.line == 2
    assert "gitlab" in err.message and "testkind" in err.message
    assert err.exit_code == ExitCode.INVALID


def test_missing_kind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, '[sources.mine]\nurl = "x"\n'))
    assert info.value.key == "sources.mine.kind"


def test_source_validation_error_has_dotted_key_and_line(tmp_path: Path) -> None:
    body = SOURCE + "max_retries = 99\n"
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, body))
    err = info.value
    assert err.key == "sources.src.max_retries"
    assert err.line == 5
    assert "20" in err.message  # the bound that was broken
    assert f"{err.file}:5 [sources.src.max_retries]" in str(err)


def test_unknown_source_field_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, SOURCE + "tokn = 'x'\n"))
    assert info.value.key == "sources.src.tokn"
    assert "unknown key" in info.value.message


def test_section_error_names_key_and_line(tmp_path: Path) -> None:
    body = '[store]\npath = "x.db"\n\n[smtp]\nhost = "h"\nport = "many"\n'
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, body))
    assert info.value.key == "smtp.port"
    assert info.value.line == 6


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    body = '[smtp]\nport = 0\nsecurity = "tls13"\n'
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, body))
    joined = "\n".join(info.value.problems)
    assert "smtp.port" in joined and "smtp.security" in joined


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, "[stor]\npath = 'x'\n"))
    assert info.value.key == "stor" and info.value.line == 1


def test_env_error_blames_the_variable_and_never_echoes_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKRSYNC_SOURCES__SRC__MAX_RETRIES", "s3cr3t-value")
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, SOURCE))
    text = str(info.value) + repr(info.value.problems)
    assert "OKRSYNC_SOURCES__SRC__MAX_RETRIES" in text
    assert "s3cr3t-value" not in text
    assert info.value.line is None


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write_project(tmp_path, '[store]\npath = "a.db"\n[smtp\nport = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 3
    assert info.value.file == str(path.resolve())
    assert "malformed TOML" in info.value.message


def test_missing_config_suggests_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(None)
    assert str(tmp_path / "okrsync.toml") in info.value.message
    assert "okrsync init" in info.value.hint


def test_lookup_uses_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    via_env = write_project(tmp_path / "a", "[daemon]\nhealth_port = 1111\n")
    in_cwd = write_project(tmp_path / "b", "[daemon]\nhealth_port = 2222\n")
    monkeypatch.chdir(in_cwd.parent)
    assert load_config(None).daemon.health_port == 2222
    monkeypatch.setenv("OKRSYNC_CONFIG", str(via_env))
    assert load_config(None).daemon.health_port == 1111
    assert load_config(in_cwd).daemon.health_port == 2222  # --config beats both


def test_hypothesis_pattern_needs_group_h(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, '[sync]\nhypothesis_pattern = "We bet (.+)"\n'))
    assert info.value.key == "sync.hypothesis_pattern"
    ok = load_config(write_project(tmp_path, "[sync]\nhypothesis_pattern = 'bet: (?P<h>.+)'\n"))
    assert ok.sync.hypothesis_pattern.startswith("bet:")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[report]\ntimezone = "Mars/Olympus"\n', "report.timezone"),
        ('[report]\nsend_cron = "every monday"\n', "report.send_cron"),
        ("[daemon]\ninterval_seconds = 0\n", "daemon.interval_seconds"),
        ('[teams.a]\nowner = ""\n', "teams.a.owner"),
    ],
)
def test_invalid_values_name_their_key(tmp_path: Path, body: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, body))
    assert info.value.key == key


def _teams(tmp_path: Path) -> Config:
    body = """
[teams.payments]
owner = "Dana"
projects = ["PAY", "acme/payments-*"]

[teams.platform]
owner = "Lee"
email = "lee@example.com"
projects = ["acme/*", "pay"]
"""
    return load_config(write_project(tmp_path, body))


def test_team_of_prefers_exact_then_first_glob(tmp_path: Path) -> None:
    cfg = _teams(tmp_path)
    assert cfg.teams["payments"].name == "payments"
    team = cfg.team_of("acme/payments-api")
    assert team is not None and team.name == "payments"
    team = cfg.team_of("ACME/web")
    assert team is not None and team.name == "platform"
    team = cfg.team_of("pay")
    assert team is not None and team.name == "payments"  # exact (case-insensitive) in both
    assert cfg.team_of("WEB") is None


def test_real_connector_kinds_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("connectors.jira")
    from connectors.base import load_all

    assert "jira" in load_all()
    path = write_project(tmp_path, '[sources.jira]\nkind = "jira"\nnot_a_jira_field = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "sources.jira" in (info.value.key or "")
    assert any("not_a_jira_field" in p for p in info.value.problems) or (
        info.value.key == "sources.jira.not_a_jira_field"
    )


def test_prefixes_must_differ(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_project(tmp_path, '[labels]\nmanaged_prefix = "OKR:"\n'))
    assert info.value.key == "labels"


def test_sources_inherit_the_managed_prefix_unless_they_set_one(tmp_path: Path) -> None:
    body = '[labels]\nmanaged_prefix = "serves:"\n\n' + SOURCE
    cfg = load_config(write_project(tmp_path, body))
    assert cfg.sources["src"].managed_label_prefix == "serves:"
    own = load_config(write_project(tmp_path, body + 'managed_label_prefix = "g/"\n'))
    assert own.sources["src"].managed_label_prefix == "g/"


def test_env_reaches_a_mixed_case_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_project(tmp_path, SOURCE.replace("[sources.src]", "[sources.MySrc]"))
    monkeypatch.setenv("OKRSYNC_SOURCES__MYSRC__TOKEN", "tok-1")
    cfg = load_config(path)
    assert list(cfg.sources) == ["MySrc"]
    assert cfg.sources["MySrc"].token.get_secret_value() == "tok-1"  # type: ignore[attr-defined]


def test_a_whole_source_can_come_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKRSYNC_SOURCES__CI__KIND", "testkind")
    monkeypatch.setenv("OKRSYNC_SOURCES__CI__URL", "http://ci.local")
    cfg = load_config(write_project(tmp_path, ""))
    assert cfg.sources["ci"].url == "http://ci.local"  # type: ignore[attr-defined]


def test_line_finder_handles_arrays_of_tables_and_quoted_keys() -> None:
    from core.tomlfile import key_lines, line_of

    text = (
        '[[objective]]\nid = "A"\n  [[objective.key_result]]\n  id = "K1"\n'
        '  [[objective.key_result]]\n  id = "K2"\n  owner = ""\n'
        '[[objective]]\nid = "B"\n  [[objective.key_result]]\n  id = "K3"\n'
        '[sources."my-jira"]\nkind = "jira"\ndesc = """\nx = 1\n"""\nafter = 2\n'
    )
    lines = key_lines(text)
    assert lines[("objective", 0, "key_result", 1, "owner")] == 7
    assert lines[("objective", 1, "key_result", 0, "id")] == 11
    assert lines[("sources", "my-jira", "kind")] == 13
    assert ("sources", "my-jira", "x") not in lines  # inside a multi-line string
    assert lines[("sources", "my-jira", "after")] == 17
    # unknown keys fall back to their table's line
    assert line_of(text, ("objective", 1, "key_result", 0, "unit")) == 10
    assert line_of(text, ("nothing",)) is None


def test_every_config_key_is_documented() -> None:
    from syncer import config as c

    doc = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    sections = {
        "store": c.StoreSection, "okrs": c.OkrsSection, "labels": c.LabelsSection,
        "sync": c.SyncSection, "smtp": c.SmtpSection, "report": c.ReportSection,
        "daemon": c.DaemonSection, "teams.payments": c.Team, "web": c.WebSection,
        "rhythm": c.RhythmSection, "escalation": c.EscalationSection,
        "scorecard": c.ScorecardSection, "review": c.ReviewSection, "chat": c.ChatSection,
        'people."Dana Lee"': c.Person,
    }
    for section, model in sections.items():
        assert f"[{section}]" in doc
        for name in model.model_fields:
            if name != "name":
                assert f"{name} =" in doc, f"{section}.{name} is not in docs/config.md"
