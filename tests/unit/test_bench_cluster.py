"""The benchmark's side of the cluster (bench/cluster.py), with no cluster.

``Api`` is checked against a tiny fake API server on loopback (its own field manager on
server-side apply, retries of 429/503 counted, other errors raised at once); the
``Tracker``'s milestones are checked by feeding it watch events directly.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bench import cluster
from devenv_operator import errors, kube


class FakeApiServer:
    """Answers each request with the next queued (status, body); records what it was asked."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                url = urlsplit(self.path)
                fake.requests.append({
                    "method": self.command, "path": url.path, "query": parse_qs(url.query),
                    "user_agent": self.headers.get("User-Agent"),
                    "content_type": self.headers.get("Content-Type"),
                    "body": json.loads(self.rfile.read(length)) if length else None})
                status, body = fake.answers.pop(0) if fake.answers else (200, {})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    fake = FakeApiServer()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def api(server: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> cluster.Api:
    monkeypatch.setattr(cluster.time, "sleep", lambda _: None)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server.url}}],
        "users": [{"name": "fake", "user": {"token": "t"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    return cluster.Api.connect(str(kubeconfig), pool_size=2)


def _status(code: int, reason: str) -> tuple[int, dict[str, Any]]:
    return code, {"kind": "Status", "code": code, "reason": reason, "message": reason}


CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "app", "namespace": "bench-1"}, "data": {"a": "1"}}


def test_apply_is_server_side_with_the_benchmarks_field_manager(
        api: cluster.Api, server: FakeApiServer) -> None:
    api.apply(CONFIGMAP)
    [request] = server.requests
    assert request["method"] == "PATCH"
    assert request["path"] == "/api/v1/namespaces/bench-1/configmaps/app"
    assert request["query"] == {"fieldManager": ["devenv-bench"], "force": ["true"]}
    assert request["content_type"] == "application/apply-patch+yaml"
    assert request["user_agent"] == "devenv-bench"
    assert request["body"] == CONFIGMAP


def test_throttled_and_unavailable_answers_are_retried_and_counted(
        api: cluster.Api, server: FakeApiServer) -> None:
    server.answers = [_status(429, "TooManyRequests"), _status(503, "ServiceUnavailable"),
                      (201, {"metadata": {"name": "o1-0"}})]
    created = api.create({"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
                          "metadata": {"name": "o1-0"}, "spec": {}})
    assert created == {"metadata": {"name": "o1-0"}}
    assert [r["path"] for r in server.requests] == ["/apis/shipit.dev/v1alpha1/devenvironments"] * 3
    assert api.retries == 2


def test_retries_give_up_with_the_last_error(api: cluster.Api, server: FakeApiServer) -> None:
    server.answers = [_status(429, "TooManyRequests")] * (cluster.RETRIES + 1)
    with pytest.raises(errors.Transient) as caught:
        api.apply(CONFIGMAP)
    assert caught.value.status == 429
    assert len(server.requests) == cluster.RETRIES + 1
    assert api.retries == cluster.RETRIES


def test_other_errors_are_not_retried_and_a_missing_object_is_not_an_error(
        api: cluster.Api, server: FakeApiServer) -> None:
    server.answers = [_status(422, "Invalid"), _status(404, "NotFound")]
    with pytest.raises(errors.Invalid):
        api.apply(CONFIGMAP)
    assert api.delete(kube.NAMESPACE, "bench-1") is False
    assert [r["method"] for r in server.requests] == ["PATCH", "DELETE"]
    assert api.retries == 0


def test_a_listing_gives_the_version_to_watch_from(
        api: cluster.Api, server: FakeApiServer) -> None:
    server.answers = [(200, {"metadata": {"resourceVersion": "42"},
                             "items": [{"metadata": {"name": "dev-o1-0"}}]})]
    items, version = api.list_versioned(kube.NAMESPACE)
    assert version == "42"
    assert items[0]["metadata"]["name"] == "dev-o1-0"
    assert items[0]["kind"] == "Namespace"


def _deployment(name: str, available: bool) -> dict[str, Any]:
    status = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
              "readyReplicas": 1, "availableReplicas": 1,
              "conditions": [{"type": "Available", "status": "True"}]} if available else {}
    return {"metadata": {"name": name, "namespace": "dev-o1-0", "generation": 1},
            "spec": {"replicas": 1}, "status": status}


def test_the_tracker_records_each_milestone_once_on_first_sight(api: cluster.Api) -> None:
    tracker = cluster.Tracker(api)  # not started: fed events directly
    record = tracker._record
    record(kube.NAMESPACE, "ADDED", {"metadata": {"name": "dev-o1-0"}}, 1.0)
    record(kube.NAMESPACE, "MODIFIED", {"metadata": {"name": "dev-o1-0"}}, 9.0)
    record(kube.CONFIGMAP, "ADDED", {"metadata": {"name": "c", "namespace": "dev-o1-0"}}, 2.0)
    record(kube.SECRET, "ADDED", {"metadata": {"name": "c", "namespace": "dev-o1-0"}}, 2.5)
    record(kube.DEPLOYMENT, "ADDED", _deployment("web", available=False), 3.0)
    record(kube.DEPLOYMENT, "MODIFIED", _deployment("web", available=True), 4.0)
    record(kube.DEPLOYMENT, "MODIFIED", _deployment("web", available=True), 5.0)
    devenv = {"metadata": {"name": "o1-0"},
              "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    record(kube.DEVENV, "MODIFIED", devenv, 6.0)
    record(kube.DEVENV, "MODIFIED", {**devenv, "metadata": {
        "name": "o1-0", "deletionTimestamp": "2026-12-01T00:00:00Z"}}, 7.0)
    record(kube.DEVENV, "DELETED", devenv, 8.0)
    record(kube.NAMESPACE, "DELETED", {"metadata": {"name": "dev-o1-0"}}, 10.0)

    times = tracker.envs["dev-o1-0"]
    assert (times.namespace, times.namespace_gone) == (1.0, 10.0)
    assert times.config == {"ConfigMap/c": 2.0, "Secret/c": 2.5}
    assert times.available == {"web": 4.0}
    d = tracker.devenvs["o1-0"]
    assert (d.conditions, d.deleting, d.gone) == ({"Ready": 6.0}, 7.0, 8.0)
    assert d.deletion_timestamp == "2026-12-01T00:00:00Z"
    assert tracker.namespaces == set()
    assert tracker.devenv_names == set()
