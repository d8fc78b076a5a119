"""PURE: one service's entry in ``status.services``, from its Deployment and pods.

Readiness (rolled out, every replica available), and when it is not ready, why: what its
pods show (unschedulable, image pulls, crash loops; ``pods`` decides when one is stuck for
good) or its Deployment's own conditions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from devenv_operator.pods import FailFast, PodFacts, facts
from devenv_operator.reasons import STUCK, Reason
from devenv_operator.status.observe import ServiceObservation, parse_time

# Container waiting reasons worth surfacing as the cause of a not-ready service.
_WAITING_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff",
                    "CreateContainerConfigError", "CreateContainerError", "RunContainerError")


def deployment_available(deployment: Mapping[str, Any] | None, replicas: int) -> bool:
    """Rolled out to the current spec, with every wanted replica available."""
    if deployment is None:
        return False
    meta = deployment.get("metadata", {})
    status = deployment.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 1):
        return False
    if replicas == 0:
        return True
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    available = conditions.get("Available", {}).get("status") == "True"
    return bool(available and status.get("updatedReplicas", 0) >= replicas
            and status.get("availableReplicas", 0) >= replicas
            and status.get("replicas", 0) == status.get("updatedReplicas", 0))


def _pod_problem(pods: Sequence[Mapping[str, Any]]) -> str | None:
    for pod in pods:
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return f"{cond.get('reason', 'Unschedulable')}: {cond.get('message', '')}".strip()
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _WAITING_REASONS:
                detail = waiting.get("message") or cs.get("image", "")
                return f"{waiting['reason']}: {detail}".strip()
    return None


def _deployment_problem(deployment: Mapping[str, Any]) -> str | None:
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return f"{cond.get('reason', 'ReplicaFailure')}: {cond.get('message', '')}"
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return f"ProgressDeadlineExceeded: {cond.get('message', '')}"
    return None


def _pod_facts(obs: ServiceObservation, previous: Mapping[str, Any], now: datetime,
               rules: FailFast) -> PodFacts:
    if obs.pods_seen or obs.pods:
        return facts(obs.pods, now, rules)
    if obs.deployment is None:
        return PodFacts()
    # Pods not read this run: the counts of the last read stand (not whether it is stuck).
    return PodFacts(restarts=int(previous.get("restarts") or 0),
                    last_termination_reason=previous.get("lastTerminationReason"),
                    last_exit_code=previous.get("lastExitCode"))


def service_status(obs: ServiceObservation, previous: Mapping[str, Any] | None,
                   now: datetime, rules: FailFast) -> dict[str, Any]:
    """One entry of ``status.services``: readiness, and why not (``reason``, ``message``);
    restarts and the last termination of its current pods."""
    status = (obs.deployment or {}).get("status") or {}
    ready = deployment_available(obs.deployment, obs.replicas)
    pods = _pod_facts(obs, previous or {}, now, rules)
    out: dict[str, Any] = {
        "name": obs.name,
        "ready": ready,
        "readyReplicas": int(status.get("readyReplicas", 0)),
        "replicas": obs.replicas,
        "reason": Reason.AVAILABLE,
        "message": "",
        "restarts": pods.restarts,
    }
    if pods.last_termination_reason is not None:
        out["lastTerminationReason"] = pods.last_termination_reason
    if pods.last_exit_code is not None:
        out["lastExitCode"] = pods.last_exit_code
    if obs.error:
        out.update(ready=False, reason=Reason.APPLY_FAILED,
                   message=f"ApplyFailed: {obs.error.message}")
        return out
    if ready:
        return out
    out["reason"] = Reason.SERVICE_NOT_READY
    if obs.deployment is None:
        if obs.waiting_for:
            out["reason"] = Reason.DEPENDENCY_NOT_READY
            out["message"] = (f"DependencyNotReady: waiting for {', '.join(obs.waiting_for)} "
                              "to be Available")
        else:
            out["message"] = "not created yet"
        return out
    counts = f"{out['readyReplicas']}/{obs.replicas} ready"
    if pods.stuck_reason is not None:
        out.update(reason=pods.stuck_reason,
                   message=f"{counts}: {pods.stuck_reason}: {pods.stuck_message}")
        return out
    problem = _pod_problem(obs.pods) or _deployment_problem(obs.deployment)
    out["message"] = f"{counts}: {problem}" if problem else f"{counts}, rolling out"
    return out


def with_pods(obs: ServiceObservation, pods: Sequence[Mapping[str, Any]]
              ) -> ServiceObservation:
    """The observation with its pods attached (only a created Deployment has pods)."""
    return obs if obs.deployment is None else replace(obs, pods=tuple(pods), pods_seen=True)


def worth_listing_pods(found: Iterable[ServiceObservation], now: datetime,
                       after: float) -> bool:
    """Whether a Deployment is late enough (``after`` seconds old, not Available) that its
    pods should be read to name what blocks it."""
    for obs in found:
        if obs.deployment is None or deployment_available(obs.deployment, obs.replicas):
            continue
        created = parse_time(obs.deployment["metadata"].get("creationTimestamp"))
        if created is None or (now - created).total_seconds() >= after:
            return True
    return False


def worth_rechecking_pods(previous: Mapping[str, Any]) -> bool:
    """Whether pods should be read even if every Deployment is Available: the last status
    saw a service stuck, or not ready after the environment had been Ready (a container
    restarted): the run that sees it recover records its restarts and last termination."""
    services = previous.get("services") or []
    if any(s.get("reason") in STUCK for s in services):
        return True
    return bool(previous.get("readyAt")) and any(not s.get("ready") for s in services)
