"""Metrics, health endpoints and logs of the running operator, observed like an SRE would.

Counters are compared before and after (other tests share the operator); the per-phase gauge
is compared with what ``kubectl get devenvironments`` says. Secret values are searched for
verbatim in everything the operator emits: its logs, the Events and /metrics.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.helpers import (
    Kubectl,
    Operator,
    apply,
    condition,
    devenv,
    get,
    items,
    manifest,
    unique,
    wait_for,
    wait_phase,
)

pytestmark = pytest.mark.e2e

PHASES = ("Pending", "Provisioning", "Ready", "Failed", "Terminating")
IDLE = [{"name": "web", "image": "nginx:1.27", "replicas": 0}]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(operator: Operator) -> Samples:
    """Every devenv_* sample on /metrics, keyed by (sample name, labels)."""
    out: Samples = {}
    for family in text_string_to_metric_families(operator.metrics()):
        for sample in family.samples:
            if sample.name.startswith("devenv_"):
                out[sample.name, frozenset(sample.labels.items())] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample with exactly these labels, or the sum over the others if ``le`` is absent."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items()
               if n == name and wanted <= set(ls) and ("le" in labels or "le" not in dict(ls)))


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def create(kubectl: Kubectl, names: list[str], prefix: str, **spec: Any) -> str:
    name = unique(prefix)
    apply(kubectl, manifest(name, **spec))
    names.append(name)
    return name


def cluster_phase_counts(kubectl: Kubectl) -> dict[str, int]:
    counts = dict.fromkeys(PHASES, 0)
    for env in items(kubectl, "devenvironments"):
        phase = (env.get("status") or {}).get("phase")
        if phase in counts:
            counts[phase] += 1
    return counts


def gauge_counts(operator: Operator) -> dict[str, int]:
    samples = scrape(operator)
    return {p: int(value(samples, "devenv_environments", phase=p)) for p in PHASES}


def wait_gauge_matches_cluster(operator: Operator, kubectl: Kubectl, timeout: float = 20
                               ) -> dict[str, int]:
    def check() -> dict[str, int] | None:
        gauge, actual = gauge_counts(operator), cluster_phase_counts(kubectl)
        return gauge if gauge == actual else None
    return wait_for(check, timeout, interval=0.5,
                    what="devenv_environments{phase} to match kubectl get devenvironments")


def failed_with(kubectl: Kubectl, name: str, reason: str, timeout: float = 30
                ) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        env = devenv(kubectl, name)
        ready = condition(env, "Ready")
        if (env or {}).get("status", {}).get("phase") == "Failed" and ready["reason"] == reason:
            return env
        return None
    return wait_for(check, timeout, what=f"{name} Failed with {reason}")


# -- metrics -------------------------------------------------------------------------------


def test_metrics_follow_environments_from_creation_to_expiry(
        running_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    before = scrape(running_operator)
    good = create(kubectl, names, "m-good", ttl="10s",
                  services=[{"name": "web", "image": "nginx:1.27"}])
    broken = create(kubectl, names, "m-pull", readyTimeout="5s",
                    services=[{"name": "web", "image": "unpullable.invalid/x:1"}])
    cyclic = create(kubectl, names, "m-cycle", services=[
        {"name": "a", "image": "nginx:1.27", "dependsOn": ["b"]},
        {"name": "b", "image": "nginx:1.27", "dependsOn": ["a"]}])
    wait_phase(kubectl, good, "Ready", timeout=30)
    failed_with(kubectl, broken, "ReadyTimeout")
    failed_with(kubectl, cyclic, "InvalidSpec")
    wait_gauge_matches_cluster(running_operator, kubectl)

    after = scrape(running_operator)
    assert grew(before, after, "devenv_reconciles_total", outcome="success") >= 3
    assert grew(before, after, "devenv_reconcile_duration_seconds_count") >= 3
    assert grew(before, after, "devenv_time_to_ready_seconds_count") >= 1
    for step in ("namespace", "config", "services"):
        assert grew(before, after, "devenv_provisioning_step_seconds_count", step=step) >= 1
    assert grew(before, after, "devenv_failures_total", reason="ReadyTimeout") == 1
    assert grew(before, after, "devenv_failures_total", reason="InvalidSpec") == 1
    assert grew(before, after, "devenv_api_requests_total", verb="create", result="2xx") >= 2
    assert grew(before, after, "devenv_api_requests_total", verb="patch", result="2xx") >= 3
    assert value(after, "devenv_environments", phase="Failed") >= 2
    assert value(after, "devenv_environments", phase="Ready") >= 1

    # Expiry of `good`, then the teardown of all three.
    wait_for(lambda: devenv(kubectl, good) is None, 30, what=f"{good} to expire")
    for name in (broken, cyclic):
        kubectl("delete", "devenvironment", name, "--wait=true", "--timeout=30s")
    final = scrape(running_operator)
    assert grew(after, final, "devenv_expirations_total") == 1
    assert grew(after, final, "devenv_expiry_lateness_seconds_count") == 1
    assert value(final, "devenv_expiry_lateness_seconds_sum") - value(
        after, "devenv_expiry_lateness_seconds_sum") < 5
    assert grew(after, final, "devenv_teardown_seconds_count") >= 3
    # The expired DevEnvironment and the two namespaces (none was created for the invalid one).
    assert grew(after, final, "devenv_api_requests_total", verb="delete") >= 3
    wait_gauge_matches_cluster(running_operator, kubectl)

    text = running_operator.metrics()
    for name in (good, broken, cyclic):
        assert name not in text, f"{name} appears in /metrics: labels must come from fixed sets"


def test_phase_gauge_is_right_after_a_restart(
        running_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    ready = [create(kubectl, names, "g-ok", services=IDLE) for _ in range(2)]
    invalid = create(kubectl, names, "g-bad", services=[
        {"name": "a", "image": "nginx:1.27", "dependsOn": ["b"]},
        {"name": "b", "image": "nginx:1.27", "dependsOn": ["a"]}])
    for name in ready:
        wait_phase(kubectl, name, "Ready", timeout=30)
    failed_with(kubectl, invalid, "InvalidSpec")
    expected = wait_gauge_matches_cluster(running_operator, kubectl)

    running_operator.stop(kill=True)  # nothing survives in memory
    running_operator.start()
    restarted = wait_gauge_matches_cluster(running_operator, kubectl)
    assert restarted == expected
    assert restarted["Ready"] >= 2
    assert restarted["Failed"] >= 1


# -- logs: one operator run at DEBUG level in JSON, the most verbose it gets ---------------


@pytest.fixture(scope="module")
def verbose_operator(operator: Operator) -> Iterator[Operator]:
    with operator.settings_applied(DEVENV_LOG_LEVEL="DEBUG", DEVENV_LOG_FORMAT="json"):
        yield operator


def test_secret_values_never_appear_in_logs_events_or_metrics(
        verbose_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    literal = f"lit{uuid.uuid4().hex}"
    name = create(
        kubectl, names, "secret", services=[{
            "name": "web", "image": "nginx:1.27",
            "env": [{"name": "PASSWORD",
                     "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
        }],
        config={"secrets": [
            {"name": "creds", "stringData": {"password": literal}},
            {"name": "gen", "generate": {"keys": ["token"], "length": 40}},
        ]})
    env = wait_phase(kubectl, name, "Ready", timeout=30)
    namespace = env["status"]["namespace"]
    # A spec change makes the operator reconcile (and log) again with the values in play.
    kubectl("patch", "devenvironment", name, "--type=merge", "-p",
            json.dumps({"spec": {"owner": "someone-else"}}))
    wait_for(lambda: (devenv(kubectl, name) or {}).get("status", {}).get(
        "observedGeneration") == 2, 20, what="generation 2 observed")
    generated_secret = get(kubectl, "secret", "gen", "-n", namespace)
    assert generated_secret is not None
    generated = base64.b64decode(generated_secret["data"]["token"]).decode()
    assert len(generated) == 40
    seeded = get(kubectl, "secret", "creds", "-n", namespace)
    assert seeded is not None
    assert base64.b64decode(seeded["data"]["password"]).decode() == literal
    kubectl("delete", "devenvironment", name, "--wait=true", "--timeout=30s")

    logs = verbose_operator.logs()
    events = kubectl("get", "events", "-A", "-o", "json").stdout
    metrics = verbose_operator.metrics()
    assert f"Created Deployment web in {namespace}" in logs  # the logs we search are real
    leaks = []
    for kind, secret in (("stringData", literal), ("generated", generated)):
        encoded = base64.b64encode(secret.encode()).decode()
        for where, text in (("operator logs", logs), ("Events", events),
                            ("/metrics", metrics)):
            for line in text.splitlines():
                if secret in line or encoded in line:
                    shown = line.replace(secret, "<SECRET>").replace(encoded, "<B64SECRET>")
                    leaks.append(f"{kind} value in {where}: {shown[:400]}")
    assert not leaks, "secret values leaked:\n" + "\n".join(leaks)


def test_json_log_format_writes_one_json_object_per_line(
        verbose_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    name = create(kubectl, names, "json", services=IDLE)
    wait_phase(kubectl, name, "Ready", timeout=30)
    kubectl("delete", "devenvironment", name, "--wait=true", "--timeout=30s")
    lines = [line for line in verbose_operator.log_path.read_text().splitlines() if line.strip()]

    assert lines
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON log line: {line[:300]!r}")
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), record
        records.append(record)
    messages = [r["message"] for r in records]
    assert f"Created Namespace dev-{name} for DevEnvironment {name}" in messages
    assert any(m.startswith(f"Deleting Namespace dev-{name}") for m in messages), messages


# -- health ----------------------------------------------------------------------------


def get_url(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310  # http://127.0.0.1
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode()
        exc.close()
        return exc.code, body


def test_health_endpoints_report_a_live_and_ready_operator(
        running_operator: Operator) -> None:
    base = f"http://127.0.0.1:{running_operator.metrics_port}"
    for path in ("/healthz", "/readyz"):
        code, body = get_url(base + path)
        assert code == 200, (path, body)
        assert json.loads(body) == {"ok": True}
    assert get_url(base + "/nothing-here")[0] == 404
