"""A small organisation for rhythm tests: two teams, their leads, a sponsor, three KRs; the
config and catalog written as real files, epics and links put in a real store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from core.model import Link, Origin, Page
from syncer.store import Store
from tests.helpers.store_helpers import ticket

CONFIG = """\
[store]
path = "okrsync.db"

[report]
timezone = "UTC"

[teams.pay]
owner = "lena"
lead = "lena"
projects = ["PAY"]

[teams.web]
owner = "walt"
lead = "walt"
projects = ["WEB"]

[people.ann]
email = "ann@example.com"
team = "pay"
[people.bob]
email = "bob@example.com"
team = "pay"
[people.cat]
team = "web"
[people.lena]
email = "lena@example.com"
[people.walt]
[people.sam]
email = "sam@example.com"
{extra}
"""

CATALOG = """\
cycle = "2024-Q1"

[[objective]]
id = "O1"
title = "Checkout that converts"
owner = "olga"
sponsor = "sam"

[[objective.key_result]]
id = "KR-A"
title = "Conversion"
owner = "ann"
metric = "conversion"
unit = "%"
baseline = 0
target = 100

[[objective.key_result]]
id = "KR-B"
title = "Latency"
owner = "bob"
metric = "p95"
baseline = 0
target = 100

[[objective.key_result]]
id = "KR-C"
title = '{kr_c_title}'
owner = "cat"
metric = "nps"
baseline = 0
target = 100
checkin = "weekly"
"""


def write_org(folder: Path, *, extra: str = "", kr_c_title: str = "NPS") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "okrs.toml").write_text(CATALOG.replace("{kr_c_title}", kr_c_title))
    (folder / "rules.toml").write_text("")
    cfg = folder / "okrsync.toml"
    cfg.write_text(CONFIG.replace("{extra}", extra))
    return cfg


def put_epics(store: Store, project: str, total: int, linked: int, *, now: datetime,
              kr_id: str = "KR-A", titles: Sequence[str] = ()) -> None:
    """`total` epics of `project`, the first `linked` linked to `kr_id` with a hypothesis;
    replaces the links of every epic of that project."""
    tickets = tuple(
        ticket(f"{project}-{i}", project=project, hypothesis="faster pages convert more",
               title=titles[i - 1] if i <= len(titles) else f"Epic {project}-{i}")
        for i in range(1, total + 1))
    store.store_page("jira", Page(tickets), None, now=now)
    keep = [lk for lk in store.links() if not lk.ticket_key.startswith(f"{project}-")]
    mine = [Link("jira", f"{project}-{i}", kr_id, Origin.LABEL) for i in range(1, linked + 1)]
    store.save_plan_outcome([*keep, *mine], [], [], [], [], sources=["jira"], now=now)


EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)"> & *bold* | `tick`'


def simulate_weeks(folder: Path, weeks: int, *, title: str = "NPS",
                   note: str = "blocked on vendor") -> Path:
    """`weeks` weeks from Monday 2024-01-01: Monday check-ins for every KR (bob stops after
    week 2, cat's confidence falls in week 4), epics of both teams, and a rhythm run every
    working day at 17:00. Returns the config path."""
    from datetime import UTC, date, time, timedelta

    from core.model import CheckIn
    from syncer.catalog import load_catalog
    from syncer.config import load_config
    from syncer.rhythm.run import tick

    cfg = write_org(folder, kr_c_title=title)
    config = load_config(cfg)
    catalog = load_catalog(config.catalog_path)
    with Store.open(config.store_target) as store:
        for week in range(1, weeks + 1):
            monday = date(2024, 1, 1) + timedelta(weeks=week - 1)
            at = datetime.combine(monday, time(10), UTC)
            done = 100 * ((monday - date(2024, 1, 1)).days + 1) / 91
            put_epics(store, "PAY", 4, 4, now=at, titles=[title])
            put_epics(store, "WEB", 10, 8 if week < 3 else 3, now=at, kr_id="KR-C",
                      titles=[title])
            store.add_checkin(CheckIn("KR-A", done, at, confidence=0.8, note=note))
            if week <= 2:
                store.add_checkin(CheckIn("KR-B", done, at, confidence=0.7))
            store.add_checkin(CheckIn("KR-C", done, at, confidence=0.8 if week < 4 else 0.2,
                                      note=note))
            for offset in range(5):
                now = datetime.combine(monday + timedelta(days=offset), time(17), UTC)
                tick(store, catalog, config, now=now, environ={})
    return cfg
