"""status.compute beyond tests/unit/test_status.py: templates, class refusals, refused
objects, stuck services, generations and transition times, counts carried between runs.

Assertions read the status as written (``as_dict``), the one place that knows what
``status.compute`` returns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devenv_operator import status
from devenv_operator.pods import FailFast
from devenv_operator.status import (
    ApplyFailure,
    Observation,
    ServiceObservation,
    TemplateObservation,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def as_dict(result: Any) -> dict[str, Any]:
    """The status as it is written to the API."""
    written: dict[str, Any] = result.as_dict()
    return written


def computed(observation: Observation, previous: dict[str, Any], now: datetime
             ) -> dict[str, Any]:
    return as_dict(status.compute(observation, previous, now))


def deployment(available: bool, replicas: int = 1) -> dict[str, Any]:
    ready = replicas if available else 0
    return {"metadata": {"generation": 1, "creationTimestamp": "2026-03-01T09:00:00Z"},
            "status": {"observedGeneration": 1, "replicas": replicas,
                       "updatedReplicas": replicas, "readyReplicas": ready,
                       "availableReplicas": ready, "conditions": [
                           {"type": "Available", "status": "True" if available else "False"}]}}


def svc(name: str, available: bool = True, **fields: Any) -> ServiceObservation:
    return ServiceObservation(name, 1, deployment(available), **fields)


def obs(*services: ServiceObservation, **fields: Any) -> Observation:
    fields.setdefault("namespace", "dev-pr-1")
    fields.setdefault("namespace_state", "ready")
    return Observation(generation=fields.pop("generation", 1), created_at=T0,
                       services=services or (svc("web"),), **fields)


def cond(result: dict[str, Any], ctype: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in result["conditions"] if c["type"] == ctype)
    return found


def types(result: dict[str, Any]) -> list[str]:
    return [c["type"] for c in result["conditions"]]


def crash_looping_pod(restarts: int) -> dict[str, Any]:
    return {"metadata": {"creationTimestamp": "2026-03-01T09:00:00Z"}, "status": {
        "containerStatuses": [{
            "name": "web", "image": "web:1", "ready": False, "restartCount": restarts,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"reason": "Error", "exitCode": 3,
                                         "finishedAt": "2026-03-01T09:00:40Z"}}}]}}


# -- phases --------------------------------------------------------------------------------


def test_each_phase_follows_from_what_was_observed() -> None:
    now = T0 + timedelta(seconds=5)
    assert computed(obs(namespace_state="missing"), {}, now)["phase"] == "Pending"
    assert computed(obs(svc("web", available=False)), {}, now)["phase"] == "Provisioning"
    assert computed(obs(), {}, now)["phase"] == "Ready"
    assert computed(obs(namespace_state="conflict"), {}, now)["phase"] == "Failed"


def test_a_ready_environment_says_how_many_services_are_available() -> None:
    result = computed(obs(svc("api"), svc("db"), svc("web")), {}, T0)
    assert result["message"] == "All 3 services are available"
    assert cond(result, "ServicesReady")["reason"] == "ServicesAvailable"
    assert cond(result, "ConfigSeeded")["status"] == "True"


def test_a_service_scaled_to_zero_counts_as_available() -> None:
    idle = ServiceObservation("worker", 0, deployment(False, replicas=0))
    result = computed(obs(svc("web"), idle), {}, T0)
    assert result["phase"] == "Ready"
    assert result["readyServices"] == "2/2"


# -- templates -----------------------------------------------------------------------------


def test_a_rendered_template_is_named_with_its_generation_and_resolved() -> None:
    template = TemplateObservation("web-stack", 4, "TemplateRendered", "Rendered web-stack")
    result = computed(obs(template=template), {}, T0)
    assert types(result)[-1] == "TemplateResolved"
    resolved = cond(result, "TemplateResolved")
    assert (resolved["status"], resolved["reason"]) == ("True", "TemplateRendered")
    assert result["template"] == {"name": "web-stack", "generation": 4}
    assert result["phase"] == "Ready"


def test_a_template_not_yet_seen_is_named_without_a_generation() -> None:
    template = TemplateObservation("web-stack", None, "TemplateRendered", "Rendered")
    assert computed(obs(template=template), {}, T0)["template"] == {"name": "web-stack"}


def test_a_missing_template_fails_the_environment_and_says_so_in_template_resolved() -> None:
    message = "DevEnvironmentTemplate web-stack does not exist"
    template = TemplateObservation("web-stack", None, "TemplateNotFound", message)
    result = computed(obs(template=template, invalid=message,
                          invalid_reason="TemplateNotFound", namespace_state="missing"), {}, T0)
    assert result["phase"] == "Failed"
    resolved = cond(result, "TemplateResolved")
    assert (resolved["status"], resolved["reason"], resolved["message"]) == (
        "False", "TemplateNotFound", message)
    assert cond(result, "Ready")["reason"] == "TemplateNotFound"
    assert cond(result, "Stalled")["status"] == "True"


def test_without_a_template_there_is_no_template_condition_or_field() -> None:
    result = computed(obs(), {}, T0)
    assert "TemplateResolved" not in types(result)
    assert "template" not in result


# -- what the class or the API server refused ---------------------------------------------------


def test_a_class_refusal_fails_with_its_own_reason_and_message_unprefixed() -> None:
    message = "Breaks the policy of class team: limits.maxServices: 4 services; class team " \
              "allows 3"
    result = computed(obs(invalid=message, invalid_reason="PolicyViolation",
                          namespace_state="missing"), {}, T0)
    ready = cond(result, "Ready")
    assert (ready["reason"], ready["message"]) == ("PolicyViolation", message)
    assert result["phase"] == "Failed"
    namespace = cond(result, "NamespaceReady")
    assert (namespace["status"], namespace["reason"]) == ("False", "PolicyViolation")
    for unknown in ("ConfigSeeded", "ServicesReady"):
        assert (cond(result, unknown)["status"], cond(result, unknown)["reason"]) == (
            "Unknown", "PolicyViolation")


def test_a_refusal_of_an_environment_whose_namespace_exists_keeps_namespace_ready() -> None:
    result = computed(obs(invalid="DevEnvironmentClass team does not exist",
                          invalid_reason="ClassNotFound"), {}, T0)
    assert cond(result, "NamespaceReady")["status"] == "True"
    assert cond(result, "Ready")["reason"] == "ClassNotFound"
    assert result["phase"] == "Failed"


def test_a_refused_object_of_a_service_fails_it_over_a_dependency_still_coming_up() -> None:
    refused = ApplyFailure("Deployment", "api", "Invalid",
                           'spec.template.spec.containers[0].image: Required value')
    waiting = ServiceObservation("web", 1, None, waiting_for=("api",))
    result = computed(obs(ServiceObservation("api", 1, None, error=refused), waiting), {}, T0)
    api = result["services"][0]
    assert (api["ready"], api["reason"]) == (False, "ApplyFailed")
    assert "Required value" in api["message"]
    services = cond(result, "ServicesReady")
    assert services["reason"] == "ApplyFailed"
    assert result["phase"] == "Failed"


def test_a_refused_config_object_is_named_in_config_seeded() -> None:
    refused = ApplyFailure("ConfigMap", "settings", "Invalid", "data: Too long")
    result = computed(obs(apply_errors=[refused]), {}, T0)
    seeded = cond(result, "ConfigSeeded")
    assert (seeded["status"], seeded["reason"]) == ("False", "ApplyFailed")
    assert seeded["message"] == "ConfigMap settings: data: Too long"
    assert result["phase"] == "Failed"


# -- stuck services ------------------------------------------------------------------------


def test_a_crash_looping_service_fails_the_environment_before_its_ready_timeout() -> None:
    web = svc("web", available=False, pods=[crash_looping_pod(restarts=3)], pods_seen=True)
    result = computed(obs(web, fail_fast=FailFast(crash_loop_restarts=3)), {},
                      T0 + timedelta(minutes=1))
    assert result["phase"] == "Failed"
    assert cond(result, "Ready")["reason"] == "CrashLooping"
    entry = result["services"][0]
    assert (entry["reason"], entry["restarts"], entry["lastExitCode"]) == ("CrashLooping", 3, 3)
    assert entry["lastTerminationReason"] == "Error"
    assert "restarted 3 times" in entry["message"]


def test_restarts_below_the_threshold_are_counted_but_do_not_fail_it() -> None:
    web = svc("web", available=False, pods=[crash_looping_pod(restarts=2)], pods_seen=True)
    result = computed(obs(web, fail_fast=FailFast(crash_loop_restarts=3)), {},
                      T0 + timedelta(minutes=1))
    assert result["phase"] == "Provisioning"
    assert result["services"][0]["restarts"] == 2


def test_counts_of_the_last_pod_read_stand_while_pods_are_not_read() -> None:
    seen = computed(obs(svc("web", pods=[crash_looping_pod(restarts=2)], pods_seen=True)),
                    {}, T0)
    unread = computed(obs(svc("web")), seen, T0 + timedelta(seconds=30))
    entry = unread["services"][0]
    assert (entry["restarts"], entry["lastExitCode"], entry["lastTerminationReason"]) == (
        2, 3, "Error")


# -- generations, timeouts, transition times ------------------------------------------------------


def test_the_ready_timeout_of_a_new_generation_counts_from_its_change_not_creation() -> None:
    timeout = timedelta(minutes=10)
    changed = T0 + timedelta(hours=1)  # long after creation + timeout
    rolling = computed(obs(svc("web", available=False), generation=2, ready_timeout=timeout),
                       {"observedGeneration": 1}, changed)
    assert rolling["phase"] == "Provisioning"
    assert rolling["provisioningStartedAt"] == status.rfc3339(changed)
    still = computed(obs(svc("web", available=False), generation=2, ready_timeout=timeout),
                     rolling, changed + timeout - timedelta(seconds=1))
    assert still["provisioningStartedAt"] == rolling["provisioningStartedAt"]
    assert still["phase"] == "Provisioning"
    late = computed(obs(svc("web", available=False), generation=2, ready_timeout=timeout),
                    still, changed + timeout)
    assert cond(late, "Ready")["reason"] == "ReadyTimeout"
    assert late["phase"] == "Failed"


def test_conditions_say_which_generation_they_describe() -> None:
    result = computed(obs(generation=3), {"observedGeneration": 2}, T0)
    assert {c["observedGeneration"] for c in result["conditions"]} == {3}
    assert result["observedGeneration"] == 3


def test_a_condition_that_flips_back_gets_a_new_transition_time() -> None:
    ready = computed(obs(), {}, T0)
    lost = computed(obs(svc("web", available=False)), ready, T0 + timedelta(minutes=1))
    back = computed(obs(), lost, T0 + timedelta(minutes=2))
    assert cond(ready, "Ready")["lastTransitionTime"] == "2026-03-01T09:00:00Z"
    assert cond(lost, "Ready")["lastTransitionTime"] == "2026-03-01T09:01:00Z"
    assert cond(back, "Ready")["lastTransitionTime"] == "2026-03-01T09:02:00Z"
    # Untouched conditions keep theirs throughout.
    assert cond(back, "NamespaceReady")["lastTransitionTime"] == "2026-03-01T09:00:00Z"
    # readyAt stays the first time this generation was Ready.
    assert back["readyAt"] == "2026-03-01T09:00:00Z"


def test_expiring_soon_moves_its_transition_time_when_the_warning_starts() -> None:
    at = T0 + timedelta(hours=8)
    calm = computed(obs(expires_at=at), {}, T0)
    warned_at = at - timedelta(minutes=15)
    warned = computed(obs(expires_at=at, expiring=True), calm, warned_at)
    assert cond(calm, "ExpiringSoon")["lastTransitionTime"] == status.rfc3339(T0)
    assert cond(warned, "ExpiringSoon")["lastTransitionTime"] == status.rfc3339(warned_at)
    assert cond(warned, "Ready")["lastTransitionTime"] == status.rfc3339(T0)
