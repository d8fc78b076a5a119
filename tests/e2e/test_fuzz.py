"""Property: any DevEnvironment a user can write is refused at apply with a message, or
reaches a status whose Ready condition has a known reason; the operator raises nothing.

Specs are generated (hypothesis), valid and invalid, with boundary values, and created
through the real apiserver with strict field validation, as kubectl does. The examples are
created first and checked together (the operator works on them concurrently), within a
bound. ``FUZZ_EXAMPLES`` sets how many: 200 in ``make test``, more in ``make fuzz``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client as k8s_client
from kubernetes.client.rest import ApiException

import localcluster
from devenv_operator import kube, models, status
from tests.e2e.helpers import Operator, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
STATUS_BOUND = float(os.environ.get("FUZZ_STATUS_BOUND", "120"))

# Each field is valid most of the time and wild now and then, so that both accepted and
# refused specs come up, and boundaries are crossed one or two at a time.
valid_durations = st.sampled_from(["30m", "8h", "1d", "90s", "3650d", "0s", "1s1s1s1s",
                                   "1h30m", "999999s"])
wild_durations = st.one_of(
    st.sampled_from(["3651d", "999999d", "1000000d", "1s1s1s1s1s", "", "10", "5 m", "1.5h"]),
    st.from_regex(r"\A[0-9]{1,8}[smhdw]\Z"))
valid_times = st.sampled_from(["1970-01-01T00:00:00Z", "2030-01-01T00:00:00Z",
                               "9000-01-01T00:00:00Z", "2001-01-01T00:00:00Z"])
wild_times = st.sampled_from(["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                              "9000-01-01T00:00:01Z", "9999-12-31T23:59:59Z", "yesterday",
                              "2030-13-45T00:00:00Z"])
valid_names = st.sampled_from(["web", "db", "api", "cache", "a" * 63])
wild_names = st.sampled_from(["Web", "-x", "x-", "1db", "b" * 64, "", "a.b"])
valid_keys = st.sampled_from(["LOG_LEVEL", "a.b", "x-y", "_k", "k" * 253])
wild_keys = st.sampled_from(["a b", "a/b", "", "k" * 254, "ключ"])
valid_probes = st.sampled_from([
    {"httpGet": {"path": "/", "port": 80}}, {"tcpSocket": {"port": "http"}},
    {"exec": {"command": ["true"]}, "periodSeconds": 5},
    {"grpc": {"port": 9000}, "failureThreshold": 1000}])
wild_probes = st.sampled_from([
    {"httpGet": {"port": 80, "host": "10.0.0.1"}}, {"httpGet": {"port": 80, "pth": "/x"}},
    {"httpGet": {"port": 80}, "tcpSocket": {"port": 80}}, {}, {"grpc": {"port": 0}},
    {"httpGet": {"port": 80}, "timeoutSeconds": 0}])
valid_env = st.sampled_from([
    {"name": "A", "value": "b"},
    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu",
                                                       "divisor": "1m"}}}])
wild_env = st.sampled_from([
    {"name": "POD", "valueFrom": {"fieldRef": {"fieldpath": "metadata.name"}}},
    {"name": "BAD", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    {"name": "1BAD", "value": "x"}])


def pick(draw: st.DrawFn, valid: st.SearchStrategy[Any], wild: st.SearchStrategy[Any]) -> Any:
    return draw(wild) if draw(st.integers(min_value=0, max_value=9)) == 0 else draw(valid)


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    service: dict[str, Any] = {
        "name": pick(draw, valid_names, wild_names),
        "image": pick(draw, st.just("nginx:1.27"), st.sampled_from(["", "x" * 1025]))}
    if draw(st.booleans()):
        service["replicas"] = pick(draw, st.integers(0, 3),
                                   st.sampled_from([-1, 21, 20, 2**31]))
    if draw(st.booleans()):
        service["ports"] = [{"port": pick(draw, st.integers(1, 65535),
                                          st.sampled_from([0, -1, 65536]))}]
    if draw(st.booleans()):
        service["readinessProbe"] = pick(draw, valid_probes, wild_probes)
    if draw(st.booleans()):
        service["env"] = [pick(draw, valid_env, wild_env)]
    if draw(st.booleans()):
        service["resources"] = {"requests": {"cpu": pick(
            draw, st.sampled_from(["100m", "1", "1e3", "0.5"]),
            st.sampled_from(["lots", "1..2", "x" * 70]))}}
    return service


@st.composite
def jobs(draw: st.DrawFn, siblings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """0..2 jobs: images that complete or fail (kwok), names that may clash with a
    service's, dependsOn a service, a job, an unknown name or itself, bounds crossed."""
    made: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 2))):
        job: dict[str, Any] = {
            "name": pick(draw, st.sampled_from([f"migrate{i}", "seed", "j" * 52]),
                         st.sampled_from(["j" * 53, "Seed", *(s["name"] for s in siblings)])),
            "image": pick(draw, st.sampled_from(["shop/api:1", "fail.invalid/api:1"]),
                          st.sampled_from(["", "x" * 1025]))}
        if draw(st.booleans()):
            job["backoffLimit"] = pick(draw, st.integers(0, 10), st.sampled_from([-1, 11]))
        if draw(st.booleans()):
            job["activeDeadlineSeconds"] = pick(draw, st.integers(1, 86400),
                                                st.sampled_from([0, 86401]))
        if draw(st.booleans()):
            targets = [s["name"] for s in siblings] + [j["name"] for j in made]
            job["dependsOn"] = [pick(draw, st.sampled_from(targets or ["nothing"]),
                                     st.sampled_from(["nothing", job["name"]]))]
        made.append(job)
    return made


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    count = pick(draw, st.integers(1, 3), st.just(0))
    spec: dict[str, Any] = {"services": [draw(services()) for _ in range(count)]}
    names = [s["name"] for s in spec["services"]]
    if len(set(names)) != len(names) and draw(st.integers(0, 3)) != 0:
        for i, service in enumerate(spec["services"]):
            service["name"] = f"{service['name'][:60]}{i}"  # mostly unique, as users write
    if len(spec["services"]) > 1 and draw(st.booleans()):
        first, second = spec["services"][0], spec["services"][1]
        second["dependsOn"] = [first["name"]]
        if draw(st.integers(0, 5)) == 0:
            first["dependsOn"] = [second["name"]]  # a cycle
    if draw(st.integers(0, 2)) == 0:
        spec["jobs"] = draw(jobs(spec["services"]))
        if spec["jobs"] and len(spec["services"]) > 1 and draw(st.booleans()):
            spec["services"][-1]["dependsOn"] = [spec["jobs"][0]["name"]]  # waits for it
    for field in ("ttl", "readyTimeout"):
        if draw(st.booleans()):
            spec[field] = pick(draw, valid_durations, wild_durations)
    if draw(st.booleans()):
        spec["expiresAt"] = pick(draw, valid_times, wild_times)
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        spec["namespace"] = pick(draw, st.just(f"fz-ns-{uuid.uuid4().hex[:6]}"),
                                 st.sampled_from(["default", "kube-system", "UPPER",
                                                  "x" * 64]))
    config: dict[str, Any] = {}
    if draw(st.booleans()):
        config["configMaps"] = [{"name": "c", "data": {pick(draw, valid_keys, wild_keys): "v"}}]
    if draw(st.booleans()):
        kind = pick(draw, st.sampled_from(["stringData", "generate", "copyFrom"]),
                    st.sampled_from(["two", "none"]))
        secret: dict[str, Any] = {"name": "s"}
        if kind in ("stringData", "two"):
            secret["stringData"] = {pick(draw, valid_keys, wild_keys): "v"}
        if kind in ("generate", "two"):
            secret["generate"] = {"keys": ["p"],
                                  "length": pick(draw, st.integers(8, 256),
                                                 st.sampled_from([4, 300]))}
        if kind == "copyFrom":
            secret["copyFrom"] = {"namespace": "nowhere", "name": "nothing"}
        config["secrets"] = [secret]
    if config:
        spec["config"] = config
    return spec


@pytest.fixture
def api(cluster: localcluster.Cluster) -> k8s_client.CustomObjectsApi:
    return k8s_client.CustomObjectsApi(kube.load_api_client(str(cluster.kubeconfig)))


def counter(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def test_every_generated_spec_is_refused_with_a_message_or_gets_a_reasoned_status(
        api: k8s_client.CustomObjectsApi, running_operator: Operator) -> None:
    accepted: list[str] = []
    expiring: set[str] = set()  # may expire (and be deleted) before it is looked at
    refusals: list[str] = []
    crashes_before = counter(running_operator.metrics(), "devenv_unexpected_errors_total")
    log_start = len(running_operator.logs())

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(spec=specs(), long_name=st.integers(min_value=0, max_value=20))
    def create(spec: dict[str, Any], long_name: int) -> None:
        name = f"fz-{uuid.uuid4().hex[:8]}"
        if long_name == 0:
            name = (name + "-" + "x" * 64)[:64]
        body = {"apiVersion": models.API_VERSION, "kind": models.KIND,
                "metadata": {"name": name}, "spec": spec}
        try:
            api.create_cluster_custom_object(models.GROUP, models.VERSION, models.PLURAL,
                                             body, field_validation="Strict")
        except ApiException as exc:
            refusal = (exc.status, json.loads(exc.body).get("message", ""))
        else:
            accepted.append(name)
            if "ttl" in spec or "expiresAt" in spec:
                expiring.add(name)
            return
        # Refused as invalid, with a message that says why.
        assert refusal[0] in (400, 422), refusal
        assert refusal[1], refusal
        refusals.append(refusal[1])

    try:
        create()
        assert accepted, "no generated spec was accepted: the strategy is too narrow"
        assert refusals, "no generated spec was refused: the strategy is too narrow"
        unseen = set(accepted)
        reasons: dict[str, int] = {}

        def all_have_a_reason() -> bool:
            for name in sorted(unseen):
                try:
                    env = api.get_cluster_custom_object(models.GROUP, models.VERSION,
                                                        models.PLURAL, name)
                except ApiException as exc:
                    gone = exc.status
                else:
                    gone = 0
                if gone:
                    # Only an environment already past its expiry may be gone.
                    assert (name, gone) in {(n, 404) for n in expiring}, (name, gone)
                    reasons["(expired)"] = reasons.get("(expired)", 0) + 1
                    unseen.discard(name)
                    continue
                conditions = {c["type"]: c for c in (env.get("status") or {}).get(
                    "conditions") or []}
                ready = conditions.get(status.READY)
                if ready and env["status"].get("observedGeneration") == 1:
                    assert ready["reason"] in status.REASONS, ready
                    assert ready["message"], ready
                    reasons[ready["reason"]] = reasons.get(ready["reason"], 0) + 1
                    unseen.discard(name)
            return not unseen
        started = time.monotonic()
        wait_for(all_have_a_reason, STATUS_BOUND, interval=1,
                 what=f"a reasoned status on all {len(accepted)} accepted environments")
        metrics = running_operator.metrics()
        assert counter(metrics, "devenv_unexpected_errors_total") == crashes_before
        assert "Traceback" not in running_operator.logs()[log_start:]
        print(f"\nfuzz: {EXAMPLES} examples, {len(accepted)} accepted, {len(refusals)} "
              f"refused; statuses within {time.monotonic() - started:.1f}s; "
              f"reasons {dict(sorted(reasons.items()))}")
    finally:
        for name in accepted:
            try:
                api.delete_cluster_custom_object(models.GROUP, models.VERSION,
                                                 models.PLURAL, name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
