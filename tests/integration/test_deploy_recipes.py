"""The deploy recipes and the docs run as written: every `OKRSYNC_*` variable and every config
snippet in them goes through the real loader (`okrsync validate`, the installed binary), every
okrsync command line in deploy/ is accepted by the real CLI, the schedulers count exit codes as
the README documents them, and each store volume has one writer."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from core.config_env import OTHER_VARIABLES
from tests.helpers.cli_runner import run_okrsync, without_okrsync_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RECIPES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "syncer" / "starter").glob("*"),
     *(p for p in DEPLOY.rglob("*") if p.is_file())]
)
# `secrets.OKRSYNC_JIRA_TOKEN` is a CI secret's name, not a variable okrsync reads.
VARIABLE = re.compile(r"(?<![\w.])(OKRSYNC_[A-Za-z0-9_]*[A-Za-z0-9])(?:=|: ?)?([^\s\"'`\\,)]*)")
SECRET = re.compile(r"(TOKEN|PASSWORD|PRIVATE_KEY)$")
TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)


def variables_in(text: str) -> dict[str, str | None]:
    """Every OKRSYNC_ variable a recipe names, with the value it gives (None when it gives
    none or a placeholder). `<NAME>` placeholders become a source named jira."""
    found: dict[str, str | None] = {}
    for name, value in VARIABLE.findall(text.replace("<NAME>", "JIRA")):
        name = name.upper()
        if name in OTHER_VARIABLES:
            continue
        value = re.sub(r"\$\{\{[^}]*\}\}", "/data", value)  # ${{ github.workspace }}
        concrete = value and not any(p in value for p in ("${", "…", "...", "replace-me"))
        if found.get(name) is None:
            found[name] = value if concrete else None
    return found


def source_tables(names: set[str], apps: frozenset[str] = frozenset()) -> str:
    """A table per source name: Jira when the name says so, else GitHub (an App for `apps`)."""
    out = ""
    for name in sorted(names):
        if "JIRA" in name.upper():
            out += f'\n[sources.{name}]\nkind = "jira"\nbase_url = "https://a.example"\n'
        else:
            out += f'\n[sources.{name}]\nkind = "github"\nrepos = ["acme/app"]\n'
            if name in apps:
                out += "app_id = 1\ninstallation_id = 2\n"
    return out


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("OKRSYNC_")}


def validate(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`okrsync validate` in this process with only `env`'s OKRSYNC_ variables (the installed
    entry point itself is tested in `test_cli_usage` and by the wheel test below)."""
    return run_okrsync("validate", "--config", str(config),
                       env={**without_okrsync_env(os.environ), **env})


def secret_env(config_text: str) -> dict[str, str]:
    """Dummy credentials for every source a config defines (a GitHub App gets its key)."""
    env: dict[str, str] = {}
    for name, table in tomllib.loads(config_text).get("sources", {}).items():
        secret = "PRIVATE_KEY" if "app_id" in table else "TOKEN"
        if not any(k in table for k in ("token", "private_key", "private_key_path")):
            env[f"OKRSYNC_SOURCES__{name.upper()}__{secret}"] = "dummy-secret-1234"
    return env


@pytest.fixture()
def starter(tmp_path: Path) -> Path:
    assert run_okrsync("init", str(tmp_path / "p"),
                       env=without_okrsync_env(os.environ)).returncode == 0
    return tmp_path / "p"


def test_the_recipes_name_variables() -> None:
    named = {n for f in RECIPES for n in variables_in(f.read_text(errors="replace"))}
    assert {"OKRSYNC_SOURCES__JIRA__TOKEN", "OKRSYNC_SOURCES__GITHUB__TOKEN",
            "OKRSYNC_SMTP__PASSWORD", "OKRSYNC_STORE__PATH"} <= named


NAMING = [p for p in RECIPES if variables_in(p.read_text(errors="replace"))]


@pytest.mark.parametrize("recipe", NAMING, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_variable_in_a_recipe_is_one_the_loader_reads(
    recipe: Path, starter: Path, tmp_path: Path
) -> None:
    named = variables_in(recipe.read_text(errors="replace"))
    sources = {m.group(1).lower() for n in named
               if (m := re.match(r"OKRSYNC_SOURCES__(\w+?)__", n))}
    apps = frozenset(n.split("__")[1].lower() for n in named if n.endswith("__PRIVATE_KEY"))
    config = starter / "okrsync.toml"
    config.write_text(config.read_text() + source_tables(sources | {"jira", "github"}, apps))
    env = {f"OKRSYNC_SOURCES__{s.upper()}__TOKEN": "dummy-secret-1234"
           for s in ({"jira", "github"} - apps)}
    for name, value in named.items():
        if SECRET.search(name):
            env[name] = "dummy-secret-1234"
        else:  # a setting named in prose, without a value: "1" is valid for most types
            env[name] = (value or "1").replace("/data/", f"{tmp_path}/")
    result = validate(config, env)
    assert result.returncode == 0, f"{recipe}: {sorted(named)}\n{result.stderr}"


def test_a_misspelt_variable_fails_the_check(starter: Path) -> None:
    """The check above is not vacuous: the names the recipes used to carry are refused."""
    config = starter / "okrsync.toml"
    config.write_text(config.read_text() + source_tables({"jira"}))
    for wrong in ("OKRSYNC_SOURCES__JIRA__API_TOKEN", "OKRSYNC_STORE_PATH"):
        result = validate(config, {"OKRSYNC_SOURCES__JIRA__TOKEN": "dummy-secret-1234",
                                   wrong: "x"})
        assert result.returncode == 2 and wrong in result.stderr


def snippets() -> list[tuple[str, str]]:
    found = []
    for doc in RECIPES:
        if doc.suffix == ".md":
            for i, block in enumerate(TOML_BLOCK.findall(doc.read_text())):
                found.append((f"{doc.relative_to(ROOT)}#{i + 1}", block))
    return found


@pytest.mark.parametrize(("where", "snippet"), snippets(), ids=[w for w, _ in snippets()])
def test_every_config_snippet_in_the_docs_validates(where: str, snippet: str,
                                                    starter: Path) -> None:
    if "[[objective]]" in snippet:
        (starter / "okrs.toml").write_text(snippet)
        (starter / "rules.toml").write_text("")
    elif "[[rule]]" in snippet:
        (starter / "rules.toml").write_text(snippet)
    else:
        (starter / "okrsync.toml").write_text(snippet)
    config = starter / "okrsync.toml"
    result = validate(config, secret_env(config.read_text()))
    assert result.returncode == 0, f"{where}:\n{result.stderr}"


def test_the_kubernetes_configmap_and_secret_validate(tmp_path: Path) -> None:
    [configmap] = yaml.safe_load_all((DEPLOY / "k8s" / "configmap.yaml").read_text())
    for name, text in configmap["data"].items():
        (tmp_path / name).write_text(text)
    [secret] = yaml.safe_load_all((DEPLOY / "k8s" / "secret.yaml").read_text())
    env = dict.fromkeys(secret["stringData"], "dummy-secret-1234")
    text = (tmp_path / "okrsync.toml").read_text().replace("/data/", f"{tmp_path}/")
    (tmp_path / "okrsync.toml").write_text(text)
    result = validate(tmp_path / "okrsync.toml", env)
    assert result.returncode == 0, result.stderr
    assert "sources: jira [jira], github [github]" in result.stdout


def okrsync_command_lines() -> list[tuple[str, list[str]]]:
    """Each okrsync invocation in deploy/: systemd ExecStart, crontab and CI lines, the
    Dockerfile's ENTRYPOINT + CMD, the Kubernetes container args."""
    found: list[tuple[str, list[str]]] = []
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix != ".md"):
        where = str(path.relative_to(ROOT))
        text = path.read_text()
        if path.name == "Dockerfile":
            cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
            assert cmd and 'ENTRYPOINT ["okrsync"]' in text
            found.append((where, yaml.safe_load(cmd.group(1))))
            continue
        if path.suffix == ".yaml" and "kind: Deployment" in text:
            for doc in yaml.safe_load_all(text):
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    found.append((where, list(c["args"])))
            continue
        for line in text.splitlines():
            line = line.strip()
            if path.suffix == ".service":
                line = line.removeprefix("ExecStart=") if line.startswith("ExecStart=") else ""
            elif path.suffix == ".yml":
                line = line.removeprefix("run:").strip() if "pip" not in line else ""
            elif path.suffix != ".crontab":
                continue
            if line.startswith("#"):
                continue
            for m in re.finditer(r"(?:^|[\s/])okrsync ([^|&;>#\n]*)", line):
                words = shlex.split(m.group(1))
                if words:
                    found.append((where, words))
    return found


def test_every_okrsync_command_line_in_deploy_is_accepted_by_the_cli() -> None:
    lines = okrsync_command_lines()
    commands = {words[0] for _, words in lines}
    assert {"sync", "daemon", "report"} <= commands, lines
    for where, words in lines:
        # --help is eager: the options are parsed (an unknown one is exit 2), nothing runs.
        result = run_okrsync(*words, "--help", env=without_okrsync_env(os.environ))
        assert result.returncode == 0, f"{where}: okrsync {' '.join(words)}\n{result.stderr}"


def test_systemd_success_exit_status_matches_the_documented_codes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "| 1 | finished with recorded failures" in readme
    assert "| 3 | another run holds the lock" in readme
    allowed = {"okrsync-sync.service": {"3"}, "okrsync-report.service": set(),
               "okrsync-daemon.service": set()}
    for unit, codes in allowed.items():
        text = (DEPLOY / "systemd" / unit).read_text()
        success = set()
        for m in re.finditer(r"^SuccessExitStatus=(.*)$", text, re.MULTILINE):
            success |= set(m.group(1).split())
        assert success == codes, unit  # exit 1 (failures) and 2 (invalid) are never success
    daemon = (DEPLOY / "systemd" / "okrsync-daemon.service").read_text()
    assert "RestartPreventExitStatus=2" in daemon  # a bad config is not restarted in a loop
    ci = (DEPLOY / "ci" / "okrsync-scheduled.yml").read_text()
    assert "okrsync sync || [ $? -eq 3 ]" in ci


def test_one_writer_per_store_volume() -> None:
    writers: dict[str, list[str]] = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            kind = doc["kind"]
            if kind not in ("Deployment", "CronJob", "StatefulSet", "Job", "DaemonSet"):
                continue
            spec = doc["spec"]
            if kind == "CronJob":
                assert spec["concurrencyPolicy"] == "Forbid", path
                pod = spec["jobTemplate"]["spec"]["template"]["spec"]
            else:
                assert kind == "Deployment", f"{path}: {kind} cannot promise one writer"
                assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", path
                pod = spec["template"]["spec"]
            for volume in pod.get("volumes", []):
                claim = volume.get("persistentVolumeClaim", {}).get("claimName")
                if claim:
                    writers.setdefault(claim, []).append(f"{path.name}:{doc['metadata']['name']}")
    assert writers and all(len(w) == 1 for w in writers.values()), writers
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    mounts = [v.split(":")[0] for s in compose["services"].values() for v in s["volumes"]]
    for volume in compose.get("volumes", {}):
        assert mounts.count(volume) == 1, volume


def test_ci_store_is_inside_the_cached_folder() -> None:
    workflow = yaml.safe_load((DEPLOY / "ci" / "okrsync-scheduled.yml").read_text())
    job = workflow["jobs"]["okrsync"]
    store = job["env"]["OKRSYNC_STORE__PATH"].replace("${{ github.workspace }}/", "")
    cached = {s["with"]["path"] for s in job["steps"] if "cache" in s.get("uses", "")}
    assert cached == {str(Path(store).parent)}


@pytest.mark.slow
def test_a_built_wheel_installs_offline_and_runs(tmp_path: Path) -> None:
    """The documented install path: `pip wheel`, then `pip install --no-index` from the
    wheelhouse. The dependencies come from this environment's wheels-to-be, so only okrsync's
    own wheel is built here; it must carry its package data (starter files, templates)."""
    source = tmp_path / "src"  # what the Dockerfile copies; building here leaves ROOT alone
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("syncer", "connectors", "mappings"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    wheelhouse = tmp_path / "wheelhouse"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheelhouse), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = wheelhouse.glob("okrsync-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "syncer/starter/okrsync.toml" in names
    assert any(n.startswith("syncer/reports/templates/") for n in names)
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "-q",
         "--find-links", str(wheelhouse), "--target", str(target), "okrsync"],
        capture_output=True, text=True, timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    env = {**clean_env(), "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c",
         "import sys, syncer; assert syncer.__file__.startswith(sys.argv[1]), syncer.__file__;"
         "from syncer.cli import main; sys.argv = ['okrsync', 'init', sys.argv[2]]; main()",
         str(target), str(tmp_path / "okr")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "okr" / "okrsync.toml").exists()
