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

durations = st.one_of(
    st.sampled_from(["30m", "8h", "1d", "90s", "3650d", "3651d", "999999d", "1000000d",
                     "0s", "1s1s1s1s", "1s1s1s1s1s", "1h30m", "", "10", "5 m", "1.5h"]),
    st.from_regex(r"\A[0-9]{1,8}[smhdw]\Z"),
)
times = st.sampled_from([
    "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
    "2030-01-01T00:00:00Z", "9000-01-01T00:00:00Z", "9000-01-01T00:00:01Z",
    "9999-12-31T23:59:59Z", "yesterday", "2030-13-45T00:00:00Z"])
service_names = st.one_of(
    st.sampled_from(["web", "db", "api", "cache"]),
    st.sampled_from(["Web", "-x", "x-", "1db", "a" * 63, "b" * 64, "", "a.b"]),
)
keys = st.one_of(st.sampled_from(["LOG_LEVEL", "a.b", "x-y", "_k"]),
                 st.sampled_from(["a b", "a/b", "", "k" * 254, "ключ"]))
probes = st.one_of(
    st.none(),
    st.just({"httpGet": {"path": "/", "port": 80}}),
    st.just({"tcpSocket": {"port": "http"}}),
    st.just({"exec": {"command": ["true"]}, "periodSeconds": 5}),
    st.just({"httpGet": {"port": 80, "host": "10.0.0.1"}}),
    st.just({"httpGet": {"port": 80, "pth": "/x"}}),
    st.just({"httpGet": {"port": 80}, "tcpSocket": {"port": 80}}),
    st.just({}),
    st.just({"grpc": {"port": 0}}),
    st.just({"httpGet": {"port": 80}, "timeoutSeconds": 0}),
)
env_vars = st.one_of(
    st.just({"name": "A", "value": "b"}),
    st.just({"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
    st.just({"name": "POD", "valueFrom": {"fieldRef": {"fieldpath": "metadata.name"}}}),
    st.just({"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}),
    st.just({"name": "BAD", "value": "x", "valueFrom": {"secretKeyRef": {
        "name": "s", "key": "k"}}}),
    st.just({"name": "1BAD", "value": "x"}),
)


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    service: dict[str, Any] = {"name": draw(service_names),
                               "image": draw(st.sampled_from(["nginx:1.27", "", "x" * 1025]))}
    if draw(st.booleans()):
        service["replicas"] = draw(st.integers(min_value=-1, max_value=21))
    if draw(st.booleans()):
        service["ports"] = [{"port": draw(st.integers(min_value=-1, max_value=65536))}]
    probe = draw(probes)
    if probe is not None:
        service["readinessProbe"] = probe
    if draw(st.booleans()):
        service["env"] = draw(st.lists(env_vars, max_size=2, unique_by=lambda e: e["name"]))
    if draw(st.booleans()):
        service["resources"] = {"requests": {"cpu": draw(st.sampled_from(
            ["100m", "1", "lots", "-1", "1e3", "0.5Gi"]))}}
    return service


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"services": draw(st.lists(services(), min_size=0, max_size=3))}
    if len(spec["services"]) > 1 and draw(st.booleans()):
        first, second = spec["services"][0], spec["services"][1]
        second["dependsOn"] = [first["name"]]
        if draw(st.booleans()):
            first["dependsOn"] = [second["name"]]  # a cycle
    for field in ("ttl", "readyTimeout"):
        if draw(st.booleans()):
            spec[field] = draw(durations)
    if draw(st.booleans()):
        spec["expiresAt"] = draw(times)
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        spec["namespace"] = draw(st.sampled_from(
            ["default", "kube-system", "UPPER", f"fz-ns-{uuid.uuid4().hex[:6]}", "x" * 64]))
    config: dict[str, Any] = {}
    if draw(st.booleans()):
        config["configMaps"] = [{"name": "c", "data": {draw(keys): "v"}}]
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["stringData", "generate", "copyFrom", "two", "none"]))
        secret: dict[str, Any] = {"name": "s"}
        if kind in ("stringData", "two"):
            secret["stringData"] = {draw(keys): "v"}
        if kind in ("generate", "two"):
            secret["generate"] = {"keys": ["p"], "length": draw(st.integers(4, 300))}
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
                env = api.get_cluster_custom_object(models.GROUP, models.VERSION,
                                                    models.PLURAL, name)
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
