"""PURE: the vocabulary of a DevEnvironment's status, shared by the operator and the plugin.

Phases, condition types and reasons are string enums: they compare equal to the strings in
a status read back from the API, and a typo is a NameError instead of a silent mismatch.
Metric labels come from these fixed sets. Nothing here imports anything of the project.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """``status.phase``."""

    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    FAILED = "Failed"
    TERMINATING = "Terminating"


class Condition(StrEnum):
    """The condition types of ``status.conditions``."""

    READY = "Ready"
    NAMESPACE_READY = "NamespaceReady"
    CONFIG_SEEDED = "ConfigSeeded"
    SERVICES_READY = "ServicesReady"
    EXPIRING_SOON = "ExpiringSoon"
    RECONCILED = "Reconciled"
    STALLED = "Stalled"  # kstatus: True whenever the phase is Failed
    TEMPLATE_RESOLVED = "TemplateResolved"
    JOBS_COMPLETE = "JobsComplete"  # only on environments with spec.jobs
    ENDPOINTS_READY = "EndpointsReady"  # only on environments that expose a port


class Reason(StrEnum):
    """Every reason the operator may set on a condition or a service."""

    READY = "Ready"
    INVALID_SPEC = "InvalidSpec"
    NAMESPACE_CONFLICT = "NamespaceConflict"
    NAMESPACE_TERMINATING = "NamespaceTerminating"
    NAMESPACE_CREATED = "NamespaceCreated"
    NAMESPACE_PENDING = "NamespacePending"
    NAMESPACE_FAILED = "NamespaceFailed"
    SECRET_NOT_COPYABLE = "SecretNotCopyable"  # noqa: S105 (a reason, not a password)
    CONFIG_SEEDED = "ConfigSeeded"
    APPLY_FAILED = "ApplyFailed"
    DEPENDENCY_NOT_READY = "DependencyNotReady"
    SERVICE_NOT_READY = "ServiceNotReady"
    SERVICES_AVAILABLE = "ServicesAvailable"
    READY_TIMEOUT = "ReadyTimeout"
    EXPIRED = "Expired"
    TERMINATING = "Terminating"
    EXPIRING_SOON = "ExpiringSoon"
    NOT_EXPIRING_SOON = "NotExpiringSoon"
    NO_EXPIRY = "NoExpiry"
    TTL_CLAMPED = "TTLClamped"
    AVAILABLE = "Available"
    RECONCILE_SUCCEEDED = "ReconcileSucceeded"
    POLICY_VIOLATION = "PolicyViolation"
    CLASS_NOT_FOUND = "ClassNotFound"
    TEMPLATE_NOT_FOUND = "TemplateNotFound"
    PARAMETER_INVALID = "ParameterInvalid"
    TEMPLATE_INVALID = "TemplateInvalid"
    TEMPLATE_RENDERED = "TemplateRendered"
    TEMPLATE_VALID = "TemplateValid"  # a DevEnvironmentTemplate's own Valid condition
    NOT_STALLED = "NotStalled"
    IMAGE_PULL_FAILED = "ImagePullFailed"
    CRASH_LOOPING = "CrashLooping"
    CONTAINER_CREATE_FAILED = "ContainerCreateFailed"
    # Jobs (status.jobs[].reason, condition JobsComplete).
    JOBS_COMPLETE = "JobsComplete"
    JOB_COMPLETE = "JobComplete"
    JOB_PENDING = "JobPending"
    JOB_RUNNING = "JobRunning"
    JOB_FAILED = "JobFailed"
    JOB_NOT_COMPLETE = "JobNotComplete"
    # Exposed ports (status.endpoints[].reason, condition EndpointsReady).
    ENDPOINTS_READY = "EndpointsReady"
    ROUTE_ACCEPTED = "RouteAccepted"
    ROUTE_PENDING = "RoutePending"
    ROUTE_NOT_ACCEPTED = "RouteNotAccepted"
    GATEWAY_NOT_FOUND = "GatewayNotFound"
    GATEWAY_API_MISSING = "GatewayAPIMissing"
    INGRESS_CLASS_NOT_FOUND = "IngressClassNotFound"
    INGRESS_PENDING = "IngressPending"
    EXPOSURE_UNAVAILABLE = "ExposureUnavailable"
    HOSTNAME_TAKEN = "HostnameTaken"
    # Why a whole run failed (condition Reconciled); the run is retried with backoff.
    FORBIDDEN = "Forbidden"
    API_ERROR = "ApiError"
    RECONCILE_ERROR = "ReconcileError"


# Reasons that put the environment in phase Failed (reconciling still goes on).
FAILED = frozenset({
    Reason.INVALID_SPEC, Reason.NAMESPACE_CONFLICT, Reason.NAMESPACE_FAILED,
    Reason.SECRET_NOT_COPYABLE, Reason.READY_TIMEOUT, Reason.APPLY_FAILED,
    Reason.POLICY_VIOLATION, Reason.CLASS_NOT_FOUND, Reason.TEMPLATE_NOT_FOUND,
    Reason.PARAMETER_INVALID, Reason.TEMPLATE_INVALID, Reason.IMAGE_PULL_FAILED,
    Reason.CRASH_LOOPING, Reason.CONTAINER_CREATE_FAILED, Reason.JOB_FAILED,
    Reason.ROUTE_NOT_ACCEPTED, Reason.GATEWAY_NOT_FOUND, Reason.GATEWAY_API_MISSING,
    Reason.INGRESS_CLASS_NOT_FOUND, Reason.EXPOSURE_UNAVAILABLE, Reason.HOSTNAME_TAKEN,
})
# Failed reasons that may clear by themselves (the cause goes away): re-checked often.
RECOVERABLE = frozenset({Reason.READY_TIMEOUT, Reason.IMAGE_PULL_FAILED, Reason.CRASH_LOOPING,
                         Reason.CONTAINER_CREATE_FAILED, Reason.ROUTE_NOT_ACCEPTED,
                         Reason.GATEWAY_NOT_FOUND, Reason.GATEWAY_API_MISSING,
                         Reason.INGRESS_CLASS_NOT_FOUND, Reason.HOSTNAME_TAKEN})
# Service reasons that fail the environment early (pods.FailFast thresholds passed).
STUCK = (Reason.IMAGE_PULL_FAILED, Reason.CONTAINER_CREATE_FAILED, Reason.CRASH_LOOPING)
# Why a whole run failed; the run is retried with backoff.
RUN_FAILURE = (Reason.FORBIDDEN, Reason.API_ERROR, Reason.RECONCILE_ERROR)
