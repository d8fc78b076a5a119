"""Exposed ports on the real apiserver, with the Gateway API CRDs the local cluster installs
(issue 28): the HTTPRoute or Ingress the operator writes, the hostnames it derives (long
names, collisions), what the status says while the gateway has or has not accepted a route,
and what the tenant guardrails refuse. kwok runs no gateway: the tests write the route's
status the way a gateway controller would. Real traffic through a real gateway is in
tests/real/test_reach.py.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    apply,
    condition,
    events_for,
    get,
    manifest,
    unique,
    wait_for,
    wait_ready,
    wait_reason,
)

pytestmark = pytest.mark.e2e

GATEWAY_NS = "gateway-e2e"
CONTROLLER = "example.com/e2e-gateway"
DOMAIN = "preview.example.test"
GUARDRAILS = ROOT / "deploy" / "admission" / "tenant-guardrails.yaml"


def web(port: dict[str, Any] | None = None, name: str = "web") -> dict[str, Any]:
    return {"name": name, "image": "nginx:1.27",
            "ports": [port or {"name": "http", "port": 8080, "expose": True}]}


@pytest.fixture(scope="module")
def gateway(kubectl: Kubectl, crds: None) -> Iterator[str]:
    """A GatewayClass and a Gateway ``gateway-e2e/edge`` (no controller serves them)."""
    for crd in ("gateways", "httproutes", "gatewayclasses"):
        assert get(kubectl, "crd", f"{crd}.gateway.networking.k8s.io"), (
            "the local cluster serves the Gateway API CRDs")
    kubectl("create", "namespace", GATEWAY_NS, check=False)
    apply(kubectl, [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
         "metadata": {"name": "e2e"}, "spec": {"controllerName": CONTROLLER}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": "edge", "namespace": GATEWAY_NS},
         "spec": {"gatewayClassName": "e2e", "listeners": [
             {"name": "http", "port": 80, "protocol": "HTTP",
              "allowedRoutes": {"namespaces": {"from": "All"}}}]}}])
    yield "edge"
    kubectl("delete", "namespace", GATEWAY_NS, "--ignore-not-found", "--wait=false")
    kubectl("delete", "gatewayclass", "e2e", "--ignore-not-found")


def gateway_class(make_class: Any, gateway_name: str = "edge", **exposure: Any) -> str:
    return make_class(exposure={
        "gateway": {"name": gateway_name, "namespace": GATEWAY_NS, "sectionName": "http"},
        "baseDomain": DOMAIN, "scheme": "http", **exposure})


def route_status(kubectl: Kubectl, namespace: str, route: str, accepted: str = "True",
                 reason: str = "Accepted", message: str = "") -> None:
    """Write the route's parent status as a gateway controller would."""
    obj = get(kubectl, "httproute", route, "-n", namespace) or {}
    generation = obj["metadata"]["generation"]
    conditions = [
        {"type": "Accepted", "status": accepted, "reason": reason, "message": message,
         "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "",
         "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    patch = {"status": {"parents": [{
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                      "name": "edge", "namespace": GATEWAY_NS, "sectionName": "http"},
        "controllerName": CONTROLLER, "conditions": conditions}]}}
    kubectl("patch", "httproute", route, "-n", namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps(patch))


def test_an_exposed_port_gets_a_route_a_url_and_ready_once_the_gateway_accepts_it(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        gateway: str) -> None:
    cls = gateway_class(make_class)
    name = unique("reach")
    names.append(name)
    ns = f"dev-{name}"
    apply(kubectl, manifest(name, className=cls, services=[web()]))
    env = wait_reason(kubectl, name, "RoutePending")
    assert condition(env, "EndpointsReady")["status"] == "False"
    assert env["status"]["phase"] == "Provisioning"
    url = f"http://web-{name}.{DOMAIN}/"
    assert env["status"]["url"] == url
    route = get(kubectl, "httproute", "web-8080", "-n", ns) or {}
    assert route["spec"]["hostnames"] == [f"web-{name}.{DOMAIN}"]
    assert route["spec"]["parentRefs"][0]["name"] == gateway
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == "web"
    namespace = get(kubectl, "namespace", ns) or {}
    annotations = namespace["metadata"]["annotations"]
    assert annotations["shipit.dev/hostnames"] == f"web-{name}.{DOMAIN}"
    assert annotations["shipit.dev/gateway"] == f"{GATEWAY_NS}/{gateway}"

    route_status(kubectl, ns, "web-8080")
    env = wait_ready(kubectl, name)
    assert condition(env, "EndpointsReady")["reason"] == "EndpointsReady"
    endpoint = env["status"]["endpoints"][0]
    assert endpoint == {"service": "web", "port": 8080,
                        "internal": f"web.{ns}.svc.cluster.local:8080",
                        "url": url, "ready": True, "reason": "RouteAccepted"}
    columns = kubectl("get", "devenv", name).stdout
    assert "URL" in columns.splitlines()[0]
    assert url in columns

    # The gateway refuses it: the environment fails with the gateway's reason, and an Event.
    route_status(kubectl, ns, "web-8080", accepted="False", reason="NotAllowedByListeners",
                 message="no listener allows this namespace")
    env = wait_reason(kubectl, name, "RouteNotAccepted")
    assert env["status"]["phase"] == "Failed"
    assert "NotAllowedByListeners: no listener allows this namespace" in condition(
        env, "EndpointsReady")["message"]
    wait_for(lambda: any(e["reason"] == "RouteNotAccepted" and e["type"] == "Warning"
                         for e in events_for(kubectl, name)), 30, what="a Warning Event")

    # No longer exposed: the route is pruned, and the URL goes from the status.
    apply(kubectl, manifest(name, className=cls, services=[web({"name": "http",
                                                                "port": 8080})]))
    env = wait_ready(kubectl, name, generation=2)
    assert "url" not in env["status"]
    assert "url" not in env["status"]["endpoints"][0]
    wait_for(lambda: get(kubectl, "httproute", "web-8080", "-n", ns) is None, 30,
             what="the route pruned")
    ns_now = get(kubectl, "namespace", ns) or {}
    assert "shipit.dev/hostnames" not in ns_now["metadata"]["annotations"]


def test_a_missing_gateway_a_missing_exposure_are_said_in_endpoints_ready(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        gateway: str) -> None:
    missing = unique("gwmiss")
    names.append(missing)
    apply(kubectl, manifest(missing, className=gateway_class(make_class, "nowhere"),
                            services=[web()]))
    env = wait_reason(kubectl, missing, "GatewayNotFound")
    assert env["status"]["phase"] == "Failed"
    assert f"Gateway {GATEWAY_NS}/nowhere" in condition(env, "EndpointsReady")["message"]
    bare = unique("noexpo")
    names.append(bare)
    apply(kubectl, manifest(bare, className=make_class(), services=[web()]))
    env = wait_reason(kubectl, bare, "ExposureUnavailable")
    assert "has no exposure" in condition(env, "EndpointsReady")["message"]
    assert get(kubectl, "httproute", "web-8080", "-n", f"dev-{bare}") is None


def test_hostnames_long_and_colliding_are_one_label_each_and_distinct(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        gateway: str) -> None:
    cls = gateway_class(make_class)
    tail = unique("c")
    first, second = f"x-{tail}", tail  # api of x-<tail> and api-x of <tail>: one label
    long_name = ("l" * 40) + unique("")[-8:]
    long_service = "s" * 30
    names.extend([first, second, long_name])
    apply(kubectl, manifest(first, className=cls, services=[web(name="api")]))
    wait_reason(kubectl, first, "RoutePending")
    apply(kubectl, manifest(second, className=cls, services=[web(name="api-x")]))
    apply(kubectl, manifest(long_name, className=cls, services=[web(name=long_service)]))
    hosts = {}
    for name in (first, second, long_name):
        env = wait_reason(kubectl, name, "RoutePending")
        hosts[name] = env["status"]["endpoints"][0]["url"].split("//")[1].split("/")[0]
    assert hosts[first] == f"api-x-{tail}.{DOMAIN}"
    assert hosts[second] != hosts[first]
    assert hosts[second].startswith(f"api-x-{tail}-")
    for host in hosts.values():
        label = host.split(".")[0]
        assert len(label) <= 63, host
    assert len(hosts[long_name].split(".")[0]) == 63
    # A restart of the operator keeps every hostname where it was.
    running_operator.restart()
    apply(kubectl, manifest(second, className=cls, services=[web(name="api-x")],
                            readyTimeout="11m"))
    env = wait_for(lambda: (e := get(kubectl, "devenvironment", second)) and e.get(
        "status", {}).get("observedGeneration") == 2 and e, 60, what="generation 2")
    assert env["status"]["url"] == f"http://{hosts[second]}/"


def test_ingress_mode_writes_one_ingress_ready_once_it_has_an_address(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    ingress_class = unique("ic")
    cls = make_class(exposure={"ingressClassName": ingress_class, "baseDomain": DOMAIN})
    name = unique("ingr")
    names.append(name)
    ns = f"dev-{name}"
    apply(kubectl, manifest(name, className=cls, services=[web()]))
    wait_reason(kubectl, name, "IngressClassNotFound")
    apply(kubectl, {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                    "metadata": {"name": ingress_class},
                    "spec": {"controller": "example.com/e2e-ingress"}})
    try:
        env = wait_reason(kubectl, name, "IngressPending")
        assert env["status"]["url"] == f"https://web-{name}.{DOMAIN}/"
        ingress = get(kubectl, "ingress", "devenv", "-n", ns) or {}
        assert ingress["spec"]["ingressClassName"] == ingress_class
        assert ingress["spec"]["rules"][0]["host"] == f"web-{name}.{DOMAIN}"
        kubectl("patch", "ingress", "devenv", "-n", ns, "--subresource=status",
                "--type=merge", "-p", json.dumps(
                    {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}))
        env = wait_ready(kubectl, name)
        assert env["status"]["endpoints"][0]["ready"] is True
    finally:
        kubectl("delete", "ingressclass", ingress_class, "--ignore-not-found")


ROUTE_WRITER = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "e2e-route-writer"},
                "rules": [{"apiGroups": ["gateway.networking.k8s.io"],
                           "resources": ["httproutes", "grpcroutes"],
                           "verbs": ["create", "update", "patch"]},
                          {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"],
                           "verbs": ["create", "update", "patch"]}]}


def _route(name: str, hostnames: list[str], gateway_name: str = "edge",
           namespace: str = GATEWAY_NS) -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name},
            "spec": {"parentRefs": [{"name": gateway_name, "namespace": namespace}],
                     **({"hostnames": hostnames} if hostnames else {}),
                     "rules": [{"backendRefs": [{"name": "web", "port": 8080}]}]}}


def test_an_owner_may_not_route_another_environment_s_hostname_or_gateway(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        gateway: str) -> None:
    cls = gateway_class(make_class)
    mine, theirs = unique("mine"), unique("theirs")
    names.extend([mine, theirs])
    ns = f"dev-{mine}"
    kubectl("apply", "-f", str(GUARDRAILS))
    apply(kubectl, ROUTE_WRITER)
    try:
        for name in (mine, theirs):
            apply(kubectl, manifest(name, className=cls, services=[web()]))
            wait_reason(kubectl, name, "RoutePending")
        kubectl("create", "rolebinding", "route-writer", "-n", ns,
                "--clusterrole=e2e-route-writer", "--user=mallory")

        def as_mallory(obj: dict[str, Any]) -> Any:
            return kubectl("--as=mallory", "create", "--dry-run=server", "-n", ns, "-f", "-",
                           input=json.dumps(obj), check=False)

        own = f"web-{mine}.{DOMAIN}"
        # Her own hostname on the class's Gateway passes (once the policy acts, it still does).
        wait_for(lambda: as_mallory(_route("other", [f"web-{theirs}.{DOMAIN}"])).returncode
                 != 0, 30, interval=0.5, what="the tenant guardrails to act")
        assert as_mallory(_route("own", [own])).returncode == 0
        cases = {
            "another environment's hostname": _route("steal", [f"web-{theirs}.{DOMAIN}"]),
            "no hostname (every one of the listener)": _route("all", []),
            "another gateway": _route("side", [own], gateway_name="other"),
        }
        for what, obj in cases.items():
            result = as_mallory(obj)
            assert result.returncode != 0, what
            assert "devenv-tenant-guardrails" in result.stderr, (what, result.stderr)
        grpc = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
                "metadata": {"name": "g"},
                "spec": {"parentRefs": [{"name": "edge", "namespace": GATEWAY_NS}],
                         "hostnames": [own]}}
        assert "only HTTPRoutes" in as_mallory(grpc).stderr
        ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": "i"},
                   "spec": {"ingressClassName": "any", "rules": [{"host": own}]}}
        assert "devenv-tenant-guardrails" in as_mallory(ingress).stderr
    finally:
        kubectl("delete", "-f", str(GUARDRAILS), "--ignore-not-found")
        kubectl("delete", "clusterrole", "e2e-route-writer", "--ignore-not-found")


def test_a_template_exposes_a_port_and_the_class_gives_the_domain(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        gateway: str) -> None:
    cls = gateway_class(make_class)
    template = unique("tpl-reach")
    apply(kubectl, {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentTemplate",
                    "metadata": {"name": template},
                    "spec": {"services": [web({"name": "http", "port": 8080,
                                               "expose": {"path": "/app"}})]}})
    try:
        name = unique("from-tpl")
        names.append(name)
        apply(kubectl, {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
                        "metadata": {"name": name},
                        "spec": {"templateRef": {"name": template}, "className": cls}})
        env = wait_reason(kubectl, name, "RoutePending")
        assert env["status"]["url"] == f"http://web-{name}.{DOMAIN}/app"
        route = get(kubectl, "httproute", "web-8080", "-n", f"dev-{name}") or {}
        assert route["spec"]["rules"][0]["matches"][0]["path"] == {
            "type": "PathPrefix", "value": "/app"}
    finally:
        kubectl("delete", "devenvironmenttemplate", template, "--ignore-not-found")


class _Gateway(http.server.BaseHTTPRequestHandler):
    """What a gateway would answer: a code the test sets, and the Host asked for."""

    code = 503
    hosts: list[str] = []  # noqa: RUF012 (one at a time)

    def do_GET(self) -> None:
        _Gateway.hosts.append(self.headers.get("Host", ""))
        self.send_response(_Gateway.code)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def test_a_class_check_waits_for_the_url_to_answer(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        gateway: str) -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Gateway.code, _Gateway.hosts = 503, []
    try:
        cls = gateway_class(make_class, check={
            "address": f"127.0.0.1:{httpd.server_address[1]}", "path": "/healthz"})
        name = unique("checked")
        names.append(name)
        ns = f"dev-{name}"
        apply(kubectl, manifest(name, className=cls, services=[web()]))
        wait_reason(kubectl, name, "RoutePending")
        route_status(kubectl, ns, "web-8080")
        env = wait_reason(kubectl, name, "URLNotAnswering")
        assert "answered 503" in condition(env, "EndpointsReady")["message"]
        assert f"web-{name}.{DOMAIN}" in _Gateway.hosts
        _Gateway.code = 200
        env = wait_ready(kubectl, name)
        assert condition(env, "EndpointsReady")["reason"] == "EndpointsReady"
        assert env["status"]["endpoints"][0]["ready"] is True
        asked = len(_Gateway.hosts)
        kubectl("annotate", "devenv", name, "touch=1")  # another reconcile: not asked again
        wait_for(lambda: (e := get(kubectl, "devenvironment", name)) and e, 5)
        assert len(_Gateway.hosts) == asked
    finally:
        httpd.shutdown()
        httpd.server_close()
