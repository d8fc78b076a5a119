"""The in-memory API does what its docstring says the parts rely on (and what the real API
server does: these are the behaviours the e2e tier shows on a real one)."""

from __future__ import annotations

from typing import Any

import pytest

from devenv_operator import errors, kube
from tests.unit.fakekube import FakeKube


def config_map(name: str, namespace: str = "dev-pr-1", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {"a": "1"}}


def test_apply_creates_with_identity_and_returns_the_stored_object() -> None:
    api = FakeKube()
    applied = api.apply(kube.CONFIGMAP, config_map("settings"))
    meta = applied["metadata"]
    assert meta["uid"]
    assert meta["creationTimestamp"]
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert (applied["apiVersion"], applied["kind"]) == ("v1", "ConfigMap")
    assert api.get(kube.CONFIGMAP, "settings", "dev-pr-1") == applied


def test_apply_merges_our_fields_keeps_others_and_drops_the_ones_we_stopped_setting() -> None:
    api = FakeKube()
    first = config_map("settings", env="pr-1", tier="dev")
    first["data"] = {"a": "1", "b": "2"}
    created = api.apply(kube.CONFIGMAP, first)
    api.patch(kube.CONFIGMAP, "settings", {"metadata": {"annotations": {"theirs": "x"}}},
              "dev-pr-1")
    second = config_map("settings", env="pr-1")
    second["data"] = {"a": "1", "c": "3"}
    updated = api.apply(kube.CONFIGMAP, second)
    assert updated["data"] == {"a": "1", "c": "3"}
    assert updated["metadata"]["labels"] == {"env": "pr-1"}
    assert updated["metadata"]["annotations"] == {"theirs": "x"}
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["generation"] == 2
    assert int(updated["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"])


def test_an_apply_that_changes_nothing_keeps_the_resource_version() -> None:
    api = FakeKube()
    created = api.apply(kube.CONFIGMAP, config_map("settings"))
    again = api.apply(kube.CONFIGMAP, config_map("settings"))
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_a_status_patch_changes_only_the_status_and_not_the_generation() -> None:
    api = FakeKube()
    api.seed(kube.DEVENV, {"metadata": {"name": "pr-1"}, "spec": {"ttl": "1h"}})
    patched = api.patch(kube.DEVENV, "pr-1", {"spec": {"ttl": "2h"},
                                             "status": {"phase": "Ready"}},
                        subresource="status")
    assert patched is not None
    assert patched["status"] == {"phase": "Ready"}
    assert patched["spec"] == {"ttl": "1h"}
    assert patched["metadata"]["generation"] == 1
    spec_patched = api.patch(kube.DEVENV, "pr-1", {"spec": {"ttl": None},
                                                  "status": {"phase": "Failed"}})
    assert spec_patched is not None
    assert spec_patched["spec"] == {}
    assert spec_patched["status"] == {"phase": "Ready"}
    assert spec_patched["metadata"]["generation"] == 2


def test_a_patch_of_an_object_that_is_gone_is_none() -> None:
    assert FakeKube().patch(kube.DEVENV, "gone", {"status": {}}, subresource="status") is None


def test_delete_with_another_uid_is_a_conflict_and_of_nothing_is_false() -> None:
    api = FakeKube()
    api.seed(kube.CONFIGMAP, config_map("settings"))
    with pytest.raises(errors.Conflict):
        api.delete(kube.CONFIGMAP, "settings", "dev-pr-1", uid="not-its-uid")
    assert api.stored(kube.CONFIGMAP, "settings", "dev-pr-1") is not None
    uid = api.stored(kube.CONFIGMAP, "settings", "dev-pr-1")["metadata"]["uid"]  # type: ignore[index]
    assert api.delete(kube.CONFIGMAP, "settings", "dev-pr-1", uid=uid) is True
    assert api.delete(kube.CONFIGMAP, "settings", "dev-pr-1") is False


def test_a_namespace_terminates_until_finalized_and_takes_its_content_along() -> None:
    api = FakeKube()
    api.seed(kube.NAMESPACE, {"metadata": {"name": "dev-pr-1"}})
    api.seed(kube.CONFIGMAP, config_map("settings"))
    assert api.delete(kube.NAMESPACE, "dev-pr-1") is True
    terminating = api.stored(kube.NAMESPACE, "dev-pr-1")
    assert terminating is not None
    assert terminating["metadata"]["deletionTimestamp"]
    assert terminating["status"]["phase"] == "Terminating"
    api.finalize(kube.NAMESPACE, "dev-pr-1")
    assert api.stored(kube.NAMESPACE, "dev-pr-1") is None
    assert api.stored(kube.CONFIGMAP, "settings", "dev-pr-1") is None


def test_create_refuses_a_taken_name_and_names_generated_ones() -> None:
    api = FakeKube()
    api.create(kube.CONFIGMAP, config_map("settings"))
    with pytest.raises(errors.AlreadyExists):
        api.create(kube.CONFIGMAP, config_map("settings"))
    named = api.create(kube.EVENT, {"metadata": {"generateName": "pr-1.",
                                                 "namespace": "default"}})
    assert named["metadata"]["name"].startswith("pr-1.")


def test_lists_select_by_namespace_and_labels_at_a_resource_version() -> None:
    api = FakeKube()
    api.seed(kube.CONFIGMAP, config_map("a", env="pr-1", managed="yes"))
    api.seed(kube.CONFIGMAP, config_map("b", env="pr-2", managed="yes"))
    api.seed(kube.CONFIGMAP, config_map("c", env="pr-1"))
    api.seed(kube.CONFIGMAP, config_map("d", "dev-other", env="pr-1", managed="yes"))
    items, version = api.list_versioned(kube.CONFIGMAP, "dev-pr-1", "managed=yes,env=pr-1")
    assert [i["metadata"]["name"] for i in items] == ["a"]
    assert version is not None
    assert int(version) >= int(items[0]["metadata"]["resourceVersion"])
    everywhere = api.list(kube.CONFIGMAP, None, "env=pr-1,managed")
    assert [i["metadata"]["name"] for i in everywhere] == ["d", "a"]  # by namespace, name
    assert [i["metadata"]["name"] for i in api.list(kube.CONFIGMAP, "dev-pr-1", "!managed")] \
        == ["c"]
    assert [i["metadata"]["name"] for i in api.list(kube.CONFIGMAP, "dev-pr-1", "env!=pr-1")] \
        == ["b"]
    by_name, _ = api.list_versioned(kube.CONFIGMAP, field_selector="metadata.name=b")
    assert [i["metadata"]["name"] for i in by_name] == ["b"]


def test_a_watch_replays_the_changes_after_a_resource_version() -> None:
    api = FakeKube()
    _, version = api.list_versioned(kube.CONFIGMAP)
    api.apply(kube.CONFIGMAP, config_map("a"))
    api.patch(kube.CONFIGMAP, "a", {"data": {"a": "2"}}, "dev-pr-1")
    api.delete(kube.CONFIGMAP, "a", "dev-pr-1")
    seen = [(e["type"], e["object"]["data"]["a"])
            for e in api.watch(kube.CONFIGMAP, version or "0")]
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_failures_are_injected_per_verb_and_requests_counted() -> None:
    api = FakeKube()
    api.seed(kube.CONFIGMAP, config_map("a"))
    api.fail_next("get", errors.Transient("503", status=503), times=2)
    for _ in range(2):
        with pytest.raises(errors.Transient):
            api.get(kube.CONFIGMAP, "a", "dev-pr-1")
    assert api.get(kube.CONFIGMAP, "a", "dev-pr-1") is not None
    api.list(kube.CONFIGMAP)
    assert api.counts() == {"get": 3, "list": 1}
    assert [r.error is not None for r in api.served("get")] == [True, True, False]


def test_objects_handed_out_are_copies() -> None:
    api = FakeKube()
    got = api.apply(kube.CONFIGMAP, config_map("a"))
    got["data"]["a"] = "changed by the caller"
    assert api.stored(kube.CONFIGMAP, "a", "dev-pr-1")["data"] == {"a": "1"}  # type: ignore[index]


def test_events_are_recorded_as_the_real_seam_builds_them() -> None:
    api = FakeKube()
    body = {"apiVersion": kube.DEVENV.api_version, "kind": kube.DEVENV.kind,
            "metadata": {"name": "pr-1", "uid": "u1"}}
    api.event(body, "Warning", "ReadyTimeout", "web: not ready")
    [event] = api.events
    assert event == {**kube.event_object(body, "Warning", "ReadyTimeout", "web: not ready"),
                     "eventTime": event["eventTime"], "firstTimestamp": event["firstTimestamp"],
                     "lastTimestamp": event["lastTimestamp"]}
    assert event["metadata"]["namespace"] == "default"
    api.fail_next("event", errors.Forbidden("events is forbidden"))
    api.event(body, "Normal", "Ready", "ok")  # best effort: not raised
    assert len(api.events) == 1
