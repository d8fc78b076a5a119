"""Unit tests of the real node's gateway, pure parts: Traefik's pin, cache key and build
command, the objects that run it (a normal pod whose listener is a loopback hostPort, the
RBAC of its two providers, the Gateway and classes), the default class's overlay on the
real-node cluster, and where its address is."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import yaml

from localcluster.realnode import config as rc
from localcluster.realnode import gateway, images, install, traefik

ROOT = Path(__file__).resolve().parents[2]
VER = "v3.6.12"


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def test_traefik_is_pinned_beside_the_gateway_api_and_keyed_by_version_and_go() -> None:
    assert traefik.version() == VER
    key = traefik.traefik_key(VER, "go1.26.8")
    assert key.startswith(f"traefik-{VER}_go1.26.8_")
    assert key != traefik.traefik_key(VER, "go1.26.9")
    assert key != traefik.traefik_key("v3.6.13", "go1.26.8")


def test_traefik_is_built_inside_its_own_module_with_its_version_stamped() -> None:
    cmd = traefik.build_command(VER, Path("/out/traefik"))
    assert cmd[:2] == ["go", "build"]
    assert cmd[-1] == "./cmd/traefik"  # its own module: its replace directives apply
    assert f"-X github.com/traefik/traefik/v3/pkg/version.Version={VER}" in \
        cmd[cmd.index("-ldflags") + 1]


def test_the_module_copy_is_writable(tmp_path: Path) -> None:
    src = tmp_path / "cache" / "mod"
    (src / "cmd").mkdir(parents=True)
    (src / "cmd" / "main.go").write_text("package main\n")
    for p in (src / "cmd" / "main.go", src / "cmd", src):
        p.chmod(0o555 if p.is_dir() else 0o444)
    traefik.writable_copy(src, tmp_path / "copy")
    copied = tmp_path / "copy" / "cmd" / "main.go"
    assert copied.read_text() == "package main\n"
    assert copied.stat().st_mode & stat.S_IWUSR
    (tmp_path / "copy" / "go.work").write_text("")  # go may write in the tree
    for p in (src / "cmd", src):
        p.chmod(0o755)


def test_the_gateway_runs_as_a_normal_pod_with_its_listener_on_a_loopback_host_port() -> None:
    spec = gateway.deployment(VER, 26463)["spec"]
    pod = spec["template"]["spec"]
    assert not pod.get("hostNetwork")
    (container,) = pod["containers"]
    assert container["image"] == f"{rc.IMAGE_DOMAIN}/traefik:{VER}"
    assert container["imagePullPolicy"] == "Never"
    web = next(p for p in container["ports"] if p["name"] == "web")
    assert web == {"name": "web", "containerPort": gateway.WEB_PORT, "hostPort": 26463,
                   "hostIP": "127.0.0.1", "protocol": "TCP"}
    assert spec["strategy"] == {"type": "Recreate"}  # one node, one hostPort
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["allowPrivilegeEscalation"] is False
    args = container["args"]
    assert f"--entryPoints.web.address=:{gateway.WEB_PORT}" in args
    assert "--providers.kubernetesGateway=true" in args
    assert "--providers.kubernetesIngress=true" in args


def test_the_gateway_port_follows_the_cluster_port_base_clear_of_the_nodes_ports() -> None:
    ports = rc.NodePorts.from_base(26443)
    assert ports.gateway_http == 26463
    others = [p for name, p in ports.all().items() if name != "gateway (http)"]
    assert ports.gateway_http not in others
    assert ports.gateway_http not in range(26443, 26449)  # the control plane's


def test_the_gateway_listener_takes_routes_from_every_namespace() -> None:
    objects = gateway.manifests(VER, 26463)
    gw = by_kind(objects, "Gateway")
    assert gw["metadata"] == {"name": "devenv", "namespace": "devenv-gateway"}
    (listener,) = gw["spec"]["listeners"]
    assert listener == {"name": "http", "protocol": "HTTP", "port": gateway.WEB_PORT,
                        "allowedRoutes": {"namespaces": {"from": "All"}}}
    gc = by_kind(objects, "GatewayClass")
    assert gw["spec"]["gatewayClassName"] == gc["metadata"]["name"]
    assert gc["spec"]["controllerName"] == "traefik.io/gateway-controller"
    ic = by_kind(objects, "IngressClass")
    assert ic["metadata"]["name"] == "traefik"
    assert ic["spec"]["controller"] == "traefik.io/ingress-controller"
    assert objects[0]["kind"] == "Namespace"  # first: the rest lives in it


def test_traefik_reads_what_its_providers_watch_and_writes_only_status() -> None:
    rules = gateway.cluster_role()["rules"]
    writes = {(g, r) for rule in rules if set(rule["verbs"]) - {"get", "list", "watch"}
              for g in rule["apiGroups"] for r in rule["resources"]}
    assert all(r.endswith("/status") for _, r in writes)
    assert ("gateway.networking.k8s.io", "httproutes/status") in writes
    assert ("networking.k8s.io", "ingresses/status") in writes
    reads = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    for needed in (("", "services"), ("discovery.k8s.io", "endpointslices"),
                   ("", "namespaces"), ("networking.k8s.io", "ingressclasses"),
                   ("gateway.networking.k8s.io", "gateways"),
                   ("gateway.networking.k8s.io", "referencegrants")):
        assert needed in reads


def test_the_gateway_is_programmed_only_when_its_conditions_are_true_for_this_generation(
) -> None:
    def obj(status: str, observed: int) -> dict[str, Any]:
        return {"metadata": {"generation": 2}, "status": {"conditions": [
            {"type": "Accepted", "status": "True", "observedGeneration": 2},
            {"type": "Programmed", "status": status, "observedGeneration": observed}]}}

    types = ("Accepted", "Programmed")
    assert gateway.conditions_true(obj("True", 2), types)
    assert not gateway.conditions_true(obj("False", 2), types)
    assert not gateway.conditions_true(obj("True", 1), types)
    assert not gateway.conditions_true({}, types)


def test_the_image_is_rebuilt_only_when_the_binary_or_recipe_changes(tmp_path: Path) -> None:
    bin_dir = tmp_path / "traefik-v3.6.12_go1.26.8_abc" / "bin"
    bin_dir.mkdir(parents=True)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / gateway.ARCHIVE).write_bytes(b"archive")
    (tmp_path / "images" / f"{gateway.ARCHIVE}.id").write_text(
        gateway.image_stamp("traefik-v3.6.12_go1.26.8_abc"))
    path, stats = gateway.build_image(bin_dir, VER, tmp_path / "images", tmp_path / "log")
    assert path == tmp_path / "images" / gateway.ARCHIVE
    assert stats == {"built": False}
    assert gateway.image_stamp("traefik-v3.6.12_go1.26.8_abc") != gateway.image_stamp(
        "traefik-v3.6.12_go1.26.9_abd")


def test_the_gateway_archive_is_imported_under_its_own_name_not_the_operators(
    tmp_path: Path, monkeypatch: Any,
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(images, "run", lambda cmd, **kw: calls.append(cmd))
    archive = tmp_path / gateway.ARCHIVE
    archive.write_bytes(b"x")
    images.import_images(tmp_path / "containerd.sock", [archive])
    (cmd,) = calls
    assert "--base-name" not in cmd
    assert cmd[-1] == str(archive)


def test_the_real_node_default_class_exposes_through_the_gateway_and_admits_it(
    tmp_path: Path,
) -> None:
    doc = yaml.safe_load(install.classes_overlay_text(tmp_path,
                                                      classes=ROOT / "deploy" / "classes"))
    assert (tmp_path / doc["resources"][0]).resolve() == (ROOT / "deploy" / "classes").resolve()
    (patch,) = doc["patches"]
    assert patch["target"] == {"group": "shipit.dev", "kind": "DevEnvironmentClass",
                               "name": "default"}
    ops = {op["path"]: op["value"] for op in json.loads(json.dumps(yaml.safe_load(
        patch["patch"])))}
    assert ops["/spec/exposure"] == {
        "gateway": {"name": "devenv", "namespace": "devenv-gateway", "sectionName": "http"},
        "baseDomain": "devenv.localtest", "scheme": "http"}
    # No allowIngressFrom: the operator admits the gateway to the exposed ports only.
    assert set(ops) == {"/spec/exposure"}


def test_the_address_is_the_listeners_host_port() -> None:
    assert gateway.address(26463) == "127.0.0.1:26463"
