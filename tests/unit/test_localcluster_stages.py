"""Unit tests of the kwok stage configuration we generate."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from localcluster import stages


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    parsed = list(yaml.safe_load_all(stages.render("v1.36.3", "v0.8.0")))
    return {d["metadata"]["name"]: d for d in parsed}


def selectors(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["jq"] for e in doc["spec"]["selector"]["matchExpressions"]]


def test_all_documents_are_stages(docs: dict[str, dict[str, Any]]) -> None:
    assert set(docs) == {
        "node-initialize",
        "node-heartbeat",
        "pod-ready",
        "pod-image-pull-error",
        "pod-image-pull-backoff",
        "pod-job-complete",
        "pod-job-fail",
        "pod-delete",
        *(f"pod-crash-loop-{n}" for n in range(1, stages.CRASH_LOOP_STEPS + 1)),
    }
    for doc in docs.values():
        assert doc["apiVersion"] == "kwok.x-k8s.io/v1alpha1"
        assert doc["kind"] == "Stage"
        assert doc["spec"]["resourceRef"]["kind"] in ("Node", "Pod")
        assert doc["spec"]["steps"]


def test_pod_ready_is_immediate_and_skips_unpullable(docs: dict[str, dict[str, Any]]) -> None:
    ready = docs["pod-ready"]
    assert "delay" not in ready["spec"]
    sel = selectors(ready)
    assert {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"} in sel
    assert {"key": stages.UNPULLABLE_JQ, "operator": "In", "values": ["false"]} in sel
    assert {"key": stages.CRASHLOOP_JQ, "operator": "In", "values": ["false"]} in sel
    patch = ready["spec"]["steps"][0]["patch"]
    assert patch["subresource"] == "status"
    assert "phase: Running" in patch["template"]
    assert 'type: Ready, status: "True"' in patch["template"]


def test_unpullable_images_fail_to_pull(docs: dict[str, dict[str, Any]]) -> None:
    assert "unpullable.invalid/" in stages.UNPULLABLE_JQ
    assert "initContainers" in stages.UNPULLABLE_JQ
    err = docs["pod-image-pull-error"]
    assert {"key": stages.UNPULLABLE_JQ, "operator": "In", "values": ["true"]} in selectors(err)
    template = err["spec"]["steps"][0]["patch"]["template"]
    assert "reason: ErrImagePull" in template
    assert "phase: Running" not in template
    backoff = docs["pod-image-pull-backoff"]
    assert backoff["spec"]["delay"]["durationMilliseconds"] > 0
    assert "reason: ImagePullBackOff" in backoff["spec"]["steps"][0]["patch"]["template"]


def test_deleted_pods_are_removed(docs: dict[str, dict[str, Any]]) -> None:
    delete = docs["pod-delete"]
    assert selectors(delete) == [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}]
    assert delete["spec"]["steps"] == [{"delete": True}]
    # every other pod stage must leave terminating pods alone
    for name, doc in docs.items():
        if doc["spec"]["resourceRef"]["kind"] == "Pod" and name != "pod-delete":
            assert {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"} in (
                selectors(doc)
            ), name


def test_node_stages(docs: dict[str, dict[str, Any]]) -> None:
    init = docs["node-initialize"]["spec"]
    template = init["steps"][0]["patch"]["template"]
    assert "kubeletVersion: v1.36.3" in template
    for ctype in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
        assert f"type: {ctype}" in template
    assert "delay" not in init
    heartbeat = docs["node-heartbeat"]["spec"]
    assert 0 < heartbeat["delay"]["durationMilliseconds"] <= 30_000
    assert "lastHeartbeatTime" in heartbeat["steps"][0]["patch"]["template"]


def test_crash_looping_images_restart_one_step_at_a_time(
        docs: dict[str, dict[str, Any]]) -> None:
    assert "crashloop.invalid/" in stages.CRASHLOOP_JQ
    for n in range(1, stages.CRASH_LOOP_STEPS + 1):
        step = docs[f"pod-crash-loop-{n}"]
        sel = selectors(step)
        # Each step picks the pods the previous one left (jq yields strings to compare).
        assert {"key": stages.RESTARTS_JQ, "operator": "In", "values": [str(n - 1)]} in sel
        assert stages.RESTARTS_JQ.endswith("tostring")
        assert {"key": stages.CRASHLOOP_JQ, "operator": "In", "values": ["true"]} in sel
        template = step["spec"]["steps"][0]["patch"]["template"]
        assert f"restartCount: {n}" in template
        assert "reason: CrashLoopBackOff" in template
        assert "exitCode: 1" in template
        assert ("podIP:" in template) == (n == 1)  # one address, set once
        assert ("delay" in step["spec"]) == (n > 1)


def test_job_pods_succeed_unless_their_image_says_fail(docs: dict[str, dict[str, Any]]) -> None:
    owned = {"key": ".metadata.ownerReferences[]?.kind", "operator": "In", "values": ["Job"]}
    complete, fail = docs["pod-job-complete"], docs["pod-job-fail"]
    assert owned in selectors(complete)
    assert owned in selectors(fail)
    assert {"key": stages.JOB_FAIL_JQ, "operator": "In", "values": ["false"]} in (
        selectors(complete))
    assert {"key": stages.JOB_FAIL_JQ, "operator": "In", "values": ["true"]} in selectors(fail)
    assert "fail.invalid/" in stages.JOB_FAIL_JQ
    template = fail["spec"]["steps"][0]["patch"]["template"]
    assert "phase: Failed" in template
    assert "exitCode: 1" in template
    assert "phase: Succeeded" in complete["spec"]["steps"][0]["patch"]["template"]
