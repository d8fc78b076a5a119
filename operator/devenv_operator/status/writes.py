"""PURE: status patches outside a normal run: merge patches, teardown, a failed run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from devenv_operator.reasons import Phase, Reason
from devenv_operator.status.compute import carry_transition_times, condition
from devenv_operator.status.observe import READY, RECONCILED, rfc3339


def merge_patch(previous: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch to ``new`` that also removes fields present before and absent now."""
    patch = dict(new)
    for key in previous:
        if key not in new:
            patch[key] = None
    return patch


def namespace_blockers(namespace: Mapping[str, Any]) -> str:
    """What still keeps a terminating namespace, from its status conditions."""
    parts: list[str] = []
    for cond in (namespace.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in (
                "NamespaceContentRemaining", "NamespaceFinalizersRemaining",
                "NamespaceDeletionContentFailure", "NamespaceDeletionDiscoveryFailure"):
            parts.append(cond.get("message", cond["type"]))
    return "; ".join(parts) or "namespace controller is deleting its content"


def terminating(previous: Mapping[str, Any], message: str, now: datetime,
                generation: int) -> dict[str, Any]:
    """The status of an environment whose namespace is being deleted."""
    conditions = [c for c in previous.get("conditions") or [] if c["type"] != READY]
    ready = {"type": READY, "status": "False", "reason": Reason.TERMINATING, "message": message,
             "lastTransitionTime": rfc3339(now), "observedGeneration": generation}
    return {**previous, "phase": Phase.TERMINATING.value, "message": message,
            "conditions": [ready, *conditions]}


def run_failed(previous: Mapping[str, Any], reason: str, message: str, now: datetime,
               generation: int) -> dict[str, Any]:
    """The status after a run that failed as a whole (retried with backoff): the last
    status, with ``Reconciled`` False naming why; a first run also gets ``Ready`` False."""
    before = previous.get("conditions") or []
    first_run = all(c.get("type") != READY for c in before)
    fresh = [condition(READY, False, reason, message)] if first_run else []
    stamped = carry_transition_times([*fresh, condition(RECONCILED, False, reason, message)],
                                     before, now, generation)
    kept = [c for c in before if c.get("type") != RECONCILED]
    conditions = ([stamped[0].as_dict()] if first_run else []) + kept + [stamped[-1].as_dict()]
    new = {**previous, "conditions": conditions}
    if not previous.get("phase"):
        new.update(phase="Pending", message=message, observedGeneration=generation)
    return new
