"""The deploy/ artifacts are checked by the tools their platforms use, offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if found is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it)")
    return found


@pytest.mark.parametrize(
    "units",
    [
        ("okrsync-sync.service", "okrsync-sync.timer"),
        ("okrsync-report.service", "okrsync-report.timer"),
        ("okrsync-daemon.service",),
    ],
)
def test_systemd_units_verify(units: tuple[str, ...], tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    okrsync = shutil.which("okrsync") or str(BIN / "okrsync")
    for unit in units:
        text = (DEPLOY / "systemd" / unit).read_text()
        # The units name the documented install path; point it at this machine's okrsync.
        (tmp_path / unit).write_text(text.replace("/opt/okrsync/venv/bin/okrsync", okrsync))
    out = subprocess.run(
        [analyze, "verify", "--man=no", *[str(tmp_path / u) for u in units]],
        capture_output=True, text=True, timeout=60,
    )
    problems = [
        line for line in (out.stdout + out.stderr).splitlines()
        if line.strip() and "Failed to connect" not in line and "/etc/okrsync" not in line
    ]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


def test_systemd_units_are_hardened_and_keep_secrets_out() -> None:
    for unit in ("okrsync-sync.service", "okrsync-report.service", "okrsync-daemon.service"):
        text = (DEPLOY / "systemd" / unit).read_text()
        for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "UMask=0077",
                       "EnvironmentFile=-/etc/okrsync/okrsync.env", "User=okrsync"):
            assert option in text, (unit, option)
        settings = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
        assert "TOKEN=" not in settings and "PASSWORD=" not in settings


def test_kubernetes_manifests_validate_against_schemas() -> None:
    tool = _tool("kubernetes-validate")
    files = sorted(str(p) for p in (DEPLOY / "k8s").rglob("*.yaml"))
    assert len(files) >= 4
    out = subprocess.run([tool, "--strict", *files], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    resources = sum(len([d for d in yaml.safe_load_all(Path(f).read_text()) if d])
                    for f in files)
    assert out.stdout.count("passed") == resources


def test_kubernetes_validator_rejects_a_broken_manifest(tmp_path: Path) -> None:
    tool = _tool("kubernetes-validate")
    broken = (DEPLOY / "k8s" / "deployment.yaml").read_text().replace(
        "  replicas: 1", "  replicas: 1\n  replica: 1"
    )
    (tmp_path / "broken.yaml").write_text(broken)
    out = subprocess.run([tool, "--strict", str(tmp_path / "broken.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0


def test_dockerfile_passes_hadolint() -> None:
    tool = _tool("hadolint")
    out = subprocess.run([tool, str(DEPLOY / "docker" / "Dockerfile")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_crontab_lines_are_valid_cron_expressions() -> None:
    from croniter import croniter

    lines = [
        line for line in (DEPLOY / "cron" / "okrsync.crontab").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 2
    for line in lines:
        expr = " ".join(line.split()[:5])
        assert croniter.is_valid(expr), expr
        assert "okrsync" in line
