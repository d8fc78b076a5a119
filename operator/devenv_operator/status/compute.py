"""PURE: the new status of an environment, from what one reconcile observed.

``compute`` takes the run's ``Observation``, the previous ``.status`` (a dict as read from
the API, possibly empty) and the current time, and returns a typed ``EnvStatus``; its
``as_dict`` is what is written. Every not-ready condition names what blocks it: which
service, which Secret, which reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from devenv_operator.lifecycle import shift
from devenv_operator.models import format_duration
from devenv_operator.reasons import FAILED, STUCK, Condition, Phase, Reason
from devenv_operator.status.endpoints import endpoint_entries, endpoints_condition
from devenv_operator.status.jobs import job_status, jobs_condition
from devenv_operator.status.observe import Observation, parse_time, rfc3339
from devenv_operator.status.services import service_status

ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Cond:
    """One metav1.Condition of the status."""

    type: str
    status: ConditionStatus
    reason: str
    message: str
    last_transition_time: str = ""
    observed_generation: int | None = None

    @property
    def true(self) -> bool:
        return self.status == "True"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "status": self.status,
                               "reason": self.reason, "message": self.message}
        if self.last_transition_time:
            out["lastTransitionTime"] = self.last_transition_time
        if self.observed_generation is not None:
            out["observedGeneration"] = self.observed_generation
        return out


@dataclass(frozen=True)
class EnvStatus:
    """A DevEnvironment's status as the operator computed it."""

    phase: Phase
    namespace: str | None
    observed_generation: int
    conditions: tuple[Cond, ...]  # Ready first
    services: tuple[Mapping[str, Any], ...]
    provisioning_started_at: str
    message: str
    ready_at: str | None = None
    expires_at: str | None = None
    endpoints: tuple[Mapping[str, Any], ...] | None = None
    template: Mapping[str, Any] | None = None
    jobs: tuple[Mapping[str, Any], ...] = ()
    class_name: str | None = None
    url: str | None = None

    @property
    def ready(self) -> Cond:
        return self.conditions[0]

    def as_dict(self) -> dict[str, Any]:
        """The ``.status`` to write (fields without a value left out)."""
        out: dict[str, Any] = {
            "phase": str(self.phase), "namespace": self.namespace,
            "observedGeneration": self.observed_generation,
            "conditions": [c.as_dict() for c in self.conditions],
            "services": [dict(s) for s in self.services],
            "jobs": [dict(j) for j in self.jobs] if self.jobs else None,
            "readyServices": f"{sum(bool(s['ready']) for s in self.services)}"
                             f"/{len(self.services)}",
            "readyAt": self.ready_at, "provisioningStartedAt": self.provisioning_started_at,
            "expiresAt": self.expires_at, "message": self.message,
            "endpoints": [dict(e) for e in self.endpoints] if self.endpoints else None,
            "template": dict(self.template) if self.template else None,
            "className": self.class_name, "url": self.url,
        }
        return {k: v for k, v in out.items() if v is not None}


def condition(ctype: str, ok: bool | None, reason: str, message: str) -> Cond:
    return Cond(ctype, "Unknown" if ok is None else ("True" if ok else "False"), reason,
                message)


def _services_condition(services: Sequence[Mapping[str, Any]], obs: Observation,
                        timed_out: bool) -> Cond:
    waiting = [s for s in services if not s["ready"]]
    if not waiting:
        return condition(Condition.SERVICES_READY, True, Reason.SERVICES_AVAILABLE,
                         f"All {len(services)} services are available")
    detail = "; ".join(f"{s['name']}: {s['message']}" for s in waiting)
    if timed_out:
        return condition(Condition.SERVICES_READY, False, Reason.READY_TIMEOUT,
                         f"Not ready after {format_duration(obs.ready_timeout)}: {detail}")
    reasons = {s["reason"] for s in waiting}
    stuck = next((s["reason"] for s in waiting if s["reason"] in STUCK), None)
    reason = (Reason.APPLY_FAILED if Reason.APPLY_FAILED in reasons else stuck or (
        Reason.DEPENDENCY_NOT_READY if Reason.DEPENDENCY_NOT_READY in reasons
        else Reason.SERVICE_NOT_READY))
    return condition(Condition.SERVICES_READY, False, reason, f"Waiting for services: {detail}")


_NAMESPACE_STATES: dict[str, tuple[str, str]] = {
    "ready": (Reason.NAMESPACE_CREATED, "Namespace {ns} is ready"),
    "conflict": (Reason.NAMESPACE_CONFLICT,
                 "Namespace {ns} already exists and was not created for this environment; it "
                 "is left untouched (choose another spec.namespace)"),
    "terminating": (Reason.NAMESPACE_TERMINATING,
                    "Waiting for namespace {ns} to finish terminating"),
    "failed": (Reason.NAMESPACE_FAILED, "Namespace {ns} could not be created or updated: "
               "{problem}"),
    "missing": (Reason.NAMESPACE_PENDING, "Namespace {ns} is being created"),
}


def _namespace_condition(obs: Observation) -> Cond:
    if obs.invalid is not None and obs.namespace_state != "ready":
        return condition(Condition.NAMESPACE_READY, False, obs.invalid_reason,
                         "Nothing is created while the spec is invalid or breaks its class's "
                         "policy")
    reason, text = _NAMESPACE_STATES[obs.namespace_state]
    return condition(Condition.NAMESPACE_READY, obs.namespace_state == "ready", reason,
                     text.format(ns=obs.namespace, problem=obs.namespace_problem))


def _config_condition(obs: Observation) -> Cond:
    if obs.secret_problems:
        return condition(Condition.CONFIG_SEEDED, False, obs.secret_problems[0].reason,
                         "; ".join(p.message for p in obs.secret_problems))
    if obs.apply_errors:
        return condition(Condition.CONFIG_SEEDED, False, Reason.APPLY_FAILED,
                         "; ".join(e.describe() for e in obs.apply_errors))
    return condition(Condition.CONFIG_SEEDED, True, Reason.CONFIG_SEEDED,
                     "ConfigMaps and Secrets seeded")


def _jobs_condition(obs: Observation, jobs: Sequence[Mapping[str, Any]],
                    timed_out: bool) -> Cond:
    ctype, ok, reason, message = jobs_condition(
        jobs, format_duration(obs.ready_timeout) if timed_out else None)
    return condition(ctype, ok, reason, message)


def _endpoints_condition(obs: Observation, timed_out: bool) -> Cond:
    ok, reason, message = endpoints_condition(obs.routes, timed_out,
                                              format_duration(obs.ready_timeout))
    return condition(Condition.ENDPOINTS_READY, ok, reason, message)


def _all_ready(obs: Observation, services: Sequence[Mapping[str, Any]],
               jobs: Sequence[Mapping[str, Any]]) -> str:
    text = f"All {len(services)} services are available"
    if jobs:
        text += f" and {len(jobs)} job{'s' if len(jobs) != 1 else ''} complete"
    if obs.routes:
        text += f"; {obs.routes[0].url or 'exposed ports routed'}"
    return text


def _readiness_conditions(obs: Observation, services: Sequence[Mapping[str, Any]],
                          jobs: Sequence[Mapping[str, Any]], timed_out: bool) -> list[Cond]:
    """Ready, NamespaceReady, ConfigSeeded, ServicesReady, (with jobs) JobsComplete and
    (with exposed ports) EndpointsReady."""
    ns_cond = _namespace_condition(obs)
    with_jobs = obs.with_jobs or bool(obs.jobs)
    optional = [*([Condition.JOBS_COMPLETE] if with_jobs else []),
                *([Condition.ENDPOINTS_READY] if obs.routes else [])]
    if obs.invalid is not None:
        text = (f"Invalid spec: {obs.invalid}" if obs.invalid_reason == Reason.INVALID_SPEC
                else obs.invalid)
        parts = [Condition.CONFIG_SEEDED, Condition.SERVICES_READY, *optional]
        return [condition(Condition.READY, False, obs.invalid_reason, text), ns_cond,
                *(condition(c, None, obs.invalid_reason, text) for c in parts)]
    if obs.namespace_state != "ready":
        waiting = "Waiting for the namespace"
        rest = [condition(c, None, Reason.NAMESPACE_PENDING, waiting) for c in (
            Condition.CONFIG_SEEDED, Condition.SERVICES_READY, *optional)]
    else:
        rest = [_config_condition(obs), _services_condition(services, obs, timed_out),
                *([_jobs_condition(obs, jobs, timed_out)] if with_jobs else []),
                *([_endpoints_condition(obs, timed_out)] if obs.routes else [])]
    blockers = [c for c in (ns_cond, *rest) if not c.true]
    if not blockers:
        ready = condition(Condition.READY, True, Reason.READY, _all_ready(obs, services, jobs))
    else:
        blocker = next((c for c in blockers if c.reason in FAILED), blockers[0])
        ready = condition(Condition.READY, False, blocker.reason, blocker.message)
    return [ready, ns_cond, *rest]


def _expiry_condition(obs: Observation) -> Cond:
    if obs.expires_at is None:
        return condition(Condition.EXPIRING_SOON, False, Reason.NO_EXPIRY,
                         "The environment does not expire")
    when = f"Expires at {rfc3339(obs.expires_at)}"
    if obs.expiring:
        return condition(Condition.EXPIRING_SOON, True, Reason.EXPIRING_SOON,
                         f"{when}; extend it by setting a later spec.expiresAt")
    if obs.expiry_note:
        return condition(Condition.EXPIRING_SOON, False, Reason.TTL_CLAMPED,
                         f"{when}: {obs.expiry_note}")
    return condition(Condition.EXPIRING_SOON, False, Reason.NOT_EXPIRING_SOON, when)


def _phase(obs: Observation, ready: Cond) -> Phase:
    if ready.true:
        return Phase.READY
    if ready.reason in FAILED:
        return Phase.FAILED
    if obs.namespace_state != "ready":
        return Phase.PENDING
    return Phase.PROVISIONING


def carry_transition_times(conditions: Sequence[Cond], previous: Sequence[Mapping[str, Any]],
                           now: datetime, generation: int) -> list[Cond]:
    """The conditions with their lastTransitionTime (kept while the status is unchanged)
    and observedGeneration."""
    before = {c.get("type"): c for c in previous}
    stamped = []
    for cond in conditions:
        old = before.get(cond.type)
        same = old is not None and old.get("status") == cond.status
        since = (old.get("lastTransitionTime") if same and old else None) or rfc3339(now)
        stamped.append(replace(cond, last_transition_time=since,
                               observed_generation=generation))
    return stamped


def provisioning_started(obs: Observation, previous: Mapping[str, Any], now: datetime
                         ) -> datetime:
    """When provisioning of the current generation began (creation for the first one)."""
    if obs.generation <= 1:
        return obs.created_at
    if previous.get("observedGeneration") == obs.generation:
        started = parse_time(previous.get("provisioningStartedAt"))
        if started is not None:
            return started
    return now


def _all_conditions(obs: Observation, services: Sequence[Mapping[str, Any]],
                    jobs: Sequence[Mapping[str, Any]], timed_out: bool) -> list[Cond]:
    conditions = [*_readiness_conditions(obs, services, jobs, timed_out),
                  _expiry_condition(obs),
                  condition(Condition.RECONCILED, True, Reason.RECONCILE_SUCCEEDED,
                            "The last reconcile completed")]
    ready = conditions[0]
    failed = ready if _phase(obs, ready) == Phase.FAILED else None
    conditions.append(condition(Condition.STALLED, failed is not None,
                                failed.reason if failed else Reason.NOT_STALLED,
                                failed.message if failed else "The environment is not failed"))
    if obs.template is not None:
        conditions.append(condition(Condition.TEMPLATE_RESOLVED, obs.template.ok,
                                    obs.template.reason, obs.template.message))
    return conditions


def compute(obs: Observation, previous: Mapping[str, Any], now: datetime) -> EnvStatus:
    """The new status. ``previous`` is the current ``.status`` (possibly empty)."""
    before = {s.get("name"): s for s in previous.get("services") or []}
    services = [service_status(s, before.get(s.name), now, obs.fail_fast) for s in obs.services]
    jobs = [job_status(j, now, obs.fail_fast) for j in obs.jobs]
    started = provisioning_started(obs, previous, now)
    already_ready = (previous.get("observedGeneration") == obs.generation
                     and bool(previous.get("readyAt")))
    timed_out = (not already_ready and now >= shift(started, obs.ready_timeout)
                 and (any(not s["ready"] for s in services)
                      or any(j["state"] not in ("Complete", "Failed") for j in jobs)
                      or any(not r.ready for r in obs.routes)))
    conditions = carry_transition_times(_all_conditions(obs, services, jobs, timed_out),
                                        previous.get("conditions") or [], now, obs.generation)
    ready = conditions[0]
    ready_at = previous.get("readyAt") if already_ready else None
    if ready.true and not ready_at:
        ready_at = rfc3339(now)
    ready_ns = obs.namespace_state == "ready"
    endpoints = tuple(endpoint_entries(obs.namespace, obs.endpoints, obs.routes)
                      ) if ready_ns else ()
    url = next((r.url for r in obs.routes if r.url), None) if ready_ns else None
    template = None if obs.template is None else {"name": obs.template.name, **(
        {"generation": obs.template.generation} if obs.template.generation else {})}
    return EnvStatus(
        phase=_phase(obs, ready), namespace=obs.namespace, observed_generation=obs.generation,
        conditions=tuple(conditions), services=tuple(services),
        provisioning_started_at=rfc3339(started), message=ready.message, ready_at=ready_at,
        expires_at=rfc3339(obs.expires_at) if obs.expires_at else None,
        endpoints=endpoints or None, template=template, jobs=tuple(jobs),
        class_name=obs.class_name, url=url)


def ready_deadline(obs: Observation, status: Mapping[str, Any]) -> datetime | None:
    """When a not-yet-ready environment times out, or None if that no longer applies."""
    if status.get("readyAt") or status.get("phase") in (Phase.READY, Phase.FAILED,
                                                        Phase.TERMINATING):
        return None
    started = parse_time(status.get("provisioningStartedAt"))
    return shift(started, obs.ready_timeout) if started else None
