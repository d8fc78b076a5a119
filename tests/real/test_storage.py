"""A persistent volume on real containers: postgres (the lookalike, as examples/ name it)
keeps its rows across the deletion of its pod, because its data directory is the claim of
``volumes[].size``; an emptyDir beside it is the pod's scratch space; both are mounted
where the spec says, owned as postgres's entrypoint left them.

The real node has no provisioner: the test offers a hostPath PersistentVolume, reserved
for the environment's claim (``claimRef``), of no StorageClass, which is what a claim of
the shipped default class (no storageClassName) binds to on a cluster without a default
StorageClass.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

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
from tests.real.helpers import RealCluster, timings

URL = "postgresql://shop:pw@127.0.0.1:5432/shopdb"


@pytest.fixture
def database(installed: dict[str, float], kubectl: Kubectl,
             real_cluster: RealCluster) -> Iterator[tuple[str, str, Path]]:
    name = unique("pgdata")
    namespace = f"dev-{name}"
    host_dir = Path("/var/lib/devenv-real-volumes") / name
    volume = f"{name}-pv"
    apply(kubectl, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume},
                    "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                             "storageClassName": "", "persistentVolumeReclaimPolicy": "Retain",
                             "claimRef": {"namespace": namespace, "name": "db-data"},
                             "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"}}})
    start = time.monotonic()
    apply(kubectl, manifest(name, services=[{
        "name": "db", "image": "postgres:16", "ports": [{"port": 5432}],
        "env": [{"name": "POSTGRES_PASSWORD", "value": "pw"},
                {"name": "POSTGRES_USER", "value": "shop"},
                {"name": "POSTGRES_DB", "value": "shopdb"}],
        "volumes": [{"name": "data", "mountPath": "/var/lib/postgresql/data", "size": "1Gi"},
                    {"name": "scratch", "mountPath": "/scratch",
                     "emptyDir": {"sizeLimit": "16Mi"}}],
        "readinessProbe": {"exec": {"command": ["psql", "-tA", URL, "-c", "select 1"]},
                           "periodSeconds": 1}}]))
    try:
        wait_ready(kubectl, name, timeout=180)
        timings["volume_apply_to_ready_s"] = round(time.monotonic() - start, 1)
        yield name, namespace, host_dir
    finally:
        delete_env(kubectl, name)
        kubectl("delete", "pv", volume, "--ignore-not-found")
        shutil.rmtree(host_dir, ignore_errors=True)  # this host is the node


def psql(kubectl: Kubectl, namespace: str, sql: str) -> str:
    return str(kubectl("exec", "-n", namespace, "deploy/db", "--", "psql", "-tA", URL, "-c",
                       sql).stdout).strip()


def pod_of(kubectl: Kubectl, namespace: str) -> str:
    pods = (get(kubectl, "pods", "-n", namespace, "-l", "app.kubernetes.io/name=db") or {})
    running = [p["metadata"]["name"] for p in pods["items"]
               if not p["metadata"].get("deletionTimestamp")]
    return running[0] if len(running) == 1 else ""


def test_postgres_keeps_a_row_across_the_deletion_of_its_pod(
        database: tuple[str, str, Path], kubectl: Kubectl) -> None:
    name, namespace, host_dir = database
    claim = get(kubectl, "pvc", "db-data", "-n", namespace) or {}
    assert claim["status"]["phase"] == "Bound"
    psql(kubectl, namespace, "create table visits (note text)")
    psql(kubectl, namespace, "insert into visits values ('kept')")
    assert (host_dir / "PG_VERSION").exists()  # the data is on the volume, not in the layer
    first = pod_of(kubectl, namespace)
    kubectl("exec", "-n", namespace, "deploy/db", "--", "sh", "-c", "echo x > /scratch/f")
    start = time.monotonic()
    kubectl("delete", "pod", "-n", namespace, first, "--wait=true", "--timeout=60s")
    second = wait_for(lambda: (p := pod_of(kubectl, namespace)) != first and p, 60,
                      what="a new pod")
    wait_ready(kubectl, name, timeout=120)
    timings["volume_pod_replaced_to_ready_s"] = round(time.monotonic() - start, 1)
    assert second != first
    assert psql(kubectl, namespace, "select note from visits") == "kept"
    logs = kubectl("logs", "-n", namespace, "deploy/db").stdout
    assert "PostgreSQL init process complete" not in logs  # no initdb: the data was there
    # The emptyDir was the old pod's: the new one starts with it empty.
    listed = kubectl("exec", "-n", namespace, "deploy/db", "--", "ls", "-A", "/scratch").stdout
    assert listed.strip() == ""
