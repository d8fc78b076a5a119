"""The stock-image lookalikes run on the real node as their official counterparts would,
where it matters: started as root, they chown their data, drop to their service user and
serve their port; postgres runs initdb and takes POSTGRES_PASSWORD/_USER/_DB.

The images are named exactly as the examples name them (``postgres:16``...). They run here
unchanged under the shipped default class, which gives back what Pod Security baseline
allows on top of drop ALL (chown, setuid and setgid for gosu and nginx's workers, a low
port among them).
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from localcluster.realnode import lookalikes
from tests.e2e.helpers import Kubectl, apply, delete_env, get, manifest, unique, wait_ready
from tests.real.helpers import RealCluster, http_get, timings

PG_USER, PG_DB = "shop", "shopdb"


def services() -> list[dict[str, Any]]:
    password = {"secretKeyRef": {"name": "db", "key": "password"}}
    return [
        {"name": "db", "image": "postgres:16", "ports": [{"name": "pg", "port": 5432}],
         "env": [{"name": "POSTGRES_PASSWORD", "valueFrom": password},
                 {"name": "POSTGRES_USER", "value": PG_USER},
                 {"name": "POSTGRES_DB", "value": PG_DB}],
         "readinessProbe": {"tcpSocket": {"port": 5432}, "periodSeconds": 1}},
        {"name": "cache", "image": "redis:7", "ports": [{"name": "redis", "port": 6379}],
         "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 1}},
        {"name": "web", "image": "nginx:1.27", "ports": [{"name": "http", "port": 80}],
         "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1}},
        {"name": "api", "image": "registry.example.com/shop/api:pr-1234",
         "dependsOn": ["db", "cache"], "ports": [{"name": "http", "port": 8080}],
         "envFrom": [{"configMapRef": {"name": "app-config"}}],
         "env": [{"name": "DB_PASSWORD", "valueFrom": password}],
         "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                            "periodSeconds": 1}},
    ]


@pytest.fixture(scope="module")
def stack(installed: dict[str, float], kubectl: Kubectl) -> Iterator[str]:
    name = unique("lookalikes")
    start = time.monotonic()
    apply(kubectl, manifest(name, services=services(), config={
        "configMaps": [{"name": "app-config",
                        "data": {"LOG_LEVEL": "debug", "DB_HOST": "db", "CACHE_HOST": "cache"}}],
        "secrets": [{"name": "db", "generate": {"keys": ["password"]}}]}))
    try:
        wait_ready(kubectl, name, timeout=180)
        timings["lookalikes_apply_to_ready_s"] = round(time.monotonic() - start, 1)
        yield f"dev-{name}"
    finally:
        delete_env(kubectl, name)


def sh(kubectl: Kubectl, ns: str, service: str, script: str, check: bool = True) -> str:
    return str(kubectl("exec", "-n", ns, f"deploy/{service}", "--", "sh", "-c", script,
                       check=check).stdout)


def uids(kubectl: Kubectl, ns: str, service: str, command: str) -> list[int]:
    """The real uids of the container's processes named ``command`` (no ps in the images)."""
    out = sh(kubectl, ns, service, "for s in /proc/[0-9]*/status; do "
             "awk '/^Name:/{n=$2} /^Uid:/{print n, $2}' $s; done 2>/dev/null")
    pairs = (line.split() for line in out.splitlines())
    return sorted(int(uid) for name, uid in pairs if name == command)


def cluster_ip(kubectl: Kubectl, ns: str, service: str) -> str:
    svc = get(kubectl, "service", service, "-n", ns) or {}
    return str(svc["spec"]["clusterIP"])


def secret(kubectl: Kubectl, ns: str, name: str, key: str) -> str:
    data = (get(kubectl, "secret", name, "-n", ns) or {})["data"][key]
    return base64.b64decode(data).decode()


def test_postgres_runs_initdb_as_postgres_and_takes_the_password_user_and_db(
    stack: str, kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    logs = kubectl("logs", "-n", stack, "deploy/db").stdout
    assert "PostgreSQL init process complete" in logs
    assert "database system is ready to accept connections" in logs
    assert set(uids(kubectl, stack, "db", "postgres")) == {lookalikes.lookalike("postgres").uid}
    assert sh(kubectl, stack, "db", "stat -c %u:%a /var/lib/postgresql/data").strip() == "999:700"
    password = secret(kubectl, stack, "db", "password")
    ip = cluster_ip(kubectl, stack, "db")
    # Over TCP through the Service: pg_hba's `host all all all scram-sha-256`.
    url = f"postgresql://{PG_USER}:{password}@{ip}:5432/{PG_DB}"
    query = kubectl("exec", "-n", stack, "deploy/db", "--", "psql", "-tA", url, "-c",
                    "select current_user, current_database(), "
                    "(select rolsuper from pg_roles where rolname = current_user)").stdout
    assert query.strip() == f"{PG_USER}|{PG_DB}|t"
    wrong = kubectl("exec", "-n", stack, "deploy/db", "--", "psql", "-tA",
                    f"postgresql://{PG_USER}:wrong@{ip}:5432/{PG_DB}", "-c", "select 1",
                    check=False)
    assert wrong.returncode != 0
    assert "password authentication failed" in wrong.stderr


def test_redis_answers_ping_on_6379_as_redis(
    stack: str, kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    assert uids(kubectl, stack, "cache", "redis-server") == [lookalikes.lookalike("redis").uid]
    assert sh(kubectl, stack, "cache", "stat -c %U /data").strip() == "redis"
    # From the host, through kube-proxy: not loopback, so protected mode is off as upstream.
    with socket.create_connection((cluster_ip(kubectl, stack, "cache"), 6379), timeout=5) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(64) == b"+PONG\r\n"


def test_nginx_serves_on_80_with_a_root_master_and_nginx_workers(
    stack: str, kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    page = http_get(f"http://{cluster_ip(kubectl, stack, 'web')}/")
    assert "Welcome to nginx!" in page
    nginx = uids(kubectl, stack, "web", "nginx")
    assert nginx[0] == 0  # the master
    assert set(nginx[1:]) == {lookalikes.lookalike("nginx").uid}  # the workers
    assert "GET / HTTP/1.1" in kubectl("logs", "-n", stack, "deploy/web").stdout


def test_the_shop_app_serves_on_8080_as_non_root_with_its_seeded_config(
    stack: str, kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    report = json.loads(http_get(f"http://{cluster_ip(kubectl, stack, 'api')}:8080/"))
    assert report["settings"] == {"LOG_LEVEL": "debug", "DB_HOST": "db", "CACHE_HOST": "cache"}
    assert report["secrets_set"] == ["DB_PASSWORD"]
    # By name: the real node has no cluster DNS yet (and the operator turns Service links
    # off), so db and cache do not resolve from the pod; the check ran and says so.
    assert set(report["reachable"]) == {"db:5432", "cache:6379"}
    assert uids(kubectl, stack, "api", "python3") == [lookalikes.lookalike("shop-app").uid]
