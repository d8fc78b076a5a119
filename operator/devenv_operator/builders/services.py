"""A service of the environment: its Deployment and, when it has ports, its Service."""

from __future__ import annotations

from typing import Any

from devenv_operator import models
from devenv_operator.builders.common import ENVIRONMENT_LABEL, NAME_LABEL, Env, metadata
from devenv_operator.builders.tenancy import pod_security


def selector(env: Env, service: models.Service) -> dict[str, str]:
    return {ENVIRONMENT_LABEL: env.name, NAME_LABEL: service.name}


def _dump(value: models.Model) -> dict[str, Any]:
    return value.model_dump(by_alias=True, exclude_none=True)


def _container(service: models.Service, security: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = {"name": service.name, "image": service.image,
                                 "securityContext": security}
    if service.command is not None:
        container["command"] = list(service.command)
    if service.args is not None:
        container["args"] = list(service.args)
    if service.env:
        container["env"] = [_dump(e) for e in service.env]
    if service.env_from:
        container["envFrom"] = [_dump(e) for e in service.env_from]
    if service.ports:
        container["ports"] = [
            {**({"name": p.name} if p.name else {}), "containerPort": p.port,
             "protocol": p.protocol}
            for p in service.ports
        ]
    if service.resources is not None:
        resources = _dump(service.resources)
        if resources:
            container["resources"] = resources
    if service.readiness_probe is not None:
        container["readinessProbe"] = _dump(service.readiness_probe)
    return container


def build_deployment(env: Env, service: models.Service) -> dict[str, Any]:
    meta = metadata(env, service.name, service.name)
    pod, container = pod_security(env)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": service.replicas,
            "selector": {"matchLabels": selector(env, service)},
            "template": {
                "metadata": {"labels": dict(meta["labels"])},
                "spec": {
                    "containers": [_container(service, container)],
                    # Dev environments restart often; don't keep them waiting on shutdown.
                    "terminationGracePeriodSeconds": 5,
                    "enableServiceLinks": False,
                    **pod,
                },
            },
        },
    }


def build_service(env: Env, service: models.Service) -> dict[str, Any] | None:
    if not service.ports:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(env, service.name, service.name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(env, service),
            "ports": [
                {**({"name": p.name} if p.name else {}), "port": p.port, "targetPort": p.port,
                 "protocol": p.protocol}
                for p in service.ports
            ],
        },
    }
