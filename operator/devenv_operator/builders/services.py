"""A service of the environment: its Deployment and, when it has ports, its Service; and
the container, security and resources that a job's pod shares with a service's."""

from __future__ import annotations

from typing import Any

from devenv_operator import models
from devenv_operator.builders.common import ENVIRONMENT_LABEL, NAME_LABEL, Env, metadata
from devenv_operator.builders.tenancy import container_defaults, pod_security

# securityContext fields a service sets on its container as written (fsGroup is the pod's).
_CONTAINER_SECURITY = ("run_as_user", "run_as_group", "run_as_non_root",
                       "read_only_root_filesystem")


def selector(env: Env, service: models.Service) -> dict[str, str]:
    return {ENVIRONMENT_LABEL: env.name, NAME_LABEL: service.name}


def _dump(value: models.Model) -> dict[str, Any]:
    return value.model_dump(by_alias=True, exclude_none=True)


def security(service: models.Service | models.Job, pod: dict[str, Any],
             container: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The class's hardening with the service's (or job's) securityContext on top (already
    checked against the class by ``classes.violations``)."""
    context = service.security_context
    if context is None:
        return pod, container
    fields = context.model_dump(by_alias=True, exclude_none=True, include=set(_CONTAINER_SECURITY))
    container = {**container, **fields}
    added = context.capabilities.add if context.capabilities else None
    if added:
        caps = dict(container.get("capabilities") or {})
        caps["add"] = list(dict.fromkeys([*caps.get("add", []), *added]))
        container["capabilities"] = caps
    if context.fs_group is not None:
        pod = {**pod, "securityContext": {**pod["securityContext"], "fsGroup": context.fs_group}}
    return pod, container


def resources(env: Env, service: models.Service | models.Job) -> dict[str, Any]:
    """The service's resources, with the class's defaults where it sets none: what the
    LimitRange would give the pod at admission, written where policies that read the
    Deployment (Kyverno's require-requests-limits) see it."""
    mine = _dump(service.resources) if service.resources is not None else {}
    limits, requests = dict(mine.get("limits") or {}), dict(mine.get("requests") or {})
    default_requests, default_limits = container_defaults(env)
    # A limit without a request: the pod's request is the limit (the API's pod defaulting).
    requests = {**default_requests, **limits, **requests}
    limits = {**default_limits, **limits}
    return {k: {n: str(q) for n, q in v.items()}
            for k, v in (("limits", limits), ("requests", requests)) if v}


def container(env: Env, service: models.Service | models.Job,
              context: dict[str, Any]) -> dict[str, Any]:
    """The container of a service or a job, without what only a service has (ports,
    probes)."""
    built: dict[str, Any] = {"name": service.name, "image": service.image,
                             "securityContext": context}
    if service.image_pull_policy is not None:
        built["imagePullPolicy"] = service.image_pull_policy
    if service.working_dir is not None:
        built["workingDir"] = service.working_dir
    if service.command is not None:
        built["command"] = list(service.command)
    if service.args is not None:
        built["args"] = list(service.args)
    if service.env:
        built["env"] = [_dump(e) for e in service.env]
    if service.env_from:
        built["envFrom"] = [_dump(e) for e in service.env_from]
    limits = resources(env, service)
    if limits:
        built["resources"] = limits
    if service.volumes:
        built["volumeMounts"] = [
            {"name": v.name, "mountPath": v.mount_path, **({"readOnly": True} if v.read_only
                                                           else {})}
            for v in service.volumes]
    return built


def _service_container(env: Env, service: models.Service,
                       context: dict[str, Any]) -> dict[str, Any]:
    built = container(env, service, context)
    if service.ports:
        built["ports"] = [
            {**({"name": p.name} if p.name else {}), "containerPort": p.port,
             "protocol": p.protocol}
            for p in service.ports
        ]
    return {**built, **_probes(service)}


def pod_volumes(service: models.Service | models.Job) -> list[dict[str, Any]]:
    """The pod's volumes of a service or a job: its claims, and its emptyDirs."""
    claims = {v.name: claim for claim, v in service.claims()}
    return [{"name": v.name, "persistentVolumeClaim": {"claimName": claims[v.name]}}
            if v.name in claims else {"name": v.name, "emptyDir": _dump(v.empty_dir)
                                      if v.empty_dir else {}}
            for v in service.volumes or []]


def build_volume_claims(env: Env, service: models.Service | models.Job
                        ) -> list[dict[str, Any]]:
    """A PersistentVolumeClaim per persistent volume of the service or job (ReadWriteOnce,
    of the class's StorageClass). Its pods mount it; it outlives them (and a job's reruns)
    and goes with the namespace."""
    storage = env.policy.storage
    storage_class = storage.storage_class_name if storage else None
    return [{
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(env, claim, service.name),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": str(volume.size)}},
            **({"storageClassName": storage_class} if storage_class else {}),
        },
    } for claim, volume in service.claims()]


def _probes(service: models.Service) -> dict[str, Any]:
    probes = {"readinessProbe": service.readiness_probe,
              "livenessProbe": service.liveness_probe, "startupProbe": service.startup_probe}
    return {key: _dump(probe) for key, probe in probes.items() if probe is not None}


def build_deployment(env: Env, service: models.Service) -> dict[str, Any]:
    meta = metadata(env, service.name, service.name)
    pod, context = security(service, *pod_security(env))
    if service.volumes:
        pod = {**pod, "volumes": pod_volumes(service)}
    # A ReadWriteOnce claim is mounted by one node at a time: a rolling update would start
    # the new pod before the old one lets go of it (and wait for ever on another node).
    strategy = {"strategy": {"type": "Recreate"}} if service.claims() else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": service.replicas,
            **strategy,
            "selector": {"matchLabels": selector(env, service)},
            "template": {
                "metadata": {"labels": dict(meta["labels"])},
                "spec": {
                    "containers": [_service_container(env, service, context)],
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
