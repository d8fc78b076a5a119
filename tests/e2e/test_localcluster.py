"""Smoke tests of the local control plane, driven through kubectl like a user would."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import localcluster
from localcluster.config import read_pins

pytestmark = pytest.mark.e2e

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def get_json(kubectl: Kubectl, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"lc-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    wait_until(
        "the default ServiceAccount",
        lambda: (
            kubectl("-n", name, "get", "serviceaccount", "default", check=False).returncode == 0
        ),
    )
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def deployment(name: str, replicas: int, image: str = "nginx:1.27") -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "main", "image": image}]},
                },
            },
        }
    )


def test_nodes_are_ready_kwok_nodes(cluster: localcluster.Cluster, kubectl: Kubectl) -> None:
    nodes = get_json(kubectl, "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(cluster.nodes)
    assert len(cluster.nodes) == localcluster.DEFAULT_NODES
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True"
        assert node["status"]["allocatable"]["cpu"] == "8"
        assert node["status"]["allocatable"]["pods"] == "110"


def test_deployment_becomes_available_on_kwok_nodes(
    cluster: localcluster.Cluster, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("-n", namespace, "apply", "-f", "-", input=deployment("web", 2))
    kubectl("-n", namespace, "wait", "--for=condition=Available", "deployment/web", "--timeout=90s")
    pods = get_json(kubectl, "-n", namespace, "pods", "-l", "app=web")["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] in cluster.nodes
        assert pod["status"]["phase"] == "Running"
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions["Ready"] == "True"
        assert pod["status"]["containerStatuses"][0]["state"]["running"]


def test_namespace_deletion_completes(kubectl: Kubectl) -> None:
    name = f"lc-del-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    wait_until(
        "the default ServiceAccount",
        lambda: kubectl("-n", name, "get", "sa", "default", check=False).returncode == 0,
    )
    kubectl("-n", name, "apply", "-f", "-", input=deployment("doomed", 2))
    kubectl("-n", name, "create", "configmap", "data", "--from-literal=k=v")
    kubectl("-n", name, "wait", "--for=condition=Available", "deployment/doomed", "--timeout=90s")

    start = time.monotonic()
    kubectl("delete", "namespace", name, "--wait=true", "--timeout=60s")
    gone = kubectl("get", "namespace", name, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr
    assert time.monotonic() - start < 60


def test_garbage_collector_cascades_to_dependents(kubectl: Kubectl, namespace: str) -> None:
    kubectl("-n", namespace, "create", "configmap", "owner", "--from-literal=a=b")
    owner = get_json(kubectl, "-n", namespace, "configmap", "owner")
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "owner",
                    "uid": owner["metadata"]["uid"],
                }
            ],
        },
        "data": {"c": "d"},
    }
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(dependent))
    assert kubectl("-n", namespace, "get", "configmap", "dependent", check=False).returncode == 0

    kubectl("-n", namespace, "delete", "configmap", "owner", "--cascade=background")
    wait_until(
        "the dependent ConfigMap to be garbage collected",
        lambda: (
            kubectl("-n", namespace, "get", "configmap", "dependent", check=False).returncode != 0
        ),
    )


def test_rbac_denies_unprivileged_service_account(
    cluster: localcluster.Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl("-n", namespace, "create", "serviceaccount", "nobody")
    who = f"system:serviceaccount:{namespace}:nobody"
    denied = kubectl("auth", "can-i", "list", "pods", "-n", namespace, f"--as={who}", check=False)
    assert denied.returncode != 0
    assert denied.stdout.strip() == "no"
    allowed = kubectl("auth", "can-i", "list", "pods", "-n", namespace)
    assert allowed.stdout.strip() == "yes"

    token = kubectl("-n", namespace, "create", "token", "nobody").stdout.strip()
    assert token.count(".") == 2  # a JWT
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    sa_config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": "nobody", "user": {"token": token}}],
        "contexts": [
            {
                "name": "nobody",
                "context": {"cluster": admin["clusters"][0]["name"], "user": "nobody"},
            }
        ],
        "current-context": "nobody",
    }
    sa_kubeconfig = tmp_path / "nobody.kubeconfig"
    sa_kubeconfig.write_text(json.dumps(sa_config))

    # A later --kubeconfig flag overrides the fixture's (the last value wins).
    as_sa = ("--kubeconfig", str(sa_kubeconfig))
    whoami = kubectl(*as_sa, "auth", "whoami", "-o", "json")
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == who
    forbidden = kubectl(*as_sa, "-n", namespace, "get", "pods", check=False)
    assert forbidden.returncode != 0
    assert "Forbidden" in forbidden.stderr or "forbidden" in forbidden.stderr


def test_server_version_is_the_pinned_one(kubectl: Kubectl) -> None:
    version = json.loads(kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == read_pins().kubernetes == "v1.36.3"


def test_unpullable_image_reports_image_pull_failure(kubectl: Kubectl, namespace: str) -> None:
    image = f"{localcluster.UNPULLABLE_PREFIX}app:1"
    kubectl("-n", namespace, "run", "broken", f"--image={image}", "--restart=Never")
    kubectl("-n", namespace, "run", "fine", "--image=nginx:1.27", "--restart=Never")
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "pod/fine", "--timeout=60s")

    def waiting_reason() -> str:
        pod = get_json(kubectl, "-n", namespace, "pod", "broken")
        statuses = pod.get("status", {}).get("containerStatuses") or []
        waiting = statuses[0].get("state", {}).get("waiting", {}) if statuses else {}
        return str(waiting.get("reason", ""))

    wait_until("an image pull failure", lambda: waiting_reason() == "ImagePullBackOff")
    pod = get_json(kubectl, "-n", namespace, "pod", "broken")
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["Ready"] == "False"
    assert pod["status"]["phase"] == "Pending"
    assert image in pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
