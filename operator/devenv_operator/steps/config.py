"""Step: start applying the environment's ConfigMaps and Secrets (copied, generated, literal).

Config and the first services go out together, as a client applying a directory would: a
pod that starts before its ConfigMap exists is retried by the kubelet. The applies run on
the fan-out pool; ``settle`` collects them. Generated values are kept from the Secrets
already there, so a run never regenerates a password.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from devenv_operator import builders, childkinds, errors, kinds, kube, status
from devenv_operator.builders.config import GENERATED_ANNOTATION
from devenv_operator.steps.context import Context, Parts, Stop


def config(parts: Parts, ctx: Context) -> Stop | None:
    env = ctx.environment()
    existing = {
        name: dict(obj.get("data") or {})
        for name, obj in ctx.children[kinds.SECRET.kind].items()
        if GENERATED_ANNOTATION in (obj["metadata"].get("annotations") or {})
    }
    refs = builders.copy_sources(env)
    found = parts.fanout.run([functools.partial(copy_source, parts.api, namespace, name)
                              for namespace, name in refs])
    secrets, problems = builders.build_secrets(
        env, existing=existing, sources=dict(zip(refs, found, strict=True)),
        random_value=parts.random)
    ctx.env = env = replace(env, pull_secrets=builders.pull_secret_names(env, secrets))
    ctx.copy_sources = frozenset(refs)
    ctx.obs = replace(ctx.obs, secret_problems=problems)
    objects = [*((kinds.CONFIGMAP, o) for o in builders.build_config_maps(env)),
               *((kinds.SECRET, o) for o in secrets)]
    start(parts, ctx, "config", objects)
    return None


def start(parts: Parts, ctx: Context, step: childkinds.StepName,
          objects: list[tuple[kinds.Kind, dict[str, Any]]]) -> None:
    """Start applying a step's objects (collected by ``settle``) and keep exactly them."""
    def seed(kind: kinds.Kind, obj: dict[str, Any]) -> status.ApplyFailure | None:
        return parts.applier.try_apply(ctx.run, kind, obj, ctx.children)[1]

    ctx.pending += parts.fanout.start([functools.partial(seed, kind, obj)
                                              for kind, obj in objects])
    for row in childkinds.of_step(step):
        ctx.run.keep[row.name] = {o["metadata"]["name"] for k, o in objects if k is row.kind}


def copy_source(api: kube.Kube, namespace: str, name: str) -> dict[str, Any] | None:
    """The source of a copy, or None when it is missing or the operator may not read it
    (the two must look the same to the environment's owner)."""
    try:
        return api.get(kube.SECRET, name, namespace)
    except errors.Forbidden:
        return None


def settle(parts: Parts, ctx: Context) -> Stop | None:
    """Step: wait for the config and tenancy applies started earlier; note refusals."""
    failures = [e for e in parts.fanout.collect(ctx.pending) if e is not None]
    ctx.obs = replace(ctx.obs, apply_errors=failures)
    return None
