"""Pure status computation: observations -> conditions, phase, message, readyAt."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from devenv_operator import status
from devenv_operator.builders import SecretProblem
from devenv_operator.status import Observation, ServiceObservation


def computed(observation: Observation, previous: dict[str, Any], now: datetime
             ) -> dict[str, Any]:
    """The status as written (status.compute returns it typed)."""
    return status.compute(observation, previous, now).as_dict()

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def deployment(available: bool, replicas: int = 1, generation: int = 1,
               observed: int = 1) -> dict[str, Any]:
    ready = replicas if available else 0
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": ready, "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": "True" if available else "False"}],
        },
    }


def svc(name: str, available: bool = True, **kwargs: Any) -> ServiceObservation:
    return ServiceObservation(name, 1, deployment(available), **kwargs)


def obs(*services: ServiceObservation, **fields: Any) -> Observation:
    fields.setdefault("namespace", "dev-pr-1")
    fields.setdefault("namespace_state", "ready")
    return Observation(generation=fields.pop("generation", 1), created_at=T0,
                       services=services or (svc("web"),), **fields)


def cond(result: dict[str, Any], ctype: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in result["conditions"] if c["type"] == ctype)
    return found


# -- shape -------------------------------------------------------------------------------


def test_conditions_have_the_metav1_shape_with_ready_first() -> None:
    result = computed(obs(), {}, T0 + timedelta(seconds=3))
    assert [c["type"] for c in result["conditions"]] == [
        "Ready", "NamespaceReady", "ConfigSeeded", "ServicesReady", "ExpiringSoon",
        "Reconciled", "Stalled"]
    for c in result["conditions"]:
        assert set(c) == {"type", "status", "reason", "message", "lastTransitionTime",
                          "observedGeneration"}
        assert c["status"] in ("True", "False", "Unknown")
        assert c["reason"] in status.REASONS
        assert c["observedGeneration"] == 1


def test_all_services_available_is_ready() -> None:
    now = T0 + timedelta(seconds=4)
    result = computed(obs(svc("db"), svc("api")), {}, now)
    assert result["phase"] == "Ready"
    assert cond(result, "Ready")["status"] == "True"
    assert result["readyServices"] == "2/2"
    assert result["readyAt"] == "2026-03-01T09:00:04Z"
    assert result["provisioningStartedAt"] == "2026-03-01T09:00:00Z"
    assert result["namespace"] == "dev-pr-1"
    assert result["observedGeneration"] == 1


# -- phase mapping -----------------------------------------------------------------------


def test_phase_is_pending_while_the_namespace_is_not_there() -> None:
    result = computed(obs(namespace_state="missing"), {}, T0)
    assert result["phase"] == "Pending"
    assert cond(result, "NamespaceReady")["reason"] == "NamespacePending"
    assert cond(result, "ServicesReady")["status"] == "Unknown"


def test_phase_is_provisioning_while_services_roll_out() -> None:
    result = computed(obs(svc("db"), svc("api", available=False)), {},
                            T0 + timedelta(seconds=5))
    assert result["phase"] == "Provisioning"
    ready = cond(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ServiceNotReady")
    assert "api" in ready["message"]
    assert "db" not in ready["message"]
    assert result["readyServices"] == "1/2"
    assert result.get("readyAt") is None
    assert result["message"] == ready["message"]


def test_invalid_spec_fails_with_the_problem_in_the_message() -> None:
    problem = "spec.services: dependsOn cycle a -> b -> a"
    result = computed(obs(invalid=problem, namespace_state="missing"), {}, T0)
    assert result["phase"] == "Failed"
    ready = cond(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert problem in ready["message"]
    assert problem in result["message"]


def test_namespace_conflict_fails_naming_the_namespace() -> None:
    result = computed(obs(namespace_state="conflict"), {}, T0)
    assert result["phase"] == "Failed"
    assert cond(result, "Ready")["reason"] == "NamespaceConflict"
    assert "dev-pr-1" in cond(result, "NamespaceReady")["message"]


def test_terminating_namespace_waits_without_failing() -> None:
    result = computed(obs(namespace_state="terminating"), {}, T0)
    assert result["phase"] == "Pending"
    assert cond(result, "Ready")["reason"] == "NamespaceTerminating"


def test_uncopyable_secret_fails_naming_the_secret() -> None:
    problem = SecretProblem("pull", "SecretNotCopyable",
                            "Secret platform/registry is not labelled shipit.dev/copyable=true")
    result = computed(obs(secret_problems=[problem]), {}, T0)
    assert result["phase"] == "Failed"
    assert cond(result, "ConfigSeeded")["reason"] == "SecretNotCopyable"
    ready = cond(result, "Ready")
    assert ready["reason"] == "SecretNotCopyable"
    assert "platform/registry" in ready["message"]


# -- dependencies, timeouts ---------------------------------------------------------------


def test_waiting_dependency_is_named_with_reason_dependency_not_ready() -> None:
    api = ServiceObservation("api", 1, None, waiting_for=("db",))
    result = computed(obs(svc("db", available=False), api), {}, T0 + timedelta(seconds=1))
    services = cond(result, "ServicesReady")
    assert services["reason"] == "DependencyNotReady"
    assert "api: DependencyNotReady: waiting for db" in services["message"]
    assert result["services"][1]["message"].startswith("DependencyNotReady")
    assert result["phase"] == "Provisioning"


def test_ready_timeout_fails_after_ready_timeout_naming_the_service() -> None:
    timeout = timedelta(seconds=30)
    pods = [{"status": {"containerStatuses": [{"image": "unpullable.invalid/x:1", "state": {
        "waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}}]
    web = ServiceObservation("web", 1, deployment(False), pods=pods)
    before = computed(obs(web, ready_timeout=timeout), {}, T0 + timedelta(seconds=29))
    assert before["phase"] == "Provisioning"
    assert "ImagePullBackOff" in cond(before, "ServicesReady")["message"]

    after = computed(obs(web, ready_timeout=timeout), before, T0 + timedelta(seconds=30))
    assert after["phase"] == "Failed"
    ready = cond(after, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ReadyTimeout")
    assert "web" in ready["message"]
    assert "ImagePullBackOff" in ready["message"]


def test_no_ready_timeout_once_ready_in_this_generation() -> None:
    timeout = timedelta(seconds=30)
    ready = computed(obs(ready_timeout=timeout), {}, T0 + timedelta(seconds=5))
    later = computed(obs(svc("web", available=False), ready_timeout=timeout), ready,
                           T0 + timedelta(minutes=5))
    assert cond(later, "Ready")["reason"] == "ServiceNotReady"
    assert later["phase"] == "Provisioning"


def test_ready_deadline_applies_only_until_ready() -> None:
    timeout = timedelta(seconds=30)
    observation = obs(svc("web", available=False), ready_timeout=timeout)
    provisioning = computed(observation, {}, T0 + timedelta(seconds=1))
    assert status.ready_deadline(observation, provisioning) == T0 + timeout
    ready = computed(obs(ready_timeout=timeout), provisioning, T0 + timedelta(seconds=2))
    assert status.ready_deadline(observation, ready) is None


# -- readyAt and transition times ---------------------------------------------------------


def test_ready_at_is_kept_across_reconciles_of_the_same_generation() -> None:
    first = computed(obs(), {}, T0 + timedelta(seconds=4))
    again = computed(obs(), first, T0 + timedelta(minutes=10))
    assert again["readyAt"] == first["readyAt"] == "2026-03-01T09:00:04Z"
    assert again == first


def test_ready_at_restarts_with_a_new_generation() -> None:
    first = computed(obs(), {}, T0 + timedelta(seconds=4))
    changed_at = T0 + timedelta(minutes=1)
    rolling = computed(obs(svc("web", available=False), generation=2), first, changed_at)
    assert rolling.get("readyAt") is None
    assert rolling["provisioningStartedAt"] == "2026-03-01T09:01:00Z"
    assert rolling["observedGeneration"] == 2
    ready = computed(obs(generation=2), rolling, changed_at + timedelta(seconds=7))
    assert ready["readyAt"] == "2026-03-01T09:01:07Z"


def test_last_transition_time_is_kept_while_the_status_does_not_change() -> None:
    first = computed(obs(svc("web", available=False)), {}, T0 + timedelta(seconds=1))
    # Same status, different reason or message: the transition time stays.
    second = computed(
        obs(ServiceObservation("web", 1, None, waiting_for=("db",))), first,
        T0 + timedelta(seconds=20))
    assert cond(second, "Ready")["lastTransitionTime"] == "2026-03-01T09:00:01Z"
    assert cond(second, "NamespaceReady")["lastTransitionTime"] == "2026-03-01T09:00:01Z"
    # A change of status moves it.
    third = computed(obs(), second, T0 + timedelta(seconds=30))
    assert cond(third, "Ready")["lastTransitionTime"] == "2026-03-01T09:00:30Z"
    assert cond(third, "NamespaceReady")["lastTransitionTime"] == "2026-03-01T09:00:01Z"


# -- expiry --------------------------------------------------------------------------------


def test_no_expiry_is_said_so() -> None:
    result = computed(obs(), {}, T0)
    expiring = cond(result, "ExpiringSoon")
    assert (expiring["status"], expiring["reason"]) == ("False", "NoExpiry")
    assert result.get("expiresAt") is None


def test_expiry_is_shown_and_warned_about_when_close() -> None:
    at = T0 + timedelta(hours=8)
    calm = computed(obs(expires_at=at), {}, T0)
    assert calm["expiresAt"] == "2026-03-01T17:00:00Z"
    assert cond(calm, "ExpiringSoon")["reason"] == "NotExpiringSoon"
    assert cond(calm, "ExpiringSoon")["status"] == "False"

    warned = computed(obs(expires_at=at, expiring=True), calm, at - timedelta(minutes=10))
    expiring = cond(warned, "ExpiringSoon")
    assert (expiring["status"], expiring["reason"]) == ("True", "ExpiringSoon")
    assert "2026-03-01T17:00:00Z" in expiring["message"]
    assert "expiresAt" in expiring["message"]  # says how to extend
    assert warned["phase"] == "Ready"  # a warning does not change the phase


def test_clamped_expiry_says_so_until_the_warning() -> None:
    at = T0 + timedelta(days=7)
    note = "requested expiry exceeds the maximum lifetime of 7d"
    clamped = computed(obs(expires_at=at, expiry_note=note), {}, T0)
    expiring = cond(clamped, "ExpiringSoon")
    assert (expiring["status"], expiring["reason"]) == ("False", "TTLClamped")
    assert note in expiring["message"]
    warned = computed(replace(obs(expires_at=at, expiry_note=note), expiring=True),
                            clamped, at - timedelta(minutes=1))
    assert cond(warned, "ExpiringSoon")["reason"] == "ExpiringSoon"


def test_a_namespace_the_api_server_refuses_fails_naming_why() -> None:
    result = computed(obs(namespace_state="failed",
                                namespace_problem="Forbidden: denied by policy"), {}, T0)
    ready = cond(result, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NamespaceFailed")
    assert "dev-pr-1" in ready["message"]
    assert "denied by policy" in ready["message"]
    assert result["phase"] == "Failed"


def test_a_failed_run_of_a_new_environment_sets_ready_false_with_the_reason() -> None:
    result = status.run_failed({}, "Forbidden", "cannot create namespaces", T0, 1)
    assert (cond(result, "Ready")["status"], cond(result, "Ready")["reason"]) == (
        "False", "Forbidden")
    assert cond(result, "Reconciled")["message"] == "cannot create namespaces"
    assert result["phase"] == "Pending"
    assert result["observedGeneration"] == 1


def test_a_failed_run_keeps_the_last_status_and_says_so_in_reconciled() -> None:
    ready = computed(obs(), {}, T0)
    later = T0 + timedelta(minutes=1)
    failed = status.run_failed(ready, "ApiError", "GET ...: 503", later, 1)
    assert cond(failed, "Ready") == cond(ready, "Ready")
    assert failed["phase"] == "Ready"
    reconciled = cond(failed, "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("False", "ApiError")
    assert reconciled["lastTransitionTime"] == status.rfc3339(later)
    again = computed(obs(), failed, later + timedelta(seconds=2))
    assert cond(again, "Reconciled")["status"] == "True"


def test_stalled_is_true_exactly_when_failed_with_the_same_reason_and_message() -> None:
    failed = computed(obs(invalid="spec.ttl: bad"), {}, T0)
    stalled, ready = cond(failed, "Stalled"), cond(failed, "Ready")
    assert failed["phase"] == "Failed"
    assert (stalled["status"], stalled["reason"], stalled["message"]) == (
        "True", ready["reason"], ready["message"])
    fine = computed(obs(), {}, T0)
    assert (cond(fine, "Stalled")["status"], cond(fine, "Stalled")["reason"]) == (
        "False", "NotStalled")
    waiting = computed(obs(svc("web", available=False)), {}, T0)
    assert waiting["phase"] == "Provisioning"
    assert cond(waiting, "Stalled")["status"] == "False"


def test_endpoints_name_every_service_port_once_the_namespace_is_there() -> None:
    result = computed(obs(endpoints=[("api", 8080), ("db", 5432)]), {}, T0)
    assert result["endpoints"] == [
        {"service": "api", "port": 8080, "internal": "api.dev-pr-1.svc.cluster.local:8080"},
        {"service": "db", "port": 5432, "internal": "db.dev-pr-1.svc.cluster.local:5432"}]
    pending = computed(obs(namespace_state="missing", endpoints=[("api", 8080)]), {}, T0)
    assert "endpoints" not in pending
