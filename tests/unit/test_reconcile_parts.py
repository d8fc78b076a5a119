"""The apply engine, the child reader and the reconcile's steps, each alone against the
in-memory fake of the API seam (``fakekube``). Behaviour is proven on the real control
plane (tests/e2e); these pin down what each part does with its collaborators."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devenv_operator import builders, childkinds, classes, errors, kube, reconcile, templates
from devenv_operator.children import ChildMemory, ChildReader
from devenv_operator.engine import Applier, Run
from devenv_operator.fanout import Fanout
from devenv_operator.reasons import Phase, Reason
from devenv_operator.recorder import EventRecorder
from devenv_operator.records import Records
from devenv_operator.settings import load
from devenv_operator.statuswriter import StatusWriter
from devenv_operator.steps import STEPS, Parts
from tests.unit.fakekube import FakeKube

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SELECTOR = f"{builders.MANAGED_BY_LABEL}={builders.MANAGED_BY_VALUE}"


class World:
    """The operator's parts wired to one fake API, as ``controller.Controller`` wires them."""

    def __init__(self, **settings: str) -> None:
        self.api = FakeKube(clock=lambda: self.now)
        self.now = T0
        self.settings = load({"DEVENV_REQUIRE_CLASS": "false",
                              **{f"DEVENV_{k.upper()}": v for k, v in settings.items()}})
        self.records = Records()
        self.fanout = Fanout(4)
        self.children = ChildReader(self.api.as_kube(), self.fanout, self.records,
                                    resync_seconds=300)
        self.applier = Applier(self.api.as_kube(), self.children)
        self.statuses = StatusWriter(self.api.as_kube(), on_lost=lambda record: None)
        self.events = EventRecorder(self.api.as_kube())
        self.classes = classes.ClassIndex()
        self.parts = Parts(api=self.api.as_kube(), settings=self.settings,
                           children=self.children, applier=self.applier, fanout=self.fanout,
                           records=self.records, classes=self.classes,
                           templates=templates.TemplateIndex(), random=lambda n: "x" * n)
        self.reconciler = reconcile.Reconciler(self.parts, self.statuses, self.events,
                                               clock=lambda: self.now)

    def environment(self, name: str = "pr-1", **spec: Any) -> dict[str, Any]:
        spec.setdefault("services", [{"name": "web", "image": "nginx:1.27",
                                      "ports": [{"port": 80}]}])
        return self.api.seed(kube.DEVENV, {
            "apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
            "metadata": {"name": name}, "spec": spec})

    def reconcile(self, body: dict[str, Any]) -> reconcile.Outcome:
        record = self.records.open(body["metadata"]["uid"], body["metadata"]["name"])
        outcome = self.reconciler.reconcile(body, record)
        self.statuses.flush(record)
        return outcome

    def close(self) -> None:
        for part in (self.fanout, self.events, self.statuses):
            part.close()


@pytest.fixture
def world() -> Iterator[World]:
    made = World()
    yield made
    made.close()


def _env(world: World, namespace: str = "dev-pr-1") -> builders.Env:
    body = world.environment()
    spec = builders.validate("pr-1", body["spec"], "dev-").spec
    assert spec is not None
    return builders.Env(name="pr-1", uid=body["metadata"]["uid"], spec=spec,
                        namespace=namespace, class_name=None, policy=builders.UNCLASSED)


def _config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "dev-pr-1",
                         "labels": {builders.MANAGED_BY_LABEL: builders.MANAGED_BY_VALUE,
                                    builders.ENVIRONMENT_LABEL: "pr-1"}},
            "data": data}


# -- Applier -------------------------------------------------------------------------------


def test_the_applier_writes_only_what_differs_and_records_each_change(world: World) -> None:
    run = Run()
    first = world.applier.apply(run, kube.CONFIGMAP, _config_map("app", {"a": "1"}), None)
    again = world.applier.apply(run, kube.CONFIGMAP, _config_map("app", {"a": "1"}), first)
    changed = world.applier.apply(run, kube.CONFIGMAP, _config_map("app", {"a": "2"}), again)
    assert world.api.count("apply") == 2  # the unchanged one cost nothing
    assert [c.verb for c in run.changes] == ["Created", "Updated"]
    assert changed["data"] == {"a": "2"}
    assert world.children.cache.children("ConfigMap", "dev-pr-1", "pr-1")["app"]["data"] == {
        "a": "2"}


def test_a_field_the_server_will_not_change_in_place_replaces_that_very_object(
        world: World) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "tls", "namespace": "dev-pr-1"}, "data": {}}
    run = Run()
    old = world.applier.apply(run, kube.SECRET, secret, None)
    new = world.applier.apply(run, kube.SECRET, {**secret, "type": "kubernetes.io/tls"}, old)
    deleted = world.api.served("delete")
    assert len(deleted) == 1
    assert deleted[0].body == {"uid": old["metadata"]["uid"]}
    assert new["metadata"]["uid"] != old["metadata"]["uid"]


def test_a_refused_object_is_a_failure_of_that_object_and_the_run_goes_on(
        world: World) -> None:
    world.api.fail_next("apply", errors.Invalid("spec.x: bad", reason="Invalid"))
    applied, failure = world.applier.try_apply(
        Run(), kube.CONFIGMAP, _config_map("app", {}), {"ConfigMap": {}})
    assert applied is None
    assert failure is not None
    assert (failure.kind, failure.name, failure.reason) == ("ConfigMap", "app", "Invalid")
    world.api.fail_next("apply", errors.Transient("connection reset"))
    with pytest.raises(errors.Transient):  # anything else ends the run
        world.applier.try_apply(Run(), kube.CONFIGMAP, _config_map("app", {}),
                                {"ConfigMap": {}})


def test_prune_deletes_by_uid_every_observed_child_no_step_kept(world: World) -> None:
    keep = world.api.seed(kube.CONFIGMAP, _config_map("keep", {}))
    gone = world.api.seed(kube.CONFIGMAP, _config_map("gone", {}))
    run = Run(keep={"ConfigMap": {"keep"}})
    children = {row.name: {} for row in childkinds.TABLE}
    children["ConfigMap"] = {"keep": keep, "gone": gone}
    world.applier.prune(run, "dev-pr-1", children)
    assert world.api.stored(kube.CONFIGMAP, "keep", "dev-pr-1") is not None
    assert world.api.stored(kube.CONFIGMAP, "gone", "dev-pr-1") is None
    (deleted,) = world.api.served("delete")
    assert deleted.body == {"uid": gone["metadata"]["uid"]}
    assert [(c.verb, c.name) for c in run.changes] == [("Deleted", "gone")]


# -- ChildReader ---------------------------------------------------------------------------


def test_the_reader_lists_every_kind_of_the_table_once_then_reads_its_cache(
        world: World) -> None:
    world.api.seed(kube.CONFIGMAP, _config_map("app", {"a": "1"}))
    record, env = world.records.open("uid-1", "pr-1"), _env(world)
    first = world.children.observe(record, env, fresh=False, now=T0)
    assert {r.kind for r in world.api.served("list")} == {row.name for row in childkinds.TABLE}
    assert set(first["ConfigMap"]) == {"app"}
    lists = world.api.count("list")
    world.children.observe(record, env, fresh=False, now=T0 + timedelta(seconds=60))
    assert world.api.count("list") == lists  # within the resync: the cache
    assert world.records.serves("pr-1", "dev-pr-1")
    assert record.part(ChildMemory).namespace == "dev-pr-1"
    world.children.observe(record, env, fresh=False, now=T0 + timedelta(seconds=300))
    assert world.api.count("list") == 2 * lists  # the resync re-reads the cluster


def test_a_namespace_just_created_is_not_listed_and_an_invalidated_record_is(
        world: World) -> None:
    record, env = world.records.open("uid-1", "pr-1"), _env(world)
    children = world.children.observe(record, env, fresh=True, now=T0)
    assert world.api.count("list") == 0
    assert all(not found for found in children.values())
    world.children.invalidate(record)
    world.children.observe(record, env, fresh=False, now=T0 + timedelta(seconds=1))
    assert world.api.count("list") == len(childkinds.TABLE)


# -- the steps, together -------------------------------------------------------------------


def test_a_first_run_creates_the_namespace_and_children_and_writes_status_once(
        world: World) -> None:
    body = world.environment()
    outcome = world.reconcile(body)
    assert world.api.stored(kube.NAMESPACE, "dev-pr-1") is not None
    assert world.api.stored(kube.DEPLOYMENT, "web", "dev-pr-1") is not None
    assert world.api.stored(kube.SERVICE, "web", "dev-pr-1") is not None
    (write,) = [r for r in world.api.served("patch") if r.subresource == "status"]
    assert write.body["status"]["phase"] == Phase.PROVISIONING  # nothing becomes Available
    assert outcome.status["conditions"][0]["reason"] == Reason.SERVICE_NOT_READY
    assert [e.reason for e in outcome.events][:1] == [Reason.NAMESPACE_CREATED]


def test_a_second_run_with_nothing_changed_writes_nothing(world: World) -> None:
    body = world.environment()
    world.reconcile(body)
    world.now += timedelta(seconds=1)
    writes = sum(world.api.count(v) for v in ("create", "apply", "patch", "delete"))
    world.reconcile(world.api.stored(kube.DEVENV, "pr-1") or body)
    assert sum(world.api.count(v) for v in ("create", "apply", "patch", "delete")) == writes


def test_a_spec_its_class_refuses_creates_nothing_and_says_why(world: World) -> None:
    world.classes.put("small", {"limits": {"maxServices": 1}}, {})
    body = world.environment(className="small", services=[
        {"name": "a", "image": "nginx:1.27"}, {"name": "b", "image": "nginx:1.27"}])
    outcome = world.reconcile(body)
    assert world.api.stored(kube.NAMESPACE, "dev-pr-1") is None
    assert world.api.count("apply") == world.api.count("create") == 0
    assert outcome.status["phase"] == Phase.FAILED
    assert outcome.status["conditions"][0]["reason"] == Reason.POLICY_VIOLATION


def test_an_expired_environment_is_deleted_by_uid_and_nothing_else_is_written(
        world: World) -> None:
    body = world.environment(ttl="1h")
    world.now = T0 + timedelta(hours=2)
    outcome = world.reconcile(body)
    (deleted,) = world.api.served("delete")
    assert (deleted.kind, deleted.body) == (
        "DevEnvironment", {"uid": body["metadata"]["uid"]})
    assert world.api.count("patch") == world.api.count("apply") == 0
    assert [e.reason for e in outcome.events] == [Reason.EXPIRED]


@pytest.mark.parametrize(("warning", "expiring"), [("0s", "False"), ("2h", "True")])
def test_a_zero_expiry_warning_means_no_expiring_soon(warning: str, expiring: str) -> None:
    """Before: DEVENV_EXPIRY_WARNING=0s read as falsy and became 15 minutes."""
    world = World(expiry_warning=warning)
    try:
        body = world.environment(ttl="1h")
        world.now = T0 + timedelta(minutes=50)  # ten minutes before it expires
        outcome = world.reconcile(body)
        soon = next(c for c in outcome.status["conditions"] if c["type"] == "ExpiringSoon")
        assert soon["status"] == expiring
        assert (Reason.EXPIRING_SOON in [e.reason for e in outcome.events]) is (
            expiring == "True")
    finally:
        world.close()


def test_the_steps_are_the_contracts_order() -> None:
    assert [name for name, _ in STEPS] == [
        "render", "expire", "admit", "hostnames", "namespace", "children", "config",
        "tenancy", "storage", "workloads", "expose", "settle", "prune"]
    for row in childkinds.TABLE:  # every kind is applied by a step that exists
        assert row.step in dict(STEPS), row.name


# -- containers someone else added -----------------------------------------------------------


def test_a_container_someone_else_added_is_removed_then_nothing_is_written(
        world: World) -> None:
    body = world.environment()
    world.reconcile(body)
    stored = world.api.stored(kube.DEPLOYMENT, "web", "dev-pr-1") or {}
    ours = stored["spec"]["template"]["spec"]["containers"]
    sidecar = {"name": "sidecar", "image": "evil.example.com/miner:1"}
    # Another field manager's patch (the watch brings it to the operator's cache).
    patched = world.api.patch(kube.DEPLOYMENT, "web", {"spec": {"template": {"spec": {
        "containers": [*ours, sidecar], "initContainers": [sidecar]}}}}, "dev-pr-1")
    assert patched is not None
    world.children.put(kube.DEPLOYMENT, patched)
    world.now += timedelta(seconds=1)
    applies = world.api.count("apply")
    world.reconcile(world.api.stored(kube.DEVENV, "pr-1") or body)
    template = (world.api.stored(kube.DEPLOYMENT, "web", "dev-pr-1") or {})["spec"][
        "template"]["spec"]
    assert [c["name"] for c in template["containers"]] == [c["name"] for c in ours]
    assert template.get("initContainers") == []
    (removal,) = [r for r in world.api.served("patch") if isinstance(r.body, list)]
    assert [op["op"] for op in removal.body] == ["test", "remove", "test", "remove"]
    assert world.api.count("apply") == applies  # the rest was as the operator wrote it
    # Idempotent again: the next run writes nothing.
    world.now += timedelta(seconds=1)
    writes = sum(world.api.count(v) for v in ("create", "apply", "patch", "delete"))
    world.reconcile(world.api.stored(kube.DEVENV, "pr-1") or body)
    assert sum(world.api.count(v) for v in ("create", "apply", "patch", "delete")) == writes


def test_a_stale_view_of_an_added_container_fails_the_removal_and_the_run_goes_on(
        world: World) -> None:
    run = Run()
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": "dev-pr-1"},
                  "spec": {"template": {"spec": {"containers": [{"name": "web"}]}}}}
    applied = world.applier.apply(run, kube.DEPLOYMENT, deployment, None)
    stale = {**applied, "spec": {"template": {"spec": {"containers": [
        {"name": "web"}, {"name": "gone"}]}}}}
    again = world.applier.apply(run, kube.DEPLOYMENT, deployment, stale)
    assert [c["name"] for c in again["spec"]["template"]["spec"]["containers"]] == ["web"]
    assert [c.verb for c in run.changes] == ["Created", "Updated"]  # by the apply
