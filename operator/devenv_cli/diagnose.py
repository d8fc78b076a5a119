"""Collecting the evidence about one environment, and writing it to a directory.

``collect`` reads the DevEnvironment, its Events (the operator records them in ``default``
and copies them into the environment's namespace, next to its pods' Events), its pods
(labelled ``shipit.dev/environment=<name>``) and the last lines of log of every container
that is not ready, current and previous. Each part is best effort: what cannot be read
(RBAC, a node that serves no logs) is noted and the rest still collected, so it works on a
Failed environment and for an owner who may not read ``default``.

Secrets are never read: not listed, not fetched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from devenv_cli import report, state
from devenv_cli.api import Api
from devenv_cli.report import Evidence, LogExcerpt
from devenv_operator import errors, kinds

ENVIRONMENT_LABEL = "shipit.dev/environment"  # builders.common.ENVIRONMENT_LABEL
EVENTS_NAMESPACE = "default"  # where Events about cluster-scoped objects go
MAX_LOGS = 12  # containers whose logs are read, at most


def collect(api: Api, name: str, obj: dict[str, Any] | None = None, *,
            log_lines: int = 30, max_events: int = 50) -> Evidence:
    """The evidence about ``name`` (``obj``: its DevEnvironment, if already read)."""
    evidence = Evidence(name, obj if obj is not None else api.get(kinds.DEVENV, name))
    namespace = state.status_of(evidence.obj).get("namespace")
    uid = (evidence.obj or {}).get("metadata", {}).get("uid")
    evidence.events = _events(api, name, uid, namespace, evidence.problems)[-max_events:]
    if namespace:
        try:
            evidence.pods, _ = api.list(kinds.POD, namespace,
                                        label_selector=f"{ENVIRONMENT_LABEL}={name}")
        except errors.KubeError as exc:
            evidence.problems.append(f"pods in {namespace}: {exc}")
        evidence.logs = _logs(api, namespace, evidence.pods, log_lines)
    return evidence


def _events(api: Api, name: str, uid: str | None, namespace: str | None,
            problems: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    # By UID too: an earlier environment of the same name (the same PR, last week) left
    # its Events in ``default``.
    selector = f"involvedObject.kind=DevEnvironment,involvedObject.name={name}"
    if uid:
        selector += f",involvedObject.uid={uid}"
    for where, field_selector in ((EVENTS_NAMESPACE, selector), (namespace, None)):
        if not where:
            continue
        try:
            items, _ = api.list(kinds.EVENT, where, field_selector=field_selector)
        except errors.KubeError as exc:
            problems.append(f"Events in {where}: {exc}")
            continue
        found.extend(items)
    # The operator posts each Event about the environment twice (default and its namespace).
    unique: dict[tuple[str, ...], dict[str, Any]] = {}
    for event in found:
        involved = event.get("involvedObject") or {}
        key = (str(involved.get("kind")), str(involved.get("name")), str(event.get("reason")),
               str(event.get("message")), str(report.event_time(event)))
        unique.setdefault(key, event)
    return sorted(unique.values(),
                  key=lambda e: report.event_time(e) or datetime.min.replace(tzinfo=UTC))


def _logs(api: Api, namespace: str, pods: list[dict[str, Any]],
          lines: int) -> list[LogExcerpt]:
    """The logs of the containers that are not ready, up to ``MAX_LOGS`` of them."""
    reader = _LogReader(api, namespace, lines)
    excerpts: list[LogExcerpt] = []
    for pod in pods:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        pod_name = str((pod.get("metadata") or {}).get("name", ""))
        for status in report.container_statuses(pod):
            if not status.get("ready") and len(excerpts) < MAX_LOGS:
                excerpts.extend(reader.container(pod_name, node, status))
    return excerpts


def _instances(status: Mapping[str, Any]) -> list[bool]:
    """Which of a container's logs exist (``previous`` values): the current instance's once
    it has run, the previous one's once it has restarted."""
    current = status.get("state") or {}
    wants = []
    if "running" in current or "terminated" in current:
        wants.append(False)
    if status.get("restartCount") or (status.get("lastState") or {}).get("terminated"):
        wants.append(True)
    return wants


@dataclass
class _LogReader:
    """Reads container logs in one namespace, and stops asking a node whose kubelet did not
    answer (each try would wait out the timeout again)."""

    api: Api
    namespace: str
    lines: int
    unreachable: set[str] = field(default_factory=set)  # node names

    def container(self, pod: str, node: str, status: Mapping[str, Any]) -> list[LogExcerpt]:
        """The logs of one container, current and previous, or why there are none."""
        container = str(status.get("name", ""))
        wants = _instances(status)
        if not wants:  # waiting, never started (an image that cannot be pulled)
            waiting = (status.get("state") or {}).get("waiting") or {}
            return [LogExcerpt(self.namespace, pod, container, False,
                               error=f"no log: the container has not started "
                                     f"({waiting.get('reason') or 'waiting'})")]
        return [self._read(pod, node, container, previous) for previous in wants]

    def _read(self, pod: str, node: str, container: str, previous: bool) -> LogExcerpt:
        if node in self.unreachable:
            return LogExcerpt(self.namespace, pod, container, previous,
                              error=f"log unavailable: node {node} did not answer before")
        try:
            text = self.api.logs(self.namespace, pod, container, previous=previous,
                                 tail=self.lines)
        except errors.KubeError as exc:
            if isinstance(exc, errors.Transient):  # 5xx or no answer in time
                self.unreachable.add(node)
            return LogExcerpt(self.namespace, pod, container, previous,
                              error=f"log unavailable: {exc}")
        return LogExcerpt(self.namespace, pod, container, previous, text)


def write_bundle(evidence: Evidence, directory: Path, now: datetime,
                 output: str = "yaml") -> list[Path]:
    """Write the evidence to ``directory`` (created); returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(relative: str, text: str) -> None:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)

    def dump(data: Any) -> str:
        if output == "json":
            return json.dumps(data, indent=2, sort_keys=False) + "\n"
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)

    ext = "json" if output == "json" else "yaml"
    obj = evidence.obj
    if obj is not None:
        put(f"devenvironment.{ext}", dump(report.redact(obj)))
    put("conditions.txt", report.table(report.CONDITION_HEADERS,
                                       report.conditions_rows(obj)) + "\n")
    put("services.txt", report.table(report.SERVICE_HEADERS,
                                     report.services_rows(state.services(obj))) + "\n")
    put("jobs.txt", report.table(report.JOB_HEADERS, report.jobs_rows(state.jobs(obj))) + "\n"
        + "".join("\n" + block + "\n" for block in report.job_logs(state.failed_jobs(obj))))
    put("events.txt", report.table(report.EVENT_HEADERS,
                                   report.events_rows(evidence.events, now)) + "\n")
    put(f"events.{ext}", dump(evidence.events))
    put("pods.txt", report.table(report.POD_HEADERS, report.pods_rows(evidence.pods)) + "\n")
    put(f"pods.{ext}", dump([_without_managed_fields(p) for p in evidence.pods]))
    for excerpt in evidence.logs:
        suffix = ".previous" if excerpt.previous else ""
        put(f"logs/{excerpt.pod}.{excerpt.container}{suffix}.log",
            excerpt.text if excerpt.text is not None else f"({excerpt.error})\n")
    summary = report.summary_markdown(evidence, state.verdict(obj), None, now)
    index = "\n".join(f"- `{p.relative_to(directory)}`" for p in written)
    put("README.md", f"# Diagnosis of DevEnvironment `{evidence.name}`\n\n"
        f"Collected {state.format_time(now)}. Secret values are not included.\n\n"
        f"{summary}\n## Files\n\n{index}\n- `README.md`\n")
    return written


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    return {**obj, "metadata": meta}
