"""The local cluster serves the Gateway API (standard channel, the pinned bundle), driven
through kubectl: the objects the operator writes and reads exist on kwok too. No gateway
implementation runs here (the real-node tier has one), so nothing programs them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from localcluster import gatewayapi
from tests.e2e.helpers import Kubectl

pytestmark = pytest.mark.e2e

GROUP = "gateway.networking.k8s.io"


@pytest.fixture
def route_namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"gw-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def test_gateway_api_v1_kinds_are_served_from_the_pinned_standard_bundle(
    kubectl: Kubectl,
) -> None:
    out = kubectl("api-resources", f"--api-group={GROUP}", "-o", "name").stdout.split()
    for resource in ("gatewayclasses", "gateways", "httproutes", "grpcroutes",
                     "referencegrants"):
        assert f"{resource}.{GROUP}" in out
    crd = json.loads(kubectl("get", f"crd/httproutes.{GROUP}", "-o", "json").stdout)
    annotations = crd["metadata"]["annotations"]
    assert annotations[f"{GROUP}/bundle-version"] == gatewayapi.version()
    assert annotations[f"{GROUP}/channel"] == "standard"


def test_an_httproute_attached_to_a_gateway_is_stored_and_read_back(
    kubectl: Kubectl, route_namespace: str,
) -> None:
    ns = route_namespace
    objects = [
        {"apiVersion": f"{GROUP}/v1", "kind": "GatewayClass",
         "metadata": {"name": f"{ns}-class"},
         "spec": {"controllerName": "example.com/e2e-no-controller"}},
        {"apiVersion": f"{GROUP}/v1", "kind": "Gateway",
         "metadata": {"name": "gw", "namespace": ns},
         "spec": {"gatewayClassName": f"{ns}-class", "listeners": [
             {"name": "http", "protocol": "HTTP", "port": 80,
              "allowedRoutes": {"namespaces": {"from": "All"}}}]}},
        {"apiVersion": f"{GROUP}/v1", "kind": "HTTPRoute",
         "metadata": {"name": "web", "namespace": ns},
         "spec": {"parentRefs": [{"name": "gw", "sectionName": "http"}],
                  "hostnames": ["web-e2e.devenv.localtest"],
                  "rules": [{"backendRefs": [{"name": "web", "port": 8080}]}]}},
    ]
    try:
        kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": objects}))
        route = json.loads(kubectl("-n", ns, "get", f"httproutes.v1.{GROUP}/web",
                                   "-o", "json").stdout)
        assert route["spec"]["hostnames"] == ["web-e2e.devenv.localtest"]
        assert route["spec"]["parentRefs"][0]["name"] == "gw"
        # Defaults from the CRD's schema: the API server applied the bundle's OpenAPI.
        assert route["spec"]["rules"][0]["matches"] == [
            {"path": {"type": "PathPrefix", "value": "/"}}]
        gateway = json.loads(kubectl("-n", ns, "get", f"gateways.v1.{GROUP}/gw",
                                     "-o", "json").stdout)
        assert gateway["spec"]["listeners"][0]["name"] == "http"
    finally:
        kubectl("delete", f"gatewayclass/{ns}-class", "--ignore-not-found")
