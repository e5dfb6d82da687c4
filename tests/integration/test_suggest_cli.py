"""`okrsync suggest` and `okrsync accept` end to end: a real sync against both sandboxes into a
real store, then the real CLI in a child process."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from core.model import Page, Ticket
from sandbox import Sandbox, sandbox
from sandbox.data import THEMES, generate
from syncer.engine import run_sync
from syncer.store import Store
from syncer.suggest_cache import model_path
from tests.helpers.e2e import config, okrsync, project, remote_state

EPICS = 300
SEED = 5
HOSTILE = "<script>alert(1)</script> \x1b[31mred\x1b[0m @octocat #1 pipeline"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _scenario() -> dict[str, object]:
    """The seeded organisation, with hostile text in a few GitHub data epics no rule links
    (they are what suggestions are for)."""
    data = generate(EPICS, SEED)
    issues = data["github"]["repos"]["acme/api"]["issues"]  # type: ignore[index]
    hits = 0
    for issue in issues:
        names = {lab["name"] for lab in issue["labels"]}
        if "data-quality" in names and not any(n.startswith("okr:") for n in names):
            issue["title"] = f"{HOSTILE} {issue['title']}"
            hits += 1
            if hits == 2:
                break
    assert hits == 2
    return data


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    with sandbox(data=_scenario()) as sb:
        cfg = project(tmp_path_factory.mktemp("suggest"), sb)
        summary = run_sync(config(cfg, sb))
        assert summary.exit_code == 0, summary.failed
        yield sb, cfg


def _json(*args: str, sb: Sandbox, cfg: Path) -> object:
    done = okrsync(*args, "--json", "--config", str(cfg), sb=sb)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_suggestions_are_learned_checkable_and_deterministic(org: tuple[Sandbox, Path]) -> None:
    sb, cfg = org
    first = _json("suggest", sb=sb, cfg=cfg)
    assert first == _json("suggest", sb=sb, cfg=cfg)
    assert isinstance(first, dict)
    found = first["suggestions"]
    assert found and len(found) < first["untraceable"]
    with Store.open(config(cfg, sb).store_path) as store:
        linked = {(lk.source, lk.ticket_key): lk.kr_id for lk in store.links()}
        untraceable = store.untraceable()
    for s in found:
        assert f"{s['source']}:{s['key']}" in untraceable
        assert s["label"] == f"okr:{s['kr_id']}"
        assert s["confidence"] >= first["min_confidence"]
        assert [r["kr_id"] for r in s["ranked"]][0] == s["kr_id"] and len(s["ranked"]) == 3
        assert s["nearest"] and all(linked[(n["source"], n["key"])] == s["kr_id"]
                                    for n in s["nearest"])
    # GitHub data epics carry data labels but no rule covers acme/api: the org's own links
    # (Jira DATA epics, linked by a rule) say where they belong.
    data_epics = [s for s in found if s["key"].startswith("acme/api#")
                  and any(s["title"].endswith(thing) for thing in THEMES["data"][3])]
    assert len(data_epics) >= 3 and all(s["kr_id"] == "KR-DATA-1" for s in data_epics)


def test_terminal_output_keeps_hostile_titles_inert(org: tuple[Sandbox, Path]) -> None:
    sb, cfg = org
    done = okrsync("suggest", "--config", str(cfg), sb=sb)
    assert done.returncode == 0, done.stderr
    assert "<script>" in done.stdout  # shown as text...
    assert not CONTROL.search(done.stdout.replace("\n", ""))  # ...but never as escapes
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    report = okrsync("report", "--format", "html", "--config", str(cfg), sb=sb)
    assert report.returncode == 0, report.stderr
    assert "<script>alert" not in report.stdout and "&lt;script&gt;" in report.stdout
    assert "confidence" in report.stdout and "okr:KR-DATA-1" in report.stdout


def test_evaluate_reports_learned_and_previous_side_by_side(org: tuple[Sandbox, Path]) -> None:
    sb, cfg = org
    data = _json("suggest", "--evaluate", sb=sb, cfg=cfg)
    assert isinstance(data, dict)
    learned, previous = data["overall"]["learned"], data["overall"]["previous"]
    with Store.open(config(cfg, sb).store_path) as store:
        assert learned["epics"] == len({(lk.source, lk.ticket_key, lk.kr_id)
                                        for lk in store.links()})
    assert learned["precision_at_1"] > previous["precision_at_1"]
    assert set(data["teams"]["learned"]) == {"product", "platform"}
    assert [c["min_confidence"] for c in data["curve"]] == sorted(
        c["min_confidence"] for c in data["curve"])


def test_a_printed_rule_validates_and_links_exactly_the_epics_it_lists(
    org: tuple[Sandbox, Path], tmp_path: Path
) -> None:
    sb, cfg = org
    proposals = _json("suggest", "--rules", sb=sb, cfg=cfg)
    assert isinstance(proposals, list) and proposals
    printed = okrsync("suggest", "--rules", "--config", str(cfg), sb=sb)
    assert proposals[0]["toml"] in printed.stdout
    # A copy of the project, so the module's store stays as it was.
    work = tmp_path / "copy"
    shutil.copytree(cfg.parent, work)
    copy_cfg = work / cfg.name
    rules = work / "rules.toml"
    rules.write_text(rules.read_text() + "\n" + proposals[0]["toml"])
    assert okrsync("validate", "--config", str(copy_cfg), sb=sb).returncode == 0
    # The organisation is in sync, so a dry run plans writes only where the new rule links.
    done = okrsync("sync", "--dry-run", "--json", "--config", str(copy_cfg), sb=sb)
    assert done.returncode == 0, done.stderr
    planned = json.loads(done.stdout)["planned"]
    label = f"goal:{proposals[0]['kr_id']}"
    added = {(wb["source"], wb["ticket_key"]) for wb in planned
             if wb["kind"] == "add_label" and wb["label"] == label}
    assert added == {(c["source"], c["key"]) for c in proposals[0]["catches"]}
    assert {(wb["source"], wb["ticket_key"]) for wb in planned} == added


def test_accept_links_and_writes_back_reject_stops_the_suggestion(
    org: tuple[Sandbox, Path]
) -> None:
    sb, cfg = org
    found = _json("suggest", sb=sb, cfg=cfg)["suggestions"]  # type: ignore[index]
    take, drop = found[0], found[1]
    assert okrsync("accept", take["key"], take["kr_id"], "--by", "dana", "--config", str(cfg),
                   sb=sb).returncode == 0
    assert okrsync("accept", "--reject", drop["key"], drop["kr_id"], "--by", "mia",
                   "--config", str(cfg), sb=sb).returncode == 0
    assert run_sync(config(cfg, sb)).exit_code == 0
    with Store.open(config(cfg, sb).store_path) as store:
        links = [lk for lk in store.links() if lk.ticket_key == take["key"]]
    assert [(lk.kr_id, lk.origin.value) for lk in links] == [(take["kr_id"], "accepted")]
    assert "by dana" in links[0].reason
    side = "jira" if take["source"] == "jira" else "github"
    assert f"goal:{take['kr_id']}" in remote_state(sb)[f"{side}:{take['key']}"]["labels"]
    again = _json("suggest", sb=sb, cfg=cfg)["suggestions"]  # type: ignore[index]
    assert take["key"] not in {s["key"] for s in again}
    assert all(s["kr_id"] != drop["kr_id"] for s in again if s["key"] == drop["key"])
    shown = okrsync("explain", take["key"], "--config", str(cfg), sb=sb).stdout
    assert "[accepted]" in shown and "accepted by dana" in shown
    shown = okrsync("explain", drop["key"], "--config", str(cfg), sb=sb).stdout
    assert f"{drop['kr_id']}: rejected by mia" in shown


def test_bad_input_is_a_clear_error(org: tuple[Sandbox, Path]) -> None:
    sb, cfg = org
    done = okrsync("accept", "NOPE-1", "KR-DATA-1", "--config", str(cfg), sb=sb)
    assert done.returncode == 2 and "NOPE-1" in done.stderr and "Traceback" not in done.stderr
    done = okrsync("accept", "DATA-1", "KR-NOPE", "--config", str(cfg), sb=sb)
    assert done.returncode == 2 and "KR-NOPE" in done.stderr
    done = okrsync("suggest", "--team", "nobody", "--config", str(cfg), sb=sb)
    assert done.returncode == 2 and "--team" in done.stderr


def _kept_digest(path: Path) -> str | None:
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as arrays:
        return str(arrays["digest"])


def test_the_model_is_kept_between_runs_until_what_it_learned_from_changes(
    org: tuple[Sandbox, Path], tmp_path: Path
) -> None:
    sb, cfg = org
    work = tmp_path / "copy"
    shutil.copytree(cfg.parent, work)
    copy_cfg = config(work / cfg.name, sb)
    kept = model_path(copy_cfg.store_path)
    kept.unlink(missing_ok=True)
    first = _json("suggest", sb=sb, cfg=work / cfg.name)
    digest = _kept_digest(kept)
    assert digest is not None
    assert kept.stat().st_mode & 0o077 == 0  # linked epics' titles: the owner's, like the store
    assert _json("suggest", sb=sb, cfg=work / cfg.name) == first  # from the kept model

    def edit(pick: Callable[[Store], Ticket]) -> None:
        with Store.open(copy_cfg.store_path) as store:
            t = pick(store)
            store.store_page(t.source, Page((replace(t, title=t.title + " (edited)"),)), None,
                             now=datetime.now(UTC))

    # An untraceable epic's edit is not something the model learned from...
    edit(lambda store: store.untraceable_tickets()[0])
    assert _json("suggest", sb=sb, cfg=work / cfg.name) is not None
    assert _kept_digest(kept) == digest
    # ...a linked epic's is: the next run refits.
    edit(lambda store: next(t for t in store.tickets()
                            if (t.source, t.key) == (store.links()[0].source,
                                                     store.links()[0].ticket_key)))
    _json("suggest", sb=sb, cfg=work / cfg.name)
    assert _kept_digest(kept) not in (None, digest)
    # A damaged file is only a cache: ignored, refitted, replaced.
    kept.write_bytes(b"PK\x03\x04 not a model")
    assert _json("suggest", sb=sb, cfg=work / cfg.name) is not None
    assert _kept_digest(kept) is not None
