"""The environment's Namespace, and the rule that decides whether an existing one is ours."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from devenv_operator.builders.common import (
    ENVIRONMENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    UID_ANNOTATION,
    Env,
    child_annotations,
    child_labels,
)
from devenv_operator.builders.routes import exposure_annotations
from devenv_operator.builders.tenancy import namespace_labels
from devenv_operator.classes import RESERVED_NAMESPACES


class Ownership(enum.Enum):
    """How an existing Namespace relates to a DevEnvironment."""

    OURS = "ours"
    TERMINATING = "terminating"  # ours, but being deleted (e.g. a previous incarnation)
    FOREIGN = "foreign"  # never adopted, changed or deleted


def build_namespace(env: Env) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": env.namespace,
            "labels": {**child_labels(env), **namespace_labels(env)},
            "annotations": {**child_annotations(env), UID_ANNOTATION: env.uid,
                            **exposure_annotations(env)},
            "ownerReferences": [env.owner_reference()],
        },
    }


def namespace_ownership(namespace: Mapping[str, Any], env_name: str, env_uid: str) -> Ownership:
    """Ours only if it carries our labels AND an ownerReference to this very object (by UID).

    Labels alone are not enough: anybody who can create a namespace can label it, and we must
    never delete a namespace we did not create.
    """
    meta = namespace.get("metadata", {})
    labels = meta.get("labels") or {}
    owners = meta.get("ownerReferences") or []
    labelled = (labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
                and labels.get(ENVIRONMENT_LABEL) == env_name)
    owned = any(ref.get("uid") == env_uid for ref in owners)
    if labelled and owned:
        return Ownership.TERMINATING if meta.get("deletionTimestamp") else Ownership.OURS
    if labelled and meta.get("deletionTimestamp"):
        # Left over from an earlier DevEnvironment of the same name: wait for it to go.
        return Ownership.TERMINATING
    return Ownership.FOREIGN


def owned_by(namespace: Mapping[str, Any], env_name: str, env_uid: str) -> bool:
    """Whether this DevEnvironment (by UID) created the namespace: the only one we delete.

    Its ownerReference says so; so do our labels together with the creator's UID
    annotation, which stay when an orphaning delete (``--cascade=orphan``) has stripped the
    ownerReference, so that teardown still removes the namespace.
    """
    meta = namespace.get("metadata", {})
    if any(ref.get("uid") == env_uid for ref in meta.get("ownerReferences") or []):
        return True
    labels = meta.get("labels") or {}
    return (labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
            and labels.get(ENVIRONMENT_LABEL) == env_name
            and (meta.get("annotations") or {}).get(UID_ANNOTATION) == env_uid)


def orphan_creator(namespace: Mapping[str, Any]) -> tuple[str, str] | None:
    """(name, UID) of the DevEnvironment that created the namespace, when the namespace no
    longer has its ownerReference (an orphaning delete stripped it); None when it is not one
    of ours (our labels AND the creator's UID annotation), is going already, is a reserved
    namespace, or is still owned by its creator (teardown and garbage collection take it)."""
    meta = namespace.get("metadata") or {}
    if meta.get("deletionTimestamp") or meta.get("name") in RESERVED_NAMESPACES or str(
            meta.get("name", "")).startswith("kube-"):
        return None
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    name, uid = labels.get(ENVIRONMENT_LABEL), annotations.get(UID_ANNOTATION)
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or not name or not uid:
        return None
    if any(ref.get("uid") == uid for ref in meta.get("ownerReferences") or []):
        return None
    return name, uid
