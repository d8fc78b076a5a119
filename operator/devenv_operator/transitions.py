"""PURE consequences of a reconcile: the Events to record, timings, when to look again.

Given the previous and the new status of a DevEnvironment, decide which Events a user
should see (only on transitions, never on every reconcile), how long each provisioning
step took, and when the next reconcile is due even if nothing happens. The child changes
of one reconcile (kept as structure, ``ChildChange``) become one Event per verb.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple

from devenv_operator import status
from devenv_operator.reasons import Reason


class Event(NamedTuple):
    """A Kubernetes Event to record on the DevEnvironment."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


class ChildChange(NamedTuple):
    """A write the reconcile made to one child object."""

    verb: Literal["Created", "Updated", "Deleted"]
    kind: str
    name: str
    namespace: str


def transition_events(previous: Mapping[str, Any], new: Mapping[str, Any], now: datetime,
                      meta: Mapping[str, Any]) -> list[Event]:
    """Events for a change of the Ready condition (nothing when it did not change)."""
    events = _expiry_events(previous, new)
    before: Mapping[str, Any] = next(
        (c for c in previous.get("conditions") or [] if c["type"] == status.READY), {})
    after = new["conditions"][0]
    if (before.get("status"), before.get("reason")) == (after["status"], after["reason"]):
        return events
    if after["status"] == "True":
        started = status.parse_time(new.get("provisioningStartedAt")) or now
        took = max((now - started).total_seconds(), 0.0)
        return [*events, Event("Normal", "Ready",
                               f"{after['message']} ({took:.1f}s after provisioning began)")]
    if after["reason"] in status.FAILED_REASONS:
        return [*events, Event("Warning", after["reason"], after["message"])]
    return [*events, Event("Normal", after["reason"], after["message"])]


def _expiry_events(previous: Mapping[str, Any], new: Mapping[str, Any]
                   ) -> list[Event]:
    def reason(conditions: Any) -> str | None:
        for cond in conditions or []:
            if cond["type"] == status.EXPIRING_SOON:
                return str(cond["reason"])
        return None

    after = next(c for c in new["conditions"] if c["type"] == status.EXPIRING_SOON)
    if reason(previous.get("conditions")) == after["reason"]:
        return []
    if after["reason"] in (Reason.EXPIRING_SOON, Reason.TTL_CLAMPED):
        return [Event("Warning", after["reason"], after["message"])]
    return []


def change_events(changes: Iterable[ChildChange]) -> list[Event]:
    """One Event per verb and namespace: "Created Deployment db, Service db in dev-x"."""
    merged: dict[tuple[str, str], list[str]] = {}
    for change in changes:
        merged.setdefault((change.verb, change.namespace), []).append(
            f"{change.kind} {change.name}")
    return [Event("Normal", verb, f"{verb} {', '.join(objects)} in {namespace}")
            for (verb, namespace), objects in merged.items()]


def worth_an_event(change: ChildChange) -> bool:
    """Creations and deletions of anything, and updates of workloads; not config updates
    (a copied Secret following its source would otherwise post an Event every time)."""
    return change.verb != "Updated" or change.kind in ("Deployment", "Service", "Job")


_STEPS = {status.NAMESPACE_READY: "namespace", status.CONFIG_SEEDED: "config",
          status.SERVICES_READY: "services", status.JOBS_COMPLETE: "jobs"}


def timings(previous: Mapping[str, Any], new: Mapping[str, Any], now: datetime
             ) -> tuple[float | None, dict[str, float]]:
    """Seconds since provisioning began for what became True in this run."""
    started = status.parse_time(new.get("provisioningStartedAt"))
    if started is None:
        return None, {}
    elapsed = max((now - started).total_seconds(), 0.0)
    before: dict[str, str] = {c["type"]: c["status"] for c in previous.get("conditions") or []
              if previous.get("observedGeneration") == new.get("observedGeneration")}
    steps = {_STEPS[c["type"]]: elapsed for c in new["conditions"]
             if c["type"] in _STEPS and c["status"] == "True" and before.get(c["type"]) != "True"}
    ready = new["conditions"][0]["status"] == "True" and before.get(status.READY) != "True"
    return (elapsed if ready else None), steps


def requeue_after(*, phase: str, reason: str, namespace_terminating: bool, now: datetime,
                  deadlines: Iterable[datetime | None], resync: float,
                  provisioning_recheck: float) -> float:
    """Seconds until the next reconcile is due even if nothing happens meanwhile.

    A settled environment (Ready, or Failed for a reason that waiting does not change) is
    looked at every resync; one still provisioning, or failed by a timeout it may recover
    from, more often; and never later than its next deadline (readiness, expiry, warning).
    """
    if phase in ("Ready", "Failed") and reason not in status.RECOVERABLE_FAILURES:
        wait = resync
    elif namespace_terminating:
        wait = 2.0
    else:
        wait = provisioning_recheck
    for deadline in deadlines:
        if deadline is not None:
            wait = min(wait, max((deadline - now).total_seconds(), 0.0))
    return wait
