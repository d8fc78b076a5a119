"""PURE: what a DevEnvironment's status means to someone waiting for it.

``verdict`` maps an observed object onto an ``exits.Outcome`` (whose value is the exit code
of ``kubectl devenv wait``); ``jobs`` reads ``status.jobs[]``, and ``services`` reads
``status.services[]``, both defensively: the
fields an older operator does not write (``restarts``, ``lastTerminationReason``,
``lastExitCode``) are simply absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from devenv_cli.exits import Outcome
from devenv_operator import models
from devenv_operator.reasons import Condition, Phase, Reason


def status_of(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    status = (obj or {}).get("status")
    return dict(status) if isinstance(status, Mapping) else {}


def condition(obj: Mapping[str, Any] | None, ctype: Condition) -> dict[str, Any]:
    for cond in status_of(obj).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == ctype:
            return dict(cond)
    return {}


def is_current(obj: Mapping[str, Any]) -> bool:
    """Whether the status describes the spec as it is now (not an earlier generation)."""
    observed = status_of(obj).get("observedGeneration")
    generation = (obj.get("metadata") or {}).get("generation")
    return generation is None or (isinstance(observed, int) and observed >= generation)


def verdict(obj: Mapping[str, Any] | None) -> Outcome | None:
    """The outcome ``obj`` settles, or None while it may still become Ready."""
    if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Outcome.GONE
    if not is_current(obj):
        return None
    phase = status_of(obj).get("phase")
    if phase == Phase.FAILED or condition(obj, Condition.STALLED).get("status") == "True":
        return Outcome.FAILED
    if phase == Phase.READY and condition(obj, Condition.READY).get("status") == "True":
        return Outcome.READY
    return None


def reason(obj: Mapping[str, Any] | None) -> str:
    """Why it is not Ready (the Ready condition's reason), or its phase."""
    ready = condition(obj, Condition.READY)
    return str(ready.get("reason") or status_of(obj).get("phase") or "Unknown")


def message(obj: Mapping[str, Any] | None) -> str:
    ready = condition(obj, Condition.READY)
    return str(status_of(obj).get("message") or ready.get("message") or "")


@dataclass(frozen=True)
class ServiceView:
    """One entry of ``status.services[]``."""

    name: str
    ready: bool
    ready_replicas: int
    replicas: int
    reason: str
    message: str
    restarts: int | None = None
    last_termination_reason: str | None = None
    last_exit_code: int | None = None

    @property
    def counts(self) -> str:
        return f"{self.ready_replicas}/{self.replicas}"

    def last_termination(self) -> str:
        """e.g. ``Error (exit 1)``; empty when nothing terminated."""
        parts = []
        if self.last_termination_reason:
            parts.append(self.last_termination_reason)
        if self.last_exit_code is not None:
            parts.append(f"(exit {self.last_exit_code})")
        return " ".join(parts)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def services(obj: Mapping[str, Any] | None) -> list[ServiceView]:
    views = []
    for item in status_of(obj).get("services") or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        last = item.get("lastTerminationReason")
        views.append(ServiceView(
            name=str(item["name"]), ready=bool(item.get("ready")),
            ready_replicas=_int(item.get("readyReplicas")) or 0,
            replicas=_int(item.get("replicas")) or 0,
            reason=str(item.get("reason") or (Reason.AVAILABLE if item.get("ready") else "")),
            message=str(item.get("message") or ""), restarts=_int(item.get("restarts")),
            last_termination_reason=str(last) if last else None,
            last_exit_code=_int(item.get("lastExitCode"))))
    return views


@dataclass(frozen=True)
class JobView:
    """One entry of ``status.jobs[]``."""

    name: str
    state: str  # Pending, Running, Complete, Failed
    attempts: int
    job_name: str = ""
    reason: str = ""
    message: str = ""
    started_at: str = ""
    completed_at: str = ""

    @property
    def summary(self) -> str:
        """The first line of its message (a failed job's log follows it)."""
        return self.message.partition("\n")[0]

    @property
    def log(self) -> str:
        """The last lines of its failed container's log, as the operator recorded them."""
        return self.message.partition(JOB_LOG_MARK)[2]


JOB_LOG_MARK = "\nlast log lines:\n"  # status.jobs.LOG_MARK in the operator


def jobs(obj: Mapping[str, Any] | None) -> list[JobView]:
    views = []
    for item in status_of(obj).get("jobs") or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        views.append(JobView(
            name=str(item["name"]), state=str(item.get("state") or "Pending"),
            attempts=_int(item.get("attempts")) or 0, job_name=str(item.get("jobName") or ""),
            reason=str(item.get("reason") or ""), message=str(item.get("message") or ""),
            started_at=str(item.get("startedAt") or ""),
            completed_at=str(item.get("completedAt") or "")))
    return views


def failed_jobs(obj: Mapping[str, Any] | None) -> list[JobView]:
    return [j for j in jobs(obj) if j.state == "Failed"]


def blocked(obj: Mapping[str, Any] | None) -> list[ServiceView]:
    return [s for s in services(obj) if not s.ready]


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(moment: datetime | None, now: datetime) -> str:
    """``moment`` as kubectl shows an age (``42s``, ``3m``, ``2h5m``); ``-`` if unknown."""
    if moment is None:
        return "-"
    signed = int((now - moment).total_seconds())
    seconds = abs(signed)
    if seconds < 120:
        text = f"{seconds}s"
    else:  # two units at most, like kubectl: 5m, 2h3m, 3d1h
        unit = 60 if seconds < 86400 else 3600
        text = models.format_duration(timedelta(seconds=seconds - seconds % unit))
    return text if signed >= 0 else f"in {text}"


def parse_duration(text: str) -> timedelta:
    """A duration as the operator reads them (``90s``, ``10m``, ``1h30m``, ``2d``)."""
    return models.parse_duration(text.strip())


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
