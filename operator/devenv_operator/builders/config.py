"""Seeded ConfigMaps and Secrets.

Secrets come from literal values, from values generated once (the existing Secret's values
are passed back in so reconciles never rotate them), or from a copy of a Secret whose owner
opted in with the label ``shipit.dev/copyable: "true"`` (and, with the annotation
``shipit.dev/copyable-to``, named who may copy it). The class's pull Secrets are copies too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devenv_operator import classes, models
from devenv_operator.builders.common import Env, metadata
from devenv_operator.reasons import Reason

COPYABLE_LABEL = "shipit.dev/copyable"
COPIED_FROM_ANNOTATION = "shipit.dev/copied-from"
GENERATED_ANNOTATION = "shipit.dev/generated-keys"

# Source Secret types that only make sense where they were issued.
_NOT_COPYABLE_TYPES = {"kubernetes.io/service-account-token"}


@dataclass(frozen=True)
class SecretProblem:
    """Why one seeded Secret cannot be built; surfaced as ConfigSeeded=False."""

    secret: str
    reason: str  # SecretNotCopyable
    message: str


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def build_config_maps(env: Env) -> list[dict[str, Any]]:
    config = env.spec.config
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(env, cm.name),
            "data": dict(cm.data),
        }
        for cm in (config.config_maps or [] if config else [])
    ]


def _secret(env: Env, name: str, data: dict[str, str], secret_type: str = "Opaque",  # noqa: S107
            annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta = metadata(env, name)
    if annotations:
        meta["annotations"] = {**meta.get("annotations", {}), **annotations}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": secret_type,
            "data": data}


def build_secrets(
    env: Env,
    *,
    existing: Mapping[str, Mapping[str, str]],
    sources: Mapping[tuple[str, str], Mapping[str, Any] | None],
    random_value: Callable[[int], str],
) -> tuple[list[dict[str, Any]], list[SecretProblem]]:
    """Desired Secrets, plus the problems that keep some of them from being seeded.

    ``existing`` maps a generated Secret's name to its current (base64) data; ``sources``
    maps (namespace, name) of every copyFrom source to the Secret read from the API (None
    when it does not exist or the operator may not read it); ``random_value(n)`` returns n
    random URL-safe characters.
    """
    config = env.spec.config
    seeds = (config.secrets or []) if config else []
    built = [_seeded(env, seed, existing, sources, random_value) for seed in seeds]
    declared = {s.name for s in seeds}
    pulls = (env.policy.images.pull_secrets or []) if env.policy.images else []
    # A pull Secret the spec seeds itself (same name) is the spec's.
    built += [_copy(env, pull.name, pull, sources) for pull in pulls if pull.name not in declared]
    return ([secret for secret, _ in built if secret is not None],
            [problem for _, problem in built if problem is not None])


def _seeded(env: Env, seed: models.SecretSeed, existing: Mapping[str, Mapping[str, str]],
            sources: Mapping[tuple[str, str], Mapping[str, Any] | None],
            random_value: Callable[[int], str],
            ) -> tuple[dict[str, Any] | None, SecretProblem | None]:
    """The Secret one seed asks for, or why it cannot be built."""
    if seed.string_data is not None:
        return _secret(env, seed.name, {k: _b64(v) for k, v in seed.string_data.items()}), None
    if seed.generate is not None:
        current = existing.get(seed.name, {})
        data = {
            key: current.get(key) or _b64(random_value(seed.generate.length))
            for key in seed.generate.keys
        }
        return _secret(env, seed.name, data, annotations={
            GENERATED_ANNOTATION: ",".join(seed.generate.keys)}), None
    if seed.copy_from is not None:
        return _copy(env, seed.name, seed.copy_from, sources)
    return None, None


def pull_secret_names(env: Env, secrets: list[dict[str, Any]]) -> tuple[str, ...]:
    """The class's pull Secrets that were built (consent given): the pods' imagePullSecrets."""
    wanted = {p.name for p in (env.policy.images.pull_secrets or [])} if env.policy.images \
        else set()
    return tuple(sorted(s["metadata"]["name"] for s in secrets
                        if s["metadata"]["name"] in wanted))


def copy_sources(env: Env) -> list[tuple[str, str]]:
    """(namespace, name) of every Secret the environment copies: seeds and pull Secrets."""
    config = env.spec.config
    refs = {(s.copy_from.namespace, s.copy_from.name)
            for s in (config.secrets or [] if config else []) if s.copy_from is not None}
    if env.policy.images:
        refs |= {(p.namespace, p.name) for p in env.policy.images.pull_secrets or []}
    return sorted(refs)


def _copy(env: Env, name: str, ref_model: models.SecretSource,
          sources: Mapping[tuple[str, str], Mapping[str, Any] | None]
          ) -> tuple[dict[str, Any] | None, SecretProblem | None]:
    """A copy of a source Secret, or why it is refused."""
    ref = (ref_model.namespace, ref_model.name)
    source = sources.get(ref)
    where = f"{ref[0]}/{ref[1]}"
    meta = (source or {}).get("metadata") or {}
    labels = meta.get("labels") or {}
    shared = source is not None and labels.get(COPYABLE_LABEL) == "true" and classes.shared_with(
        (meta.get("annotations") or {}).get(classes.COPYABLE_TO_ANNOTATION),
        owner=env.spec.owner, class_name=env.class_name)
    if source is None or not shared:
        # One reason and message whether the source is missing, unreadable, not shared or
        # not shared with this environment: the message must not tell which Secrets exist.
        return None, SecretProblem(
            name, Reason.SECRET_NOT_COPYABLE,
            f"Secret {name}: source Secret {where} does not exist or is not shared with "
            f'this environment (its owner labels it {COPYABLE_LABEL}: "true")')
    source_type = source.get("type") or "Opaque"
    if source_type in _NOT_COPYABLE_TYPES:
        return None, SecretProblem(
            name, Reason.SECRET_NOT_COPYABLE,
            f"Secret {name}: source Secret {where} has type {source_type}, which cannot be "
            "copied")
    return _secret(env, name, dict(source.get("data") or {}), source_type,
                   annotations={COPIED_FROM_ANNOTATION: where}), None
