"""The real-node cluster's gateway: Traefik (built here, :mod:`.traefik`) as a pod in
``devenv-gateway``, with a Gateway ``devenv`` whose HTTP listener the host reaches on
loopback.

- Image: ``FROM scratch`` plus the static binary, built with buildah and saved as an OCI
  archive (``gateway-traefik.tar``) named ``localcluster.local/traefik:<version>``; rebuilt
  only when the binary's cache key or the recipe changes (a stamp beside the archive).
- Pod: a normal pod on the pod network (not hostNetwork), so that what it forwards to an
  environment comes from a pod of ``devenv-gateway`` and a NetworkPolicy's
  namespaceSelector can admit it. Its ``web`` entry point (container port 8000) is a
  hostPort on 127.0.0.1 (the CNI ``portmap`` plugin), on the cluster's port base + 20.
- Providers: kubernetesGateway (GatewayClass ``traefik``, controller
  ``traefik.io/gateway-controller``) and kubernetesIngress (IngressClass ``traefik``), with
  the RBAC each needs and nothing more.
- Gateway ``devenv``: one listener ``http`` (port 8000, the entry point's), routes from
  every namespace. The listener's ``host:port`` is written to ``<state>/gateway``.

:func:`apply` writes the objects without waiting (the pod starts while the operator is
installed); :func:`wait_ready` waits until the Deployment is rolled out, the Gateway is
Accepted and Programmed, and the listener answers on the host; both are idempotent.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..config import LocalClusterError
from . import lookalikes
from .config import (
    GATEWAY_NAME,
    GATEWAY_NAMESPACE,
    GATEWAY_SECTION,
    IMAGE_DOMAIN,
    INGRESS_CLASS,
)
from .host import _say, require_root, run, run_with_progress
from .install import _kubectl

GATEWAY_CLASS = "traefik"
CONTROLLER = "traefik.io/gateway-controller"
INGRESS_CONTROLLER = "traefik.io/ingress-controller"
WEB_PORT = 8000
PING_PORT = 8080
LISTEN_HOST = "127.0.0.1"
NOBODY = 65534
ARCHIVE = "gateway-traefik.tar"
LOCAL_TAG = "localhost/devenv-gateway/traefik:dev"
STATE_FILE = "gateway"
# Bump when the image's recipe changes.
IMAGE_RECIPE = "1"
CONTAINERFILE = f"""\
FROM scratch
COPY traefik /traefik
USER {NOBODY}:{NOBODY}
ENTRYPOINT ["/traefik"]
"""
ROLLOUT_TIMEOUT = "120s"
PROGRAMMED_TIMEOUT_S = 90.0
GROUP = "gateway.networking.k8s.io"


def image_name(ver: str) -> str:
    return f"{IMAGE_DOMAIN}/traefik:{ver}"


def image_stamp(binary_key: str) -> str:
    recipe = "\0".join((IMAGE_RECIPE, CONTAINERFILE, binary_key))
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def build_image(bin_dir: Path, ver: str, images_dir: Path,
                log: Path) -> tuple[Path, dict[str, Any]]:
    """The Traefik image as an OCI archive: made with buildah once per binary and recipe."""
    path, stamp = images_dir / ARCHIVE, images_dir / f"{ARCHIVE}.id"
    want = image_stamp(bin_dir.parent.name)
    if path.is_file() and stamp.is_file() and stamp.read_text() == want:
        return path, {"built": False}
    require_root("building the gateway image with buildah")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="localcluster-gateway-") as tmp:
        containerfile = Path(tmp) / "Containerfile"
        containerfile.write_text(CONTAINERFILE)
        run_with_progress(["buildah", "build", "--pull=never", "--isolation=chroot",
                           "--label", lookalikes.BUILD_LABEL, "-f", str(containerfile),
                           "-t", LOCAL_TAG, str(bin_dir)],
                          f"building the gateway image (traefik {ver})", log)
    images_dir.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    lookalikes.write_named_archive(LOCAL_TAG, "traefik", (image_name(ver),), path)
    stamp.write_text(want)
    # The previous build's image, untagged by this one.
    stale = run(["buildah", "images", "-q", "--filter", "dangling=true", "--filter",
                 f"label={lookalikes.BUILD_LABEL}"], check=False).stdout.split()
    for image in dict.fromkeys(stale):
        run(["buildah", "rmi", image], check=False, timeout=300)
    seconds = round(time.monotonic() - start, 1)
    _say(f"gateway image {image_name(ver)} built in {seconds}s")
    return path, {"built": True, "seconds": seconds}


# -- the objects ---------------------------------------------------------------------------


def traefik_args() -> list[str]:
    return [
        f"--entryPoints.web.address=:{WEB_PORT}",
        f"--entryPoints.traefik.address=:{PING_PORT}",
        "--ping=true",
        "--ping.entryPoint=traefik",
        "--providers.kubernetesGateway=true",
        f"--providers.kubernetesGateway.statusAddress.ip={LISTEN_HOST}",
        "--providers.kubernetesIngress=true",
        f"--providers.kubernetesIngress.ingressEndpoint.ip={LISTEN_HOST}",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
    ]


def cluster_role() -> dict[str, Any]:
    """What the two providers read and the status they write."""
    read = ["get", "list", "watch"]
    gateway_kinds = ["gatewayclasses", "gateways", "httproutes", "grpcroutes", "tcproutes",
                     "tlsroutes", "referencegrants", "backendtlspolicies"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "devenv-gateway-traefik"},
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces", "nodes"], "verbs": ["list", "watch"]},
            {"apiGroups": [""], "resources": ["services", "secrets", "configmaps"],
             "verbs": read},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingressclasses"],
             "verbs": read},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"],
             "verbs": ["update"]},
            {"apiGroups": [GROUP], "resources": gateway_kinds, "verbs": read},
            {"apiGroups": [GROUP], "resources": [f"{k}/status" for k in gateway_kinds],
             "verbs": ["update"]},
        ],
    }


def deployment(ver: str, host_port: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/part-of": "localcluster"}
    container = {
        "name": "traefik",
        "image": image_name(ver),
        "imagePullPolicy": "Never",
        "args": traefik_args(),
        "ports": [
            {"name": "web", "containerPort": WEB_PORT, "hostPort": host_port,
             "hostIP": LISTEN_HOST, "protocol": "TCP"},
            {"name": "ping", "containerPort": PING_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/ping", "port": "ping"},
                           "periodSeconds": 2, "failureThreshold": 2},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                      "limits": {"memory": "512Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY,
                            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "traefik", "namespace": GATEWAY_NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            # One node and a fixed hostPort: the old pod must go before the new one binds.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": "traefik",
                "terminationGracePeriodSeconds": 5,
                "containers": [container],
            }},
        },
    }


def manifests(ver: str, host_port: int) -> list[dict[str, Any]]:
    """Everything the gateway is, in apply order."""
    ns = GATEWAY_NAMESPACE
    return [
        # Pod Security baseline forbids hostPorts; the pod is otherwise restricted-clean.
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
            "pod-security.kubernetes.io/enforce": "privileged"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "traefik", "namespace": ns}},
        cluster_role(),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "devenv-gateway-traefik"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "devenv-gateway-traefik"},
         "subjects": [{"kind": "ServiceAccount", "name": "traefik", "namespace": ns}]},
        deployment(ver, host_port),
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": INGRESS_CLASS}, "spec": {"controller": INGRESS_CONTROLLER}},
        {"apiVersion": f"{GROUP}/v1", "kind": "GatewayClass",
         "metadata": {"name": GATEWAY_CLASS}, "spec": {"controllerName": CONTROLLER}},
        {"apiVersion": f"{GROUP}/v1", "kind": "Gateway",
         "metadata": {"name": GATEWAY_NAME, "namespace": ns},
         "spec": {"gatewayClassName": GATEWAY_CLASS, "listeners": [
             {"name": GATEWAY_SECTION, "protocol": "HTTP", "port": WEB_PORT,
              "allowedRoutes": {"namespaces": {"from": "All"}}}]}},
    ]


def address(host_port: int) -> str:
    return f"{LISTEN_HOST}:{host_port}"


def conditions_true(obj: dict[str, Any], types: tuple[str, ...]) -> bool:
    """Every condition in ``types`` is True for the object's current generation."""
    found = {c.get("type"): c for c in obj.get("status", {}).get("conditions", [])}
    generation = obj.get("metadata", {}).get("generation")
    return all(found.get(t, {}).get("status") == "True"
               and found[t].get("observedGeneration", generation) == generation for t in types)


# -- in the cluster ------------------------------------------------------------------------


def apply(kubeconfig: Path, ver: str, host_port: int) -> None:
    """Write the gateway's objects (server-side apply); nothing waits here."""
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests(ver, host_port)})
    _kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts",
             "--field-manager=localcluster", "-f", "-", input=body)


def _answers(addr: str) -> bool:
    """Traefik answers on the host: a request for no known host is its 404."""
    req = urllib.request.Request(f"http://{addr}/", headers={"Host": "nothing.invalid"})
    try:
        with urllib.request.urlopen(req, timeout=3):  # noqa: S310 - our own loopback address
            return True
    except urllib.error.HTTPError as e:
        e.close()
        return e.code == 404
    except OSError:
        return False


def wait_ready(kubeconfig: Path, state_dir: Path, host_port: int) -> float:
    """Wait until the gateway serves its listener on the host; write ``<state>/gateway``;
    return the seconds it took."""
    start = time.monotonic()
    _kubectl(kubeconfig, "-n", GATEWAY_NAMESPACE, "rollout", "status", "deployment/traefik",
             f"--timeout={ROLLOUT_TIMEOUT}")
    deadline = time.monotonic() + PROGRAMMED_TIMEOUT_S
    addr = address(host_port)
    while True:
        proc = _kubectl(kubeconfig, "-n", GATEWAY_NAMESPACE, "get",
                        f"gateways.v1.{GROUP}/{GATEWAY_NAME}", "-o", "json", check=False)
        gateway = json.loads(proc.stdout) if proc.returncode == 0 else {}
        if conditions_true(gateway, ("Accepted", "Programmed")) and _answers(addr):
            break
        if time.monotonic() >= deadline:
            raise LocalClusterError(
                f"Gateway {GATEWAY_NAMESPACE}/{GATEWAY_NAME} not Accepted and Programmed, "
                f"or {addr} not answering, after {PROGRAMMED_TIMEOUT_S:.0f}s; status: "
                f"{json.dumps(gateway.get('status', {}))[:800]}; see kubectl -n "
                f"{GATEWAY_NAMESPACE} logs deployment/traefik")
        time.sleep(0.5)
    (state_dir / STATE_FILE).write_text(addr + "\n")
    seconds = round(time.monotonic() - start, 1)
    _say(f"gateway {GATEWAY_NAMESPACE}/{GATEWAY_NAME} Programmed; listener "
         f"{GATEWAY_SECTION} at {addr} ({seconds}s)")
    return seconds
