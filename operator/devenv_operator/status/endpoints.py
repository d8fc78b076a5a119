"""PURE: where an exposed port stands, from its HTTPRoute's parent status or its Ingress's
address, and the ``EndpointsReady`` condition over all of them.

A route is ready once the class's Gateway has accepted it (``Accepted``) and resolved its
backend (``ResolvedRefs``) for its current generation; an Ingress once its controller gave
it an address. What blocks a port is named: the gateway's own reason and message when it
refuses the route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devenv_operator.reasons import FAILED, Reason


@dataclass(frozen=True)
class RouteObservation:
    """One exposed port: its URL, and whether what routes to it is ready."""

    key: str  # <service>/<port>
    url: str | None
    ready: bool
    reason: str
    message: str


def _conditions(entry: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in entry.get("conditions") or []}


def _ours(entry: Mapping[str, Any], gateway: tuple[str, str]) -> bool:
    ref = entry.get("parentRef") or {}
    return (ref.get("namespace"), ref.get("name")) == gateway


def route_state(route: Mapping[str, Any] | None, gateway: tuple[str, str]
                ) -> tuple[bool, str, str]:
    """(ready, reason, message) of an HTTPRoute attached to ``gateway`` (namespace, name)."""
    where = f"Gateway {gateway[0]}/{gateway[1]}"
    if route is None:
        return False, Reason.ROUTE_PENDING, "its HTTPRoute is not written yet"
    generation = (route.get("metadata") or {}).get("generation")
    entry = next((p for p in (route.get("status") or {}).get("parents") or []
                  if _ours(p, gateway)), None)
    if entry is None:
        return False, Reason.ROUTE_PENDING, f"waiting for {where} to accept its HTTPRoute"
    conditions = _conditions(entry)
    accepted, resolved = conditions.get("Accepted"), conditions.get("ResolvedRefs")
    stale = any(c.get("observedGeneration") not in (None, generation)
                for c in (accepted, resolved) if c is not None)
    if accepted is None or stale:
        return False, Reason.ROUTE_PENDING, f"waiting for {where} to accept its HTTPRoute"
    if accepted.get("status") != "True":
        return False, Reason.ROUTE_NOT_ACCEPTED, (
            f"{where} refused its HTTPRoute: {accepted.get('reason')}: "
            f"{accepted.get('message') or 'no message'}")
    if resolved is not None and resolved.get("status") != "True":
        return False, Reason.ROUTE_PENDING, (
            f"{where} cannot resolve its backend yet: {resolved.get('reason')}: "
            f"{resolved.get('message') or 'no message'}")
    return True, Reason.ROUTE_ACCEPTED, f"routed by {where}"


def ingress_state(ingress: Mapping[str, Any] | None, ingress_class: str
                  ) -> tuple[bool, str, str]:
    """(ready, reason, message) of the environment's Ingress."""
    balancer = ((ingress or {}).get("status") or {}).get("loadBalancer") or {}
    addresses = balancer.get("ingress") or []
    if ingress is None or not addresses:
        return False, Reason.INGRESS_PENDING, (
            f"waiting for the ingress controller of IngressClass {ingress_class} to give "
            "the Ingress an address")
    first = addresses[0]
    return True, Reason.ROUTE_ACCEPTED, (
        f"Ingress served at {first.get('ip') or first.get('hostname') or 'its address'}")


def endpoints_condition(routes: Sequence[RouteObservation], timed_out: bool,
                        ready_timeout: str) -> tuple[bool, str, str]:
    """(ok, reason, message) of the EndpointsReady condition."""
    waiting = [r for r in routes if not r.ready]
    if not waiting:
        return True, Reason.ENDPOINTS_READY, (
            "The exposed port is routed" if len(routes) == 1
            else f"All {len(routes)} exposed ports are routed")
    detail = "; ".join(f"{r.key}: {r.message}" for r in waiting)
    if timed_out:
        return False, Reason.READY_TIMEOUT, f"Not routed after {ready_timeout}: {detail}"
    reason = next((r.reason for r in waiting if r.reason in FAILED), waiting[0].reason)
    return False, reason, f"Waiting for exposed ports: {detail}"


def endpoint_entries(namespace: str | None, endpoints: Sequence[tuple[str, int]],
                     routes: Sequence[RouteObservation]) -> list[dict[str, Any]]:
    """``status.endpoints``: every service port's in-cluster address, and the URL, readiness
    and reason of the exposed ones."""
    by_key = {r.key: r for r in routes}
    entries = []
    for service, port in endpoints:
        entry: dict[str, Any] = {"service": service, "port": port,
                                 "internal": f"{service}.{namespace}.svc.cluster.local:{port}"}
        route = by_key.get(f"{service}/{port}")
        if route is not None:
            if route.url:
                entry["url"] = route.url
            entry["ready"], entry["reason"] = route.ready, route.reason
        entries.append(entry)
    return entries
