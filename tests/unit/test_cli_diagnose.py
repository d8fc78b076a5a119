"""Which container logs ``diagnose`` reads: only containers that are not ready, current and
previous instance as they exist, a note for a container that never started, and no second
try on a node whose kubelet did not answer. The API is a scripted stand-in for
``devenv_cli.api.Api`` (the logic under test is the choice of logs, not the API server)."""

from __future__ import annotations

from typing import Any

from devenv_cli import diagnose
from devenv_operator import errors


class LogsApi:
    """``logs`` answers with a line naming what was asked, or raises for the given nodes'
    pods."""

    def __init__(self, failing: dict[str, errors.KubeError] | None = None) -> None:
        self.failing = failing or {}
        self.asked: list[tuple[str, str, bool]] = []

    def logs(self, namespace: str, pod: str, container: str, *, previous: bool = False,
             tail: int = 30, timeout: float = 10.0) -> str:
        self.asked.append((pod, container, previous))
        if pod in self.failing:
            raise self.failing[pod]
        return f"{namespace}/{pod}/{container} previous={previous} tail={tail}\n"


def pod(name: str, node: str, *statuses: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"nodeName": node},
            "status": {"containerStatuses": list(statuses)}}


RUNNING = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
CRASHED = {"terminated": {"reason": "Error", "exitCode": 1}}


def logs(api: LogsApi, pods: list[dict[str, Any]]) -> list[tuple[str, str, bool, str]]:
    found = diagnose._logs(api, "dev-x", pods, 5)  # type: ignore[arg-type]
    return [(e.pod, e.container, e.previous, e.text or f"ERROR {e.error}") for e in found]


def test_logs_of_containers_not_ready_current_and_previous_as_they_exist() -> None:
    api = LogsApi()
    found = logs(api, [pod("api-1", "n1",
                           {"name": "ok", "ready": True, "state": RUNNING},
                           {"name": "app", "ready": False, "state": RUNNING,
                            "restartCount": 3, "lastState": CRASHED},
                           {"name": "fresh", "ready": False, "state": RUNNING},
                           {"name": "pull", "ready": False,
                            "state": {"waiting": {"reason": "ImagePullBackOff"}}})])
    assert found == [
        ("api-1", "app", False, "dev-x/api-1/app previous=False tail=5\n"),
        ("api-1", "app", True, "dev-x/api-1/app previous=True tail=5\n"),
        ("api-1", "fresh", False, "dev-x/api-1/fresh previous=False tail=5\n"),
        ("api-1", "pull", False,
         "ERROR no log: the container has not started (ImagePullBackOff)")]
    assert ("api-1", "ok", False) not in api.asked


def test_a_node_that_did_not_answer_is_not_asked_again_but_others_are() -> None:
    api = LogsApi({"a-1": errors.Transient("timed out"), "b-1": errors.Forbidden("no")})
    crashed = {"name": "app", "ready": False, "state": CRASHED, "restartCount": 1}
    found = logs(api, [pod("a-1", "n1", crashed), pod("a-2", "n1", crashed),
                       pod("b-1", "n2", crashed), pod("b-2", "n2", crashed)])
    assert [text for *_, text in found] == [
        "ERROR log unavailable: timed out",
        "ERROR log unavailable: node n1 did not answer before",
        "ERROR log unavailable: node n1 did not answer before",
        "ERROR log unavailable: node n1 did not answer before",
        "ERROR log unavailable: no", "ERROR log unavailable: no",  # refused, not silent
        "dev-x/b-2/app previous=False tail=5\n", "dev-x/b-2/app previous=True tail=5\n"]
    assert [p for p, _, _ in api.asked] == ["a-1", "b-1", "b-1", "b-2", "b-2"]


def test_at_most_max_logs_containers_are_read() -> None:
    api = LogsApi()
    many = [pod(f"p-{i}", "n1", {"name": "app", "ready": False, "state": RUNNING})
            for i in range(diagnose.MAX_LOGS + 5)]
    assert len(logs(api, many)) == diagnose.MAX_LOGS
