"""PURE: what a reconcile observed, as status computation takes it.

The observations (namespace, config problems, Deployments and their pods, Jobs) that the steps
collect, and the vocabulary they are stated in (``reasons``, re-exported under the names
the rest of the operator has always used).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from devenv_operator.builders import Ownership, SecretProblem
from devenv_operator.pods import FailFast
from devenv_operator.reasons import FAILED, RECOVERABLE, RUN_FAILURE, STUCK, Condition, Reason
from devenv_operator.status.endpoints import RouteObservation

READY = Condition.READY
NAMESPACE_READY = Condition.NAMESPACE_READY
CONFIG_SEEDED = Condition.CONFIG_SEEDED
SERVICES_READY = Condition.SERVICES_READY
EXPIRING_SOON = Condition.EXPIRING_SOON
RECONCILED = Condition.RECONCILED
TEMPLATE_RESOLVED = Condition.TEMPLATE_RESOLVED
STALLED = Condition.STALLED
JOBS_COMPLETE = Condition.JOBS_COMPLETE
ENDPOINTS_READY = Condition.ENDPOINTS_READY
CONDITION_TYPES = tuple(Condition)
FAILED_REASONS = FAILED
RECOVERABLE_FAILURES = RECOVERABLE
STUCK_REASONS = STUCK
RUN_FAILURE_REASONS = RUN_FAILURE
REASONS = tuple(Reason)  # every reason the operator may set; metric labels come from it

# Where the environment's namespace stands, as the reconcile found it.
NamespaceState = Literal["ready", "missing", "conflict", "terminating", "failed"]

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
class JobObservation:
    """One job as the reconcile found it."""

    name: str
    job_name: str  # the name of the Job its current spec renders to
    job: Mapping[str, Any] | None = None  # that Job (None: not created, or not yet)
    waiting_for: Sequence[str] = ()  # dependencies not yet ready (so it is not created)
    error: ApplyFailure | None = None  # the API server refused its Job
    log: str | None = None  # when it failed: the last lines of its failed container's log
    pods: Sequence[Mapping[str, Any]] = ()  # read when it runs late (else not read)


@dataclass(frozen=True)
class TemplateObservation:
    """How an environment's template rendered (``reason`` TemplateRendered when it did)."""

    name: str
    generation: int | None
    reason: str
    message: str

    @property
    def ok(self) -> bool:
        return self.reason == Reason.TEMPLATE_RENDERED


@dataclass(frozen=True)
class Observation:
    """Everything status computation needs from one reconcile."""

    generation: int
    created_at: datetime
    namespace: str | None = None
    invalid: str | None = None  # why nothing is created or changed (the spec, its class)
    invalid_reason: str = Reason.INVALID_SPEC  # or PolicyViolation, ClassNotFound
    namespace_state: NamespaceState = "missing"
    namespace_problem: str | None = None  # why the API server refused it ("failed")
    secret_problems: Sequence[SecretProblem] = ()
    apply_errors: Sequence[ApplyFailure] = ()
    services: Sequence[ServiceObservation] = ()
    jobs: Sequence[JobObservation] = ()
    with_jobs: bool = False  # the spec has jobs (condition JobsComplete, whatever else)
    ready_timeout: timedelta = timedelta(minutes=10)
    expires_at: datetime | None = None
    expiring: bool = False  # within the warning window before expiry
    expiry_note: str | None = None  # e.g. the request was clamped to the maximum lifetime
    template: TemplateObservation | None = None
    class_name: str | None = None  # the effective class (named, the template's, the default)
    endpoints: Sequence[tuple[str, int]] = ()  # (service, port) of every service port
    routes: Sequence[RouteObservation] = ()  # each exposed port (condition EndpointsReady)
    fail_fast: FailFast = field(default_factory=FailFast)
