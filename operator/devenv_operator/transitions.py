"""PURE consequences of a status change: the Events to record and the timings to observe.

Given the previous and the new status of a DevEnvironment, decide which Events a user
should see (only on transitions, never on every reconcile) and how long each provisioning
step took. Coalesces the child changes of one reconcile into a single Event per reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from devenv_operator import status

Event = tuple[str, str, str]  # (type, reason, message)


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
        return [*events, ("Normal", "Ready",
                          f"{after['message']} ({took:.1f}s after provisioning began)")]
    if after["reason"] in status.FAILED_REASONS:
        return [*events, ("Warning", after["reason"], after["message"])]
    return [*events, ("Normal", after["reason"], after["message"])]


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
    if after["reason"] in ("ExpiringSoon", "TTLClamped"):
        return [("Warning", after["reason"], after["message"])]
    return []


def coalesce(events: list[Event]) -> list[Event]:
    """One Event per reason and run: "Created Deployment db, Service db in dev-x"."""
    merged: dict[tuple[str, str], list[str]] = {}
    for event_type, reason, message in events:
        merged.setdefault((event_type, reason), []).append(message)
    out = []
    for (event_type, reason), messages in merged.items():
        if reason in ("Created", "Updated", "Deleted") and len(messages) > 1:
            suffix = messages[0].rsplit(" in ", 1)[-1]
            objects = [m.removeprefix(f"{reason} ").rsplit(" in ", 1)[0] for m in messages]
            out.append((event_type, reason, f"{reason} {', '.join(objects)} in {suffix}"))
        else:
            out.extend((event_type, reason, m) for m in messages)
    return out


_STEPS = {status.NAMESPACE_READY: "namespace", status.CONFIG_SEEDED: "config",
          status.SERVICES_READY: "services"}


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
