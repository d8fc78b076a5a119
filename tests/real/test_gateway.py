"""The real-node cluster's gateway (Traefik, built here) serves real HTTP from the host.

Independent of the operator: a namespace of the test's own with a busybox web server (its
body unique to the test), its Service, and an HTTPRoute under ``devenv.localtest`` attached
to Gateway ``devenv-gateway/devenv`` (listener ``http``); every request goes from this
machine to the listener's ``host:port`` (the ``gateway`` fixture) with a Host header. Then
the same through the IngressClass ``traefik``; through the shipped default class's
NetworkPolicy, which admits the gateway's namespace to the exposed ports only (an admin's
route to another port of the same pod gets a 502), and not through the restricted class's,
which admits no gateway (the negative control: Traefik's connection is refused, a 502);
and an exposed port of an environment under the installed default class (whose
``exposure`` names this Gateway) answering at its ``status.url``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.helpers import (
    Kubectl,
    apply,
    delete_env,
    get,
    manifest,
    unique,
    wait_for,
    wait_ready,
)
from tests.real.helpers import timings, via_gateway

IMAGE = "localcluster.local/busybox:1"
PORT = 8080
DOMAIN = "devenv.localtest"
GROUP = "gateway.networking.k8s.io"
PARENT = {"group": GROUP, "kind": "Gateway", "name": "devenv", "namespace": "devenv-gateway",
          "sectionName": "http"}
# After the route is Accepted, Traefik has its configuration within a moment.
ANSWER_WITHIN_S = 15.0


def web_server(ns: str, body: str) -> list[dict[str, Any]]:
    labels = {"app": "web"}
    container = {
        "name": "web", "image": IMAGE, "imagePullPolicy": "Never",
        "command": ["sh", "-c", f"mkdir -p /tmp/www; echo {body} > /tmp/www/index.html; "
                                f"exec httpd -f -p {PORT} -h /tmp/www"],
        "ports": [{"containerPort": PORT}],
        "readinessProbe": {"httpGet": {"path": "/index.html", "port": PORT},
                           "periodSeconds": 1},
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
    }
    return [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "web", "namespace": ns, "labels": labels},
         "spec": {"containers": [container], "terminationGracePeriodSeconds": 1}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": PORT}]}},
    ]


def route(ns: str, service: str, hostname: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "HTTPRoute",
            "metadata": {"name": service, "namespace": ns},
            "spec": {"parentRefs": [PARENT], "hostnames": [hostname],
                     "rules": [{"backendRefs": [{"name": service, "port": PORT}]}]}}


def route_accepted(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any] | None:
    found = get(kubectl, f"httproutes.v1.{GROUP}", name, "-n", ns) or {}
    for parent in (found.get("status") or {}).get("parents") or []:
        conds = {c["type"]: c["status"] for c in parent.get("conditions") or []}
        if conds.get("Accepted") == "True" and conds.get("ResolvedRefs") == "True":
            return found
    return None


def first_answer(gateway: str, host: str, body: str) -> float:
    """Seconds until the gateway answers 2xx with ``body`` for ``host``."""
    start = time.monotonic()
    last: tuple[int, str] = (0, "")

    def answered() -> bool:
        nonlocal last
        last = via_gateway(gateway, host)
        return 200 <= last[0] < 300 and last[1].strip() == body

    wait_for(answered, ANSWER_WITHIN_S, interval=0.1, what=f"{host} through {gateway}")
    return round(time.monotonic() - start, 2)


@pytest.fixture(scope="module")
def backend(kubectl: Kubectl) -> Iterator[tuple[str, str]]:
    """A namespace with a web server Ready in it; its name and the server's body."""
    ns = unique("gw-test")
    body = f"hello-from-{ns}"
    kubectl("create", "namespace", ns)
    try:
        apply(kubectl, web_server(ns, body))
        kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/web", "--timeout=120s")
        yield ns, body
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")


def test_the_gateway_is_programmed_and_its_address_is_on_loopback(
    kubectl: Kubectl, gateway: str,
) -> None:
    host, _, port = gateway.partition(":")
    assert host == "127.0.0.1"
    assert int(port) > 1024
    gw = get(kubectl, f"gateways.v1.{GROUP}", "devenv", "-n", "devenv-gateway") or {}
    conds = {c["type"]: c["status"] for c in gw["status"]["conditions"]}
    assert conds["Accepted"] == conds["Programmed"] == "True"
    pod = get(kubectl, "pods", "-n", "devenv-gateway", "-l", "app.kubernetes.io/name=traefik")
    (traefik,) = (pod or {})["items"]
    assert not traefik["spec"].get("hostNetwork")  # its traffic comes from a pod IP


def test_an_httproute_on_the_gateway_answers_from_the_host_and_an_unknown_host_gets_404(
    kubectl: Kubectl, gateway: str, backend: tuple[str, str],
) -> None:
    ns, body = backend
    hostname = f"web-{ns}.{DOMAIN}"
    apply(kubectl, route(ns, "web", hostname))
    start = time.monotonic()
    wait_for(lambda: route_accepted(kubectl, ns, "web"), 30, interval=0.2,
             what=f"HTTPRoute {ns}/web Accepted with ResolvedRefs")
    accepted_s = round(time.monotonic() - start, 2)
    timings["gateway_route"] = {"accepted_s": accepted_s,
                                "first_2xx_after_accepted_s": first_answer(gateway, hostname,
                                                                           body)}
    status, _ = via_gateway(gateway, f"nobody-{ns}.{DOMAIN}")
    assert status == 404
    kubectl("-n", ns, "delete", f"httproutes.v1.{GROUP}/web")
    wait_for(lambda: via_gateway(gateway, hostname)[0] == 404, ANSWER_WITHIN_S,
             interval=0.2, what=f"{hostname} to stop answering once its route is gone")


def test_an_ingress_of_class_traefik_answers_through_the_same_listener(
    kubectl: Kubectl, gateway: str, backend: tuple[str, str],
) -> None:
    ns, body = backend
    hostname = f"ing-{ns}.{DOMAIN}"
    apply(kubectl, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                    "metadata": {"name": "web", "namespace": ns},
                    "spec": {"ingressClassName": "traefik", "rules": [{"host": hostname, "http": {
                        "paths": [{"path": "/", "pathType": "Prefix", "backend": {
                            "service": {"name": "web", "port": {"number": PORT}}}}]}}]}})
    try:
        timings["gateway_ingress_first_2xx_s"] = first_answer(gateway, hostname, body)
    finally:
        kubectl("-n", ns, "delete", "ingress/web", "--ignore-not-found")


def env_web(name: str, expose: bool = False) -> dict[str, Any]:
    """A busybox web server as an environment's service; its body names the environment."""
    port: dict[str, Any] = {"name": "http", "port": PORT}
    if expose:
        port["expose"] = True
    return {"name": "web", "image": IMAGE,
            "command": ["sh", "-c", f"mkdir -p /tmp/www; echo env-{name} > "
                                    f"/tmp/www/index.html; exec httpd -f -p {PORT} -h /tmp/www"],
            "ports": [port],
            "readinessProbe": {"httpGet": {"path": "/index.html", "port": PORT},
                               "periodSeconds": 1}}


@pytest.fixture
def environment(installed: dict[str, float], kubectl: Kubectl) -> Iterator[Any]:
    """Make environments with one web service; all deleted at the end."""
    made: list[str] = []

    def make(prefix: str, **spec: Any) -> tuple[str, str]:
        name = unique(prefix)
        made.append(name)
        service = env_web(name, expose=spec.pop("expose", False))
        apply(kubectl, manifest(name, **spec, services=[service]))
        wait_ready(kubectl, name, timeout=180)
        return name, f"dev-{name}"

    try:
        yield make
    finally:
        for name in made:
            delete_env(kubectl, name)


def route_to_isolated_env(kubectl: Kubectl, name: str, ns: str) -> str:
    """An HTTPRoute (written as an admin) to the web service of an environment whose class
    isolates it; the route's hostname once the gateway has Accepted it."""
    assert get(kubectl, "networkpolicy", "devenv-isolation", "-n", ns) is not None
    hostname = f"web-{name}.{DOMAIN}"  # the hostname the operator derives for web
    apply(kubectl, route(ns, "web", hostname))
    wait_for(lambda: route_accepted(kubectl, ns, "web"), 30, interval=0.2,
             what=f"HTTPRoute {ns}/web Accepted")
    return hostname


def test_the_gateway_reaches_the_exposed_ports_of_an_environment_and_no_other(
    kubectl: Kubectl, gateway: str, installed: dict[str, float],
) -> None:
    """Under the default class (isolated, no allowIngressFrom), the operator's own policy
    rule admits the gateway's namespace to the exposed port; a route a platform admin
    writes to the same pod's other port gets no further than the policy: a 502, never the
    body."""
    cls = get(kubectl, "devenvironmentclass", "default") or {}
    assert not cls["spec"].get("allowIngressFrom")
    name = unique("gwonly")
    ns = f"dev-{name}"
    admin_port = 9090
    service = env_web(name, expose=True)
    service["command"] = ["sh", "-c", f"mkdir -p /tmp/www; echo env-{name} > "
                                      f"/tmp/www/index.html; httpd -p {admin_port} -h /tmp/www; "
                                      f"exec httpd -f -p {PORT} -h /tmp/www"]
    service["ports"].append({"name": "admin", "port": admin_port})
    apply(kubectl, manifest(name, services=[service]))
    try:
        env = wait_ready(kubectl, name, timeout=180)
        policy = get(kubectl, "networkpolicy", "devenv-isolation", "-n", ns) or {}
        assert policy["spec"]["ingress"][1]["ports"] == [{"protocol": "TCP", "port": PORT}]
        host = urlsplit(env["status"]["url"]).hostname or ""
        timings["gateway_exposed_port_only_first_2xx_s"] = first_answer(gateway, host,
                                                                        f"env-{name}")
        other = f"admin-{name}.{DOMAIN}"
        admin_route = route(ns, "admin", other)
        admin_route["spec"]["rules"][0]["backendRefs"] = [{"name": "web", "port": admin_port}]
        apply(kubectl, admin_route)
        wait_for(lambda: route_accepted(kubectl, ns, "admin"), 30, interval=0.2,
                 what=f"HTTPRoute {ns}/admin Accepted")
        status = wait_for(lambda: (s := via_gateway(gateway, other, timeout=10)[0]) != 404
                          and s, ANSWER_WITHIN_S, interval=0.2, what=f"{other} routed")
        assert status == 502
        assert via_gateway(gateway, host)[0] == 200
    finally:
        delete_env(kubectl, name)


def test_a_class_that_does_not_admit_the_gateway_keeps_it_out(
    kubectl: Kubectl, gateway: str, environment: Any,
) -> None:
    """The negative control: the restricted class is isolated too but admits no gateway."""
    cls = get(kubectl, "devenvironmentclass", "restricted") or {}
    assert not cls["spec"].get("allowIngressFrom")
    name, ns = environment("gwnx", className="restricted")
    hostname = route_to_isolated_env(kubectl, name, ns)
    # Traefik's connection to the pod is refused by the policy: a 502, never the body.
    status = wait_for(lambda: (s := via_gateway(gateway, hostname, timeout=10)[0]) != 404 and s,
                      ANSWER_WITHIN_S, interval=0.2, what=f"{hostname} routed")
    assert status == 502
    time.sleep(1)
    assert via_gateway(gateway, hostname, timeout=10)[0] == 502


def test_an_exposed_port_of_the_default_class_answers_at_its_url_through_the_gateway(
    kubectl: Kubectl, gateway: str, environment: Any,
) -> None:
    """The installed default class's exposure names this gateway: the operator's route for
    an exposed port answers at status.url, sent to the listener's address."""
    cls = get(kubectl, "devenvironmentclass", "default") or {}
    assert cls["spec"]["exposure"] == {
        "gateway": {"name": "devenv", "namespace": "devenv-gateway", "sectionName": "http"},
        "baseDomain": DOMAIN, "scheme": "http"}
    start = time.monotonic()
    name, _ = environment("gwex", expose=True)
    ready_s = time.monotonic() - start
    env = get(kubectl, "devenvironment", name) or {}
    url = env["status"]["url"]
    host = urlsplit(url).hostname
    assert url.startswith("http://")
    assert host
    assert host.endswith(f".{DOMAIN}")
    timings["gateway_exposed_url"] = {"apply_to_ready_s": round(ready_s, 2),
                                      "ready_to_first_2xx_s": first_answer(gateway, host,
                                                                           f"env-{name}")}
