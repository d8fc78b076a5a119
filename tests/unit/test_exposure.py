"""Exposed ports: hostnames (long names, collisions, stability), routes, their status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from devenv_operator import builders, classes, models, records, status
from devenv_operator.builders import routes
from devenv_operator.reasons import Reason
from devenv_operator.status import RouteObservation
from devenv_operator.steps import expose

GATEWAY = {"name": "devenv", "namespace": "devenv-gateway", "sectionName": "http"}


def exposure(**extra: Any) -> classes.Exposure:
    return classes.Exposure.model_validate(
        {"gateway": GATEWAY, "baseDomain": "devenv.localtest", **extra})


def spec(*services: dict[str, Any]) -> models.DevEnvironmentSpec:
    return models.DevEnvironmentSpec.model_validate({"services": list(services)})


def env(name: str = "pr-1", the_spec: models.DevEnvironmentSpec | None = None,
        how: classes.Exposure | None = None, **hostnames: str) -> builders.Env:
    policy = classes.DevEnvironmentClassSpec(exposure=how or exposure())
    return builders.Env(name=name, uid="uid-1", namespace=f"dev-{name}", class_name="default",
                        spec=the_spec or spec(WEB), policy=policy,
                        hostnames=hostnames or {"web/8080": "web-pr-1.devenv.localtest"})


WEB = {"name": "web", "image": "nginx", "ports": [{"port": 8080, "expose": True}]}


def test_expose_is_true_or_a_path_and_only_on_tcp() -> None:
    port = models.ServicePort.model_validate({"port": 80, "expose": {"path": "/api"}})
    assert port.exposure() == models.Expose(path="/api")
    assert models.ServicePort.model_validate({"port": 80, "expose": True}).exposure() == \
        models.Expose(path="/")
    assert models.ServicePort.model_validate({"port": 80, "expose": False}).exposure() is None
    with pytest.raises(ValidationError, match="only a TCP port"):
        models.ServicePort.model_validate({"port": 53, "protocol": "UDP", "expose": True})
    with pytest.raises(ValidationError):
        models.ServicePort.model_validate({"port": 80, "expose": {"path": "no-slash"}})
    with pytest.raises(ValidationError):
        models.ServicePort.model_validate({"port": 80, "expose": {"paht": "/"}})


def test_a_class_exposes_through_a_gateway_or_an_ingress_class_not_both() -> None:
    assert exposure().scheme == "https"
    classes.Exposure.model_validate({"ingressClassName": "nginx", "baseDomain": "x.test"})
    for bad in ({"baseDomain": "x.test"},
                {"gateway": GATEWAY, "ingressClassName": "nginx", "baseDomain": "x.test"}):
        with pytest.raises(ValidationError, match="exactly one"):
            classes.Exposure.model_validate(bad)


def test_hostnames_are_one_label_cut_with_a_hash_and_never_shared() -> None:
    two = spec({"name": "api", "image": "i", "ports": [
        {"name": "http", "port": 80, "expose": True},
        {"name": "admin", "port": 81, "expose": {"path": "/admin"}},
        {"name": "db", "port": 82}]})
    items = routes.exposed_ports(two)
    assert [(i.key, i.path, i.first) for i in items] == [
        ("api/80", "/", True), ("api/81", "/admin", False)]
    assert routes.label_choices("pr-1", "u", items[0])[0] == "api-pr-1"
    assert routes.label_choices("pr-1", "u", items[1])[0] == "api-admin-pr-1"
    long_env = "e" * 63
    choices = routes.label_choices(long_env, "u", items[0])
    assert all(len(c) <= 63 for c in choices)
    assert len(set(choices)) == 2
    assert choices[0].startswith("api-eee")
    assert len(choices[0]) == 63
    # The same text cut from different parts gets different hashes.
    a = routes.Exposed("api", 80, None, "/", True)
    b = routes.Exposed("api-x", 80, None, "/", True)
    assert a.stem("x-pr") == b.stem("pr") == "api-x-pr"
    assert routes.label_choices("x-pr", "u", a)[1] != routes.label_choices("pr", "u", b)[1]


def test_a_hostname_another_environment_holds_is_hashed_and_kept_after_it_goes() -> None:
    live = records.Records()
    first, second = live.open("u1", "x-pr"), live.open("u2", "pr")
    a = routes.Exposed("api", 80, None, "/", True)
    b = routes.Exposed("api-x", 80, None, "/", True)
    assert live.claim(first, records.HOSTNAME, [routes.label_choices("x-pr", "u1", a)]) == [
        "api-x-pr"]
    got = live.claim(second, records.HOSTNAME, [routes.label_choices("pr", "u2", b)])
    assert got != ["api-x-pr"]
    assert str(got[0]).startswith("api-x-pr-")
    # Claiming again gives each the same, and the first keeps its own.
    assert live.claim(first, records.HOSTNAME, [routes.label_choices("x-pr", "u1", a)]) == [
        "api-x-pr"]
    live.close("u1")
    previous = {"endpoints": [{"service": "api-x", "port": 80,
                               "url": f"https://{got[0]}.devenv.localtest/"}]}
    assert expose.previous_labels(previous) == {"api-x/80": got[0]}


def test_the_http_route_attaches_to_the_class_gateway_with_its_hostname() -> None:
    item = routes.exposed_ports(spec(WEB))[0]
    how = exposure()
    assert how.gateway is not None
    route = routes.build_http_route(env(), item, "web-pr-1.devenv.localtest", how.gateway)
    assert route["metadata"]["name"] == "web-8080"
    assert route["metadata"]["namespace"] == "dev-pr-1"
    assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io",
                                            "kind": "Gateway", **GATEWAY}]
    assert route["spec"]["hostnames"] == ["web-pr-1.devenv.localtest"]
    assert route["spec"]["rules"][0]["backendRefs"][0] == {
        "group": "", "kind": "Service", "name": "web", "port": 8080}
    assert routes.url("web-pr-1.devenv.localtest", item, how) == \
        "https://web-pr-1.devenv.localtest/"


def test_the_namespace_lists_the_hostnames_and_the_policy_lets_the_gateway_in() -> None:
    e = env()
    annotations = builders.build_namespace(e)["metadata"]["annotations"]
    assert annotations[routes.HOSTNAMES_ANNOTATION] == "web-pr-1.devenv.localtest"
    assert annotations[routes.GATEWAY_ANNOTATION] == "devenv-gateway/devenv"
    policy = next(o for o in builders.build_class_objects(e) if o["kind"] == "NetworkPolicy")
    assert policy["spec"]["ingress"][1] == {
        "from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "devenv-gateway"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}]}
    plain = builders.Env(name="pr-1", uid="u", namespace="dev-pr-1", spec=spec(WEB))
    assert routes.HOSTNAMES_ANNOTATION not in builders.build_namespace(plain)["metadata"][
        "annotations"]


def test_ingress_mode_is_one_ingress_with_a_rule_per_port() -> None:
    how = classes.Exposure.model_validate({"ingressClassName": "traefik",
                                           "baseDomain": "x.test", "scheme": "http"})
    e = env(how=how, **{"web/8080": "web-pr-1.x.test"})
    ingress = routes.build_ingress(e, routes.exposed_ports(e.spec), e.hostnames, "traefik")
    assert ingress["metadata"]["name"] == "devenv"
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["spec"]["rules"] == [{"host": "web-pr-1.x.test", "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "web", "port": {"number": 8080}}}}]}}]
    assert builders.build_namespace(e)["metadata"]["annotations"][
        routes.INGRESS_CLASS_ANNOTATION] == "traefik"


def _route(generation: int, *conditions: tuple[str, str, str]) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "status": {"parents": [{
        "parentRef": {"name": "devenv", "namespace": "devenv-gateway"},
        "controllerName": "example.com/gw",
        "conditions": [{"type": t, "status": s, "reason": r, "observedGeneration": 2,
                        "message": f"{r} says so"} for t, s, r in conditions]}]}}


def test_route_state_reads_the_parent_status_for_the_current_generation() -> None:
    gw = ("devenv-gateway", "devenv")
    assert status.route_state(None, gw)[1] == Reason.ROUTE_PENDING
    assert status.route_state({"metadata": {"generation": 1}}, gw)[1] == Reason.ROUTE_PENDING
    ok = _route(2, ("Accepted", "True", "Accepted"), ("ResolvedRefs", "True", "ResolvedRefs"))
    assert status.route_state(ok, gw)[:2] == (True, Reason.ROUTE_ACCEPTED)
    assert status.route_state(ok, ("other", "gw"))[1] == Reason.ROUTE_PENDING
    stale = _route(3, ("Accepted", "True", "Accepted"))
    assert status.route_state(stale, gw)[:2] == (False, Reason.ROUTE_PENDING)
    refused = _route(2, ("Accepted", "False", "NotAllowedByListeners"))
    ready, reason, message = status.route_state(refused, gw)
    assert (ready, reason) == (False, Reason.ROUTE_NOT_ACCEPTED)
    assert "NotAllowedByListeners: NotAllowedByListeners says so" in message
    unresolved = _route(2, ("Accepted", "True", "Accepted"),
                        ("ResolvedRefs", "False", "BackendNotFound"))
    assert status.route_state(unresolved, gw)[:2] == (False, Reason.ROUTE_PENDING)
    assert status.ingress_state({"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}},
                                "nginx")[0]
    assert status.ingress_state({"status": {}}, "nginx")[1] == Reason.INGRESS_PENDING
    assert status.ingress_state({"status": {"loadBalancer": None}}, "nginx")[1] == \
        Reason.INGRESS_PENDING


def _observation(*routes_seen: RouteObservation) -> status.Observation:
    service = status.ServiceObservation("web", 1, {
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                   "availableReplicas": 1, "readyReplicas": 1,
                   "conditions": [{"type": "Available", "status": "True"}]}})
    return status.Observation(generation=1, created_at=datetime(2026, 1, 1, tzinfo=UTC),
                              namespace="dev-pr-1", namespace_state="ready",
                              services=[service], endpoints=[("web", 8080)],
                              routes=routes_seen)


def _conditions(result: status.EnvStatus) -> dict[str, status.Cond]:
    return {c.type: c for c in result.conditions}


def test_endpoints_ready_gates_ready_and_fills_status() -> None:
    now = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    url = "https://web-pr-1.devenv.localtest/"
    pending = status.compute(_observation(RouteObservation(
        "web/8080", url, False, Reason.ROUTE_PENDING, "waiting for Gateway g to accept")),
        {}, now)
    assert pending.phase == "Provisioning"
    assert _conditions(pending)["EndpointsReady"].reason == Reason.ROUTE_PENDING
    body = pending.as_dict()
    assert body["url"] == url
    assert body["endpoints"] == [{"service": "web", "port": 8080,
                                  "internal": "web.dev-pr-1.svc.cluster.local:8080",
                                  "url": url, "ready": False, "reason": "RoutePending"}]
    ready = status.compute(_observation(RouteObservation(
        "web/8080", url, True, Reason.ROUTE_ACCEPTED, "routed")), {}, now)
    assert ready.phase == "Ready"
    assert ready.ready.true
    assert _conditions(ready)["EndpointsReady"].true
    refused = status.compute(_observation(RouteObservation(
        "web/8080", url, False, Reason.ROUTE_NOT_ACCEPTED, "Gateway g refused it: X: y")),
        {}, now)
    assert refused.phase == "Failed"
    assert refused.ready.reason == Reason.ROUTE_NOT_ACCEPTED
    assert "web/8080: Gateway g refused it: X: y" in refused.ready.message
    plain = status.compute(_observation(), {}, now)
    assert "EndpointsReady" not in _conditions(plain)
    assert "url" not in plain.as_dict()
