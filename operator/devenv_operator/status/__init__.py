"""PURE status computation: observed children -> conditions, phase, message.

``observe``: what a reconcile saw; ``services``: one service's readiness and why not;
``jobs``: where one job stands, and whether they all completed;
``compute``: the typed status of a run; ``writes``: the status patches outside a normal
run (teardown, a failed run). Nothing here imports the client, Kopf or the clock.
"""

from devenv_operator.status.compute import (
    Cond,
    EnvStatus,
    carry_transition_times,
    compute,
    condition,
    provisioning_started,
    ready_deadline,
)
from devenv_operator.status.jobs import job_status, jobs_condition, trim_log
from devenv_operator.status.observe import (
    CONDITION_TYPES,
    CONFIG_SEEDED,
    EXPIRING_SOON,
    FAILED_REASONS,
    JOBS_COMPLETE,
    NAMESPACE_READY,
    READY,
    REASONS,
    RECONCILED,
    RECOVERABLE_FAILURES,
    RUN_FAILURE_REASONS,
    SERVICES_READY,
    STALLED,
    STUCK_REASONS,
    TEMPLATE_RESOLVED,
    ApplyFailure,
    JobObservation,
    NamespaceState,
    Observation,
    ServiceObservation,
    TemplateObservation,
    namespace_state,
    parse_time,
    rfc3339,
)
from devenv_operator.status.services import (
    deployment_available,
    service_status,
    with_pods,
    worth_listing_pods,
    worth_rechecking_pods,
)
from devenv_operator.status.writes import (
    merge_patch,
    namespace_blockers,
    run_failed,
    terminating,
)

__all__ = [
    "CONDITION_TYPES", "CONFIG_SEEDED", "EXPIRING_SOON", "FAILED_REASONS", "JOBS_COMPLETE",
    "NAMESPACE_READY",
    "READY", "REASONS", "RECONCILED", "RECOVERABLE_FAILURES", "RUN_FAILURE_REASONS",
    "SERVICES_READY", "STALLED", "STUCK_REASONS", "TEMPLATE_RESOLVED", "ApplyFailure", "Cond",
    "EnvStatus", "JobObservation", "NamespaceState", "Observation", "ServiceObservation",
    "TemplateObservation",
    "carry_transition_times", "compute", "condition", "deployment_available", "job_status",
    "jobs_condition", "merge_patch",
    "namespace_blockers", "namespace_state", "parse_time", "provisioning_started",
    "ready_deadline", "rfc3339", "run_failed", "service_status", "terminating", "trim_log",
    "with_pods",
    "worth_listing_pods", "worth_rechecking_pods",
]
