"""Pydantic models of the DevEnvironment spec and status: the single source of truth.

The CRD schema in ``crds/`` is generated from these models (see ``crdgen.py``), so field
descriptions here are what ``kubectl explain`` prints. The same models validate a spec inside
the operator, which catches what the schema cannot (a ``dependsOn`` cycle, for instance).

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

GROUP = "shipit.dev"
VERSION = "v1alpha1"
KIND = "DevEnvironment"
PLURAL = "devenvironments"
SINGULAR = "devenvironment"
SHORT_NAMES = ["devenv", "denv"]
CATEGORIES = ["shipit"]
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
PORT_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# At most four parts of at most six digits: no duration can overflow date arithmetic.
DURATION = r"^([0-9]{1,6}[smhd]){1,4}$"
MAX_DURATION = timedelta(days=3650)  # ten years: longer is refused as a typo
# DevEnvironment names become label values (shipit.dev/environment), which hold 63.
MAX_NAME = 63
# Earliest and latest spec.expiresAt accepted (and what date arithmetic may reach).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

_DURATION_PART = re.compile(r"([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

MAX_SERVICES = 50
DEFAULT_READY_TIMEOUT = "10m"
QUANTITY_RE = re.compile(
    r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``30m``, ``8h``, ``2d`` or a combination such as ``1h30m``."""
    if not re.fullmatch(DURATION, text):
        raise ValueError(f"invalid duration {text!r}: use a number and a unit s, m, h or d "
                         "(at most 6 digits per part)")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def bounded_duration(text: str | None) -> str | None:
    """A duration field's validator: well-formed and at most ``MAX_DURATION``."""
    if text is not None and parse_duration(text) > MAX_DURATION:
        raise ValueError(f"{text} is longer than the maximum of {format_duration(MAX_DURATION)}")
    return text


def format_duration(delta: timedelta) -> str:
    """Render a duration the way users write it (``1d2h``, ``90s`` stays ``1m30s``)."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _rules(*rules: tuple[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


def _map_list(*keys: str) -> dict[str, Any]:
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


_SET_LIST: dict[str, Any] = {"x-kubernetes-list-type": "set"}
_ATOMIC_LIST: dict[str, Any] = {"x-kubernetes-list-type": "atomic"}
_CONFIG_KEYS: dict[str, Any] = {
    "maxProperties": 500,
    **_rules((
        "self.all(k, k.size() <= 253 && k.matches('^[-._a-zA-Z0-9]+$'))",
        "keys must be at most 253 letters, digits, '-', '_' or '.'",
    )),
}
_QUANTITIES: dict[str, Any] = _rules((
    "self.all(k, isQuantity(string(self[k])))", "values must be quantities such as 500m or 1Gi"
))


Quantity = Annotated[int | str, Field(json_schema_extra={"maxLength": 64})]
IntOrString = Annotated[int | str, Field(json_schema_extra={"maxLength": 63})]
ServiceName = Annotated[str, Field(max_length=63, pattern=DNS1035_LABEL)]


class Model(BaseModel):
    """Base: camelCase aliases as in Kubernetes, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ServicePort(Model):
    """A port a service listens on; exposed through its ClusterIP Service."""

    name: str | None = Field(
        None, max_length=15, pattern=PORT_NAME,
        description="Port name (IANA service name). Required when a service has several ports.",
    )
    port: int = Field(ge=1, le=65535, description="Port number, used for container and Service.")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field(
        "TCP", description="TCP (default), UDP or SCTP.")


class KeySelector(Model):
    """A reference to one key of a ConfigMap or Secret."""

    name: str = Field(max_length=253, description="Name of the ConfigMap or Secret.")
    key: str = Field(max_length=253, description="The key to select.")
    optional: bool | None = Field(None, description="Whether the reference may be missing.")


class FieldRef(Model):
    """A field of the pod, as core/v1 ObjectFieldSelector."""

    api_version: str | None = Field(None, max_length=64, description="Defaults to v1.")
    field_path: str = Field(
        min_length=1, max_length=256,
        description="Path of the field, e.g. metadata.name, status.podIP.")


class ResourceFieldRef(Model):
    """A container's resource request or limit, as core/v1 ResourceFieldSelector."""

    container_name: str | None = Field(None, max_length=63, description="Container name.")
    resource: str = Field(
        min_length=1, max_length=64, description="e.g. limits.cpu, requests.memory.")
    divisor: Quantity | None = Field(None, description="Output format, e.g. 1m, 1Mi.")


class EnvVarSource(Model):
    """Where an environment variable's value comes from, as on a core Container."""

    config_map_key_ref: KeySelector | None = Field(None, description="A key of a ConfigMap.")
    secret_key_ref: KeySelector | None = Field(None, description="A key of a Secret.")
    field_ref: FieldRef | None = Field(None, description="A field of the pod (fieldPath).")
    resource_field_ref: ResourceFieldRef | None = Field(
        None, description="A resource request or limit of a container.")


class EnvVar(Model):
    """An environment variable, as on a core Container."""

    model_config = ConfigDict(json_schema_extra=_rules(
        ("!(has(self.value) && has(self.valueFrom))", "set value or valueFrom, not both"),
    ))

    name: str = Field(max_length=253, pattern=ENV_NAME, description="Variable name.")
    value: str | None = Field(None, description="Literal value.")
    value_from: EnvVarSource | None = Field(
        None, description="Value from a seeded ConfigMap or Secret key, or a pod field."
    )


class LocalRef(Model):
    """A reference to a ConfigMap or Secret in the environment's namespace."""

    name: str = Field(max_length=253, description="Name of the ConfigMap or Secret.")
    optional: bool | None = Field(None, description="Whether it may be missing.")


class EnvFromSource(Model):
    """A source of many environment variables, as on a core Container."""

    prefix: str | None = Field(None, description="Prefix for every variable name.")
    config_map_ref: LocalRef | None = Field(None, description="All keys of a ConfigMap.")
    secret_ref: LocalRef | None = Field(None, description="All keys of a Secret.")


class ExecAction(Model):
    """Run a command in the container; exit 0 means ready."""

    command: list[str] = Field(
        min_length=1, max_length=64, json_schema_extra=_ATOMIC_LIST, description="Command.")


class HTTPHeader(Model):
    """A header of an HTTP probe."""

    name: str = Field(min_length=1, max_length=256, description="Header name.")
    value: str = Field(max_length=4096, description="Header value.")


class HTTPGetAction(Model):
    """An HTTP GET to the pod itself (no host: probes cannot target other hosts)."""

    path: str | None = Field(None, max_length=2048, description="Path, e.g. /healthz.")
    port: IntOrString = Field(description="Port number or name.")
    scheme: Literal["HTTP", "HTTPS"] | None = Field(None, description="HTTP (default) or HTTPS.")
    http_headers: list[HTTPHeader] | None = Field(
        None, max_length=16, json_schema_extra=_ATOMIC_LIST, description="Extra headers.")


class TCPSocketAction(Model):
    """A TCP connection to the pod itself (no host)."""

    port: IntOrString = Field(description="Port number or name.")


class GRPCAction(Model):
    """A gRPC health check of the pod itself."""

    port: int = Field(ge=1, le=65535, description="Port number.")
    service: str | None = Field(None, max_length=256, description="Service name to check.")


class Probe(Model):
    """A readiness probe, as on a core Container, against the pod itself only."""

    model_config = ConfigDict(json_schema_extra=_rules((
        "[has(self.exec), has(self.httpGet), has(self.tcpSocket), has(self.grpc)]"
        ".filter(x, x).size() == 1",
        "set exactly one of exec, httpGet, tcpSocket or grpc",
    )))

    exec: ExecAction | None = Field(None, description="Run a command in the container.")
    http_get: HTTPGetAction | None = Field(None, description="HTTP GET to the pod.")
    tcp_socket: TCPSocketAction | None = Field(None, description="TCP connect to the pod.")
    grpc: GRPCAction | None = Field(None, description="gRPC health check of the pod.")
    initial_delay_seconds: int | None = Field(None, ge=0, le=3600, description="Delay.")
    timeout_seconds: int | None = Field(None, ge=1, le=3600, description="Timeout.")
    period_seconds: int | None = Field(None, ge=1, le=3600, description="Interval.")
    success_threshold: int | None = Field(None, ge=1, le=1000, description="Successes.")
    failure_threshold: int | None = Field(None, ge=1, le=1000, description="Failures.")

    @model_validator(mode="after")
    def _one_handler(self) -> Probe:
        handlers = [self.exec, self.http_get, self.tcp_socket, self.grpc]
        if sum(h is not None for h in handlers) != 1:
            raise ValueError("set exactly one of exec, httpGet, tcpSocket or grpc")
        return self


class Resources(Model):
    """Compute resources, as on a core Container."""

    requests: dict[str, Quantity] | None = Field(
        None, max_length=16, json_schema_extra=_QUANTITIES,
        description="Minimum resources (cpu, memory, ...), e.g. {cpu: 100m, memory: 128Mi}.",
    )
    limits: dict[str, Quantity] | None = Field(
        None, max_length=16, json_schema_extra=_QUANTITIES,
        description="Maximum resources (cpu, memory, ...), e.g. {memory: 1Gi}.",
    )


class Service(Model):
    """One workload of the environment: a Deployment, plus a ClusterIP Service if it has ports."""

    model_config = ConfigDict(json_schema_extra=_rules(
        ("!has(self.dependsOn) || !(self.name in self.dependsOn)",
         "a service cannot depend on itself"),
    ))

    name: str = Field(
        max_length=63, pattern=DNS1035_LABEL,
        description="Service name (DNS-1035 label): name of its Deployment and Service.",
    )
    image: str = Field(min_length=1, max_length=1024, description="Container image.")
    command: list[str] | None = Field(
        None, json_schema_extra=_ATOMIC_LIST, description="Entrypoint, as on a core Container."
    )
    args: list[str] | None = Field(
        None, json_schema_extra=_ATOMIC_LIST, description="Arguments, as on a core Container."
    )
    env: list[EnvVar] | None = Field(
        None, max_length=200, json_schema_extra=_map_list("name"),
        description="Environment variables; may reference seeded ConfigMaps and Secrets.",
    )
    env_from: list[EnvFromSource] | None = Field(
        None, max_length=50, json_schema_extra=_ATOMIC_LIST,
        description="Environment from whole seeded ConfigMaps or Secrets.",
    )
    ports: list[ServicePort] | None = Field(
        None, max_length=20, json_schema_extra={
            **_map_list("port", "protocol"),
            **_rules(("self.size() <= 1 || self.all(p, has(p.name))",
                      "every port needs a name when a service has several ports")),
        },
        description="Ports; a ClusterIP Service named after the service is created for them.",
    )
    replicas: int = Field(1, ge=0, le=20, description="Number of pods (0..20, default 1).")
    resources: Resources | None = Field(None, description="Compute requests and limits.")
    readiness_probe: Probe | None = Field(
        None, description="Readiness probe, as on a core Container (httpGet, tcpSocket, exec "
        "or grpc), against the pod itself.",
    )
    depends_on: list[ServiceName] | None = Field(
        None, max_length=MAX_SERVICES - 1, json_schema_extra=_SET_LIST,
        description="Services that must be Available before this one is created.",
    )

    @field_validator("resources")
    @classmethod
    def _quantities(cls, value: Resources | None) -> Resources | None:
        for group in (value.requests, value.limits) if value else ():
            for key, qty in (group or {}).items():
                if isinstance(qty, str) and not QUANTITY_RE.fullmatch(qty):
                    raise ValueError(f"resources {key}: {qty!r} is not a quantity")
        return value



def _config_keys(data: dict[str, str]) -> dict[str, str]:
    if len(data) > 500:
        raise ValueError("at most 500 keys")
    for key in data:
        if len(key) > 253 or not re.fullmatch(CONFIG_KEY, key):
            raise ValueError(f"{key[:64]!r} is not a valid key (at most 253 letters, digits, "
                             "'-', '_' or '.')")
    return data


class ConfigMapSeed(Model):
    """A ConfigMap seeded into the environment's namespace."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="ConfigMap name.")
    data: dict[str, str] = Field(
        default_factory=dict, description="Keys and literal values.",
        json_schema_extra=_CONFIG_KEYS,
    )

    @field_validator("data")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        return _config_keys(value)


class GenerateSpec(Model):
    """Random values generated once and never rotated by reconciles."""

    keys: list[str] = Field(
        min_length=1, max_length=50, json_schema_extra=_SET_LIST,
        description="Keys to fill with random values.",
    )
    length: int = Field(32, ge=8, le=256, description="Length of each value (8..256, default 32).")

    @field_validator("keys")
    @classmethod
    def _key_names(cls, value: list[str]) -> list[str]:
        for key in value:
            if not re.fullmatch(CONFIG_KEY, key):
                raise ValueError(f"{key!r} is not a valid Secret key")
        return value


class SecretSource(Model):
    """An existing Secret to copy; it must be labelled shipit.dev/copyable=true."""

    namespace: str = Field(max_length=63, pattern=DNS_LABEL, description="Source namespace.")
    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="Source Secret name.")


class SecretSeed(Model):
    """A Secret seeded into the namespace from exactly one source."""

    model_config = ConfigDict(json_schema_extra=_rules((
        "[has(self.stringData), has(self.generate), has(self.copyFrom)]"
        ".filter(x, x).size() == 1",
        "set exactly one of stringData, generate or copyFrom",
    )))

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="Secret name.")
    string_data: dict[str, str] | None = Field(
        None, description="Literal values. Anyone who can read this DevEnvironment can read "
        "them: use generate or copyFrom for real credentials.",
        json_schema_extra=_CONFIG_KEYS,
    )
    generate: GenerateSpec | None = Field(None, description="Random values, generated once.")
    copy_from: SecretSource | None = Field(
        None, description="Copy of a Secret whose owner opted in (label shipit.dev/copyable)."
    )

    @field_validator("string_data")
    @classmethod
    def _keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _config_keys(value)

    @model_validator(mode="after")
    def _one_source(self) -> SecretSeed:
        sources = [self.string_data is not None, self.generate is not None,
                   self.copy_from is not None]
        if sum(sources) != 1:
            raise ValueError(
                f"secret {self.name}: set exactly one of stringData, generate or copyFrom"
            )
        return self


class Config(Model):
    """ConfigMaps and Secrets seeded into the namespace before services start."""

    config_maps: list[ConfigMapSeed] | None = Field(
        None, max_length=50, json_schema_extra=_map_list("name"),
        description="ConfigMaps to create.",
    )
    secrets: list[SecretSeed] | None = Field(
        None, max_length=50, json_schema_extra=_map_list("name"),
        description="Secrets to create.",
    )


_SPEC_RULES = _rules(
    (
        "has(self.templateRef) || !has(self.services) || self.services.all(s, "
        "!has(s.dependsOn) || s.dependsOn.all(d, self.services.exists(t, t.name == d)))",
        "every services[].dependsOn entry must name a service in spec.services",
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


class DevEnvironmentSpec(Model):
    """Desired state of a development environment."""

    model_config = ConfigDict(json_schema_extra=_SPEC_RULES)

    owner: str | None = Field(
        None, max_length=253, description="Who the environment is for (user or team)."
    )
    namespace: str | None = Field(
        None, max_length=63, pattern=DNS_LABEL,
        json_schema_extra=_rules(("self == oldSelf", "spec.namespace is immutable")),
        description="Target namespace (immutable). Default: the operator prefix (dev-) + name.",
    )
    class_name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN,
        json_schema_extra=_rules(("self == oldSelf", "spec.className is immutable")),
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
        json_schema_extra=_rules((
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
        default_factory=list, max_length=MAX_SERVICES, json_schema_extra=_map_list("name"),
        description="The workloads of the environment (1..50), keyed by name; with a "
        "templateRef, overrides merged by name onto the template's (may be empty).",
    )
    config: Config | None = Field(None, description="ConfigMaps and Secrets to seed.")

    @model_validator(mode="after")
    def _references(self) -> DevEnvironmentSpec:
        if not self.services and self.template_ref is None:
            raise ValueError("services: at least one service is needed (or a templateRef)")
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError("services: names must be unique")
        known = set(names)
        for service in self.services:
            for dep in service.depends_on or []:
                if dep == service.name:
                    raise ValueError(f"service {service.name} depends on itself")
                if dep not in known and self.template_ref is None:  # else: the template's
                    raise ValueError(f"service {service.name} depends on unknown service {dep}")
        return self

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

    def ttl_delta(self) -> timedelta | None:
        return parse_duration(self.ttl) if self.ttl else None

    def ready_timeout_delta(self) -> timedelta:
        return parse_duration(self.ready_timeout or DEFAULT_READY_TIMEOUT)


# --- status -----------------------------------------------------------------------------

Phase = Literal["Pending", "Provisioning", "Ready", "Failed", "Terminating"]
PHASES: tuple[Phase, ...] = ("Pending", "Provisioning", "Ready", "Failed", "Terminating")


class Condition(Model):
    """A metav1.Condition."""

    type: str = Field(description="Ready, NamespaceReady, ConfigSeeded, ServicesReady, "
                      "ExpiringSoon, Reconciled, Stalled or TemplateResolved.")
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
        "ApplyFailed, ImagePullFailed, CrashLooping.")
    message: str = Field("", description="What the service waits for, if not ready.")
    restarts: int = Field(0, description="Container restarts in the service's current pods.")
    last_termination_reason: str | None = Field(
        None, description="Reason of the most recent container termination (e.g. Error, "
        "OOMKilled).")
    last_exit_code: int | None = Field(
        None, description="Exit code of the most recent container termination.")


class EndpointStatus(Model):
    """Where a service port is reached inside the cluster."""

    service: str = Field(description="Service name.")
    port: int = Field(description="Port number.")
    internal: str = Field(description="In-cluster address, e.g. api.dev-pr-1.svc.cluster.local"
                          ":8080.")


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
        None, json_schema_extra=_map_list("type"),
        description="Ready, NamespaceReady, ConfigSeeded, ServicesReady (metav1.Condition).",
    )
    services: list[ServiceStatus] | None = Field(
        None, json_schema_extra=_map_list("name"), description="Per-service readiness."
    )
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
        description="The in-cluster address of every service port.")
    template: TemplateStatusRef | None = Field(
        None, description="The template rendered: its name and generation.")
    kopf: dict[str, Any] | None = Field(
        None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
        description="The operator framework's own bookkeeping (progress of the teardown). "
        "Kept in status, which only the operator may write, so it cannot be forged.",
    )
