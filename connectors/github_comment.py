"""The text of the one goal-link comment okrsync keeps on a GitHub issue. Pure functions.

The comment is found again by a hidden marker, and edited only when the text changes, so the
text must be deterministic: same goals in, same bytes out (no timestamps, stable order).
Ticket text is untrusted: the title goes into a code span (`connectors.inert`), where it can
inject no link or HTML and GitHub finds no @mention or #reference in it. Catalog text is
escaped, and put in a code span too when it holds a mention or a reference (`owner = "@dana"`
must not ping Dana on every epic).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from connectors.inert import code_span, inert
from connectors.text import escape_markdown
from core.model import GoalRef

MARKER = "<!-- okrsync:goal-links -->"

_URL_SAFE = ":/?#[]@!$&'*+,;=%-._~"


def has_marker(body: str) -> bool:
    """True when a comment body is okrsync's goal-link comment.

    The marker must open the body: a person quoting the comment (`> <!-- ...`) or mentioning
    the marker in prose does not make their comment ours.
    """
    return body.lstrip().startswith(MARKER)


def safe_url(url: str) -> str | None:
    """An http(s) URL made safe to put inside a Markdown link, or None when it is not one."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=_URL_SAFE).replace("(", "%28").replace(")", "%29")


def _code(text: str) -> str:
    """Text for inside a Markdown code span: no backticks or line breaks to break out with."""
    return text.replace("`", "'").replace("\r", " ").replace("\n", " ")


def _kr_cell(goal: GoalRef) -> str:
    title = inert(goal.kr_title, in_table=True)
    text = f"**{escape_markdown(goal.kr_id)}** {title}".rstrip()
    url = safe_url(goal.url) if goal.url else None
    return f"[{text}]({url})" if url else text


def _objective_cell(goal: GoalRef) -> str:
    objective = inert(goal.objective_title, in_table=True)
    return f"{escape_markdown(goal.objective_id)} {objective}".strip()


def _sorted(goals: Iterable[GoalRef]) -> list[GoalRef]:
    return sorted(goals, key=lambda g: (g.objective_id, g.kr_id))


def render_goal_comment(
    goals: Iterable[GoalRef],
    *,
    ticket_title: str = "",
    hypothesis_found: bool = False,
    previous: Iterable[str] = (),
    explicit_prefix: str = "okr:",
    managed_prefix: str = "goal:",
) -> str:
    """The full comment body: the marker, then the linked KRs or a note that the links ended.

    `goals` empty means the last link ended: the comment stays (so people can see what it
    served) but says so, naming the KRs in `previous`.
    """
    ordered = _sorted(goals)
    title = code_span(ticket_title)
    explicit = _code(explicit_prefix)
    managed = _code(managed_prefix)
    lines = [MARKER]
    if not ordered:
        lines.append("### Goal links ended")
        lines.append("")
        ended = ", ".join(f"**{escape_markdown(k)}**" for k in sorted(set(previous)))
        subject = f"This epic ({title})" if title else "This epic"
        lines.append(
            f"{subject} no longer serves a key result tracked by okrsync"
            + (f" (it served {ended})." if ended else ".")
        )
        lines.append("")
        lines.append(
            f"To link it again, add a label `{explicit}<KR-ID>` naming the key result it serves."
        )
    else:
        lines.append("### Goal links")
        lines.append("")
        subject = f"This epic ({title})" if title else "This epic"
        noun = "key result" if len(ordered) == 1 else "key results"
        lines.append(f"{subject} serves {len(ordered)} {noun}:")
        lines.append("")
        lines.append("| Objective | Key result | Owner | Target |")
        lines.append("|---|---|---|---|")
        for goal in ordered:
            lines.append(
                f"| {_objective_cell(goal)} | {_kr_cell(goal)} | "
                f"{inert(goal.owner, in_table=True)} | {inert(goal.target, in_table=True)} |"
            )
        lines.append("")
        if hypothesis_found:
            lines.append("**Hypothesis:** found in the description.")
        else:
            lines.append(
                "**Hypothesis:** none found. Add a line `Hypothesis: We believe <change> will "
                "<move the key result> because <reason>` to the description so this bet can "
                "be judged."
            )
        lines.append("")
        lines.append(
            f"**Change the link:** add a label `{explicit}<KR-ID>` to link a key result "
            f"explicitly, or remove a `{managed}<KR-ID>` label to unlink it (okrsync will not "
            "add it back)."
        )
    lines.append("")
    lines.append("<sub>Kept up to date by okrsync; edits to this comment are overwritten.</sub>")
    return "\n".join(lines) + "\n"
