"""Step: create the environment's namespace, or check that the one there is ours.

A create never adopts anything: when the name is taken, ownership (the environment's UID
on the namespace) decides. An update is guarded by the resourceVersion ownership was
checked on, so the operator never writes to a namespace that changed hands in between.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from devenv_operator import builders, diff, errors, kube, status
from devenv_operator.reasons import Reason
from devenv_operator.steps.context import Context, Parts, Stop
from devenv_operator.transitions import Event

log = logging.getLogger("devenv_operator.reconcile")


def namespace(parts: Parts, ctx: Context) -> Stop | None:
    try:
        state = ensure(parts, ctx, recorded=bool(ctx.previous.get("namespace")))
    except (errors.Invalid, errors.Forbidden) as exc:  # will not pass until changed
        ctx.obs = replace(ctx.obs, namespace_state="failed", namespace_problem=refusal(exc))
        return Stop("namespace refused")
    ctx.obs = replace(ctx.obs, namespace_state=state)
    return None if state == "ready" else Stop(f"namespace {state}")


def ensure(parts: Parts, ctx: Context, *, recorded: bool) -> status.NamespaceState:
    """Create or update the namespace (``ctx.fresh_namespace``: this run created it)."""
    env = ctx.environment()
    desired = diff.with_hash(builders.build_namespace(env))
    # A new environment (no namespace in its status yet) most likely needs a new one: try
    # to create it straight away.
    observed = parts.api.get(kube.NAMESPACE, env.namespace) if recorded else None
    if observed is None:
        try:
            parts.api.create(kube.NAMESPACE, desired)
        except errors.AlreadyExists:
            observed = parts.api.get(kube.NAMESPACE, env.namespace)
            if observed is None:
                return "missing"
        else:
            ctx.events.append(Event("Normal", Reason.NAMESPACE_CREATED,
                                    f"Created Namespace {env.namespace}"))
            log.info("Created Namespace %s for DevEnvironment %s", env.namespace, env.name)
            ctx.fresh_namespace = True
            return "ready"
    state = status.namespace_state(builders.namespace_ownership(observed, env.name, env.uid))
    if state == "ready" and diff.needs_apply(desired, observed):
        version = observed["metadata"]["resourceVersion"]
        stale = stale_annotations(desired, observed)
        if stale:  # set at creation (not by an apply), so an apply would not remove them
            observed = parts.api.patch(kube.NAMESPACE, env.namespace, {"metadata": {
                "resourceVersion": version, "annotations": dict.fromkeys(stale)}})
            if observed is None:
                return "missing"
            version = observed["metadata"]["resourceVersion"]
        guarded = {**desired, "metadata": {**desired["metadata"], "resourceVersion": version}}
        parts.api.apply(kube.NAMESPACE, guarded)
    return state


def stale_annotations(desired: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    """Annotations the operator sets only while they apply (the exposed ports' hostnames,
    gateway, IngressClass) that the namespace has and no longer should."""
    want = desired["metadata"].get("annotations") or {}
    have = observed["metadata"].get("annotations") or {}
    return [key for key in builders.EXPOSURE_ANNOTATIONS if key in have and key not in want]


def refusal(exc: errors.KubeError) -> str:
    """Why the API server refused a write, for a status message."""
    return f"{exc.reason or type(exc).__name__}: {exc}"
