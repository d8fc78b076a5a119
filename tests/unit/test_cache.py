"""The children cache: watch events, our writes and LISTs merge by resourceVersion."""

from __future__ import annotations

from typing import Any

from devenv_operator.cache import MAX_TOMBSTONES, ChildCache

LABEL = "shipit.dev/environment"


def obj(name: str, version: int | str, env: str = "demo", ns: str = "dev-demo",
        **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(version),
                         "labels": {LABEL: env},
                         "managedFields": [{"manager": "devenv-operator"}]}, **extra}


def test_put_and_read_back_by_environment_without_managed_fields() -> None:
    cache = ChildCache(LABEL)
    cache.put("Deployment", obj("api", 5, spec={"replicas": 1}))
    cache.put("Deployment", obj("other", 6, env="else"))
    found = cache.children("Deployment", "dev-demo", "demo")
    assert list(found) == ["api"]
    assert found["api"]["spec"] == {"replicas": 1}
    assert "managedFields" not in found["api"]["metadata"]
    assert cache.children("Service", "dev-demo", "demo") == {}


def test_reads_are_copies() -> None:
    cache = ChildCache(LABEL)
    cache.put("ConfigMap", obj("c", 1, data={"a": "1"}))
    cache.children("ConfigMap", "dev-demo", "demo")["c"]["data"]["a"] = "changed"
    assert cache.children("ConfigMap", "dev-demo", "demo")["c"]["data"] == {"a": "1"}


def test_older_version_never_overwrites_newer() -> None:
    cache = ChildCache(LABEL)
    cache.put("Deployment", obj("api", 10, status={"readyReplicas": 1}))
    cache.put("Deployment", obj("api", 9, status={}))
    assert cache.children("Deployment", "dev-demo", "demo")["api"]["status"] == {
        "readyReplicas": 1}
    cache.put("Deployment", obj("api", 11, status={"readyReplicas": 2}))
    assert cache.children("Deployment", "dev-demo", "demo")["api"]["status"] == {
        "readyReplicas": 2}


def test_non_numeric_versions_fall_back_to_last_seen() -> None:
    cache = ChildCache(LABEL)
    cache.put("Service", obj("api", "b", spec={"n": 1}))
    cache.put("Service", obj("api", "a", spec={"n": 2}))
    assert cache.children("Service", "dev-demo", "demo")["api"]["spec"] == {"n": 2}


def test_deletion_is_not_undone_by_an_older_list() -> None:
    cache = ChildCache(LABEL)
    cache.put("Deployment", obj("api", 10))
    cache.remove("Deployment", obj("api", 12))
    assert cache.children("Deployment", "dev-demo", "demo") == {}
    cache.replace("Deployment", "dev-demo", "demo", [obj("api", 10)], "11")
    assert cache.children("Deployment", "dev-demo", "demo") == {}
    # a re-creation is newer than the deletion
    cache.put("Deployment", obj("api", 13))
    assert list(cache.children("Deployment", "dev-demo", "demo")) == ["api"]


def test_stale_delete_does_not_remove_a_newer_object() -> None:
    cache = ChildCache(LABEL)
    cache.put("ConfigMap", obj("c", 20))
    cache.remove("ConfigMap", obj("c", 15))
    assert list(cache.children("ConfigMap", "dev-demo", "demo")) == ["c"]


def test_replace_drops_what_the_list_no_longer_shows_but_keeps_newer_entries() -> None:
    cache = ChildCache(LABEL)
    cache.put("Secret", obj("gone", 5))
    cache.put("Secret", obj("created-after-list", 30))
    cache.put("Secret", obj("other-env", 5, env="else"))
    cache.replace("Secret", "dev-demo", "demo", [obj("kept", 7)], "20")
    assert sorted(cache.children("Secret", "dev-demo", "demo")) == ["created-after-list", "kept"]
    assert list(cache.children("Secret", "dev-demo", "else")) == ["other-env"]


def test_replace_without_list_version_trusts_the_list() -> None:
    cache = ChildCache(LABEL)
    cache.put("Secret", obj("gone", 50))
    cache.replace("Secret", "dev-demo", "demo", [], None)
    assert cache.children("Secret", "dev-demo", "demo") == {}


def test_forget_namespace_drops_entries_and_tombstones() -> None:
    cache = ChildCache(LABEL)
    cache.put("Deployment", obj("api", 3))
    cache.put("Deployment", obj("api", 3, ns="dev-other"))
    cache.remove("Service", obj("api", 4))
    cache.forget_namespace("dev-demo")
    assert cache.children("Deployment", "dev-demo", "demo") == {}
    assert list(cache.children("Deployment", "dev-other", "demo")) == ["api"]
    cache.put("Service", obj("api", 2))  # the tombstone is gone with the namespace
    assert list(cache.children("Service", "dev-demo", "demo")) == ["api"]


def test_tombstones_are_bounded() -> None:
    cache = ChildCache(LABEL)
    for i in range(MAX_TOMBSTONES + 50):
        cache.remove("ConfigMap", obj(f"c{i}", i))
    cache.put("ConfigMap", obj("c0", 0))  # its tombstone was evicted first
    assert list(cache.children("ConfigMap", "dev-demo", "demo")) == ["c0"]
    cache.put("ConfigMap", obj(f"c{MAX_TOMBSTONES + 49}", 1))  # still remembered
    assert list(cache.children("ConfigMap", "dev-demo", "demo")) == ["c0"]


def test_a_namespace_holds_a_bounded_number_of_children_per_kind() -> None:
    """Objects labelled as ours by someone else cannot grow the operator's memory."""
    from devenv_operator.cache import MAX_PER_NAMESPACE

    c = ChildCache("shipit.dev/environment")
    for i in range(MAX_PER_NAMESPACE + 50):
        c.put("ConfigMap", {"metadata": {"name": f"cm-{i}", "namespace": "dev-x",
                                         "resourceVersion": str(i + 1),
                                         "labels": {"shipit.dev/environment": "x"}}})
    kept = c.children("ConfigMap", "dev-x", "x")
    assert len(kept) == MAX_PER_NAMESPACE
    # Objects already held still update, and other namespaces have their own room.
    c.put("ConfigMap", {"metadata": {"name": "cm-0", "namespace": "dev-x",
                                     "resourceVersion": "999", "labels": {
                                         "shipit.dev/environment": "x"}}, "data": {"a": "b"}})
    assert c.children("ConfigMap", "dev-x", "x")["cm-0"]["data"] == {"a": "b"}
    c.put("ConfigMap", {"metadata": {"name": "cm", "namespace": "dev-y",
                                     "labels": {"shipit.dev/environment": "y"}}})
    assert list(c.children("ConfigMap", "dev-y", "y")) == ["cm"]
