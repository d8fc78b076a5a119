"""Pydantic models of the DevEnvironment spec and status: the single source of truth.

The CRD schema in ``crds/`` is generated from these models (see ``crdgen.py``), so field
descriptions here are what ``kubectl explain`` prints. The same models validate a spec inside
the operator, which catches what the schema cannot (a ``dependsOn`` cycle, for instance).

This module holds the API's names, the spec as a whole and the status; the parts of the spec
live beside it and are re-exported from here, so ``models.Service`` keeps working:
``workloads`` (``spec.services``), ``jobs`` (``spec.jobs``), ``seeds`` (``spec.config``) and
``fields`` (the base model, patterns, durations and schema extensions every model uses).

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from devenv_operator.fields import (
    CONFIG_KEY,
    DNS1035_LABEL,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    DURATION,
    ENV_NAME,
    MAX_DURATION,
    PORT_NAME,
    QUANTITY_RE,
    IntOrString,
    Model,
    Quantity,
    bounded_duration,
    cel_rules,
    format_duration,
    map_list,
    parse_duration,
)
from devenv_operator.jobs import MAX_JOB_NAME, Job
from devenv_operator.seeds import (
    Config,
    ConfigMapSeed,
    GenerateSpec,
    SecretSeed,
    SecretSource,
)
from devenv_operator.volumes import EmptyDir, Volume
from devenv_operator.workloads import (
    MAX_JOBS,
    MAX_SERVICES,
    Capabilities,
    EnvFromSource,
    EnvVar,
    EnvVarSource,
    ExecAction,
    Expose,
    FieldRef,
    GRPCAction,
    HTTPGetAction,
    HTTPHeader,
    KeySelector,
    LivenessProbe,
    LocalRef,
    Probe,
    ResourceFieldRef,
    Resources,
    SecurityContext,
    Service,
    ServiceName,
    ServicePort,
    TCPSocketAction,
)

# The public names of the spec and its parts, wherever they are defined.
__all__ = [
    "API_VERSION", "CATEGORIES", "CONFIG_KEY", "DEFAULT_READY_TIMEOUT", "DNS1035_LABEL",
    "DNS_LABEL", "DNS_SUBDOMAIN", "DURATION", "EARLIEST", "ENV_NAME", "GROUP", "KIND", "LATEST",
    "MAX_DURATION", "MAX_JOBS", "MAX_JOB_NAME", "MAX_NAME", "MAX_SERVICES", "PHASES", "PLURAL",
    "PORT_NAME", "QUANTITY_RE",
    "SHORT_NAMES", "SINGULAR", "VERSION", "Capabilities", "Condition", "Config", "ConfigMapSeed",
    "DevEnvironmentSpec", "DevEnvironmentStatus", "EmptyDir", "EndpointStatus", "EnvFromSource",
    "EnvVar", "EnvVarSource", "ExecAction", "Expose", "FieldRef", "GRPCAction", "GenerateSpec",
    "HTTPGetAction", "HTTPHeader", "IntOrString", "Job", "JobState", "JobStatus", "KeySelector",
    "LivenessProbe", "LocalRef",
    "Model", "Phase", "Probe", "Quantity", "ResourceFieldRef", "Resources", "SecretSeed",
    "SecretSource", "SecurityContext", "Service", "ServiceName", "ServicePort", "ServiceStatus",
    "TCPSocketAction", "TemplateRef", "TemplateStatusRef", "Volume", "bounded_duration",
    "format_duration", "parse_duration",
]

GROUP = "shipit.dev"
VERSION = "v1alpha1"
KIND = "DevEnvironment"
PLURAL = "devenvironments"
SINGULAR = "devenvironment"
SHORT_NAMES = ["devenv", "denv"]
CATEGORIES = ["shipit"]
API_VERSION = f"{GROUP}/{VERSION}"

# DevEnvironment names become label values (shipit.dev/environment), which hold 63.
MAX_NAME = 63
# Earliest and latest spec.expiresAt accepted (and what date arithmetic may reach).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

DEFAULT_READY_TIMEOUT = "10m"


_SPEC_RULES = cel_rules(
    (
        "has(self.templateRef) || !has(self.services) || self.services.all(s, "
        "!has(s.dependsOn) || s.dependsOn.all(d, self.services.exists(t, t.name == d) || "
        "(has(self.jobs) && self.jobs.exists(j, j.name == d))))",
        "every services[].dependsOn entry must name a service or a job of the spec",
    ),
    (
        "has(self.templateRef) || !has(self.jobs) || self.jobs.all(j, "
        "!has(j.dependsOn) || j.dependsOn.all(d, self.jobs.exists(t, t.name == d) || "
        "(has(self.services) && self.services.exists(t, t.name == d))))",
        "every jobs[].dependsOn entry must name a service or a job of the spec",
    ),
    (
        "!has(self.jobs) || !has(self.services) || "
        "self.jobs.all(j, !self.services.exists(s, s.name == j.name))",
        "a job cannot have the name of a service: names are unique among services and jobs",
    ),
    (
        "has(self.namespace) == has(oldSelf.namespace)",
        "spec.namespace is immutable: it cannot be added or removed after creation",
    ),
    (
        "has(self.className) == has(oldSelf.className)",
        "spec.className is immutable: it cannot be added or removed after creation",
    ),
    (
        "has(self.templateRef) || (has(self.services) && size(self.services) >= 1)",
        "spec.services needs at least one service (or a templateRef)",
    ),
)


class TemplateRef(Model):
    """The DevEnvironmentTemplate an environment is rendered from."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="Template name.")


def _distinct_claims(workloads: list[Service | Job]) -> None:
    claims = [claim for w in workloads for claim, _ in w.claims()]
    clash = sorted({c for c in claims if claims.count(c) > 1})
    if clash:
        raise ValueError(f"persistent volumes would share the claim name {', '.join(clash)} "
                         "(<service or job>-<volume>); rename one")


class DevEnvironmentSpec(Model):
    """Desired state of a development environment."""

    model_config = ConfigDict(json_schema_extra=_SPEC_RULES)

    owner: str | None = Field(
        None, max_length=253, description="Who the environment is for (user or team)."
    )
    namespace: str | None = Field(
        None, max_length=63, pattern=DNS_LABEL,
        json_schema_extra=cel_rules(("self == oldSelf", "spec.namespace is immutable")),
        description="Target namespace (immutable). Default: the operator prefix (dev-) + name.",
    )
    class_name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN,
        json_schema_extra=cel_rules(("self == oldSelf", "spec.className is immutable")),
        description="The DevEnvironmentClass whose policy applies (immutable). Default: the "
        "class annotated shipit.dev/is-default-class.",
    )
    ttl: str | None = Field(
        None, max_length=32, pattern=DURATION,
        description="Lifetime from creation, e.g. 90s, 30m, 8h, 2d. expiresAt wins over it.",
    )
    expires_at: datetime | None = Field(
        None, description="Absolute expiry (RFC 3339, 1970..9000); wins over ttl. Set it "
        "later to extend.",
        json_schema_extra=cel_rules((
            "self >= timestamp('1970-01-01T00:00:00Z') && "
            "self <= timestamp('9000-01-01T00:00:00Z')",
            "expiresAt must be between 1970-01-01 and 9000-01-01",
        )),
    )
    ready_timeout: str | None = Field(
        None, max_length=32, pattern=DURATION,
        description="How long provisioning may take before the environment is Failed "
        "(default 10m, or its template's).",
    )
    template_ref: TemplateRef | None = Field(
        None, description="A DevEnvironmentTemplate to render: its services and config, with "
        "spec.parameters, and spec.services/spec.config merged onto them by name.",
    )
    parameters: dict[str, Any] | None = Field(
        None, json_schema_extra={"maxProperties": 64,
                                 "additionalProperties": {
                                     "x-kubernetes-preserve-unknown-fields": True}},
        description="Values for the template's parameters (strings, numbers or booleans).",
    )
    services: list[Service] = Field(
        default_factory=list, max_length=MAX_SERVICES, json_schema_extra=map_list("name"),
        description="The workloads of the environment (1..50), keyed by name; with a "
        "templateRef, overrides merged by name onto the template's (may be empty).",
    )
    jobs: list[Job] = Field(
        default_factory=list, max_length=MAX_JOBS, json_schema_extra=map_list("name"),
        description="One-shot Jobs (0..20), keyed by name: run once their dependsOn are "
        "ready; a service or job that depends on one waits until it has completed. Ready "
        "needs every job complete; a failed job fails the environment (JobFailed). With a "
        "templateRef, overrides merged by name onto the template's.")
    config: Config | None = Field(None, description="ConfigMaps and Secrets to seed.")

    @model_validator(mode="after")
    def _references(self) -> DevEnvironmentSpec:
        if not self.services and self.template_ref is None:
            raise ValueError("services: at least one service is needed (or a templateRef)")
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError("services: names must be unique")
        _distinct_claims([*self.services, *self.jobs])
        jobs = [j.name for j in self.jobs]
        if len(set(jobs)) != len(jobs):
            raise ValueError("jobs: names must be unique")
        both = sorted(set(names) & set(jobs))
        if both:
            raise ValueError(f"jobs: {', '.join(both)} is also the name of a service (names "
                             "are unique among services and jobs)")
        known = {*names, *jobs}
        workloads = [("service", s.name, s.depends_on) for s in self.services] + [
            ("job", j.name, j.depends_on) for j in self.jobs]
        for what, name, depends_on in workloads:
            for dep in depends_on or []:
                if dep == name:
                    raise ValueError(f"{what} {name} depends on itself")
                if dep not in known and self.template_ref is None:  # else: the template's
                    raise ValueError(f"{what} {name} depends on unknown service or job {dep}")
        return self

    def dependencies(self) -> dict[str, list[str]]:
        """What each service and job depends on, by name (services first, in spec order)."""
        workloads: list[Service | Job] = [*self.services, *self.jobs]
        return {w.name: list(w.depends_on or []) for w in workloads}

    @field_validator("ttl", "ready_timeout")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return bounded_duration(value)

    @field_validator("expires_at")
    @classmethod
    def _expiry_range(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        if not EARLIEST <= aware <= LATEST:
            raise ValueError("expiresAt must be between 1970-01-01 and 9000-01-01")
        return value

    def ready_timeout_delta(self) -> timedelta:
        return parse_duration(self.ready_timeout or DEFAULT_READY_TIMEOUT)


# --- status -----------------------------------------------------------------------------

Phase = Literal["Pending", "Provisioning", "Ready", "Failed", "Terminating"]
PHASES: tuple[Phase, ...] = ("Pending", "Provisioning", "Ready", "Failed", "Terminating")


class Condition(Model):
    """A metav1.Condition."""

    type: str = Field(description="Ready, NamespaceReady, ConfigSeeded, ServicesReady, "
                      "JobsComplete, EndpointsReady, ExpiringSoon, Reconciled, Stalled or "
                      "TemplateResolved.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason, e.g. DependencyNotReady.")
    message: str = Field("", description="Human-readable detail naming what blocks it.")
    last_transition_time: str = Field(description="When status last changed.")
    observed_generation: int | None = Field(None, description="Generation this describes.")


class ServiceStatus(Model):
    """Readiness of one service."""

    name: str = Field(description="Service name.")
    ready: bool = Field(description="Whether all replicas are updated and available.")
    ready_replicas: int = Field(0, description="Pods ready.")
    replicas: int = Field(0, description="Pods wanted.")
    reason: str | None = Field(
        None, description="Available, or why not: DependencyNotReady, ServiceNotReady, "
        "ApplyFailed, ImagePullFailed, ContainerCreateFailed, CrashLooping.")
    message: str = Field("", description="What the service waits for, if not ready.")
    restarts: int = Field(0, description="Container restarts in the service's current pods.")
    last_termination_reason: str | None = Field(
        None, description="Reason of the most recent container termination (e.g. Error, "
        "OOMKilled).")
    last_exit_code: int | None = Field(
        None, description="Exit code of the most recent container termination.")


JobState = Literal["Pending", "Running", "Complete", "Failed"]


class JobStatus(Model):
    """Where one job stands."""

    name: str = Field(description="Job name (spec.jobs[].name).")
    job_name: str | None = Field(
        None, description="Name of its current Job object (<name>-<hash>), for kubectl logs "
        "job/<jobName>.")
    state: JobState = Field(description="Pending, Running, Complete or Failed.")
    reason: str | None = Field(
        None, description="JobComplete, or why not: DependencyNotReady, JobRunning, "
        "JobFailed, ApplyFailed.")
    attempts: int = Field(0, description="Pods started so far (failed, running and "
                          "succeeded).")
    started_at: str | None = Field(None, description="When its Job started.")
    completed_at: str | None = Field(None, description="When its Job completed.")
    message: str = Field(
        "", description="What it waits for; when it failed, why, and the last lines of "
        "the failed container's log (the job's own output: keep secrets out of it).")


class EndpointStatus(Model):
    """Where a service port is reached: inside the cluster, and from outside if exposed."""

    service: str = Field(description="Service name.")
    port: int = Field(description="Port number.")
    internal: str = Field(description="In-cluster address, e.g. api.dev-pr-1.svc.cluster.local"
                          ":8080.")
    url: str | None = Field(
        None, description="Exposed ports: the URL, https://<service>-<environment>."
        "<baseDomain>/<path>.")
    ready: bool | None = Field(
        None, description="Exposed ports: whether the gateway accepted its route (or the "
        "ingress controller gave its Ingress an address).")
    reason: str | None = Field(
        None, description="Exposed ports: RouteAccepted, or why not: RoutePending, "
        "RouteNotAccepted, GatewayNotFound, IngressClassNotFound...")


class TemplateStatusRef(Model):
    """The template an environment was last rendered from."""

    name: str = Field(description="Template name.")
    generation: int | None = Field(None, description="The template's generation rendered.")


class DevEnvironmentStatus(Model):
    """Observed state of a development environment."""

    phase: Phase | None = Field(
        None, description="Pending, Provisioning, Ready, Failed or Terminating."
    )
    namespace: str | None = Field(None, description="The namespace in use.")
    observed_generation: int | None = Field(None, description="Generation this describes.")
    conditions: list[Condition] | None = Field(
        None, json_schema_extra=map_list("type"),
        description="Ready, NamespaceReady, ConfigSeeded, ServicesReady (metav1.Condition).",
    )
    services: list[ServiceStatus] | None = Field(
        None, json_schema_extra=map_list("name"), description="Per-service readiness."
    )
    jobs: list[JobStatus] | None = Field(
        None, json_schema_extra=map_list("name"), description="Per-job state.")
    ready_services: str | None = Field(None, description="Ready services, e.g. 2/3.")
    ready_at: str | None = Field(
        None, description="When Ready first became True for the current generation."
    )
    provisioning_started_at: str | None = Field(
        None, description="When provisioning of the current generation started."
    )
    expires_at: str | None = Field(None, description="The effective expiry, if any.")
    message: str | None = Field(
        None, description="What the environment is waiting for, or why it failed."
    )
    endpoints: list[EndpointStatus] | None = Field(
        None, json_schema_extra={"x-kubernetes-list-type": "atomic"},
        description="The in-cluster address of every service port, and the URL of every "
        "exposed one.")
    url: str | None = Field(None, description="The URL of the first exposed port.")
    template: TemplateStatusRef | None = Field(
        None, description="The template rendered: its name and generation.")
    class_name: str | None = Field(
        None,
        description="The effective DevEnvironmentClass: spec.className, else the template's, "
        "else the cluster's default class. Changing it through templateRef is authorized "
        "at admission like choosing it at creation.")
    kopf: dict[str, Any] | None = Field(
        None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
        description="The operator framework's own bookkeeping (progress of the teardown). "
        "Kept in status, which only the operator may write, so it cannot be forged.",
    )
