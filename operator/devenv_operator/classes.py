"""PURE DevEnvironmentClass: the platform's policy for the environments that name it.

Like a StorageClass: ``spec.className`` on a DevEnvironment picks one, and the class
annotated ``shipit.dev/is-default-class: "true"`` applies when none is named. The model here
is the source of the class CRD (``crdgen``); ``violations`` checks a spec against a class
(what the apiserver's CEL cannot see at apply), and ``effective`` fills in the defaults.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, ValidationError

from devenv_operator.classparts import (
    Exposure,
    FailFast,
    GatewayRef,
    Images,
    Lifetime,
    LimitRangePolicy,
    Limits,
    NamespaceSelector,
    ResourceQuotaPolicy,
    SecretsPolicy,
    Storage,
    URLCheck,
    WorkloadSecurity,
)
from devenv_operator.fields import Model, bounded_duration, cel_rules
from devenv_operator.reasons import Reason
from devenv_operator.volumes import parse_quantity

__all__ = [
    "COPYABLE_TO_ANNOTATION",
    "DEFAULT_CLASS_ANNOTATION",
    "KIND",
    "PLURAL",
    "RESERVED_NAMESPACES",
    "SHORT_NAMES",
    "SINGULAR",
    "ClassIndex",
    "DevEnvironmentClassSpec",
    "Exposure",
    "FailFast",
    "GatewayRef",
    "Images",
    "Lifetime",
    "LimitRangePolicy",
    "Limits",
    "NamespaceSelector",
    "Resolved",
    "ResourceQuotaPolicy",
    "SecretsPolicy",
    "Storage",
    "URLCheck",
    "Violation",
    "WorkloadSecurity",
    "default_class",
    "refusal",
    "shared_with",
    "violations",
]

KIND = "DevEnvironmentClass"
PLURAL = "devenvironmentclasses"
SINGULAR = "devenvironmentclass"
SHORT_NAMES = ["devenvclass"]
# A username or group name in a class's allowedUsers/allowedGroups.
Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
DEFAULT_CLASS_ANNOTATION = "shipit.dev/is-default-class"
COPYABLE_TO_ANNOTATION = "shipit.dev/copyable-to"
# Namespaces no class may hand out, whatever its prefix.
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

class DevEnvironmentClassSpec(Model):
    """Platform policy for the environments of a class."""

    model_config = ConfigDict(json_schema_extra=cel_rules((
        "!has(self.namespacePrefix) || !(self.namespacePrefix.startsWith('kube-') || "
        "self.namespacePrefix == 'default')",
        "namespacePrefix may not be kube-* or default",
    )))

    description: str | None = Field(
        None, max_length=500, description="What the class is for and what an image needs to "
        "run under it; shown by `kubectl get devenvclass -o wide` and in its refusals.")
    allowed_users: list[Name] | None = (
        Field(None, max_length=256, description="Who may use the class besides those with the "
              "RBAC verb use on devenvironmentclasses/<name>: usernames exactly as the API "
              "server sees them. Checked at admission on create and whenever the effective "
              "class changes. The default class is usable by everyone unless it lists users "
              "or groups."))
    allowed_groups: list[Name] | None = (
        Field(None, max_length=256, description="Groups whose members may use the class (see "
              "allowedUsers), for example system:authenticated for everyone."))
    namespace_prefix: str | None = Field(
        None, min_length=1, max_length=30, pattern=r"^[a-z0-9]([-a-z0-9]*)?$",
        description="Prefix every spec.namespace must start with (default: the operator's "
        "prefix, dev-). Never kube-* or default.")
    pod_security: Literal["privileged", "baseline", "restricted"] = Field(
        "baseline", description="Pod Security level enforced on the namespace (warn and "
        "audit at restricted).")
    resource_quota: ResourceQuotaPolicy | None = Field(None, description="A ResourceQuota.")
    limit_range: LimitRangePolicy | None = Field(None, description="A LimitRange.")
    network_policy: Literal["none", "isolated"] = Field(
        "isolated", description="isolated: ingress only from the same namespace and from "
        "namespaces matching allowIngressFrom; egress open. none: no NetworkPolicy.")
    allow_ingress_from: list[NamespaceSelector] | None = Field(
        None, max_length=16, description="Namespaces (by labels) that may reach isolated "
        "environments.")
    owner_role: str = Field(
        "devenv-owner", max_length=253, description="ClusterRole bound to the owner in the "
        "namespace (default devenv-owner, from deploy/user-roles.yaml: pods, logs, exec, Jobs, "
        "ConfigMaps, Secrets, restart and scale; empty: none).")
    lifetime: Lifetime | None = Field(None, description="Lifetime defaults and caps.")
    images: Images | None = Field(None, description="Allowed registries and pull secrets.")
    fail_fast: FailFast | None = Field(
        None, description="When image pull failures and crash loops fail the environment.")
    limits: Limits | None = Field(None, description="Size limits.")
    secrets: SecretsPolicy = Field(
        default_factory=SecretsPolicy, description="What Secret seeds may be.")
    workload_security: WorkloadSecurity = Field(
        default_factory=WorkloadSecurity, description="Hardening of pods and containers.")
    storage: Storage | None = Field(
        None, description="StorageClass and size limits of persistent volumes.")
    exposure: Exposure | None = Field(
        None, description="How exposed ports get URLs: a Gateway or an IngressClass, and the "
        "base domain (absent: an environment exposing a port fails ExposureUnavailable).")

    def duration(self, which: Literal["default_ttl", "max_ttl"]) -> str | None:
        value = getattr(self.lifetime, which) if self.lifetime else None
        return bounded_duration(value)


@dataclass(frozen=True)
class Violation:
    """A rule of the class the spec breaks."""

    rule: str  # e.g. limits.maxServices
    message: str


def violations(spec: Any, class_name: str, policy: DevEnvironmentClassSpec, *,
               namespace: str, operator_prefix: str,
               owner_count: int = 0, counted_as: str | None = None) -> list[Violation]:
    """What in ``spec`` (a DevEnvironmentSpec) breaks the class. ``owner_count``: how many
    other environments of this class the same owner already has."""
    limits = policy.limits or Limits()
    return [
        *_namespace(spec, class_name, namespace, policy.namespace_prefix or operator_prefix),
        *_sizes(spec, class_name, limits),
        *_owner_quota(counted_as or spec.owner, class_name, limits, owner_count),
        *_registries(spec, policy),
        *_literal_secrets(spec, class_name, policy),
        *_security(spec, class_name, policy.workload_security),
        *_storage(spec, class_name, policy.storage),
    ]


def _workloads(spec: Any) -> list[tuple[str, Any]]:
    """("service NAME" or "job NAME", it) for every service and job of the spec."""
    return [*((f"service {s.name}", s) for s in spec.services),
            *((f"job {j.name}", j) for j in getattr(spec, "jobs", None) or [])]
def _storage(spec: Any, class_name: str, bounds: Storage | None) -> list[Violation]:
    if bounds is None:
        return []
    claims = [(what, v) for what, w in _workloads(spec) for _, v in w.claims()]
    found: list[Violation] = []
    if bounds.max_volumes is not None and len(claims) > bounds.max_volumes:
        found.append(Violation("storage.maxVolumes", (
            f"{len(claims)} persistent volumes; class {class_name} allows "
            f"{bounds.max_volumes}")))
    if bounds.max_volume_size is not None:
        most = parse_quantity(bounds.max_volume_size)
        found += [Violation("storage.maxVolumeSize", (
            f"{what}: volume {v.name} asks for {v.size}; class {class_name} "
            f"allows at most {bounds.max_volume_size} per volume"))
            for what, v in claims if parse_quantity(v.size) > most]
    total = sum(parse_quantity(v.size) for _, v in claims)
    if bounds.max_total is not None and total > parse_quantity(bounds.max_total):
        asked = " + ".join(str(v.size) for _, v in claims)
        found.append(Violation("storage.maxTotal", (
            f"persistent volumes ask for {asked}; class {class_name} allows "
            f"{bounds.max_total} in all")))
    return found


def _security(spec: Any, class_name: str, bounds: WorkloadSecurity) -> list[Violation]:
    allowed = {*(bounds.allowed_capabilities or []), *(bounds.add_capabilities or [])}
    found: list[Violation] = []
    for what, workload in _workloads(spec):
        context = workload.security_context
        if context is None:
            continue
        extra = [c for c in (context.capabilities.add or [] if context.capabilities else [])
                 if "ALL" not in allowed and c not in allowed]
        if extra:
            found.append(Violation("workloadSecurity.allowedCapabilities", (
                f"{what}: securityContext.capabilities.add {', '.join(extra)} "
                f"is not allowed in class {class_name}")))
        if not bounds.allow_root and (context.run_as_user == 0
                                      or context.run_as_non_root is False):
            field = "runAsUser: 0" if context.run_as_user == 0 else "runAsNonRoot: false"
            found.append(Violation("workloadSecurity.allowRoot", (
                f"{what}: securityContext.{field} runs as root, which class "
                f"{class_name} does not allow")))
    return found


def _namespace(spec: Any, class_name: str, namespace: str, prefix: str) -> list[Violation]:
    if namespace in RESERVED_NAMESPACES or namespace.startswith("kube-"):
        return [Violation("namespacePrefix", f"namespace {namespace} is reserved")]
    if spec.namespace and not spec.namespace.startswith(prefix):
        return [Violation("namespacePrefix", f"spec.namespace {spec.namespace} must "
                          f"start with {prefix!r} in class {class_name}")]
    return []


def _sizes(spec: Any, class_name: str, limits: Limits) -> list[Violation]:
    found: list[Violation] = []
    if limits.max_services is not None and len(spec.services) > limits.max_services:
        found.append(Violation("limits.maxServices", f"{len(spec.services)} services; class "
                               f"{class_name} allows {limits.max_services}"))
    if limits.max_replicas is not None:
        found += [Violation("limits.maxReplicas", f"service {service.name} asks for "
                            f"{service.replicas} replicas; class {class_name} "
                            f"allows {limits.max_replicas}")
                  for service in spec.services if service.replicas > limits.max_replicas]
    return found


def _owner_quota(counted: str | None, class_name: str, limits: Limits,
                 owner_count: int) -> list[Violation]:
    allowed = limits.max_environments_per_owner
    if allowed is None or owner_count < allowed:
        return []
    group = ("a group's count for the group" if limits.group_environments_count_for == "group"
             else "a group's count for the member who created them")
    return [Violation("limits.maxEnvironmentsPerOwner", (
        f"owner {counted or '(none)'} already has {owner_count} environments (of any "
        f"class, refused ones included; {group}); class {class_name} allows {allowed}"))]


def _registries(spec: Any, policy: DevEnvironmentClassSpec) -> list[Violation]:
    registries = (policy.images.allowed_registries or []) if policy.images else []
    outside = [(what, w) for what, w in _workloads(spec)
               if registries and not any(w.image.startswith(r) for r in registries)]
    return [Violation("images.allowedRegistries", f"{what}: image {w.image} is not "
                      f"from an allowed registry ({', '.join(registries)})")
            for what, w in outside]


def _literal_secrets(spec: Any, class_name: str,
                     policy: DevEnvironmentClassSpec) -> list[Violation]:
    seeds = (spec.config.secrets or [] if spec.config else [])
    literal = [] if policy.secrets.allow_literal else [
        s for s in seeds if s.string_data is not None]
    return [Violation("secrets.allowLiteral", f"Secret {s.name}: stringData is not allowed in "
                      f"class {class_name}; use generate or copyFrom") for s in literal]


def default_class(classes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The name of the class annotated as the default (the first by name if several)."""
    marked = sorted(name for name, meta in classes.items()
                    if (meta.get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true")
    return marked[0] if marked else None


CLASS_PREFIX = "class:"


def shared_with(annotation: str | None, *, owner: str | None, class_name: str | None) -> bool:
    """Whether a copy source annotated ``shipit.dev/copyable-to`` may be copied into an
    environment with this owner and class (no annotation: anyone may copy it).

    Entries, comma-separated, each naming what a tenant cannot choose for itself: an owner
    exactly (``alice``, set from who created the environment), a team (``group:team-a``,
    environments owned by that team), or a class (``class:ci``, environments of a class,
    which only those authorized to use it can choose). Namespace names and globs
    (``dev-ci-*``) are no consent: a tenant picks ``spec.namespace`` within its prefix, and
    names are first come, first served; such entries match nothing.
    """
    if annotation is None:
        return True
    for entry in (e.strip() for e in annotation.split(",")):
        if not entry:
            continue
        if entry.startswith(CLASS_PREFIX):
            if class_name is not None and entry[len(CLASS_PREFIX):] == class_name:
                return True
        elif owner is not None and entry == owner:
            return True
    return False


@dataclass(frozen=True)
class Resolved:
    """The class that applies to an environment: its name and policy; ``missing`` when the
    spec names a class that does not exist; ``name`` None when no class applies at all."""

    name: str | None
    policy: DevEnvironmentClassSpec | None
    missing: bool = False
    problem: str | None = None  # the class exists but its spec is not valid


class ClassIndex:
    """The DevEnvironmentClasses the operator has seen (fed by its watch), by name.

    Thread-safe: the event loop writes, reconcile threads read. Classes are few and small.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._classes: dict[str, tuple[Mapping[str, Any], Mapping[str, str]]] = {}

    def put(self, name: str, spec: Mapping[str, Any], annotations: Mapping[str, str]) -> None:
        with self._lock:
            self._classes[name] = (dict(spec), dict(annotations))

    def remove(self, name: str) -> None:
        with self._lock:
            self._classes.pop(name, None)

    def resolve(self, class_name: str | None, *, required: bool = False) -> Resolved:
        """The named class, else the default one; ``required``: no class at all is
        ``missing`` (refused) rather than an environment without a class."""
        with self._lock:
            known = dict(self._classes)
        name = class_name or default_class({n: {"annotations": a} for n, (_, a) in known.items()})
        if name is None:
            return Resolved(None, None, missing=required)
        if name not in known:
            return Resolved(name, None, missing=True)
        try:
            return Resolved(name, DevEnvironmentClassSpec.model_validate(known[name][0]))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return Resolved(name, None, problem=f"spec.{where}: {first['msg']}")


def refusal(resolved: Resolved, spec: Any, *, namespace: str, operator_prefix: str,
            owner_count: int, counted_as: str | None = None) -> tuple[str, str] | None:
    """(reason, message) when the resolved class refuses the spec, else None."""
    if resolved.missing and resolved.name is None:
        return Reason.CLASS_NOT_FOUND, (
            f"No spec.className and no default DevEnvironmentClass (annotated "
            f"{DEFAULT_CLASS_ANNOTATION}: \"true\"): nothing runs without a class's guardrails")
    if resolved.missing:
        return Reason.CLASS_NOT_FOUND, f"DevEnvironmentClass {resolved.name} does not exist"
    if resolved.problem is not None:
        return Reason.CLASS_NOT_FOUND, (f"DevEnvironmentClass {resolved.name} is not valid: "
                                 f"{resolved.problem}")
    if resolved.policy is None or resolved.name is None:
        return None
    broken = violations(spec, resolved.name, resolved.policy, namespace=namespace,
                        operator_prefix=operator_prefix, owner_count=owner_count,
                        counted_as=counted_as)
    if not broken:
        return None
    about = f" (class {resolved.name}: {resolved.policy.description})" if (
        resolved.policy.description) else ""
    return Reason.POLICY_VIOLATION, f"Breaks the policy of class {resolved.name}: " + "; ".join(
        f"{v.rule}: {v.message}" for v in broken) + about
