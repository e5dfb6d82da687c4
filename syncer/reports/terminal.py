"""The report as Rich renderables for `okrsync report` in a terminal: a one-screen summary
first, then the sections.

Every cell holding ticket or config text is a `rich.text.Text`, which Rich never parses as
markup, so a title like `[bold]x[/]` or `[link=...]` prints literally. Keys never wrap or get
cut (their column is as wide as the longest key); titles and labels wrap instead, so the
report reads at 80 columns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from connectors.text import printable
from syncer.reports.digest import tiles_of
from syncer.reports.figures import figures_of
from syncer.reports.model import KrItem, UntraceableItem, WeeklyReport
from syncer.reports.render import day, num, pct, signed
from syncer.reports.verdicts import VerdictsSection


def _t(value: object, style: str = "") -> Text:
    return Text("" if value is None else printable(str(value)), style=style)


def _table(*columns: str, title: str, keys: Sequence[str] = ()) -> Table:
    """A compact table; the first column holds keys and is never wrapped or cut."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  title_style="bold")
    width = max((len(k) for k in keys), default=0)
    for n, name in enumerate(columns):
        if n == 0:
            table.add_column(name, no_wrap=True, min_width=max(width, len(name)),
                             overflow="ignore")
        elif name in ("title", "epic / what to do", "bet"):
            table.add_column(name, ratio=1, overflow="fold")
        else:
            table.add_column(name, no_wrap=True)
    return table


def _kr_line(kr: KrItem) -> Text:
    line = Text()
    line.append(f"{kr.id} ", style="bold")
    line.append(printable(kr.title))
    line.append(f"\n  {num(kr.baseline)} → {num(kr.current)} → {num(kr.target)}"
                f"{' ' + kr.unit if kr.unit else ''} · progress {pct(kr.progress)} · "
                f"confidence {pct(kr.confidence)}")
    if kr.at_risk:
        line.append(" · at risk", style="red")
    if kr.no_active_bet:
        line.append(" · no active bet", style="yellow")
    return line


def summary(report: WeeklyReport) -> Iterator[RenderableType]:
    """The first screen: headline figures with their change, then each KR in two lines."""
    head = Text(f"okrsync weekly report {report.week}", style="bold")
    if report.team:
        head.append(f" — team {report.team}", style="bold")
    head.append(f"  as of {report.as_of:%Y-%m-%d %H:%M} UTC", style="dim")
    yield head
    for stale in report.stale_sources:
        yield _t(f"STALE DATA: {stale}", "bold yellow")
    for tile in tiles_of(figures_of(report), report.previous):
        style = {"good": "green", "bad": "red"}.get(tile.tone, "dim")
        line = Text(f"  {tile.value:>6} ", style="bold")
        line.append(f"{tile.label} ")
        line.append(f"({tile.change})", style=style)
        yield line
    for note in report.attention:
        yield _t(f"needs attention: {note}", "yellow")
    u = report.untraceable
    if u is not None:
        flying = len(u.in_flight)
        yield Text(f"  {flying:>6} untraceable epics in flight, {len(u.done)} done; "
                   f"{u.new} new this week")
    b = report.bets
    if b is not None:
        yield Text("Key results", style="bold")
        for obj in b.objectives:
            for kr in obj.krs:
                yield _kr_line(kr)


def _untraceable_table(title: str, items: Sequence[UntraceableItem]) -> Table:
    table = _table("key", "state", "size", "age", "epic / what to do", title=title,
                   keys=[i.key for i in items])
    for i in items:
        what = _t(i.title)
        where = " · ".join(x for x in (i.team, i.assignee) if x)
        if where:
            what.append(f"\n{printable(where)}", style="dim")
        if i.past_krs:
            what.append(f"\nneeds a new KR (was {printable(', '.join(i.past_krs))})",
                        style="magenta")
        if i.suggestions:
            what.append(f"\nadd {i.suggestions[0].label}", style="cyan")
        age = "" if i.age_days is None else f"{i.age_days} d"
        state = i.state.replace("_", " ") + (" new" if i.new else "")
        table.add_row(_t(i.key), _t(state, "yellow" if i.new else ""), _t(num(i.size)),
                      _t(age), what)
    return table


def sections(report: WeeklyReport, *, top: int | None = None) -> Iterator[RenderableType]:
    """Everything after the summary: untraceable work in flight (biggest first), finished
    work nobody traced, teams, trend, ktlo, broken links, overrides, then the portfolio."""
    u = report.untraceable
    if u is not None:
        flying = u.in_flight
        shown = flying if top is None else flying[:top]
        title = f"Untraceable, in flight ({len(flying)})"
        if len(shown) < len(flying):
            title = f"Untraceable, in flight (top {len(shown)} of {len(flying)})"
        yield _untraceable_table(title, shown)
        if u.done:
            done = u.done if top is None else u.done[:top]
            title = f"Done but untraceable ({len(u.done)})"
            if len(done) < len(u.done):
                title = f"Done but untraceable (top {len(done)} of {len(u.done)})"
            yield _untraceable_table(title, done)
        if u.teams:
            teams = _table("team", "owner", "untraceable", "new", "share", title="Per team",
                           keys=[t.name for t in u.teams])
            for tm in u.teams:
                teams.add_row(_t(tm.name), _t(tm.owner), _t(f"{tm.untraceable}/{tm.share.total}"),
                              _t(tm.new), _t(pct(tm.share.by_count)))
            yield teams
        if u.trend:
            yield Group(Text("Trend (untraceable share)", style="bold"), *(
                Text(f"  {p.week}  {p.untraceable}/{p.total}  {pct(p.by_count)}")
                for p in u.trend))
        if u.ktlo:
            ktlo = _table("key", "team", "title", title=f"Run / maintenance (ktlo, {len(u.ktlo)})",
                          keys=[k.key for k in u.ktlo])
            for k in u.ktlo if top is None else u.ktlo[:top]:
                ktlo.add_row(_t(k.key), _t(k.team), _t(k.title))
            yield ktlo
        if u.broken:
            broken = _table("key", "label", "unknown KR", title="Broken links",
                            keys=[b.key for b in u.broken])
            for bl in u.broken:
                broken.add_row(_t(bl.key), _t(bl.label), _t(bl.kr_id, "red"))
            yield broken
        if u.overrides:
            over = _table("key", "label removed", "when", title="Overrides",
                          keys=[o.key for o in u.overrides])
            for o in u.overrides:
                over.add_row(_t(o.key), _t(o.label), _t(day(o.at)))
            yield over
    if report.parked:
        parked = Table("key", "write-back", "refusals", "last refusal",
                       title="Parked write-backs (okrsync resume retries them)",
                       title_justify="left")
        for p in report.parked:
            parked.add_row(_t(p.key), _t(p.kind), _t(p.attempts), _t(p.reason, "red"))
        yield parked
    b = report.bets
    if b is not None:
        yield Text("Portfolio: " + ", ".join(f"{n} {v}" for v, n in b.verdicts.items())
                   + " (ended bets)", style="bold")
        for obj in b.objectives:
            yield Text(f"{obj.id} {obj.title} ({obj.owner}, {obj.cycle})", style="bold")
            for kr in obj.krs:
                yield _kr_line(kr)
                if not kr.bets:
                    continue
                bets = _table("bet", "status", "days", "moved", "verdict", title="",
                              keys=[x.key for x in kr.bets])
                bets.columns[0].header = "bet"
                for bet in kr.bets if top is None else kr.bets[:top]:
                    bets.add_row(
                        _t(bet.key), _t(bet.status + (" STALE" if bet.stale else ""),
                                        "yellow" if bet.stale else ""),
                        _t(bet.days_active), _t(signed(bet.movement)), _t(bet.verdict))
                yield bets
        if b.krs_without_active_bet:
            yield Text("KRs with no active bet: " + ", ".join(b.krs_without_active_bet))
        if b.stale:
            yield _t("Stale bets (kill or continue?): " + ", ".join(
                f"{s.key} → {s.kr_id} ({s.days_active} d)" for s in b.stale), "yellow")
    if report.verdicts is not None and report.verdicts.items:
        yield from verdict_renderables(report.verdicts)


def verdict_renderables(v: VerdictsSection) -> Iterator[RenderableType]:
    """Each ended bet's verdict with effect, interval and reason; hit rate; effort."""
    table = Table("bet", "KR", "verdict", "effect (95 % CI)", title="Bet verdicts",
                  title_justify="left")
    for item in v.items:
        effect = "–"
        if item.effect is not None and item.low is not None and item.high is not None:
            effect = f"{item.effect:+.3g} ({item.low:+.3g} … {item.high:+.3g})"
        table.add_row(_t(item.key), _t(item.kr_id), _t(item.outcome), _t(effect))
        table.add_row(_t(""), _t(""), _t(item.reason, "dim"), _t(""))
    yield table
    yield Text("Hit rate: " + "; ".join(
        f"{h.cycle} {h.moved}/{h.judged}" + (f" ({h.rate:.0%})" if h.rate is not None else "")
        for h in v.hit_rate))
    yield Text("Effort by verdict: " + ", ".join(
        f"{e.outcome} {e.bets} bets, size {e.size:g}" for e in v.effort))


def renderables(report: WeeklyReport, *, top: int | None = None) -> Iterator[RenderableType]:
    yield from summary(report)
    yield Text("")
    yield from sections(report, top=top)
