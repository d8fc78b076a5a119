"""The services of a DevEnvironment: one ``Service`` (a Deployment, plus a ClusterIP Service
if it has ports) and its parts (ports, environment variables, probes, resources, security).

These models are the ``spec.services`` of the DevEnvironment CRD; their descriptions are
what ``kubectl explain devenv.spec.services`` prints. ``models`` assembles them into the spec
and re-exports them. Cross-service checks (``dependsOn`` naming a known service) belong to the
spec, not here.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from devenv_operator.fields import (
    ATOMIC_LIST,
    DNS1035_LABEL,
    ENV_NAME,
    PORT_NAME,
    QUANTITIES,
    QUANTITY_RE,
    SET_LIST,
    IntOrString,
    Model,
    Quantity,
    cel_rules,
    map_list,
)
from devenv_operator.volumes import MAX_VOLUMES, VOLUME_LIST, Volume, claims_of, distinct

MAX_SERVICES = 50
MAX_JOBS = 20  # spec.jobs (the jobs module, which builds on this one)

ServiceName = Annotated[str, Field(max_length=63, pattern=DNS1035_LABEL)]


class Expose(Model):
    """How a port is reached over HTTP from outside the cluster (the class decides through
    what: a Gateway or an IngressClass, and under which base domain)."""

    path: str = Field(
        "/", min_length=1, max_length=256, pattern=r"^/[-A-Za-z0-9/._~%!$&'()*+,;=:@]*$",
        description="Path prefix routed to the port (default /).")


class ServicePort(Model):
    """A port a service listens on; exposed through its ClusterIP Service."""

    name: str | None = Field(
        None, max_length=15, pattern=PORT_NAME,
        description="Port name (IANA service name). Required when a service has several ports.",
    )
    port: int = Field(ge=1, le=65535, description="Port number, used for container and Service.")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field(
        "TCP", description="TCP (default), UDP or SCTP.")
    expose: bool | Expose | None = Field(
        None, description="Reach the port over HTTP at https://<service>-<environment>."
        "<baseDomain> (the class's exposure): true, or {path: /prefix}. The URL is in "
        "status.endpoints[].url and status.url. TCP ports only.")

    @model_validator(mode="after")
    def _exposable(self) -> ServicePort:
        if self.exposure() is not None and self.protocol != "TCP":
            raise ValueError(f"port {self.port}: only a TCP port can be exposed over HTTP")
        return self

    def exposure(self) -> Expose | None:
        """How the port is exposed (None: it is not)."""
        if isinstance(self.expose, Expose):
            return self.expose
        return Expose() if self.expose else None


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

    model_config = ConfigDict(json_schema_extra=cel_rules(
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
        min_length=1, max_length=64, json_schema_extra=ATOMIC_LIST, description="Command.")


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
        None, max_length=16, json_schema_extra=ATOMIC_LIST, description="Extra headers.")


class TCPSocketAction(Model):
    """A TCP connection to the pod itself (no host)."""

    port: IntOrString = Field(description="Port number or name.")


class GRPCAction(Model):
    """A gRPC health check of the pod itself."""

    port: int = Field(ge=1, le=65535, description="Port number.")
    service: str | None = Field(None, max_length=256, description="Service name to check.")


class Probe(Model):
    """A probe (readiness, liveness or startup), as on a core Container, against the pod
    itself only."""

    model_config = ConfigDict(json_schema_extra=cel_rules((
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


class LivenessProbe(Probe):
    """A liveness or startup probe: as a readiness probe, but one success is enough."""

    success_threshold: int | None = Field(
        None, ge=1, le=1, description="Must be 1 for liveness and startup probes.")


class Resources(Model):
    """Compute resources, as on a core Container."""

    requests: dict[str, Quantity] | None = Field(
        None, max_length=16, json_schema_extra=QUANTITIES,
        description="Minimum resources (cpu, memory, ...), e.g. {cpu: 100m, memory: 128Mi}.",
    )
    limits: dict[str, Quantity] | None = Field(
        None, max_length=16, json_schema_extra=QUANTITIES,
        description="Maximum resources (cpu, memory, ...), e.g. {memory: 1Gi}.",
    )


def _no_cap_prefix(value: str) -> str:
    if value.startswith("CAP_"):
        raise ValueError(_CAP_PREFIX)
    return value


# containerd prefixes CAP_ itself (CAP_CAP_CHOWN fails the container) and Pod Security
# baseline allows only the bare names: refuse the prefix.
_CAP_PREFIX = "write a capability without CAP_, e.g. CHOWN"
Capability = Annotated[str, Field(pattern=r"^[A-Z_]{2,32}$", json_schema_extra=cel_rules(
    ("!self.startsWith('CAP_')", _CAP_PREFIX))), AfterValidator(_no_cap_prefix)]
# Linux IDs the runtime accepts (the API's int64 goes further; no kernel does).
MAX_ID = 2147483647


class Capabilities(Model):
    """Linux capabilities added to the container (after the class drops them all)."""

    add: list[Capability] | None = Field(
        None, max_length=16, json_schema_extra=SET_LIST,
        description="Capabilities to add, e.g. [CHOWN, SETUID, SETGID]; each must be in the "
        "class's workloadSecurity.allowedCapabilities (or addCapabilities).")


class SecurityContext(Model):
    """Who the service's container runs as, bounded by the class's workloadSecurity.

    Privilege escalation, privileged mode and host namespaces are not fields here: the
    class alone decides them.
    """

    model_config = ConfigDict(json_schema_extra=cel_rules((
        "!(has(self.runAsNonRoot) && self.runAsNonRoot == true && has(self.runAsUser) && "
        "self.runAsUser == 0)", "runAsNonRoot: true contradicts runAsUser: 0",
    )))

    run_as_user: int | None = Field(
        None, ge=0, le=MAX_ID, description="UID the container's processes run as (0 is root, "
        "allowed only when the class's workloadSecurity.allowRoot is true).")
    run_as_group: int | None = Field(
        None, ge=0, le=MAX_ID, description="Primary GID of the container's processes.")
    fs_group: int | None = Field(
        None, ge=0, le=MAX_ID, description="GID that owns the pod's volumes and is added to "
        "every process's groups (set on the pod).")
    run_as_non_root: bool | None = Field(
        None, description="Refuse to start the container as UID 0 (false only when the "
        "class's workloadSecurity.allowRoot is true).")
    read_only_root_filesystem: bool | None = Field(
        None, description="Mount the container's root filesystem read-only.")
    capabilities: Capabilities | None = Field(
        None, description="Capabilities to add, within the class's allowedCapabilities.")

    @model_validator(mode="after")
    def _consistent(self) -> SecurityContext:
        if self.run_as_non_root and self.run_as_user == 0:
            raise ValueError("runAsNonRoot: true contradicts runAsUser: 0")
        return self


class Service(Model):
    """One workload of the environment: a Deployment, plus a ClusterIP Service if it has ports."""

    model_config = ConfigDict(json_schema_extra=cel_rules(
        ("!has(self.dependsOn) || !(self.name in self.dependsOn)",
         "a service cannot depend on itself"),
    ))

    name: str = Field(
        max_length=63, pattern=DNS1035_LABEL,
        description="Service name (DNS-1035 label): name of its Deployment and Service.",
    )
    image: str = Field(min_length=1, max_length=1024, description="Container image.")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        None, description="Always, IfNotPresent or Never, as on a core Container (default: "
        "Always for :latest or no tag, else IfNotPresent). Always for a tag rebuilt under "
        "the same name, such as api:pr-42.")
    working_dir: str | None = Field(
        None, min_length=1, max_length=1024, pattern=r"^/",
        description="Absolute path the container starts in (default: the image's).")
    command: list[str] | None = Field(
        None, json_schema_extra=ATOMIC_LIST, description="Entrypoint, as on a core Container."
    )
    args: list[str] | None = Field(
        None, json_schema_extra=ATOMIC_LIST, description="Arguments, as on a core Container."
    )
    env: list[EnvVar] | None = Field(
        None, max_length=200, json_schema_extra=map_list("name"),
        description="Environment variables; may reference seeded ConfigMaps and Secrets.",
    )
    env_from: list[EnvFromSource] | None = Field(
        None, max_length=50, json_schema_extra=ATOMIC_LIST,
        description="Environment from whole seeded ConfigMaps or Secrets.",
    )
    ports: list[ServicePort] | None = Field(
        None, max_length=20, json_schema_extra={
            **map_list("port", "protocol"),
            **cel_rules(("self.size() <= 1 || self.all(p, has(p.name))",
                      "every port needs a name when a service has several ports")),
        },
        description="Ports; a ClusterIP Service named after the service is created for them.",
    )
    replicas: int = Field(1, ge=0, le=20, description="Number of pods (0..20, default 1).")
    resources: Resources | None = Field(
        None, description="Compute requests and limits. Each one left out is written from "
        "the class's limitRange defaults, as its LimitRange would set it at admission (a "
        "limit set here without a request is the request too).")
    readiness_probe: Probe | None = Field(
        None, description="Readiness probe, as on a core Container (httpGet, tcpSocket, exec "
        "or grpc), against the pod itself.",
    )
    liveness_probe: LivenessProbe | None = Field(
        None, description="Liveness probe: the container is restarted when it fails. As "
        "readinessProbe; successThreshold must be 1.",
    )
    startup_probe: LivenessProbe | None = Field(
        None, description="Startup probe: readiness and liveness wait until it succeeds once; "
        "for slow starters. As readinessProbe; successThreshold must be 1.",
    )
    security_context: SecurityContext | None = Field(
        None, description="User, group and capabilities of the container, within what the "
        "class's workloadSecurity allows (allowRoot, allowedCapabilities).",
    )
    volumes: list[Volume] | None = Field(
        None, max_length=MAX_VOLUMES, json_schema_extra=VOLUME_LIST,
        description="Volumes mounted into the container: persistent (size: a Persistent"
        "VolumeClaim, within the class's storage limits) or emptyDir.",
    )
    depends_on: list[ServiceName] | None = Field(
        None, max_length=MAX_SERVICES + MAX_JOBS - 1, json_schema_extra=SET_LIST,
        description="Services that must be Available, and jobs (spec.jobs) that must have "
        "completed, before this one is created.",
    )

    @field_validator("volumes")
    @classmethod
    def _distinct_volumes(cls, value: list[Volume] | None) -> list[Volume] | None:
        return distinct(value)

    def claims(self) -> list[tuple[str, Volume]]:
        """(claim name, volume) of each persistent volume."""
        return claims_of(self.name, self.volumes)

    @field_validator("resources")
    @classmethod
    def _quantities(cls, value: Resources | None) -> Resources | None:
        for group in (value.requests, value.limits) if value else ():
            for key, qty in (group or {}).items():
                if isinstance(qty, str) and not QUANTITY_RE.fullmatch(qty):
                    raise ValueError(f"resources {key}: {qty!r} is not a quantity")
        return value

