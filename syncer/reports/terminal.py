"""The report as Rich tables for `okrsync report` in a terminal.

Every cell holding ticket or config text is a `rich.text.Text`, which Rich never parses as
markup, so a title like `[bold]x[/]` or `[link=...]` prints literally.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from syncer.reports.model import WeeklyReport
from syncer.reports.render import day, num, pct, signed
from syncer.reports.verdicts import VerdictsSection


def _t(value: object, style: str = "") -> Text:
    return Text("" if value is None else str(value), style=style)


def renderables(report: WeeklyReport) -> Iterator[RenderableType]:
    head = f"okrsync weekly report {report.week}"
    if report.team:
        head += f" — team {report.team}"
    yield Text(head, style="bold")
    yield Text(f"as of {report.as_of:%Y-%m-%d %H:%M} UTC ({report.timezone} week)", style="dim")
    for note in report.attention:
        yield Text(f"needs attention: {note}", style="yellow")
    u = report.untraceable
    if u is not None:
        yield Text(
            f"Untraceable: {u.share.untraceable} of {u.share.total} epics "
            f"({pct(u.share.by_count)} by count, {pct(u.share.by_size)} by size), {u.new} new",
            style="bold",
        )
        table = Table("key", "title", "team", "owner / assignee", "age", "size",
                      "suggested label", title="Untraceable epics", title_justify="left")
        for i in u.items:
            who = " / ".join(x for x in (i.owner, i.assignee) if x)
            age = f"{i.age_days} d" + (" NEW" if i.new else "") if i.age_days is not None else ""
            label = ", ".join(s.label for s in i.suggestions)
            table.add_row(_t(i.key), _t(i.title), _t(i.team), _t(who),
                          _t(age, "yellow" if i.new else ""), _t(num(i.size)), _t(label, "cyan"))
        yield table
        if u.teams:
            teams = Table("team", "owner", "untraceable", "new", "ktlo", "share",
                          title="Per team", title_justify="left")
            for tm in u.teams:
                teams.add_row(_t(tm.name), _t(tm.owner), _t(tm.untraceable), _t(tm.new),
                              _t(tm.ktlo), _t(pct(tm.share.by_count)))
            yield teams
        if u.trend:
            yield Text("Trend: " + "  ".join(
                f"{p.week} {p.untraceable}/{p.total} ({pct(p.by_count)})" for p in u.trend))
        if u.ktlo:
            ktlo = Table("key", "title", "team", title="Run / maintenance (ktlo)",
                         title_justify="left")
            for k in u.ktlo:
                ktlo.add_row(_t(k.key), _t(k.title), _t(k.team))
            yield ktlo
        if u.broken:
            broken = Table("key", "label", "unknown KR", title="Broken links", title_justify="left")
            for bl in u.broken:
                broken.add_row(_t(bl.key), _t(bl.label), _t(bl.kr_id, "red"))
            yield broken
        if u.overrides:
            over = Table("key", "label removed", "KR", "when", title="Overrides",
                         title_justify="left")
            for o in u.overrides:
                over.add_row(_t(o.key), _t(o.label), _t(o.kr_id), _t(day(o.at)))
            yield over
    b = report.bets
    if b is not None:
        yield Text("Portfolio: " + ", ".join(f"{n} {v}" for v, n in b.verdicts.items()),
                   style="bold")
        for obj in b.objectives:
            table = Table("KR / bet", "baseline → current → target", "confidence", "status",
                          "hypothesis", "days", "movement", "verdict",
                          title=f"{obj.id} {obj.title} ({obj.owner})", title_justify="left")
            for kr in obj.krs:
                table.add_row(
                    _t(f"{kr.id} {kr.title}", "bold"),
                    _t(f"{num(kr.baseline)} → {num(kr.current)} → {num(kr.target)} {kr.unit}"),
                    _t(pct(kr.confidence) if kr.confidence is not None else "–"),
                    _t("no active bet" if kr.no_active_bet else f"{kr.active_bets} active",
                       "red" if kr.no_active_bet else ""),
                    _t(""), _t(""), _t(""), _t(""),
                )
                for bet in kr.bets:
                    table.add_row(
                        _t(f"  {bet.key} {bet.title}"), _t(""), _t(""),
                        _t(bet.status + (" STALE" if bet.stale else ""),
                           "yellow" if bet.stale else ""),
                        _t("yes" if bet.hypothesis_present else "missing"),
                        _t(bet.days_active), _t(signed(bet.movement)), _t(bet.verdict),
                    )
            yield table
        if b.krs_without_active_bet:
            yield Text("KRs with no active bet: " + ", ".join(b.krs_without_active_bet))
        if b.stale:
            yield Text("Stale bets (kill or continue?): " + ", ".join(
                f"{s.key} → {s.kr_id} ({s.days_active} d)" for s in b.stale), style="yellow")
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
