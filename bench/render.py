"""Equivalent objects for the baselines, rendered by the operator's own pure builders.

The floor, ``kubectl apply`` and the Helm values all start from the objects the operator
would create for the same DevEnvironment, so every method brings up the same thing. Only
identity differs: no ownerReference (there is no DevEnvironment to own the namespace) and
``app.kubernetes.io/managed-by: devenv-bench`` (so the operator's watches ignore them).
"""

from __future__ import annotations

import copy
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devenv_operator import builders, classes, models

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "examples" / "stack.yaml"
BENCH_MANAGER = "devenv-bench"


def stack_manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(STACK.read_text())
    return loaded


def devenv(name: str, spec: dict[str, Any], *, ttl: str | None = None,
           expires_at: str | None = None) -> dict[str, Any]:
    """A DevEnvironment with the given spec (the example's 8h TTL unless overridden)."""
    body_spec: dict[str, Any] = copy.deepcopy(spec)
    if ttl is not None:
        body_spec["ttl"] = ttl
    if expires_at is not None:
        body_spec.pop("ttl", None)
        body_spec["expiresAt"] = expires_at
    body: dict[str, Any] = {"apiVersion": models.API_VERSION, "kind": models.KIND,
                            "metadata": {"name": name, "labels": {"shipit.dev/bench": "true"}},
                            "spec": body_spec}
    return body


def one_service_spec() -> dict[str, Any]:
    """The smallest useful environment (scale and expiry scenarios)."""
    return {"owner": "bench", "ttl": "8h",
            "services": [{"name": "web", "image": "nginx:1", "ports": [{"port": 80}]}]}


@dataclass
class Rendered:
    """One environment's objects, grouped by when a direct client may apply them."""

    namespace: dict[str, Any]
    config: list[dict[str, Any]]
    services: dict[str, list[dict[str, Any]]]  # service -> [Deployment, Service?]
    depends_on: dict[str, list[str]]
    replicas: dict[str, int]

    def all(self) -> list[dict[str, Any]]:
        out = [self.namespace, *self.config]
        for objs in self.services.values():
            out.extend(objs)
        return out

    @property
    def child_count(self) -> int:
        return len(self.all())


def _random(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _relabel(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    meta.pop("ownerReferences", None)
    for labels in (meta.get("labels"),
                   (obj.get("spec") or {}).get("template", {}).get("metadata", {}).get("labels")):
        if labels and builders.MANAGED_BY_LABEL in labels:
            labels[builders.MANAGED_BY_LABEL] = BENCH_MANAGER
    return obj


def render(name: str, spec: dict[str, Any], namespace: str, *,
           class_name: str | None = None,
           policy: classes.DevEnvironmentClassSpec | None = None) -> Rendered:
    """The objects the operator would create for ``spec``, in ``namespace`` (under a class's
    hardening when one is given: on real containers, what the pods run as matters)."""
    parsed = models.DevEnvironmentSpec.model_validate(spec)
    env = builders.Env(name=name, uid="00000000-0000-0000-0000-000000000000", spec=parsed,
                       namespace=namespace, class_name=class_name,
                       policy=policy or builders.UNCLASSED)
    secrets_, problems = builders.build_secrets(env, existing={}, sources={},
                                                random_value=_random)
    if problems:
        raise ValueError(f"cannot render {name}: {problems}")
    services: dict[str, list[dict[str, Any]]] = {}
    for service in parsed.services:
        objs = [builders.build_deployment(env, service)]
        svc = builders.build_service(env, service)
        if svc is not None:
            objs.append(svc)
        services[service.name] = [_relabel(o) for o in objs]
    return Rendered(
        namespace=_relabel(builders.build_namespace(env)),
        config=[_relabel(o) for o in [*builders.build_config_maps(env), *secrets_]],
        services=services,
        depends_on={s.name: list(s.depends_on or []) for s in parsed.services},
        replicas={s.name: s.replicas for s in parsed.services},
    )


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return "".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects)
