"""spec.jobs on real containers: a migration Job creates a table in the postgres lookalike
once db is Available and before api starts, and api reads it; a failing Job turns the
environment Failed (JobFailed) with the container's own last log lines in status.jobs, in
the Event and in `kubectl devenv wait` (exit 1), which kwok cannot produce.

The real node has no cluster DNS yet (and the operator turns Service links off), so the
job and api find db through a ConfigMap the test writes with db's ClusterIP once its
Service exists; until then their pods wait (CreateContainerConfigError), as a pod does for
any ConfigMap that is not there yet.

A new pod's first connection can come before the node's NetworkPolicy enforcer has let it
in: db's namespace admits its own pods, and kube-router adds a pod's address to that list
when the API server reports it, which is after the container has started. Kubernetes
asks the same of any client under NetworkPolicy: the job and api retry their first
connection for a few seconds (WAIT_FOR_DB) instead of failing on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.helpers import (
    Kubectl,
    apply,
    condition,
    delete_env,
    events_for,
    get,
    items,
    kubectl_path,
    manifest,
    unique,
    wait_for,
    wait_ready,
    wait_reason,
)
from tests.real.helpers import RealCluster

PASSWORD = {"secretKeyRef": {"name": "db", "key": "password"}}
CLIENT_ENV = [
    {"name": "PGHOST", "valueFrom": {"configMapKeyRef": {"name": "db-address", "key": "host"}}},
    {"name": "PGUSER", "value": "shop"}, {"name": "PGDATABASE", "value": "shopdb"},
    {"name": "PGPASSWORD", "valueFrom": PASSWORD}]
WAIT_FOR_DB = ("for i in $(seq 40); do psql -tA -c 'select 1' >/dev/null 2>&1 && break; "
               "sleep 0.25; done; ")
MIGRATION = ("psql -v ON_ERROR_STOP=1 "
             "-c 'create table if not exists migrated (id int primary key, at timestamptz "
             "default now())' -c 'insert into migrated (id) values (1) on conflict do nothing'"
             " && echo 'migration 1 applied'")
# api checks the table at start (and is not ready, crash-looping, until it can), then idles.
CHECK = ("psql -v ON_ERROR_STOP=1 -tA -c 'select count(*) from migrated' > /tmp/migrated "
         "&& echo \"migrated rows: $(cat /tmp/migrated)\" && exec sleep 100000")
# stdout, then stderr: containerd copies the two streams apart, so two lines written in the
# same instant can reach the log in either order (seen under load); a second between them
# makes the order the log shows the order they were written in.
BROKEN = ('echo "migrate: applying 0002_users"; sleep 1; '
          'echo "ERROR: relation \\"users\\" does not exist" >&2; exit 3')


def stack() -> dict[str, Any]:
    return {
        "services": [
            {"name": "db", "image": "postgres:16", "ports": [{"name": "pg", "port": 5432}],
             "env": [{"name": "POSTGRES_PASSWORD", "valueFrom": PASSWORD},
                     {"name": "POSTGRES_USER", "value": "shop"},
                     {"name": "POSTGRES_DB", "value": "shopdb"}],
             "readinessProbe": {"tcpSocket": {"port": 5432}, "periodSeconds": 1}},
            {"name": "api", "image": "postgres:16", "command": ["sh", "-c", WAIT_FOR_DB + CHECK],
             "env": CLIENT_ENV, "dependsOn": ["db", "migrate"],
             "readinessProbe": {"exec": {"command": ["test", "-s", "/tmp/migrated"]},
                                "periodSeconds": 1}}],
        "jobs": [{"name": "migrate", "image": "postgres:16",
                  "command": ["sh", "-c", WAIT_FOR_DB + MIGRATION], "env": CLIENT_ENV,
                  "dependsOn": ["db"], "backoffLimit": 3}],
        "config": {"secrets": [{"name": "db", "generate": {"keys": ["password"]}}]},
    }


def plugin(real_cluster: RealCluster, *args: str) -> subprocess.CompletedProcess[str]:
    tools = [str(Path(kubectl_path()).parent), str(Path(sys.prefix) / "bin")]
    env = {**os.environ, "KUBECONFIG": str(real_cluster.cluster.kubeconfig),
           "PATH": os.pathsep.join([*tools, os.environ.get("PATH", "")])}
    return subprocess.run([kubectl_path(), "devenv", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def available_since(deployment: dict[str, Any]) -> str:
    (available,) = [c for c in deployment["status"]["conditions"] if c["type"] == "Available"]
    assert available["status"] == "True"
    return str(available["lastTransitionTime"])


def test_a_migration_runs_after_db_and_before_api_which_reads_its_table(
        installed: dict[str, float], kubectl: Kubectl, real_cluster: RealCluster) -> None:
    name = unique("migrate")
    ns = f"dev-{name}"
    apply(kubectl, manifest(name, **stack()))
    try:
        ip = wait_for(lambda: ((get(kubectl, "service", "db", "-n", ns) or {}).get("spec")
                               or {}).get("clusterIP"), 60, what="db's Service")
        kubectl("create", "configmap", "db-address", "-n", ns, f"--from-literal=host={ip}")
        env = wait_ready(kubectl, name, timeout=300)
        (job,) = items(kubectl, "jobs", "-n", ns)
        migrate = env["status"]["jobs"][0]
        assert (migrate["state"], migrate["jobName"]) == ("Complete", job["metadata"]["name"])
        assert condition(env, "JobsComplete")["status"] == "True"
        logs = kubectl("logs", "-n", ns, f"job/{migrate['jobName']}").stdout
        assert "migration 1 applied" in logs, logs
        # The order, as the API server recorded it.
        db = get(kubectl, "deployment", "db", "-n", ns) or {}
        api = get(kubectl, "deployment", "api", "-n", ns) or {}
        assert job["metadata"]["creationTimestamp"] >= available_since(db)
        assert api["metadata"]["creationTimestamp"] >= job["status"]["completionTime"]
        # api read the table the job made.
        assert "migrated rows: 1" in kubectl("logs", "-n", ns, "deploy/api").stdout
        assert kubectl("exec", "-n", ns, "deploy/api", "--", "cat",
                       "/tmp/migrated").stdout.strip() == "1"
        assert env["status"]["services"][1]["restarts"] == 0
    finally:
        delete_env(kubectl, name)


def test_a_failing_job_fails_the_environment_with_its_own_last_log_lines(
        installed: dict[str, float], kubectl: Kubectl, real_cluster: RealCluster) -> None:
    name = unique("jobfail")
    apply(kubectl, manifest(name, services=[{"name": "web", "image": "nginx:1.27"}], jobs=[
        {"name": "migrate", "image": "localcluster.local/busybox:1",
         "command": ["sh", "-c", BROKEN], "backoffLimit": 0}]))
    try:
        env = wait_reason(kubectl, name, "JobFailed", timeout=180)
        assert env["status"]["phase"] == "Failed"
        assert condition(env, "Stalled")["status"] == "True"
        message = condition(env, "Ready")["message"]
        assert message == ('Job migrate failed after 1 attempt: BackoffLimitExceeded: Job has '
                           'reached the specified backoff limit; last log line: ERROR: '
                           'relation "users" does not exist'), message
        job = env["status"]["jobs"][0]
        assert job["message"].endswith('last log lines:\nmigrate: applying 0002_users\n'
                                       'ERROR: relation "users" does not exist'), job
        events = wait_for(lambda: [e for e in events_for(kubectl, name)
                                   if e["reason"] == "JobFailed" and "applying 0002_users"
                                   in e["message"]], 30, what="the JobFailed Event")
        assert events[0]["type"] == "Warning"
        waited = plugin(real_cluster, "wait", name, "--timeout", "2m")
        assert waited.returncode == 1, waited.stdout + waited.stderr
        assert f"devenv {name} Failed: JobFailed: Job migrate failed" in waited.stdout
        assert f"Last log lines of job migrate ({job['jobName']}):" in waited.stdout
        assert '  | ERROR: relation "users" does not exist' in waited.stdout
    finally:
        delete_env(kubectl, name)
