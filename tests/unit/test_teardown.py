"""Teardown alone, against the in-memory API: which namespace it deletes, and what it says.

The fake keeps a deleted Namespace with a deletionTimestamp until the test finalizes it,
as the namespace controller does while it removes the content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from devenv_operator import builders, errors, kube
from devenv_operator.builders.common import UID_ANNOTATION
from devenv_operator.children import ChildReader
from devenv_operator.fanout import Fanout
from devenv_operator.recorder import EventRecorder
from devenv_operator.records import EnvRecord, Records
from devenv_operator.statuswriter import StatusWriter
from devenv_operator.teardown import Teardown
from tests.unit.fakekube import FakeKube

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NAME, UID, NAMESPACE = "pr-1", "uid-pr-1", "dev-pr-1"
SPEC = {"services": [{"name": "web", "image": "nginx:1.27"}]}


@dataclass
class Rig:
    api: FakeKube
    teardown: Teardown
    children: ChildReader
    record: EnvRecord
    closers: tuple[StatusWriter, EventRecorder, Fanout]

    def run(self, body: dict[str, Any]) -> str | None:
        return self.teardown.run(body, self.record)

    def status(self) -> dict[str, Any]:
        stored = self.api.stored(kube.DEVENV, NAME)
        assert stored is not None
        found: dict[str, Any] = stored.get("status") or {}
        return found

    def status_writes(self) -> int:
        return sum(1 for r in self.api.served("patch") if r.kind == kube.DEVENV.kind)

    def cache_one_child(self) -> None:
        self.children.put(kube.CONFIGMAP, {"metadata": {
            "name": "settings", "namespace": NAMESPACE, "resourceVersion": "1",
            "labels": {builders.ENVIRONMENT_LABEL: NAME}}})

    def cached_children(self) -> dict[str, Any]:
        return self.children.cache.children(kube.CONFIGMAP.kind, NAMESPACE, NAME)


def make_rig(api: FakeKube) -> Rig:
    """The one place the parts are built (signature changes are adapted here)."""
    kube_api = api.as_kube()
    statuses = StatusWriter(kube_api, on_lost=lambda _: None)
    fanout = Fanout(2)
    live = Records()
    children = ChildReader(kube_api, fanout, live, resync_seconds=60)
    events = EventRecorder(kube_api)
    teardown = Teardown(kube_api, statuses=statuses, children=children, events=events,
                        namespace_prefix="dev-", clock=lambda: NOW)
    return Rig(api, teardown, children, live.open(UID, NAME), (statuses, events, fanout))


@pytest.fixture
def rig() -> Iterator[Rig]:
    built = make_rig(FakeKube(clock=lambda: NOW))
    yield built
    for part in built.closers:
        part.close()


def environment(api: FakeKube, status: dict[str, Any] | None = None,
                spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """The deleted DevEnvironment as the handler gets it."""
    return api.seed(kube.DEVENV, {
        "metadata": {"name": NAME, "uid": UID, "generation": 1,
                     "deletionTimestamp": "2026-03-01T08:59:00Z", "finalizers": ["kopf"]},
        "spec": SPEC if spec is None else spec,
        "status": {"phase": "Ready", "namespace": NAMESPACE} if status is None else status})


def namespace(api: FakeKube, *, owner_uid: str | None = UID, labelled: bool = True,
              uid_annotation: str | None = None, name: str = NAMESPACE) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labelled:
        meta["labels"] = {builders.MANAGED_BY_LABEL: builders.MANAGED_BY_VALUE,
                          builders.ENVIRONMENT_LABEL: NAME}
    if owner_uid is not None:
        meta["ownerReferences"] = [{"apiVersion": kube.DEVENV.api_version,
                                    "kind": kube.DEVENV.kind, "name": NAME, "uid": owner_uid}]
    if uid_annotation is not None:
        meta["annotations"] = {UID_ANNOTATION: uid_annotation}
    return api.seed(kube.NAMESPACE, {"metadata": meta})


def blocked_by(api: FakeKube, *messages: str) -> None:
    """The namespace controller reports what it still waits for."""
    conditions = [{"type": "NamespaceContentRemaining", "status": "True", "message": m}
                  for m in messages]
    api.patch(kube.NAMESPACE, NAMESPACE, {"status": {"conditions": conditions}},
              subresource="status")


# -- what is deleted -------------------------------------------------------------------------


def test_a_namespace_this_environment_created_is_deleted_by_its_uid(rig: Rig) -> None:
    ns = namespace(rig.api)
    body = environment(rig.api)
    message = rig.run(body)
    assert message is not None
    assert NAMESPACE in message
    [delete] = rig.api.served("delete")
    assert (delete.kind, delete.name, delete.body) == (
        "Namespace", NAMESPACE, {"uid": ns["metadata"]["uid"]})
    gone = rig.api.stored(kube.NAMESPACE, NAMESPACE)
    assert gone is not None
    assert gone["metadata"].get("deletionTimestamp")


def test_a_namespace_is_deleted_once_not_again_while_it_terminates(rig: Rig) -> None:
    namespace(rig.api)
    body = environment(rig.api)
    assert rig.run(body) is not None
    assert rig.run(body) is not None
    assert rig.run(body) is not None
    assert rig.api.count("delete") == 1
    assert len(rig.api.events) == 1


def test_a_namespace_labelled_by_the_orphaning_delete_survivor_is_still_ours(rig: Rig) -> None:
    # kubectl delete --cascade=orphan strips the ownerReference; labels and UID remain.
    namespace(rig.api, owner_uid=None, uid_annotation=UID)
    assert rig.run(environment(rig.api)) is not None
    assert rig.api.count("delete") == 1


@pytest.mark.parametrize("arrange", [
    pytest.param(dict(owner_uid=None, labelled=False), id="foreign"),
    pytest.param(dict(owner_uid=None, labelled=True), id="labelled-but-not-owned"),
    pytest.param(dict(owner_uid="uid-earlier-pr-1"), id="owned-by-another-uid"),
    pytest.param(dict(owner_uid=None, uid_annotation="uid-earlier-pr-1"),
                 id="annotated-with-another-uid"),
])
def test_a_namespace_this_environment_did_not_create_is_never_deleted(
        rig: Rig, arrange: dict[str, Any]) -> None:
    namespace(rig.api, **arrange)
    assert rig.run(environment(rig.api)) is None
    assert rig.api.count("delete") == 0
    assert rig.api.events == []
    assert rig.status() == {"phase": "Ready", "namespace": NAMESPACE}  # nothing written
    assert rig.api.stored(kube.NAMESPACE, NAMESPACE) is not None


def test_a_namespace_replaced_since_it_was_read_is_not_deleted(rig: Rig) -> None:
    namespace(rig.api)

    def replaced(_: object) -> None:  # between the GET and the DELETE
        rig.api.finalize(kube.NAMESPACE, NAMESPACE)
        namespace(rig.api)
    rig.api.before("delete", replaced)
    with pytest.raises(errors.Conflict):
        rig.run(environment(rig.api))
    survivor = rig.api.stored(kube.NAMESPACE, NAMESPACE)
    assert survivor is not None
    assert not survivor["metadata"].get("deletionTimestamp")
    assert rig.api.events == []


def test_without_a_namespace_in_its_status_the_spec_says_which_it_is(rig: Rig) -> None:
    namespace(rig.api, name="team-a-pr-1")
    body = environment(rig.api, status={}, spec={**SPEC, "namespace": "team-a-pr-1"})
    message = rig.run(body)
    assert message is not None
    assert "team-a-pr-1" in message
    assert [r.name for r in rig.api.served("delete")] == ["team-a-pr-1"]


def test_an_environment_whose_spec_never_validated_has_nothing_to_delete(rig: Rig) -> None:
    assert rig.run(environment(rig.api, status={}, spec={"services": []})) is None
    assert rig.api.count("get") == 0
    assert rig.api.count("delete") == 0


# -- what it says ----------------------------------------------------------------------------


def test_deleting_posts_an_event_on_the_environment_naming_the_namespace(rig: Rig) -> None:
    namespace(rig.api)
    rig.run(environment(rig.api))
    [event] = rig.api.events
    assert (event["type"], event["reason"]) == ("Normal", "Deleting")
    assert NAMESPACE in event["message"]
    assert event["involvedObject"]["uid"] == UID
    assert event["involvedObject"]["kind"] == kube.DEVENV.kind


def test_the_status_is_terminating_and_names_what_blocks_the_namespace(rig: Rig) -> None:
    namespace(rig.api)
    body = environment(rig.api)
    rig.run(body)
    blocked_by(rig.api, "Some resources are remaining: pods. has 2 resource instances")
    message = rig.run(body)
    assert message is not None
    assert "pods. has 2 resource instances" in message
    written = rig.status()
    assert written["phase"] == "Terminating"
    assert written["message"] == message
    ready = written["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "Terminating")
    assert ready["message"] == message
    assert ready["lastTransitionTime"] == "2026-03-01T09:00:00Z"
    assert written["namespace"] == NAMESPACE  # the rest of the status stays


def test_the_same_blocker_is_not_written_again_a_new_one_is(rig: Rig) -> None:
    namespace(rig.api)
    body = environment(rig.api)
    rig.run(body)
    assert rig.status_writes() == 1
    rig.run(body)
    assert rig.status_writes() == 1
    blocked_by(rig.api, "Some content in the namespace has finalizers remaining")
    rig.run(body)
    assert rig.status_writes() == 2
    assert "finalizers remaining" in rig.status()["message"]


def test_once_the_namespace_is_gone_it_returns_none_and_forgets_its_children(
        rig: Rig) -> None:
    namespace(rig.api)
    body = environment(rig.api)
    rig.cache_one_child()
    assert rig.run(body) is not None
    assert rig.cached_children() != {}
    rig.api.finalize(kube.NAMESPACE, NAMESPACE)
    assert rig.run(body) is None
    assert rig.cached_children() == {}
    assert rig.api.count("delete") == 1
