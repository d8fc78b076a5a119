"""PURE the parts of a DevEnvironmentClass's spec: quota, limits, lifetime, fail-fast,
images, size limits, Secret rules, workload hardening, storage and exposure.

``classes`` assembles them into ``DevEnvironmentClassSpec`` and re-exports them, so
``classes.WorkloadSecurity`` keeps working; their descriptions are what ``kubectl explain
devenvclass.spec`` prints.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from devenv_operator.fields import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    DURATION,
    Model,
    Quantity,
    bounded_duration,
    cel_rules,
)
from devenv_operator.seeds import SecretSource
from devenv_operator.volumes import parse_quantity
from devenv_operator.workloads import Capability

_QUANTITIES: dict[str, Any] = {"maxProperties": 32}
_PriorityClass = Annotated[str, Field(max_length=253, pattern=DNS_SUBDOMAIN)]


class ResourceQuotaPolicy(Model):
    """A ResourceQuota in each environment's namespace."""

    hard: dict[str, Quantity] = Field(
        json_schema_extra=_QUANTITIES,
        description="Hard limits, e.g. {requests.cpu: '4', limits.memory: 8Gi, pods: '40'}.")


class LimitRangePolicy(Model):
    """Per-container defaults and maxima: a LimitRange in each environment's namespace."""

    default: dict[str, Quantity] | None = Field(
        None, json_schema_extra=_QUANTITIES, description="Default limits per container.")
    default_request: dict[str, Quantity] | None = Field(
        None, json_schema_extra=_QUANTITIES, description="Default requests per container.")
    max: dict[str, Quantity] | None = Field(
        None, json_schema_extra=_QUANTITIES, description="Maximum per container.")


class NamespaceSelector(Model):
    """Namespaces selected by their labels."""

    match_labels: dict[str, str] = Field(
        json_schema_extra={"maxProperties": 16}, description="Labels the namespace must have.")


class Lifetime(Model):
    """Lifetime defaults and caps for environments of the class (override the operator's)."""

    default_ttl: str | None = Field(
        None, alias="defaultTTL", max_length=32, pattern=DURATION,
        description="TTL when a spec sets none.")
    max_ttl: str | None = Field(
        None, alias="maxTTL", max_length=32, pattern=DURATION,
        description="Longest lifetime allowed.")

    @field_validator("default_ttl", "max_ttl")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        return bounded_duration(value)


class FailFast(Model):
    """When a stuck service fails the environment early instead of at its readyTimeout
    (overrides the operator's DEVENV_IMAGE_PULL_FAIL_AFTER and DEVENV_CRASH_LOOP_RESTARTS)."""

    image_pull_fail_after: str | None = Field(
        None, max_length=32, pattern=DURATION,
        description="How long an image may keep failing to pull before ImagePullFailed.")
    crash_loop_restarts: int | None = Field(
        None, ge=1, le=1000,
        description="Restarts of a container that is still not running after which the "
                    "environment is CrashLooping.")

    @field_validator("image_pull_fail_after")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        return bounded_duration(value)


class Images(Model):
    """Where images may come from, and how they are pulled."""

    allowed_registries: list[str] | None = Field(
        None, max_length=32, description="Image prefixes allowed (e.g. registry.example.com/"
        "team/); empty or absent: any.")
    pull_secrets: list[SecretSource] | None = Field(
        None, max_length=8, description="Secrets copied (with their owner's consent, like "
        "copyFrom) into each namespace and set as imagePullSecrets on every pod.")


class Limits(Model):
    """Size limits of one environment, and of one owner's environments."""

    max_services: int | None = Field(None, ge=1, le=50, description="Services per environment.")
    max_replicas: int | None = Field(None, ge=0, le=20, description="Replicas per service.")
    max_environments_per_owner: int | None = Field(
        None, ge=1, le=10_000, description="Environments one owner may have when creating one "
        "of this class: all of theirs count, of any class, refused and invalid ones too "
        "(the oldest are kept; a newer one over the limit is refused). An environment owned "
        "by a group counts as groupEnvironmentsCountFor says.")
    group_environments_count_for: Literal["creator", "group"] = Field(
        "creator", description="Whom an environment owned by a group (owner group:NAME) "
        "counts against for maxEnvironmentsPerOwner: creator (default), the member who "
        "created it, as the admission policy records in shipit.dev/created-by, so each "
        "member has their own limit whatever their groups; or group, the group as one "
        "owner, whose members share one limit.")


class SecretsPolicy(Model):
    """What Secret seeds may be."""

    allow_literal: bool = Field(
        False, description="Whether stringData seeds (readable by whoever reads the "
        "DevEnvironment) are allowed.")


class WorkloadSecurity(Model):
    """Hardening of every pod and container; each can be relaxed for the class."""

    automount_service_account_token: bool = Field(
        False, description="Mount a ServiceAccount token into pods (default false).")
    allow_privilege_escalation: bool = Field(
        False, description="Let containers gain privileges (default false).")
    drop_all_capabilities: bool = Field(
        True, description="Drop every Linux capability (default true; NET_RAW included).")
    add_capabilities: list[Capability] | None = Field(
        None, max_length=16,
        description="Capabilities given back after dropping all, e.g. [CHOWN, SETUID, "
        "SETGID] for images that start as root and switch user (postgres, redis).")
    seccomp_profile: Literal["RuntimeDefault", "Unconfined"] = Field(
        "RuntimeDefault", description="Seccomp profile of pods (default RuntimeDefault).")
    allowed_capabilities: list[Capability] | None = Field(
        None, max_length=32,
        description="Capabilities a service may add in its securityContext.capabilities.add "
        "(besides addCapabilities, which every service gets); absent or empty: none. ALL "
        "here allows any.")
    allow_root: bool = Field(
        True, description="Whether containers may run as UID 0. false: every container gets "
        "runAsNonRoot: true, and a service may not set runAsUser: 0 or runAsNonRoot: false.")
    allowed_priority_classes: list[_PriorityClass] | None = Field(
        None, max_length=16, description="PriorityClasses a pod in the namespace may name "
        "(priorityClassName); absent or empty: none. Refused at admission "
        "(admission/tenant-guardrails.yaml).")
    allowed_service_types: list[Literal["NodePort", "LoadBalancer"]] | None = Field(
        None, max_length=2, description="Service types besides ClusterIP and ExternalName "
        "a Service in the namespace may have; absent or empty: neither NodePort nor "
        "LoadBalancer. Refused at admission (admission/tenant-guardrails.yaml).")


class Storage(Model):
    """Persistent volumes (services[].volumes[].size) of the class's environments."""

    storage_class_name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN, description="StorageClass of every "
        "PersistentVolumeClaim (absent: the cluster's default StorageClass).")
    max_volume_size: Quantity | None = Field(
        None, description="Largest size one volume may ask for, e.g. 10Gi.")
    max_total: Quantity | None = Field(
        None, description="Most storage all the volumes of one environment may ask for, "
        "e.g. 20Gi (give the quota requests.storage too, for claims made by hand).")
    max_volumes: int | None = Field(
        None, ge=0, le=100, description="Most persistent volumes one environment may have "
        "(0: none).")

    @field_validator("max_volume_size", "max_total")
    @classmethod
    def _quantity(cls, value: Quantity | None) -> Quantity | None:
        if value is not None:
            parse_quantity(value)
        return value


class GatewayRef(Model):
    """A Gateway API Gateway (gateway.networking.k8s.io/v1) the environments' routes attach
    to."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="Gateway name.")
    namespace: str = Field(max_length=63, pattern=DNS_LABEL, description="Its namespace.")
    section_name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN, description="The listener to attach "
        "to (absent: every listener that allows the routes).")


class URLCheck(Model):
    """An HTTP GET of each exposed port's URL before EndpointsReady is True: the route is
    accepted, and the gateway really serves it."""

    address: str | None = Field(
        None, max_length=261, pattern=r"^[-a-zA-Z0-9.:\[\]]+:[0-9]{1,5}$",
        description="host:port to connect to instead of the hostname's own address, with "
        "the URL's hostname as Host header (and TLS server name), for an operator that "
        "cannot resolve the base domain: e.g. the gateway's Service, "
        "traefik.devenv-gateway.svc:80.")
    path: str | None = Field(
        None, max_length=256, pattern=r"^/", description="Path to GET instead of the "
        "port's own (its expose.path).")
    timeout_seconds: int = Field(2, ge=1, le=10, description="Per request (default 2).")


class Exposure(Model):
    """How exposed ports (services[].ports[].expose) are reached from outside the cluster:
    an HTTPRoute per port attached to a Gateway, or one Ingress of an IngressClass, under
    hostnames <service>-<environment>.<baseDomain> (one DNS label, so a wildcard
    certificate covers them)."""

    model_config = ConfigDict(json_schema_extra=cel_rules((
        "has(self.gateway) != has(self.ingressClassName)",
        "exposure needs exactly one of gateway and ingressClassName",
    )))

    gateway: GatewayRef | None = Field(
        None, description="Gateway API: an HTTPRoute per exposed port, attached to this "
        "Gateway (and listener).")
    ingress_class_name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN, description="For clusters without "
        "Gateway API: one Ingress per environment, of this IngressClass.")
    base_domain: str = Field(
        max_length=190, pattern=DNS_SUBDOMAIN, description="The domain under which "
        "hostnames are made, e.g. preview.example.com (a wildcard DNS record and "
        "certificate for *.preview.example.com point at the gateway).")
    scheme: Literal["http", "https"] = Field(
        "https", description="Scheme of the URLs in status (https, the default, when the "
        "gateway terminates TLS for the base domain).")
    check: URLCheck | None = Field(
        None, description="GET every URL once its route is accepted; EndpointsReady waits "
        "for a 2xx or 3xx answer (absent: the route's status is enough).")

    @model_validator(mode="after")
    def _one_way(self) -> Exposure:
        if (self.gateway is None) == (self.ingress_class_name is None):
            raise ValueError("exposure needs exactly one of gateway and ingressClassName")
        return self
