"""`okrsync doctor`: table / JSON output, exit codes, any connector kind, no secrets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from core.model import DoctorCheck, RequestStats
from syncer.cli import main
from syncer.commands import doctor as doctor_cmd

SITE = "https://acme.atlassian.net"
TOKEN = "doctor-secret-987654"


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "okrsync.toml"
    path.write_text(
        "[sources.jira]\n"
        'kind = "jira"\n'
        f'base_url = "{SITE}"\n'
        'email = "bot@acme.test"\n'
        f'token = "{TOKEN}"\n'
        'jql = "project = WEB"\n'
    )
    return path


def run(argv: list[str]) -> int:
    """The exit code the shell would see."""
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def mock_healthy_jira() -> None:
    api = f"{SITE}/rest/api/3"
    respx.get(f"{api}/serverInfo").mock(return_value=httpx.Response(
        200, json={"deploymentType": "Cloud", "version": "1001.0.0"}))
    respx.get(f"{api}/myself").mock(return_value=httpx.Response(
        200, json={"displayName": "Sync Bot"}))
    respx.get(f"{api}/search/jql").mock(return_value=httpx.Response(
        200, json={"issues": [{"id": "1"}]}))
    respx.get(f"{api}/mypermissions").mock(return_value=httpx.Response(200, json={
        "permissions": {k: {"havePermission": True}
                        for k in ("BROWSE_PROJECTS", "EDIT_ISSUES", "LINK_ISSUES")}}))


@respx.mock
def test_doctor_json_all_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mock_healthy_jira()
    code = run(["doctor", "-c", str(write_config(tmp_path)), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["ok"] is True
    assert [c["name"] for c in out["sources"]["jira"]] == [
        "server", "authenticated", "browse scope", "permissions"]


@respx.mock
def test_doctor_table_fails_on_401_without_leaking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.get(url__startswith=SITE).mock(return_value=httpx.Response(401))
    code = run(["doctor", "-c", str(write_config(tmp_path))])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED" in captured.out and "not authenticated" in captured.out
    assert TOKEN not in captured.out + captured.err


def test_doctor_unknown_source_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["doctor", "-c", str(write_config(tmp_path)), "--source", "nope"])
    assert code == 2
    assert "sources.nope" in capsys.readouterr().err


class FakeConnector:
    """Any connector kind: doctor only relies on the protocol."""

    name = "gh"
    closed = False

    async def doctor(self) -> list[DoctorCheck]:
        return [DoctorCheck("reachable", True, "api.example"), DoctorCheck("scopes", False,
                                                                            "missing repo")]

    def stats(self) -> RequestStats:
        return RequestStats()

    async def aclose(self) -> None:
        FakeConnector.closed = True


class FakeSource:
    kind = "fake"
    max_retries = 5

    def model_copy(self, update: dict[str, Any]) -> FakeSource:
        assert update["max_retries"] <= 1
        return self


def test_check_all_works_for_any_connector_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connectors.base.create", lambda cfg: FakeConnector())
    results = asyncio.run(doctor_cmd.check_all({"gh": FakeSource()}))
    report = doctor_cmd.to_json(results)
    assert report["ok"] is False
    assert report["sources"]["gh"][1] == {"name": "scopes", "ok": False,
                                          "detail": "missing repo"}
    assert FakeConnector.closed


def test_unknown_kind_is_one_failed_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(cfg: Any) -> Any:
        raise KeyError(cfg.kind)

    monkeypatch.setattr("connectors.base.create", boom)
    results = asyncio.run(doctor_cmd.check_all({"x": FakeSource()}))
    assert results["x"] == [DoctorCheck("connector", False, "unknown source kind 'fake'")]
