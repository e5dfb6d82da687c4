"""Workers per source against one PostgreSQL store, and moving a SQLite store into it.

    python bench/workers.py [--epics 40000] [--migrate-epics 50000] [--smoke] [--json FILE]

Four sources (two Jira sources splitting the sandbox's projects, two GitHub sources
splitting its repos) are synced twice from the same seeded organisation into fresh PostgreSQL
databases on a real local server: once by one `okrsync sync --source S` process after the
other ("in turn"), once by four such processes started together. Printed: both wall times and
their ratio, the exit codes (a lock error is exit 3), and whether every table holds the same
rows (columns that name a moment, a run or a remote id are left out of the comparison). Then a
SQLite store of `--migrate-epics` epics is synced and moved with `okrsync store migrate`: the
copy's time and row counts, and what the next sync on PostgreSQL wrote (nothing, if it works).
Figures are printed and written as JSON; nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import Sandbox, sandbox  # noqa: E402
from syncer import store_pg  # noqa: E402
from syncer.store import Store  # noqa: E402
from tests.helpers.e2e import env_for, project  # noqa: E402
from tests.helpers.postgres import PostgresServer, running_postgres  # noqa: E402

VOLATILE = {"id", "run_id", "done_run_id", "outbox_id", "remote_ref", "cursor", "updated",
            "summary", "writeback", "result", "before", "message_id", "digest", "url"}
"""Columns left out when comparing end states: moments, run and row ids, remote ids (the
trackers number comments in the order they were made), URLs (each run has its own sandbox
port), and JSON that embeds them."""


GITHUB_QUOTA = 10_000_000
"""The sandbox GitHub's primary quota per hour, as in `bench/run.py`. Its default is the real
5,000 an hour for the one token all GitHub sources share; 40,000 epics need far more, and the
workers would (correctly) wait for the reset, so the bench would time that hour."""


def four_sources(cfg_path: Path, sb: Sandbox) -> list[str]:
    """Rewrite the demo config into two Jira and two GitHub sources; return their names."""
    text = cfg_path.read_text()
    head, rest = text.split("[sources.jira]", 1)
    jira_part, rest = rest.split("[sources.github]", 1)
    github_part, tail = rest.split("[teams.", 1)
    projects = sorted({k.split("-", 1)[0] for k in sb.jira.keys()})  # noqa: SIM118
    repos = sorted(sb.github.repos)
    everything = f"project in ({', '.join(projects)})"
    halves = {"jira_a": projects[: len(projects) // 2], "jira_b": projects[len(projects) // 2:]}
    out = head
    for name, part in halves.items():
        out += f"[sources.{name}]" + jira_part.replace(everything,
                                                       f"project in ({', '.join(part)})")
    for name, part in {"github_a": repos[: len(repos) // 2],
                       "github_b": repos[len(repos) // 2:]}.items():
        listed = ", ".join(f'"{r}"' for r in part)
        out += f"[sources.{name}]" + github_part.replace('org = "acme"', f"repos = [{listed}]")
    cfg_path.write_text(out + "[teams." + tail)
    return [*halves, "github_a", "github_b"]


def worker_env(sb: Sandbox, url: str, server: PostgresServer,
               names: list[str]) -> dict[str, str]:
    env = {k: v for k, v in env_for(sb).items() if not k.startswith("OKRSYNC_SOURCES__")}
    env |= {"OKRSYNC_STORE__URL": url, store_pg.PASSWORD_ENV: server.password}
    env.update({f"OKRSYNC_SOURCES__{n.upper()}__TOKEN": sb.token for n in names})
    return env


def sync_cmd(cfg_path: Path, source: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "syncer.cli", "sync", "--json", "--config", str(cfg_path)]
    return cmd + (["--source", source] if source else [])


def _database(server: PostgresServer, name: str) -> str:
    server.new_database(name)
    return f"postgresql://{server.user}@{server.host}:{server.port}/{name}"


def table_state(server: PostgresServer, database: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted, without the volatile columns."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with server.connect(database) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'public' "
            "and table_type = 'BASE TABLE' and table_name not in ('runs', 'schema_version') "
            "order by 1").fetchall()]
        for table in tables:
            cols = [r[0] for r in conn.execute(
                "select column_name from information_schema.columns where table_name = %s "
                "order by ordinal_position", [table]).fetchall()]
            kept = [c for c in cols if c not in VOLATILE and not c.endswith(("_at", "at"))
                    and c not in ("since", "first_seen", "last_seen")]
            rows = conn.execute(f"select {', '.join(kept)} from {table}").fetchall()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def run_workers(server: PostgresServer, epics: int, seed: int, tmp: Path,
                together: bool) -> dict[str, Any]:
    name = "together" if together else "in_turn"
    with sandbox(epics=epics, seed=seed) as sb:
        sb.github.set_quota(limit=GITHUB_QUOTA)
        cfg_path = project(tmp / name, sb)
        names = four_sources(cfg_path, sb)
        url = _database(server, f"bench_{name}")
        env = worker_env(sb, url, server, names)
        os.environ[store_pg.PASSWORD_ENV] = server.password
        Store.open(url).close()  # the schema is made outside the clock
        started = time.monotonic()
        codes: dict[str, int] = {}
        errors: dict[str, str] = {}
        if together:
            procs = {n: subprocess.Popen(sync_cmd(cfg_path, n), env=env, cwd=ROOT,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True) for n in names}
            for n, p in procs.items():
                _, err = p.communicate(timeout=3600)
                codes[n], errors[n] = p.returncode, err
        else:
            for n in names:
                done = subprocess.run(sync_cmd(cfg_path, n), env=env, cwd=ROOT,
                                      capture_output=True, text=True, timeout=3600)
                codes[n], errors[n] = done.returncode, done.stderr
        wall = time.monotonic() - started
        store_pg.close_pools()
        return {"wall_s": round(wall, 2), "exit_codes": codes,
                "lock_errors": sum(1 for c in codes.values() if c == 3),
                "stderr_tail": {n: e[-500:] for n, e in errors.items() if codes[n] != 0},
                "state": table_state(server, f"bench_{name}")}


def run_migrate(server: PostgresServer, epics: int, seed: int, tmp: Path) -> dict[str, Any]:
    with sandbox(epics=epics, seed=seed) as sb:
        sb.github.set_quota(limit=GITHUB_QUOTA)
        cfg_path = project(tmp / "migrate", sb)
        sqlite_env = {k: v for k, v in env_for(sb).items() if k != "OKRSYNC_STORE__URL"}
        started = time.monotonic()
        first = subprocess.run(sync_cmd(cfg_path), env=sqlite_env, cwd=ROOT,
                               capture_output=True, text=True, timeout=3600)
        sqlite_sync = time.monotonic() - started
        url = _database(server, "bench_migrate")
        env = sqlite_env | {store_pg.PASSWORD_ENV: server.password}
        started = time.monotonic()
        moved = subprocess.run(
            [sys.executable, "-m", "syncer.cli", "store", "migrate", "--to", url, "--json",
             "--config", str(cfg_path)], env=env, cwd=ROOT, capture_output=True, text=True,
            timeout=3600)
        migrate_wall = time.monotonic() - started
        if moved.returncode != 0:
            raise RuntimeError(moved.stderr[-2000:])
        report = json.loads(moved.stdout)
        after = subprocess.run(sync_cmd(cfg_path), env=env | {"OKRSYNC_STORE__URL": url},
                               cwd=ROOT, capture_output=True, text=True, timeout=3600)
        summary = json.loads(after.stdout or "{}")
        store_pg.close_pools()
        return {
            "epics": epics, "first_sync_exit": first.returncode,
            "sqlite_full_sync_s": round(sqlite_sync, 1),
            "migrate_wall_s": round(migrate_wall, 2), "copy_s": report["seconds"],
            "rows": sum(t["postgresql"] for t in report["tables"].values()),
            "verified": report["verified"],
            "tables": {t: v["postgresql"] for t, v in report["tables"].items()},
            "next_sync_exit": after.returncode,
            "next_sync_planned": len(summary.get("planned", [])),
            "next_sync_applied": summary.get("applied"),
        }


def compare_workers(server: PostgresServer, epics: int, seed: int,
                    tmp: Path) -> dict[str, Any]:
    """Both worker runs and whether their end states match, table by table."""
    in_turn = run_workers(server, epics, seed, tmp, together=False)
    together = run_workers(server, epics, seed, tmp, together=True)
    first, second = in_turn.pop("state"), together.pop("state")
    differing = sorted(t for t in set(first) | set(second) if first.get(t) != second.get(t))
    examples = {t: [sorted(set(first.get(t, [])) - set(second.get(t, [])), key=repr)[:3],
                    sorted(set(second.get(t, [])) - set(first.get(t, [])), key=repr)[:3]]
                for t in differing}
    return {"epics": epics, "sources": 4, "in_turn": in_turn, "together": together,
            "same_end_state": not differing, "tables_compared": len(first),
            "differing_tables": examples,
            "speedup": round(in_turn["wall_s"] / together["wall_s"], 2)}


def print_workers(result: dict[str, Any]) -> None:
    in_turn, together = result["in_turn"], result["together"]
    print(f"{result['epics']} epics, 4 sources, one PostgreSQL store")
    print(f"  in turn  : {in_turn['wall_s']:8.1f} s  exits {in_turn['exit_codes']}")
    print(f"  together : {together['wall_s']:8.1f} s  exits {together['exit_codes']}")
    print(f"  ratio    : {result['speedup']}x   lock errors: {together['lock_errors']}   "
          f"same end state (every table): {result['same_end_state']}")


def print_migrate(moved: dict[str, Any]) -> None:
    print(f"store migrate, {moved['epics']} epics: {moved['rows']} rows copied in "
          f"{moved['copy_s']} s (command {moved['migrate_wall_s']} s), verified "
          f"{moved['verified']}; next sync planned {moved['next_sync_planned']}, applied "
          f"{moved['next_sync_applied']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epics", type=int, default=40_000)
    parser.add_argument("--migrate-epics", type=int, default=50_000)
    parser.add_argument("--part", choices=("all", "workers", "migrate"), default="all",
                        help="run only the workers comparison or only the migrate")
    parser.add_argument("--smoke", action="store_true", help="a few hundred epics, for CI")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", dest="json_file", type=Path)
    args = parser.parse_args()
    epics, migrate_epics = (200, 200) if args.smoke else (args.epics, args.migrate_epics)
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(),
                                          "python": platform.python_version()}}
    with running_postgres() as server, tempfile.TemporaryDirectory() as tmp:
        if args.part in ("all", "workers"):
            result |= compare_workers(server, epics, args.seed, Path(tmp))
            print_workers(result)
        if args.part in ("all", "migrate"):
            result["migrate"] = run_migrate(server, migrate_epics, args.seed, Path(tmp))
            print_migrate(result["migrate"])
    if args.json_file:
        args.json_file.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
