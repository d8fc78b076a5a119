"""PURE status computation: observed children -> conditions, phase, message.

Given what the reconcile saw (namespace, config problems, Deployments and their pods), the
previous status and the current time, return the new ``status`` as a plain dict. Every
not-ready condition names what blocks it: which service, which Secret, which reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from devenv_operator.builders import Ownership, SecretProblem
from devenv_operator.lifecycle import shift
from devenv_operator.models import format_duration
from devenv_operator.pods import FailFast, PodFacts, facts

READY = "Ready"
NAMESPACE_READY = "NamespaceReady"
CONFIG_SEEDED = "ConfigSeeded"
SERVICES_READY = "ServicesReady"
EXPIRING_SOON = "ExpiringSoon"
RECONCILED = "Reconciled"
TEMPLATE_RESOLVED = "TemplateResolved"
STALLED = "Stalled"  # kstatus: True whenever the phase is Failed, so generic tools fail fast
CONDITION_TYPES = (READY, NAMESPACE_READY, CONFIG_SEEDED, SERVICES_READY, EXPIRING_SOON,
                   RECONCILED, STALLED, TEMPLATE_RESOLVED)

# Reasons that put the environment in phase Failed (reconciling still goes on).
FAILED_REASONS = frozenset({
    "InvalidSpec", "NamespaceConflict", "NamespaceFailed", "SecretNotCopyable",
    "ReadyTimeout", "ApplyFailed", "PolicyViolation", "ClassNotFound",
    "TemplateNotFound", "ParameterInvalid", "TemplateInvalid", "ImagePullFailed",
    "CrashLooping",
})
# Failed reasons that may clear by themselves (the cause goes away): re-checked often.
RECOVERABLE_FAILURES = frozenset({"ReadyTimeout", "ImagePullFailed", "CrashLooping"})
# Service reasons that fail the environment early (pods.FailFast thresholds passed).
STUCK_REASONS = ("ImagePullFailed", "CrashLooping")
# Why a whole run failed (the Reconciled condition); the run is retried with backoff.
RUN_FAILURE_REASONS = ("Forbidden", "ApiError", "ReconcileError")
# Every reason the operator may set; metric labels come from this fixed set.
REASONS = (
    "Ready", "InvalidSpec", "NamespaceConflict", "NamespaceTerminating", "NamespaceCreated",
    "NamespacePending", "NamespaceFailed", "SecretNotCopyable", "ConfigSeeded",
    "ApplyFailed", "DependencyNotReady", "ServiceNotReady", "ServicesAvailable",
    "ReadyTimeout", "Expired", "Terminating", "ExpiringSoon", "NotExpiringSoon", "NoExpiry",
    "TTLClamped", "Available", "ReconcileSucceeded", "PolicyViolation", "ClassNotFound",
    "TemplateNotFound", "ParameterInvalid", "TemplateInvalid", "TemplateRendered",
    "NotStalled", *STUCK_REASONS,
    *RUN_FAILURE_REASONS,
)

# Where the environment's namespace stands, as the reconcile found it.
NamespaceState = Literal["ready", "missing", "conflict", "terminating", "failed"]

# Container waiting reasons worth surfacing as the cause of a not-ready service.
_WAITING_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff",
                    "CreateContainerConfigError", "CreateContainerError", "RunContainerError")


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class ApplyFailure:
    """An object the API server refused (400/422); the spec that produced it must change."""

    kind: str
    name: str
    reason: str  # the Status reason, e.g. Invalid, BadRequest
    message: str

    def describe(self) -> str:
        return f"{self.kind} {self.name}: {self.message}"


def namespace_state(ownership: Ownership) -> NamespaceState:
    """How the reconcile treats an existing namespace, from whose it is."""
    states: dict[Ownership, NamespaceState] = {
        Ownership.OURS: "ready", Ownership.TERMINATING: "terminating",
        Ownership.FOREIGN: "conflict"}
    return states[ownership]


@dataclass(frozen=True)
class ServiceObservation:
    """One service as the reconcile found it."""

    name: str
    replicas: int
    deployment: Mapping[str, Any] | None = None
    waiting_for: Sequence[str] = ()  # dependencies not yet Available (not created yet)
    pods: Sequence[Mapping[str, Any]] = ()
    pods_seen: bool = False  # pods were read this run (else the last status's counts stand)
    error: ApplyFailure | None = None  # the API server refused one of its objects


@dataclass(frozen=True)
class TemplateObservation:
    """How an environment's template rendered (``reason`` TemplateRendered when it did)."""

    name: str
    generation: int | None
    reason: str
    message: str

    @property
    def ok(self) -> bool:
        return self.reason == "TemplateRendered"


@dataclass(frozen=True)
class Observation:
    """Everything status computation needs from one reconcile."""

    generation: int
    created_at: datetime
    namespace: str | None = None
    invalid: str | None = None  # why nothing is created or changed (the spec, its class)
    invalid_reason: str = "InvalidSpec"  # or PolicyViolation, ClassNotFound
    namespace_state: NamespaceState = "missing"
    namespace_problem: str | None = None  # why the API server refused it ("failed")
    secret_problems: Sequence[SecretProblem] = ()
    apply_errors: Sequence[ApplyFailure] = ()
    services: Sequence[ServiceObservation] = ()
    ready_timeout: timedelta = timedelta(minutes=10)
    expires_at: datetime | None = None
    expiring: bool = False  # within the warning window before expiry
    expiry_note: str | None = None  # e.g. the request was clamped to the maximum lifetime
    deleting: bool = False
    extra_messages: Sequence[str] = field(default_factory=tuple)
    template: TemplateObservation | None = None
    endpoints: Sequence[tuple[str, int]] = ()  # (service, port) of every service port
    fail_fast: FailFast = field(default_factory=FailFast)


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
        "reason": "Available",
        "message": "",
        "restarts": pods.restarts,
    }
    if pods.last_termination_reason is not None:
        out["lastTerminationReason"] = pods.last_termination_reason
    if pods.last_exit_code is not None:
        out["lastExitCode"] = pods.last_exit_code
    if obs.error:
        out.update(ready=False, reason="ApplyFailed", message=f"ApplyFailed: {obs.error.message}")
        return out
    if ready:
        return out
    out["reason"] = "ServiceNotReady"
    if obs.deployment is None:
        if obs.waiting_for:
            out["reason"] = "DependencyNotReady"
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
    if any(s.get("reason") in STUCK_REASONS for s in services):
        return True
    return bool(previous.get("readyAt")) and any(not s.get("ready") for s in services)


def _condition(ctype: str, ok: bool | None, reason: str, message: str) -> dict[str, Any]:
    status = "Unknown" if ok is None else ("True" if ok else "False")
    return {"type": ctype, "status": status, "reason": reason, "message": message}


def _services_condition(
    services: Sequence[dict[str, Any]], obs: Observation, timed_out: bool,
) -> dict[str, Any]:
    waiting = [s for s in services if not s["ready"]]
    if not waiting:
        return _condition(SERVICES_READY, True, "ServicesAvailable",
                          f"All {len(services)} services are available")
    detail = "; ".join(f"{s['name']}: {s['message']}" for s in waiting)
    if timed_out:
        return _condition(SERVICES_READY, False, "ReadyTimeout",
                          f"Not ready after {format_duration(obs.ready_timeout)}: {detail}")
    blocked = any(s["reason"] == "DependencyNotReady" for s in waiting)
    refused = any(s["reason"] == "ApplyFailed" for s in waiting)
    stuck = next((s["reason"] for s in waiting if s["reason"] in STUCK_REASONS), None)
    reason = "ApplyFailed" if refused else stuck or (
        "DependencyNotReady" if blocked else "ServiceNotReady")
    return _condition(SERVICES_READY, False, reason, f"Waiting for services: {detail}")


def _conditions(obs: Observation, services: Sequence[dict[str, Any]],
                timed_out: bool) -> list[dict[str, Any]]:
    ns = obs.namespace
    if obs.invalid is not None and obs.namespace_state != "ready":
        ns_cond = _condition(NAMESPACE_READY, False, obs.invalid_reason, "Nothing is created "
                             "while the spec is invalid or breaks its class's policy")
    elif obs.namespace_state == "ready":
        ns_cond = _condition(NAMESPACE_READY, True, "NamespaceCreated", f"Namespace {ns} is ready")
    elif obs.namespace_state == "conflict":
        ns_cond = _condition(NAMESPACE_READY, False, "NamespaceConflict",
                             f"Namespace {ns} already exists and was not created for this "
                             "environment; it is left untouched (choose another spec.namespace)")
    elif obs.namespace_state == "terminating":
        ns_cond = _condition(NAMESPACE_READY, False, "NamespaceTerminating",
                             f"Waiting for namespace {ns} to finish terminating")
    elif obs.namespace_state == "failed":
        ns_cond = _condition(NAMESPACE_READY, False, "NamespaceFailed",
                             f"Namespace {ns} could not be created or updated: "
                             f"{obs.namespace_problem}")
    else:
        ns_cond = _condition(NAMESPACE_READY, False, "NamespacePending",
                             f"Namespace {ns} is being created")

    if obs.invalid is not None:
        text = (f"Invalid spec: {obs.invalid}" if obs.invalid_reason == "InvalidSpec"
                else obs.invalid)
        invalid = _condition(READY, False, obs.invalid_reason, text)
        return [invalid, ns_cond,
                _condition(CONFIG_SEEDED, None, obs.invalid_reason, text),
                _condition(SERVICES_READY, None, obs.invalid_reason, text)]

    if obs.namespace_state != "ready":
        cfg = _condition(CONFIG_SEEDED, None, "NamespacePending", "Waiting for the namespace")
        svc = _condition(SERVICES_READY, None, "NamespacePending", "Waiting for the namespace")
    else:
        if obs.secret_problems:
            first = obs.secret_problems[0]
            cfg = _condition(CONFIG_SEEDED, False, first.reason,
                             "; ".join(p.message for p in obs.secret_problems))
        elif obs.apply_errors:
            cfg = _condition(CONFIG_SEEDED, False, "ApplyFailed",
                             "; ".join(e.describe() for e in obs.apply_errors))
        else:
            cfg = _condition(CONFIG_SEEDED, True, "ConfigSeeded", "ConfigMaps and Secrets seeded")
        svc = _services_condition(services, obs, timed_out)

    blockers = [c for c in (ns_cond, cfg, svc) if c["status"] != "True"]
    if obs.deleting:
        ready = _condition(READY, False, "Terminating", "The environment is being deleted")
    elif not blockers:
        ready = _condition(READY, True, "Ready", f"All {len(services)} services are available")
    else:
        failing = [c for c in blockers if c["reason"] in FAILED_REASONS]
        blocker = failing[0] if failing else blockers[0]
        ready = _condition(READY, False, blocker["reason"], blocker["message"])
    return [ready, ns_cond, cfg, svc]


def _expiry_condition(obs: Observation) -> dict[str, Any]:
    if obs.expires_at is None:
        return _condition(EXPIRING_SOON, False, "NoExpiry", "The environment does not expire")
    when = f"Expires at {rfc3339(obs.expires_at)}"
    if obs.expiring:
        return _condition(EXPIRING_SOON, True, "ExpiringSoon",
                          f"{when}; extend it by setting a later spec.expiresAt")
    if obs.expiry_note:
        return _condition(EXPIRING_SOON, False, "TTLClamped", f"{when}: {obs.expiry_note}")
    return _condition(EXPIRING_SOON, False, "NotExpiringSoon", when)


def _phase(obs: Observation, ready: dict[str, Any]) -> str:
    if obs.deleting:
        return "Terminating"
    if ready["status"] == "True":
        return "Ready"
    if ready["reason"] in FAILED_REASONS:
        return "Failed"
    if obs.namespace_state != "ready":
        return "Pending"
    return "Provisioning"


def _carry_transition_times(conditions: list[dict[str, Any]], previous: Sequence[Mapping[str, Any]],
                            now: datetime, generation: int) -> None:
    before = {c.get("type"): c for c in previous}
    for cond in conditions:
        old = before.get(cond["type"])
        same = old is not None and old.get("status") == cond["status"]
        cond["lastTransitionTime"] = (old.get("lastTransitionTime") if same and old
                                      else None) or rfc3339(now)
        cond["observedGeneration"] = generation


def provisioning_started(obs: Observation, previous: Mapping[str, Any], now: datetime) -> datetime:
    """When provisioning of the current generation began (creation for the first one)."""
    if obs.generation <= 1:
        return obs.created_at
    if previous.get("observedGeneration") == obs.generation:
        started = parse_time(previous.get("provisioningStartedAt"))
        if started is not None:
            return started
    return now


def compute(obs: Observation, previous: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The new status. ``previous`` is the current ``.status`` (possibly empty)."""
    before = {s.get("name"): s for s in previous.get("services") or []}
    services = [service_status(s, before.get(s.name), now, obs.fail_fast) for s in obs.services]
    started = provisioning_started(obs, previous, now)
    same_generation = previous.get("observedGeneration") == obs.generation
    already_ready = same_generation and bool(previous.get("readyAt"))
    timed_out = (not already_ready and now >= shift(started, obs.ready_timeout)
                 and any(not s["ready"] for s in services))
    conditions = [*_conditions(obs, services, timed_out), _expiry_condition(obs),
                  _condition(RECONCILED, True, "ReconcileSucceeded",
                             "The last reconcile completed")]
    phase = _phase(obs, conditions[0])
    failed = conditions[0] if phase == "Failed" else None
    conditions.append(_condition(STALLED, failed is not None,
                                 failed["reason"] if failed else "NotStalled",
                                 failed["message"] if failed else "The environment is not failed"))
    if obs.template is not None:
        conditions.append(_condition(TEMPLATE_RESOLVED, obs.template.ok, obs.template.reason,
                                     obs.template.message))
    _carry_transition_times(conditions, previous.get("conditions") or [], now, obs.generation)
    ready = conditions[0]
    ready_at = previous.get("readyAt") if already_ready else None
    if ready["status"] == "True" and not ready_at:
        ready_at = rfc3339(now)
    status: dict[str, Any] = {
        "phase": phase,
        "namespace": obs.namespace,
        "observedGeneration": obs.generation,
        "conditions": conditions,
        "services": services,
        "readyServices": f"{sum(s['ready'] for s in services)}/{len(services)}",
        "readyAt": ready_at,
        "provisioningStartedAt": rfc3339(started),
        "expiresAt": rfc3339(obs.expires_at) if obs.expires_at else None,
        "message": ready["message"],
    }
    if obs.extra_messages:
        status["message"] = f"{status['message']} ({'; '.join(obs.extra_messages)})"
    if obs.endpoints and obs.namespace_state == "ready":
        status["endpoints"] = [
            {"service": service, "port": port,
             "internal": f"{service}.{obs.namespace}.svc.cluster.local:{port}"}
            for service, port in obs.endpoints]
    if obs.template is not None:
        status["template"] = {"name": obs.template.name, **(
            {"generation": obs.template.generation} if obs.template.generation else {})}
    return status


def ready_deadline(obs: Observation, status: Mapping[str, Any]) -> datetime | None:
    """When a not-yet-ready environment times out, or None if that no longer applies."""
    if status.get("readyAt") or status.get("phase") in ("Ready", "Failed", "Terminating"):
        return None
    started = parse_time(status.get("provisioningStartedAt"))
    return shift(started, obs.ready_timeout) if started else None


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
    ready = {"type": READY, "status": "False", "reason": "Terminating", "message": message,
             "lastTransitionTime": rfc3339(now), "observedGeneration": generation}
    return {**previous, "phase": "Terminating", "message": message,
            "conditions": [ready, *conditions]}


def run_failed(previous: Mapping[str, Any], reason: str, message: str, now: datetime,
               generation: int) -> dict[str, Any]:
    """The status after a run that failed as a whole (retried with backoff): the last
    status, with ``Reconciled`` False naming why; a first run also gets ``Ready`` False."""
    failed = _condition(RECONCILED, False, reason, message)
    before = {c.get("type"): c for c in previous.get("conditions") or []}
    conditions = [c for c in previous.get("conditions") or [] if c.get("type") != RECONCILED]
    if READY not in before:
        conditions.insert(0, _condition(READY, False, reason, message))
    conditions.append(failed)
    _carry_transition_times(conditions[-1:] if READY in before else [conditions[0], failed],
                            list(before.values()), now, generation)
    new = {**previous, "conditions": conditions}
    if not previous.get("phase"):
        new.update(phase="Pending", message=message, observedGeneration=generation)
    return new
