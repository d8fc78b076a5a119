"""Exposed ports: their hostnames, and the HTTPRoutes or the Ingress that route to them.

A port with ``expose`` gets the hostname ``<service>-<environment>.<baseDomain>`` (a
service's further exposed ports ``<service>-<port>-<environment>``): one DNS label under
the class's base domain, so one wildcard certificate covers every environment. A label
longer than 63 characters is cut and ends in a short hash of what it was cut from; a label
another environment holds already is replaced by a hashed one (``steps.expose`` decides,
and keeps the choice for the environment's life). The hostnames, and the Gateway or
IngressClass routes may use, are written on the namespace as annotations, which the tenant
guardrails policy reads: an owner may not route any other hostname to their namespace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devenv_operator import classes, models
from devenv_operator.builders.common import Env, metadata

MAX_LABEL = 63
HASH_LENGTH = 8
HOSTNAMES_ANNOTATION = "shipit.dev/hostnames"  # comma-separated, on the namespace
GATEWAY_ANNOTATION = "shipit.dev/gateway"  # <namespace>/<name> routes may attach to
INGRESS_CLASS_ANNOTATION = "shipit.dev/ingress-class"  # the IngressClass an Ingress may name
EXPOSURE_ANNOTATIONS = (HOSTNAMES_ANNOTATION, GATEWAY_ANNOTATION, INGRESS_CLASS_ANNOTATION)
INGRESS_NAME = "devenv"
GATEWAY_GROUP = "gateway.networking.k8s.io"


@dataclass(frozen=True)
class Exposed:
    """One exposed port of a service."""

    service: str
    port: int
    port_name: str | None
    path: str
    first: bool  # the service's first exposed port: its hostname has no port part

    @property
    def key(self) -> str:
        """How status and the hostname choice name it: ``<service>/<port>``."""
        return f"{self.service}/{self.port}"

    @property
    def route_name(self) -> str:
        return f"{self.service}-{self.port}"

    def stem(self, env_name: str) -> str:
        """The label before any cut: service[-port]-environment."""
        parts = [self.service, *([] if self.first else [self.port_name or str(self.port)]),
                 env_name.replace(".", "-")]
        return "-".join(parts)


def exposed_ports(spec: models.DevEnvironmentSpec) -> list[Exposed]:
    """Every exposed port, in spec order."""
    found: list[Exposed] = []
    for service in spec.services:
        first = True
        for port in service.ports or []:
            how = port.exposure()
            if how is None:
                continue
            found.append(Exposed(service.name, port.port, port.name, how.path, first))
            first = False
    return found


def hashed_label(text: str, salt: str = "") -> str:
    """``text`` cut to fit one label with a hash of it (and ``salt``) at its end."""
    digest = hashlib.sha256(f"{text}\x00{salt}".encode()).hexdigest()[:HASH_LENGTH]
    return f"{text[:MAX_LABEL - HASH_LENGTH - 1].rstrip('-')}-{digest}"


def label_choices(env_name: str, env_uid: str, item: Exposed) -> list[str]:
    """The labels a port may get, best first: the plain one (when it fits), hashed, and
    hashed with the environment's UID (when an earlier environment of the same name, still
    being deleted, holds the others)."""
    stem = item.stem(env_name)
    # The hash covers the parts apart, so api + x-pr and api-x + pr never share one.
    parts = f"{item.service}/{item.port_name or item.port}/{env_name}"
    choices = [stem] if len(stem) <= MAX_LABEL else []
    return [*choices, hashed_label(stem, parts), hashed_label(stem, f"{parts}/{env_uid}")]


def hostname(label: str, exposure: classes.Exposure) -> str:
    return f"{label}.{exposure.base_domain}"


def url(host: str, item: Exposed, exposure: classes.Exposure) -> str:
    return f"{exposure.scheme}://{host}{item.path}"


def exposure_annotations(env: Env) -> dict[str, str]:
    """The namespace's annotations that bound what routes its owner may write."""
    exposure = env.policy.exposure
    if exposure is None or not env.hostnames:
        return {}
    out = {HOSTNAMES_ANNOTATION: ",".join(sorted(set(env.hostnames.values())))}
    if exposure.gateway is not None:
        out[GATEWAY_ANNOTATION] = f"{exposure.gateway.namespace}/{exposure.gateway.name}"
    if exposure.ingress_class_name:
        out[INGRESS_CLASS_ANNOTATION] = exposure.ingress_class_name
    return out


def parent_ref(gateway: classes.GatewayRef) -> dict[str, Any]:
    ref: dict[str, Any] = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": gateway.name,
                           "namespace": gateway.namespace}
    if gateway.section_name:
        ref["sectionName"] = gateway.section_name
    return ref


def build_http_route(env: Env, item: Exposed, host: str,
                     gateway: classes.GatewayRef) -> dict[str, Any]:
    """The HTTPRoute of one exposed port: its hostname, on the class's Gateway."""
    return {
        "apiVersion": f"{GATEWAY_GROUP}/v1", "kind": "HTTPRoute",
        "metadata": metadata(env, item.route_name, item.service),
        "spec": {
            "parentRefs": [parent_ref(gateway)],
            "hostnames": [host],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": item.path}}],
                "backendRefs": [{"group": "", "kind": "Service", "name": item.service,
                                 "port": item.port}],
            }],
        },
    }


def build_ingress(env: Env, items: Sequence[Exposed], hosts: Mapping[str, str],
                  ingress_class: str) -> dict[str, Any]:
    """The one Ingress of an environment: a rule per exposed port."""
    rules = [{"host": hosts[item.key], "http": {"paths": [{
        "path": item.path, "pathType": "Prefix",
        "backend": {"service": {"name": item.service, "port": {"number": item.port}}},
    }]}} for item in items]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": metadata(env, INGRESS_NAME),
            "spec": {"ingressClassName": ingress_class, "rules": rules}}
