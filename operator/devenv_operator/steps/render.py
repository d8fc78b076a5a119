"""Step: validate and render the spec, resolve its class, and work out its expiry.

Nothing is written here. The result is the spec to build from (the environment's own, or
its template rendered), the class that applies, and the base observation every later step
adds to; an invalid spec does not stop the run yet: ``expire`` still deletes an expired
environment whatever its spec, and ``admit`` stops it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from devenv_operator import (
    builders,
    classes,
    errors,
    kube,
    lifecycle,
    models,
    pods,
    records,
    status,
    templates,
)
from devenv_operator.reasons import Reason
from devenv_operator.settings import Settings
from devenv_operator.steps.context import Context, Parts, Stop

log = logging.getLogger(__name__)


def render(parts: Parts, ctx: Context) -> Stop | None:
    meta = ctx.meta
    created = status.parse_time(meta.get("creationTimestamp")) or ctx.now
    learn_template(parts, ctx.body.get("spec") or {})
    ctx.raw, template = rendered(parts.templates, ctx.body.get("spec") or {})
    parts.records.tag(ctx.record, records.TEMPLATE, [template.name] if template else [])
    checked = builders.validate(meta["name"], ctx.raw, parts.settings.namespace_prefix,
                                ctx.previous.get("namespace"))
    if template is not None and not template.ok:  # nothing to build from
        checked = builders.Validated(None, checked.namespace, template.message)
    ctx.checked = checked
    class_name = checked.spec.class_name if checked.spec else None
    learn_class(parts, class_name)
    ctx.resolved = parts.classes.resolve(class_name, required=parts.settings.require_class)
    policy = ctx.resolved.policy
    ctx.expiry = expiry = expiry_of(parts.settings, ctx.raw, meta, checked.spec, created, policy)
    if ctx.resolved.missing or ctx.resolved.problem is not None:
        ctx.expiry = expiry = held_expiry(parts.settings, ctx, created)
    spec = checked.spec
    ctx.obs = status.Observation(
        generation=int(meta.get("generation", 1)), created_at=created,
        namespace=checked.namespace,
        ready_timeout=spec.ready_timeout_delta() if spec else models.parse_duration("10m"),
        expires_at=expiry.at,
        expiring=expiry.warn_at is not None and ctx.now >= expiry.warn_at,
        expiry_note=expiry.clamped_note, template=template, class_name=ctx.resolved.name,
        with_jobs=bool(spec.jobs) if spec else False,
        fail_fast=fail_fast_rules(parts.settings, policy))
    return None


def learn_template(parts: Parts, raw: Mapping[str, Any]) -> None:
    """Read from the API server the template the spec names when the watch has not brought it
    yet (applied a moment before the environment, as a pipeline does): an environment is never
    told that what exists does not. One GET per miss."""
    ref = raw.get("templateRef")
    name = ref.get("name") if isinstance(ref, Mapping) else None
    if isinstance(name, str) and name and parts.templates.get(name) is None:
        try:
            found = parts.api.get(kube.TEMPLATE, name)
        except errors.KubeError as exc:  # then it is not known, as before this lookup
            log.warning("Cannot read DevEnvironmentTemplate %s: %s", name, exc)
            return
        if found is not None:
            parts.templates.put(name, found.get("spec") or {},
                                int(found["metadata"].get("generation", 1)))


def learn_class(parts: Parts, name: str | None) -> None:
    """The same for the class the (rendered) spec names."""
    if name and parts.classes.resolve(name).missing:
        try:
            found = parts.api.get(kube.DEVENV_CLASS, name)
        except errors.KubeError as exc:
            log.warning("Cannot read DevEnvironmentClass %s: %s", name, exc)
            return
        if found is not None:
            parts.classes.put(name, found.get("spec") or {},
                              found["metadata"].get("annotations") or {})


def expiry_of(settings: Settings, raw: Mapping[str, Any], meta: Mapping[str, Any],
              spec: models.DevEnvironmentSpec | None, created: Any,
              policy: classes.DevEnvironmentClassSpec | None) -> lifecycle.Expiry:
    """The environment's expiry under the operator's settings and its class."""
    return lifecycle.expiry_of(
        raw, spec, created, meta.get("annotations") or {},
        default_ttl=settings.default_ttl, max_ttl=settings.max_ttl,
        warning=settings.expiry_warning, policy=policy)


def held_expiry(settings: Settings, ctx: Context, created: Any) -> lifecycle.Expiry:
    """The expiry of an environment whose class is missing or broken: failing closed, the
    lifetime it asks for is not trusted. It expires no later than it was last recorded to
    (under its class) nor than the operator's own cap (DEVENV_MAX_TTL, else DEVENV_DEFAULT_TTL)
    from its creation."""
    cap = settings.max_ttl or settings.default_ttl
    held = lifecycle.expiry_of(ctx.raw, ctx.checked.spec, created,
                               ctx.meta.get("annotations") or {},
                               default_ttl=settings.default_ttl, max_ttl=cap,
                               warning=settings.expiry_warning)
    recorded = status.parse_time(ctx.previous.get("expiresAt"))
    if recorded is None or (held.at is not None and held.at <= recorded):
        return held
    return lifecycle.Expiry(at=recorded, warn_at=recorded - settings.expiry_warning,
                            clamped_note=held.clamped_note)


def fail_fast_rules(settings: Settings, policy: classes.DevEnvironmentClassSpec | None
                    ) -> pods.FailFast:
    """When a stuck service fails the environment: the class's failFast, else the
    operator's settings."""
    rules = policy.fail_fast if policy else None
    after = rules.image_pull_fail_after if rules else None
    restarts = rules.crash_loop_restarts if rules else None
    return pods.FailFast(
        image_pull_after=models.parse_duration(after) if after
        else settings.image_pull_fail_after,
        crash_loop_restarts=restarts or settings.crash_loop_restarts)


def rendered(index: templates.TemplateIndex, raw: Mapping[str, Any]
             ) -> tuple[Mapping[str, Any], status.TemplateObservation | None]:
    """The spec to build from: the environment's own, or its template rendered with its
    parameters and overrides; and how the rendering went (None: no template)."""
    ref = raw.get("templateRef")
    name = ref.get("name") if isinstance(ref, Mapping) else None
    if not name:
        return raw, None
    known = index.get(name)
    if known is None:
        return raw, status.TemplateObservation(
            name, None, Reason.TEMPLATE_NOT_FOUND,
            f"DevEnvironmentTemplate {name} does not exist")
    result = templates.render(known.spec, raw.get("parameters") or {},
                              raw.get("services") or None, raw.get("config"), environment=raw)
    if isinstance(result, templates.RenderError):
        return raw, status.TemplateObservation(
            name, known.generation, result.reason,
            f"DevEnvironmentTemplate {name}: {result.message}")
    return result.spec, status.TemplateObservation(
        name, known.generation, Reason.TEMPLATE_RENDERED,
        f"Rendered from DevEnvironmentTemplate {name} (generation {known.generation})")
