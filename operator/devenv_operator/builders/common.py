"""Labels, annotations and identity shared by every object the operator creates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devenv_operator import classes, models
from devenv_operator.jobs import RERUN_PREFIX

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "devenv-operator"
ENVIRONMENT_LABEL = "shipit.dev/environment"
NAME_LABEL = "app.kubernetes.io/name"
OWNER_LABEL = "shipit.dev/owner"
OWNER_ANNOTATION = "shipit.dev/owner"
HASH_ANNOTATION = "shipit.dev/applied-hash"
CLASS_LABEL = "shipit.dev/class"
# On the Namespace: the UID of the DevEnvironment that created it. It outlives the
# ownerReference, which an orphaning delete strips before teardown runs.
UID_ANNOTATION = "shipit.dev/environment-uid"

_LABEL_VALUE_BAD = re.compile(r"[^-_.a-zA-Z0-9]")


# No class applies: no quota, limits, isolation or owner binding; workloads still hardened.
UNCLASSED = classes.DevEnvironmentClassSpec(network_policy="none", owner_role="",
                                            secrets=classes.SecretsPolicy(allow_literal=True))


@dataclass(frozen=True)
class Env:
    """The identity of one DevEnvironment, as the builders need it."""

    name: str
    uid: str
    spec: models.DevEnvironmentSpec
    namespace: str
    # Its class (None: no class applies, and only the workload hardening, which is on by
    # default, is built) and the pull Secrets copied into its namespace.
    class_name: str | None = None
    policy: classes.DevEnvironmentClassSpec = UNCLASSED
    pull_secrets: tuple[str, ...] = ()
    # Reruns asked for (``kubectl devenv rerun-job``): job name -> the nonce of the latest
    # request, from the DevEnvironment's rerun.shipit.dev/<job> annotations.
    reruns: Mapping[str, str] = field(default_factory=dict)
    # The hostname of each exposed port (``<service>/<port>`` -> hostname), as the
    # hostnames step chose them (``builders.routes``).
    hostnames: Mapping[str, str] = field(default_factory=dict)

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": models.API_VERSION,
            "kind": models.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def namespace_name(env_name: str, spec: models.DevEnvironmentSpec, prefix: str,
                   recorded: str | None = None) -> str:
    """The namespace an environment uses: spec.namespace, else the one already recorded in
    its status (decided once: a later change of the operator's prefix never moves it), else
    prefix + name."""
    return spec.namespace or recorded or f"{prefix}{env_name}"


def owner_label_value(owner: str) -> str:
    """A label-safe form of spec.owner (the annotation keeps it verbatim)."""
    value = re.sub(r"-{2,}", "-", _LABEL_VALUE_BAD.sub("-", owner))[:63]
    return value.strip("-_.")


def child_labels(env: Env, service: str | None = None) -> dict[str, str]:
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENVIRONMENT_LABEL: env.name}
    if env.spec.owner and owner_label_value(env.spec.owner):
        labels[OWNER_LABEL] = owner_label_value(env.spec.owner)
    if service is not None:
        labels[NAME_LABEL] = service
    return labels


def child_annotations(env: Env) -> dict[str, str]:
    return {OWNER_ANNOTATION: env.spec.owner} if env.spec.owner else {}


def metadata(env: Env, name: str, service: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": env.namespace,
        "labels": child_labels(env, service),
    }
    annotations = child_annotations(env)
    if annotations:
        meta["annotations"] = annotations
    return meta


def reruns_of(annotations: Mapping[str, str]) -> dict[str, str]:
    """The reruns asked for on a DevEnvironment: job name -> nonce."""
    return {key.removeprefix(RERUN_PREFIX): str(value) for key, value in annotations.items()
            if key.startswith(RERUN_PREFIX) and len(key) > len(RERUN_PREFIX)}
