"""Reach on the real node: exposed ports answer real HTTP from the host through a real
Gateway API implementation (Traefik, built from source by ``make real-up``), under the
shipped ``default`` class that ``real-up`` points at its Gateway (base domain
``devenv.localtest``: nothing resolves it, so every request sends the Host header).

Figures: seconds from Ready to the URL's first 2xx over 20 environments (p50, p95), and
the operator's extra API writes per environment for its route.
"""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.helpers import (
    Kubectl,
    apply,
    condition,
    delete_env,
    devenv,
    get,
    manifest,
    unique,
    wait_for,
    wait_reason,
)
from tests.real.helpers import RealCluster, timings

IMAGE = "localcluster.local/busybox:1"
PORT = 8080
DOMAIN = "devenv.localtest"
ENVIRONMENTS = 20
BATCH = 5


def web(body: str) -> dict[str, Any]:
    return {"name": "web", "image": IMAGE,
            "command": ["sh", "-c", f"mkdir -p /tmp/www; echo {body} > /tmp/www/index.html; "
                                    f"exec httpd -f -p {PORT} -h /tmp/www"],
            "ports": [{"name": "http", "port": PORT, "expose": True}],
            "readinessProbe": {"httpGet": {"path": "/index.html", "port": PORT},
                               "periodSeconds": 1}}


def fetch(gateway: str, url: str, timeout: float = 3.0) -> tuple[int, str]:
    """GET ``url`` through the gateway's listener (the Host header names the environment):
    (status, body); (0, error) when the connection fails."""
    parts = urlsplit(url)
    host, port = gateway.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", (parts.path or "/") + "index.html",
                     headers={"Host": parts.hostname or ""})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)
    finally:
        conn.close()


def first_2xx(gateway: str, url: str, patience: float = 30.0) -> float | None:
    """Seconds until the URL first answers 2xx (None: not within ``patience``)."""
    start = time.monotonic()
    while time.monotonic() - start < patience:
        code, _ = fetch(gateway, url, timeout=2.0)
        if 200 <= code < 300:
            return time.monotonic() - start
        time.sleep(0.05)
    return None


@dataclass
class Exposed:
    name: str
    url: str
    ready_to_2xx: float | None


def _ready_then_serve(kubectl: Kubectl, gateway: str, name: str) -> Exposed:
    env = wait_for(lambda: (e := devenv(kubectl, name)) and condition(e, "Ready").get(
        "status") == "True" and e, 240, interval=0.05, what=f"{name} Ready")
    url = env["status"]["url"]
    return Exposed(name, url, first_2xx(gateway, url))


@pytest.fixture
def environments(kubectl: Kubectl, installed: dict[str, float]) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        kubectl("delete", "devenvironment", name, "--ignore-not-found", "--wait=false")
    for name in made:
        delete_env(kubectl, name, wait=True)


def test_exposed_services_answer_at_their_urls_within_seconds_of_ready(
        kubectl: Kubectl, gateway: str, environments: list[str]) -> None:
    names = [unique("reach") for _ in range(ENVIRONMENTS)]
    environments.extend(names)
    found: list[Exposed] = []
    with ThreadPoolExecutor(BATCH) as pool:
        for start in range(0, ENVIRONMENTS, BATCH):
            batch = names[start:start + BATCH]
            for name in batch:
                # An owner per batch: the default class allows 10 environments per owner.
                apply(kubectl, manifest(name, owner=f"reach-{start // BATCH}",
                                        services=[web(name)]))
            found += pool.map(lambda n: _ready_then_serve(kubectl, gateway, n), batch)
    late = [e for e in found if e.ready_to_2xx is None]
    assert not late, f"never answered 2xx: {late}"
    seconds = sorted(e.ready_to_2xx or 0.0 for e in found)
    p95 = seconds[int(0.95 * (len(seconds) - 1))]
    timings["reach_ready_to_first_2xx_s"] = {
        "n": len(seconds), "p50": round(statistics.median(seconds), 3), "p95": round(p95, 3),
        "max": round(seconds[-1], 3)}
    # Each environment's own hostname, and its own body.
    for env in found[:3]:
        code, body = fetch(gateway, env.url)
        assert (code, body.strip()) == (200, env.name), (env.url, code, body)
        assert urlsplit(env.url).hostname == f"web-{env.name}.{DOMAIN}"
    routes = [get(kubectl, "httproute", "web-8080", "-n", f"dev-{n}") for n in names]
    assert all(r is not None for r in routes)
    # One HTTPRoute apply per environment, and nothing more (its generation stays 1).
    timings["reach_route_writes_per_env"] = sum(
        int(r["metadata"]["generation"]) for r in routes if r) / len(routes)
    assert timings["reach_route_writes_per_env"] == 1.0


def test_a_deleted_environment_s_url_stops_answering(
        kubectl: Kubectl, gateway: str, environments: list[str]) -> None:
    name = unique("gone")
    environments.append(name)
    apply(kubectl, manifest(name, owner="reach", services=[web(name)]))
    env = _ready_then_serve(kubectl, gateway, name)
    assert env.ready_to_2xx is not None
    delete_env(kubectl, name, wait=True)
    code = wait_for(lambda: (c := fetch(gateway, env.url)[0]) == 404 and c, 30,
                    interval=0.25, what="the URL to answer 404")
    assert code == 404


def test_an_owner_cannot_route_another_environment_s_hostname(
        kubectl: Kubectl, gateway: str, environments: list[str]) -> None:
    mine, theirs = unique("own"), unique("other")
    environments.extend([mine, theirs])
    for name in (mine, theirs):
        apply(kubectl, manifest(name, owner="olive", services=[web(name)]))
    target = _ready_then_serve(kubectl, gateway, theirs)
    _ready_then_serve(kubectl, gateway, mine)
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "steal", "namespace": f"dev-{mine}"},
             "spec": {"parentRefs": [{"name": "devenv", "namespace": "devenv-gateway"}],
                      "hostnames": [urlsplit(target.url).hostname],
                      "rules": [{"backendRefs": [{"name": "web", "port": PORT}]}]}}
    result = apply(_as(kubectl, "olive"), route, check=False)
    assert result.returncode != 0, "an owner's route for another environment was admitted"
    assert get(kubectl, "httproute", "steal", "-n", f"dev-{mine}") is None
    code, body = fetch(gateway, target.url)
    assert (code, body.strip()) == (200, theirs)


def _as(kubectl: Kubectl, user: str) -> Any:
    def run(*args: str, input: str | None = None, check: bool = True) -> Any:
        return kubectl(f"--as={user}", *args, input=input, check=check)
    return run


def test_a_class_naming_a_missing_gateway_is_not_ready_and_says_why(
        kubectl: Kubectl, installed: dict[str, float], environments: list[str],
        real_cluster: RealCluster) -> None:
    cls = unique("nogw")
    apply(kubectl, {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
                    "metadata": {"name": cls},
                    "spec": {"exposure": {"gateway": {"name": "absent",
                                                      "namespace": "devenv-gateway"},
                                          "baseDomain": DOMAIN, "scheme": "http"}}})
    try:
        name = unique("nogw")
        environments.append(name)
        apply(kubectl, manifest(name, className=cls, services=[web(name)]))
        env = wait_reason(kubectl, name, "GatewayNotFound", timeout=120)
        assert condition(env, "Ready")["status"] == "False"
        assert "devenv-gateway/absent" in condition(env, "EndpointsReady")["message"]
    finally:
        kubectl("delete", "devenvironmentclass", cls, "--ignore-not-found")
