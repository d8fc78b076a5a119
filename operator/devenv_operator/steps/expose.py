"""Steps: choose the hostnames of the exposed ports, then route them (HTTPRoutes or an
Ingress) and judge whether the gateway routes them.

``hostnames`` runs before the namespace (whose annotations list them for the admission
layer). Each exposed port keeps the hostname it was given (read back from its URL in
status, which only the operator writes); a new one takes the plain label unless another
live environment holds it (``records.HOSTNAME``: one atomic claim), else a hashed one.

``expose`` runs after the workloads: with a Gateway, one HTTPRoute per port; with an
IngressClass, one Ingress. Whether the Gateway or the IngressClass exists is read only
while a route is not ready (an accepted route proves its Gateway is there), so a settled
environment costs no extra request. A cluster without the Gateway API CRDs, a class
without ``exposure``, a refused route: each ends as a reason on ``EndpointsReady``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from devenv_operator import classes, errors, kinds, records, status
from devenv_operator.builders import routes
from devenv_operator.builders.common import Env
from devenv_operator.reasons import Reason
from devenv_operator.status import RouteObservation
from devenv_operator.steps.context import Context, Parts, Stop

Applied = tuple[dict[str, Any] | None, status.ApplyFailure | None]


def previous_labels(previous: Mapping[str, Any]) -> dict[str, str]:
    """``<service>/<port>`` -> the hostname label its URL had in the last status."""
    found = {}
    for entry in previous.get("endpoints") or []:
        host = urlsplit(str(entry.get("url") or "")).hostname
        if host:
            found[f"{entry.get('service')}/{entry.get('port')}"] = host.split(".", 1)[0]
    return found


def hostnames(parts: Parts, ctx: Context) -> Stop | None:
    """Step: choose the hostname of each exposed port (kept for the environment's life;
    never one another environment holds)."""
    env = ctx.environment()
    items = routes.exposed_ports(env.spec)
    exposure = env.policy.exposure
    if not items or exposure is None:
        parts.records.tag(ctx.record, records.HOSTNAME, [])
        return None
    kept = previous_labels(ctx.previous)
    choices = []
    for item in items:
        options = routes.label_choices(env.name, env.uid, item)
        wanted = kept.get(item.key)
        choices.append([wanted] if wanted in options else options)
    labels = parts.records.claim(ctx.record, records.HOSTNAME, choices)
    ctx.env = replace(env, hostnames={
        item.key: routes.hostname(str(label), exposure)
        for item, label in zip(items, labels, strict=True) if label is not None})
    return None


def expose(parts: Parts, ctx: Context) -> Stop | None:
    """Step: apply the HTTPRoutes (or the Ingress) of the exposed ports, and judge from
    their status whether the gateway routes them."""
    env = ctx.environment()
    items = routes.exposed_ports(env.spec)
    exposure = env.policy.exposure
    ctx.run.keep[kinds.HTTPROUTE.kind] = set()
    ctx.run.keep[kinds.INGRESS.kind] = set()
    if not items:
        return None
    if exposure is None:
        message = (f"class {env.class_name} has no exposure: ask the platform team for a class "
                   "that exposes ports" if env.class_name else
                   "no class applies, and only a class's exposure gives URLs")
        observed = [RouteObservation(i.key, None, False, Reason.EXPOSURE_UNAVAILABLE, message)
                    for i in items]
    elif exposure.gateway is not None:
        observed = _gateway_routes(parts, ctx, env, items, exposure, exposure.gateway)
    else:
        observed = _ingress(parts, ctx, env, items, exposure, str(exposure.ingress_class_name))
    ctx.obs = replace(ctx.obs, routes=observed)
    return None


def _unrouted(item: routes.Exposed) -> RouteObservation:
    """A port that got no hostname (every one it could have is held)."""
    return RouteObservation(item.key, None, False, Reason.HOSTNAME_TAKEN,
                            "every hostname it could have is held by another environment")


def _url(env: Env, item: routes.Exposed, exposure: classes.Exposure) -> str:
    return routes.url(env.hostnames[item.key], item, exposure)


def _apply_all(parts: Parts, ctx: Context, kind: kinds.Kind,
               objects: Sequence[dict[str, Any]]) -> list[Applied] | None:
    """Each object as applied (or why refused); None when the API server does not serve
    the kind (its CRDs are not installed)."""
    calls: list[Callable[[], Applied]] = [
        functools.partial(parts.applier.try_apply, ctx.run, kind, obj, ctx.children)
        for obj in objects]
    try:
        return parts.fanout.run(calls)
    except errors.NotFound:
        return None


def _gateway_routes(parts: Parts, ctx: Context, env: Env, items: Sequence[routes.Exposed],
                    exposure: classes.Exposure, gateway: classes.GatewayRef
                    ) -> list[RouteObservation]:
    routable = [i for i in items if i.key in env.hostnames]
    built = [routes.build_http_route(env, i, env.hostnames[i.key], gateway) for i in routable]
    ctx.run.keep[kinds.HTTPROUTE.kind] = {obj["metadata"]["name"] for obj in built}
    applied = _apply_all(parts, ctx, kinds.HTTPROUTE, built)
    where = (gateway.namespace, gateway.name)
    found: dict[str, RouteObservation] = {}
    missing = None
    for index, item in enumerate(routable):
        url = _url(env, item, exposure)
        if applied is None:
            found[item.key] = RouteObservation(
                item.key, url, False, Reason.GATEWAY_API_MISSING, "the cluster does not serve "
                "gateway.networking.k8s.io/v1 HTTPRoutes (install the Gateway API CRDs)")
            continue
        route, refused = applied[index]
        if refused is not None:
            found[item.key] = RouteObservation(item.key, url, False, Reason.APPLY_FAILED,
                                               refused.describe())
            continue
        ready, reason, message = status.route_state(route, where)
        if not ready and reason == Reason.ROUTE_PENDING:
            if missing is None:
                missing = parts.api.get(kinds.GATEWAY, gateway.name, gateway.namespace) is None
            if missing:
                reason, message = Reason.GATEWAY_NOT_FOUND, (
                    f"Gateway {gateway.namespace}/{gateway.name}, which class "
                    f"{env.class_name} names, does not exist")
        found[item.key] = RouteObservation(item.key, url, ready, reason, message)
    return [found.get(i.key) or _unrouted(i) for i in items]


def _ingress(parts: Parts, ctx: Context, env: Env, items: Sequence[routes.Exposed],
             exposure: classes.Exposure, ingress_class: str) -> list[RouteObservation]:
    routable = [i for i in items if i.key in env.hostnames]
    if not routable:
        return [_unrouted(i) for i in items]
    ingress = routes.build_ingress(env, routable, env.hostnames, ingress_class)
    ctx.run.keep[kinds.INGRESS.kind] = {routes.INGRESS_NAME}
    applied = _apply_all(parts, ctx, kinds.INGRESS, [ingress])
    obj, refused = applied[0] if applied else (None, None)
    if refused is not None:
        ready, reason, message = False, str(Reason.APPLY_FAILED), refused.describe()
    else:
        ready, reason, message = status.ingress_state(obj, ingress_class)
        if not ready and parts.api.get(kinds.INGRESSCLASS, ingress_class) is None:
            reason, message = Reason.INGRESS_CLASS_NOT_FOUND, (
                f"IngressClass {ingress_class}, which class {env.class_name} names, does "
                "not exist")
    return [RouteObservation(i.key, _url(env, i, exposure), ready, reason, message)
            if i.key in env.hostnames else _unrouted(i) for i in items]
