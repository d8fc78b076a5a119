"""PURE: what the plugin prints: tables, the failure report of a wait, the Markdown summary.

Nothing here talks to the API or reads the clock: the evidence (``Evidence``, collected by
``diagnose``) and the time are passed in. Secret values never reach this module: the
evidence holds no Secret, and ``redact`` blanks the literal values of ``stringData`` seeds
in a DevEnvironment before it is shown or written.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devenv_cli import state
from devenv_cli.exits import Outcome
from devenv_operator.reasons import Condition, Phase

REDACTED = "<redacted>"
# kubectl's client-side apply keeps the whole object, stringData included, in here.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True)
class LogExcerpt:
    """The last lines of one container's log, or why they could not be read."""

    namespace: str
    pod: str
    container: str
    previous: bool
    text: str | None = None
    error: str | None = None

    @property
    def title(self) -> str:
        which = "previous instance" if self.previous else "current"
        return f"{self.namespace}/{self.pod} container {self.container} ({which})"


@dataclass
class Evidence:
    """What ``diagnose`` found about one environment."""

    name: str
    obj: dict[str, Any] | None
    events: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    logs: list[LogExcerpt] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be collected


# --- plain text ----------------------------------------------------------------------------

def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, indent: str = "") -> str:
    """Columns padded to their widest cell, like kubectl's tables; the last one is free."""
    cells = [[str(h) for h in headers], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers) - 1)]
    lines = []
    for row in cells:
        padded = [c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]]
        lines.append((indent + "   ".join(padded)).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.split()) or "-"  # one line per row


def conditions_rows(obj: Mapping[str, Any] | None) -> list[list[str]]:
    rows = []
    for cond in state.status_of(obj).get("conditions") or []:
        if isinstance(cond, Mapping):
            rows.append([str(cond.get("type", "")), str(cond.get("status", "")),
                         str(cond.get("reason", "")), str(cond.get("message", ""))])
    return rows


def services_rows(views: Iterable[state.ServiceView]) -> list[list[str]]:
    return [[v.name, v.counts, v.reason, "" if v.restarts is None else str(v.restarts),
             v.last_termination(), v.message] for v in views]


def jobs_rows(views: Iterable[state.JobView]) -> list[list[str]]:
    return [[v.name, v.state, str(v.attempts), v.job_name, v.started_at, v.completed_at,
             v.summary] for v in views]


def job_logs(views: Iterable[state.JobView]) -> list[str]:
    """The recorded log lines of each failed job, as blocks of text."""
    return [f"Last log lines of job {v.name} ({v.job_name}):\n" + "\n".join(
        "  | " + line for line in v.log.splitlines()) for v in views if v.log]


SERVICE_HEADERS = ("SERVICE", "READY", "REASON", "RESTARTS", "LAST TERMINATION", "MESSAGE")
JOB_HEADERS = ("JOB", "STATE", "ATTEMPTS", "JOB OBJECT", "STARTED", "COMPLETED", "MESSAGE")
CONDITION_HEADERS = ("TYPE", "STATUS", "REASON", "MESSAGE")
EVENT_HEADERS = ("AGE", "TYPE", "REASON", "OBJECT", "MESSAGE")
POD_HEADERS = ("POD", "CONTAINER", "READY", "STATE", "RESTARTS", "LAST TERMINATION")


def event_time(event: Mapping[str, Any]) -> datetime | None:
    return (state.parse_time(event.get("eventTime")) or state.parse_time(
        event.get("lastTimestamp")) or state.parse_time(event.get("firstTimestamp"))
        or state.parse_time((event.get("metadata") or {}).get("creationTimestamp")))


def events_rows(events: Iterable[Mapping[str, Any]], now: datetime) -> list[list[str]]:
    rows = []
    for event in events:
        involved = event.get("involvedObject") or {}
        count = event.get("count")
        suffix = f" (x{count})" if isinstance(count, int) and count > 1 else ""
        rows.append([state.age(event_time(event), now), str(event.get("type", "")),
                     str(event.get("reason", "")),
                     f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
                     str(event.get("message", "")) + suffix])
    return rows


def container_state(status: Mapping[str, Any]) -> str:
    """``waiting: ImagePullBackOff: message``, ``running``, ``terminated: Error (exit 1)``."""
    current = status.get("state") or {}
    for key in ("waiting", "terminated"):
        detail = current.get(key)
        if isinstance(detail, Mapping):
            text = f"{key}: {detail.get('reason') or ''}"
            if key == "terminated" and detail.get("exitCode") is not None:
                text += f" (exit {detail['exitCode']})"
            if detail.get("message"):
                text += f": {detail['message']}"
            return text
    return "running" if "running" in current else "unknown"


def last_termination(status: Mapping[str, Any]) -> str:
    last = (status.get("lastState") or {}).get("terminated")
    if not isinstance(last, Mapping):
        return ""
    return f"{last.get('reason') or 'Terminated'} (exit {last.get('exitCode')})"


def container_statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return [dict(s) for s in [*(status.get("initContainerStatuses") or []),
                              *(status.get("containerStatuses") or [])] if isinstance(s, Mapping)]


def pods_rows(pods: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name", ""))
        statuses = container_statuses(pod)
        if not statuses:
            phase = (pod.get("status") or {}).get("phase", "Pending")
            rows.append([name, "-", "false", f"pod {phase}", "-", ""])
        for cs in statuses:
            rows.append([name, str(cs.get("name", "")), str(bool(cs.get("ready"))).lower(),
                         container_state(cs), str(cs.get("restartCount", 0)),
                         last_termination(cs)])
    return rows


def headline(name: str, outcome: Outcome, obj: Mapping[str, Any] | None, waited: str) -> str:
    if outcome is Outcome.READY:
        return f"devenv {name} is Ready after {waited}"
    if outcome is Outcome.GONE:
        return (f"devenv {name} was deleted" if obj is None else
                f"devenv {name} is being deleted") + f" (after {waited})"
    what = "Failed" if outcome is Outcome.FAILED else f"not Ready after {waited} (timed out)"
    text = f"devenv {name} {what}: {state.reason(obj)}"
    message = state.message(obj)
    return f"{text}: {message}" if message else text


def one_line(name: str, obj: Mapping[str, Any] | None) -> str:
    """``devenv NAME: Phase (Reason): message``."""
    if obj is None:
        return f"devenv {name}: not found"
    phase = state.status_of(obj).get("phase") or Phase.PENDING
    if phase == Phase.READY:
        return f"devenv {name}: Ready"
    text = f"devenv {name}: {phase} ({state.reason(obj)})"
    message = state.message(obj)
    return f"{text}: {message}" if message else text


def failure_text(evidence: Evidence, outcome: Outcome, waited: str, now: datetime,
                 max_events: int = 15) -> str:
    """What ``wait`` prints when the environment did not become Ready."""
    obj = evidence.obj
    parts = [headline(evidence.name, outcome, obj, waited)]
    if obj is not None:
        parts.append("Conditions:\n" + table(CONDITION_HEADERS, conditions_rows(obj),
                                             indent="  "))
        stuck = state.blocked(obj)
        if stuck:
            parts.append("Blocked services:\n" + table(SERVICE_HEADERS, services_rows(stuck),
                                                       indent="  "))
        unfinished = [j for j in state.jobs(obj) if j.state != "Complete"]
        if unfinished:
            parts.append("Jobs not complete:\n" + table(JOB_HEADERS, jobs_rows(unfinished),
                                                        indent="  "))
            parts.extend(job_logs(unfinished))
    if evidence.pods:
        rows = [r for r in pods_rows(evidence.pods) if r[2] != "true"]
        if rows:
            parts.append("Containers not ready:\n" + table(POD_HEADERS, rows, indent="  "))
    if evidence.events:
        recent = evidence.events[-max_events:]
        parts.append(f"Recent Events (last {len(recent)}):\n"
                     + table(EVENT_HEADERS, events_rows(recent, now), indent="  "))
    for excerpt in evidence.logs:
        body = excerpt.text.rstrip("\n") if excerpt.text else f"({excerpt.error or 'empty'})"
        parts.append(f"Logs of {excerpt.title}:\n" + "\n".join(
            "  | " + line for line in body.splitlines()))
    parts.extend(f"(could not collect: {p})" for p in evidence.problems)
    return "\n\n".join(parts) + "\n"


# --- Markdown ------------------------------------------------------------------------------

def _md(value: Any) -> str:
    """A table cell: one line, pipes escaped, HTML-significant characters neutralised."""
    text = " ".join(str(value if value is not None else "").split())
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
    return text or " "


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(_md(c) for c in row) + " |" for row in rows)
    return "\n".join(lines)


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{text.rstrip()}\n{ticks}"


def summary_markdown(evidence: Evidence, outcome: Outcome | None, waited: str | None,
                     now: datetime, max_events: int = 15) -> str:
    """The step summary (``$GITHUB_STEP_SUMMARY``): the verdict first, naming the blocker.

    ``outcome`` None: not settled (a diagnosis taken while it provisions); ``waited`` None:
    not known (no wait).
    """
    obj = evidence.obj
    name = evidence.name
    status = state.status_of(obj)
    after = f" after {waited}" if waited else ""
    if outcome is Outcome.READY:
        lines = [f"## DevEnvironment `{name}` is Ready", "",
                 f"Ready{after} in namespace `{status.get('namespace', '')}`."]
        endpoints = status.get("endpoints") or []
        if endpoints:
            lines += ["", md_table(("Service", "Port", "Address"), (
                [e.get("service"), e.get("port"), e.get("internal")] for e in endpoints))]
        return "\n".join(lines) + "\n"
    verdicts = {Outcome.FAILED: "failed", Outcome.TIMEOUT: f"is not Ready{after} (timed out)",
                Outcome.GONE: "was deleted" if obj is None else "is being deleted",
                None: f"is not Ready yet (phase {status.get('phase') or 'unknown'})"}
    lines = [f"## DevEnvironment `{name}` {verdicts[outcome]}", ""]
    stuck = state.blocked(obj)
    if obj is not None:
        lines.append(f"**{_md(state.reason(obj))}**: {_md(state.message(obj))}")
        lines.append("")
    if stuck:
        lines.append("Blocked: " + ", ".join(
            f"service `{s.name}` ({_md(s.reason)}{': ' + _md(s.message) if s.message else ''})"
            for s in stuck))
        lines += ["", "### Services", "", md_table(SERVICE_HEADERS, services_rows(stuck))]
    lines += _jobs_markdown(obj)
    if obj is not None:
        lines += ["", "### Conditions", "", md_table(CONDITION_HEADERS, conditions_rows(obj))]
    not_ready = [r for r in pods_rows(evidence.pods) if r[2] != "true"]
    if not_ready:
        lines += ["", "### Containers not ready", "", md_table(POD_HEADERS, not_ready)]
    if evidence.events:
        recent = evidence.events[-max_events:]
        lines += ["", "### Recent Events", "", md_table(EVENT_HEADERS, events_rows(recent, now))]
    for excerpt in evidence.logs:
        body = excerpt.text if excerpt.text else f"({excerpt.error or 'empty'})"
        lines += ["", f"### Logs: {_md(excerpt.title)}", "", _fence(body)]
    if evidence.problems:
        lines += ["", "Could not collect: " + "; ".join(_md(p) for p in evidence.problems)]
    return "\n".join(lines) + "\n"


def _jobs_markdown(obj: Mapping[str, Any] | None) -> list[str]:
    """The jobs not complete, and the recorded log lines of those that failed."""
    unfinished = [j for j in state.jobs(obj) if j.state != "Complete"]
    if not unfinished:
        return []
    lines = ["", "### Jobs", "", md_table(JOB_HEADERS, jobs_rows(unfinished))]
    for view in unfinished:
        if view.log:
            lines += ["", f"Last log lines of job `{_md(view.name)}`:", "", _fence(view.log)]
    return lines


# --- other commands ------------------------------------------------------------------------

def summary_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """One line of ``list -o json``."""
    meta = obj.get("metadata") or {}
    status = state.status_of(obj)
    return {"name": meta.get("name"), "namespace": status.get("namespace"),
            "phase": status.get("phase"), "ready": status.get("readyServices"),
            "owner": (obj.get("spec") or {}).get("owner"), "expiresAt": status.get("expiresAt"),
            "reason": state.condition(obj, Condition.READY).get("reason"),
            "message": status.get("message")}


def list_table(objs: Iterable[Mapping[str, Any]], now: datetime) -> str:
    rows = []
    for obj in objs:
        s = summary_of(obj)
        created = state.parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
        expires = state.parse_time(s["expiresAt"])
        rows.append([s["name"], s["namespace"], s["phase"], s["ready"], s["owner"],
                     state.age(expires, now) if expires else "-", state.age(created, now)])
    return table(("NAME", "NAMESPACE", "PHASE", "READY", "OWNER", "EXPIRES", "AGE"), rows)


def redact(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy fit to show: literal Secret values blanked, bookkeeping that repeats them gone."""
    out = copy.deepcopy(dict(obj))
    meta = out.get("metadata") or {}
    meta.pop("managedFields", None)
    (meta.get("annotations") or {}).pop(LAST_APPLIED, None)
    for seed in ((out.get("spec") or {}).get("config") or {}).get("secrets") or []:
        if isinstance(seed, dict) and isinstance(seed.get("stringData"), dict):
            seed["stringData"] = {k: REDACTED for k in seed["stringData"]}
    return out
