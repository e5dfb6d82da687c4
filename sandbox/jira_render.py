"""Render sandbox Jira records as the JSON Jira Cloud (v3) and Data Center (v2) return.

Key names, nesting and JSON types follow Atlassian's published examples
(`../shared/fixtures/jira/*.json`); tests compare the two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from sandbox.jira_access import JiraAccess
from sandbox.jira_state import (
    ISSUE_TYPES,
    STATUSES,
    STORY_POINTS_FIELD,
    IssueRecord,
    body_for,
    format_time,
)

ALL_FIELDS = (
    "summary", "issuetype", "project", "status", "resolution", "resolutiondate", "labels",
    "components", "assignee", "reporter", "creator", "priority", "created", "updated",
    "description", "subtasks", "issuelinks", "comment", STORY_POINTS_FIELD,
)
FIELD_NAMES = {
    "summary": "Summary", "issuetype": "Issue Type", "project": "Project", "status": "Status",
    "resolution": "Resolution", "resolutiondate": "Resolved", "labels": "Labels",
    "components": "Components", "assignee": "Assignee", "reporter": "Reporter",
    "creator": "Creator", "priority": "Priority", "created": "Created", "updated": "Updated",
    "description": "Description", "subtasks": "Sub-tasks", "issuelinks": "Linked Issues",
    "comment": "Comment", STORY_POINTS_FIELD: "Story Points",
}
_PRIORITY_IDS = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}


def account_id(name: str) -> str:
    """A stable, Cloud-looking account id for a display name."""
    return "5b10a2844c2016570" + hashlib.sha256(name.encode()).hexdigest()[:7]


def fields_selector(raw: Collection[str] | None) -> set[str] | None:
    """Jira's `fields` parameter to a set of field ids; None means every field."""
    if raw is None:
        return None
    wanted: set[str] = set()
    excluded: set[str] = set()
    everything = False
    for part in raw:
        for name in str(part).split(","):
            name = name.strip()
            if not name:
                continue
            if name in ("*all", "*navigable"):
                everything = True
            elif name.startswith("-"):
                excluded.add(name[1:])
            else:
                wanted.add(name)
    chosen = set(ALL_FIELDS) if everything else wanted
    return chosen - excluded


class Renderer:
    """Renders records for one request: base URL, API version ("2"/"3") and flavour."""

    def __init__(self, base: str, api: str, flavour: str,
                 access: JiraAccess | None = None) -> None:
        self.base = base.rstrip("/")
        self.api = api
        self.flavour = flavour
        self.rest = f"{self.base}/rest/api/{api}"
        self.access = access

    def user(self, name: str | None, email: str | None = None) -> dict[str, Any] | None:
        if name is None:
            return None
        slug = name.lower().replace(" ", ".")
        avatar = f"{self.base}/secure/useravatar?avatarId=10122"
        user: dict[str, Any] = {
            "self": "",
            "emailAddress": email or f"{slug}@example.com",
            "avatarUrls": {size: f"{avatar}&size={size}" for size in
                           ("16x16", "24x24", "32x32", "48x48")},
            "displayName": name,
            "active": True,
            "timeZone": "UTC",
        }
        if self.flavour == "cloud":
            aid = account_id(name)
            user.update(accountId=aid, accountType="atlassian",
                        self=f"{self.rest}/user?accountId={aid}")
        else:
            user.update(name=slug, key=f"JIRAUSER{int(account_id(name)[-7:], 16) % 100000}",
                        self=f"{self.rest}/user?username={slug}")
        return user

    def myself(self, email: str, admin: bool) -> dict[str, Any]:
        me = self.user("Sandbox Bot", email) or {}
        if self.flavour == "cloud":
            me.update(key="", name="")
        me.update(
            groups={"items": [], "size": 2 if admin else 1},
            applicationRoles={"items": [], "size": 1},
            expand="groups,applicationRoles",
        )
        return me

    def project(self, key: str, name: str) -> dict[str, Any]:
        pid = str(10_000 + sum(ord(c) * (i + 1) for i, c in enumerate(key)))
        avatar = f"{self.base}/secure/projectavatar?pid={pid}"
        return {
            "self": f"{self.rest}/project/{pid}",
            "id": pid,
            "key": key,
            "name": name,
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "avatarUrls": {"16x16": f"{avatar}&size=xsmall", "24x24": f"{avatar}&size=small",
                           "32x32": f"{avatar}&size=medium", "48x48": f"{avatar}&size=large"},
        }

    def issuetype(self, name: str) -> dict[str, Any]:
        tid, level, subtask = ISSUE_TYPES.get(name, ("10002", 0, False))
        return {
            "self": f"{self.rest}/issuetype/{tid}",
            "id": tid,
            "description": f"{name} issue type",
            "iconUrl": f"{self.base}/images/icons/issuetypes/{name.lower()}.svg",
            "name": name,
            "subtask": subtask,
            "hierarchyLevel": level,
            "avatarId": 10307,
        }

    def status(self, name: str, category: str) -> dict[str, Any]:
        sid, cat_key, cat_id, cat_name, colour = STATUSES.get(
            name, ("10100", category, 4, category.title(), "yellow")
        )
        return {
            "self": f"{self.rest}/status/{sid}",
            "description": "",
            "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
            "name": name,
            "id": sid,
            "statusCategory": {
                "self": f"{self.rest}/statuscategory/{cat_id}",
                "id": cat_id,
                "key": cat_key,
                "colorName": colour,
                "name": cat_name,
            },
        }

    def comment(self, issue_id: str, c: dict[str, Any]) -> dict[str, Any]:
        author = self.user(c.get("author") or "Sandbox Bot")
        return {
            "self": f"{self.rest}/issue/{issue_id}/comment/{c['id']}",
            "id": c["id"],
            "author": author,
            "body": body_for(c["body"], self.api),
            "updateAuthor": author,
            "created": format_time(c["created_ms"]),
            "updated": format_time(c["updated_ms"]),
            "jsdPublic": True,
        }

    def comments_page(self, rec: IssueRecord, start: int = 0, limit: int = 5000
                      ) -> dict[str, Any]:
        chosen = rec.comments[start:start + limit]
        return {
            "comments": [self.comment(rec.id, c) for c in chosen],
            "maxResults": limit if chosen else 0,
            "startAt": start,
            "total": len(rec.comments),
        }

    def remote_link(self, rec: IssueRecord, link: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": link["id"],
            "self": f"{self.rest}/issue/{rec.key}/remotelink/{link['id']}",
            "application": link.get("application") or {},
            "object": link.get("object") or {},
        }
        if link.get("globalId"):
            out["globalId"] = link["globalId"]
        if link.get("relationship"):
            out["relationship"] = link["relationship"]
        return out

    def fields(self, rec: IssueRecord, wanted: set[str] | None) -> dict[str, Any]:
        def want(name: str) -> bool:
            return wanted is None or name in wanted

        out: dict[str, Any] = {}
        if want("summary"):
            out["summary"] = rec.summary
        if want("issuetype"):
            out["issuetype"] = self.issuetype(rec.issuetype)
        if want("project"):
            out["project"] = self.project(rec.project, rec.project_name)
        if want("status"):
            out["status"] = self.status(rec.status, rec.status_category)
        if want("resolution"):
            out["resolution"] = None if rec.resolution is None else {
                "self": f"{self.rest}/resolution/{_res_id(rec.resolution)}",
                "id": _res_id(rec.resolution),
                "description": "",
                "name": rec.resolution,
            }
        if want("resolutiondate"):
            out["resolutiondate"] = (format_time(rec.resolved_ms or rec.updated_ms)
                                     if rec.resolution else None)
        if want("labels"):
            out["labels"] = list(rec.labels)
        if want("components"):
            out["components"] = [
                {"self": f"{self.rest}/component/{10_000 + i}", "id": str(10_000 + i),
                 "name": name} for i, name in enumerate(rec.components)
            ]
        if want("assignee"):
            out["assignee"] = self.user(rec.assignee)
        for role in ("reporter", "creator"):
            if want(role):
                out[role] = self.user("Sandbox Bot", "sandbox@example.com")
        if want("priority"):
            pid = _PRIORITY_IDS.get(rec.priority, "3")
            out["priority"] = {"self": f"{self.rest}/priority/{pid}", "id": pid,
                               "name": rec.priority,
                               "iconUrl": f"{self.base}/images/icons/priorities/medium.svg"}
        if want("created"):
            out["created"] = format_time(rec.created_ms)
        if want("updated"):
            out["updated"] = format_time(rec.updated_ms)
        if want("description"):
            out["description"] = body_for(rec.description, self.api)
        if want("subtasks"):
            out["subtasks"] = [dict(s) for s in rec.subtasks]
        if want("issuelinks"):
            out["issuelinks"] = []
        if want("comment"):
            out["comment"] = self.comments_page(rec, 0, 20)
        if want(STORY_POINTS_FIELD):
            out[STORY_POINTS_FIELD] = rec.story_points
        for name, value in rec.extra.items():
            if want(name):
                out[name] = value
        return out

    def issue(self, rec: IssueRecord, wanted: set[str] | None) -> dict[str, Any]:
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,"
                      "versionedRepresentations",
            "id": rec.id,
            "self": f"{self.rest}/issue/{rec.id}",
            "key": rec.key,
            "fields": (self.access.hide(rec.project, self.fields(rec, wanted))
                       if self.access else self.fields(rec, wanted)),
        }

    def field_list(self) -> list[dict[str, Any]]:
        out = []
        for fid in ALL_FIELDS:
            custom = fid.startswith("customfield_")
            schema: dict[str, Any] = {"type": "number", "custom":
                                      "com.atlassian.jira.plugin.system.customfieldtypes:float",
                                      "customId": int(fid.split("_")[1])} if custom else {
                "type": "array" if fid in ("labels", "components", "subtasks") else "string",
                "system": fid}
            names = [f"cf[{fid.split('_')[1]}]", FIELD_NAMES[fid]] if custom else [fid]
            out.append({
                "id": fid, "key": fid, "name": FIELD_NAMES[fid], "custom": custom,
                "orderable": True, "navigable": True, "searchable": True,
                "clauseNames": names, "schema": schema,
            })
        return out


def _res_id(name: str) -> str:
    return {"Done": "10000", "Won't Do": "10001"}.get(name, "10002")
