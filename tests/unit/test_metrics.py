"""Collectors, their fixed label sets, the result-class mapping and the health server."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from devenv_operator import metrics, models, status

# Every label a devenv_* sample may carry, with every value it may take.
ALLOWED: dict[str, set[str]] = {
    "phase": set(models.PHASES),
    "step": set(metrics.STEPS),
    "outcome": set(metrics.OUTCOMES),
    "reason": set(status.REASONS),
    "verb": set(metrics.VERBS),
    "result": set(metrics.RESULTS),
}


def samples() -> Iterator[tuple[str, dict[str, str]]]:
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            yield sample.name, dict(sample.labels)


def test_every_metric_is_named_devenv() -> None:
    names = {family.name for family in metrics.REGISTRY.collect()}
    assert names
    assert all(name.startswith("devenv_") for name in names), names


def sample(name: str, **labels: str) -> float:
    found = metrics.REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_the_issue_names_every_metric_it_asks_for() -> None:
    metrics.api_request("get", "200")  # so that the labelled counter has a child
    exposed = {name for name, _ in samples()}
    for wanted in ("devenv_environments", "devenv_time_to_ready_seconds_bucket",
                   "devenv_provisioning_step_seconds_bucket", "devenv_reconciles_total",
                   "devenv_reconcile_duration_seconds_count", "devenv_failures_total",
                   "devenv_expirations_total", "devenv_expiry_lateness_seconds_count",
                   "devenv_teardown_seconds_count", "devenv_api_requests_total"):
        assert wanted in exposed, wanted


def test_label_values_come_only_from_the_declared_sets() -> None:
    # Feed the collectors everything the operator can throw at them, odd input included.
    for verb in (*metrics.VERBS, "deletecollection", "PATCH", ""):
        for code in ("200", "201", "404", "409", "422", "403", "500", "503", "302", "error",
                     "timeout", ""):
            metrics.api_request(verb, code)
    for phase in models.PHASES:
        metrics.set_phases({phase: 1})
    for name, labels in samples():
        for key, val in labels.items():
            if key in ("le", "quantile"):
                continue
            assert key in ALLOWED, f"{name} has a label {key!r} outside the fixed sets"
            assert val in ALLOWED[key], f"{name}{{{key}={val!r}}} is not a declared value"


def test_no_metric_is_labelled_by_object_identity() -> None:
    keys = {key for _, labels in samples() for key in labels}
    assert not keys & {"name", "uid", "namespace", "environment", "service", "owner"}


def test_failed_reasons_are_declared_reasons() -> None:
    assert set(status.FAILED_REASONS) <= set(status.REASONS)


def test_labelled_series_exist_before_anything_happens() -> None:
    # Pre-created children: dashboards and rate() see zeroes instead of "no data".
    names = {(name, tuple(sorted(labels.items()))) for name, labels in samples()}
    for phase in models.PHASES:
        assert ("devenv_environments", (("phase", phase),)) in names
    for outcome in metrics.OUTCOMES:
        assert ("devenv_reconciles_total", (("outcome", outcome),)) in names
    for reason in status.FAILED_REASONS:
        assert ("devenv_failures_total", (("reason", reason),)) in names


@pytest.mark.parametrize(("code", "expected"), [
    ("200", "2xx"), ("201", "2xx"), ("204", "2xx"),
    ("404", "404"), ("409", "409"), ("422", "422"),
    ("400", "4xx"), ("401", "4xx"), ("403", "4xx"), ("410", "4xx"), ("429", "4xx"),
    ("500", "5xx"), ("503", "5xx"), ("504", "5xx"),
    ("error", "error"), ("timeout", "error"), ("", "error"),
    ("302", "4xx"),  # redirects are not followed: treated as a client-side problem
])
def test_result_class_maps_status_codes_onto_the_fixed_set(code: str, expected: str) -> None:
    assert metrics.result_class(code) == expected
    assert expected in metrics.RESULTS


def test_unknown_verbs_are_folded_into_a_declared_one() -> None:
    before = sample("devenv_api_requests_total", verb="update", result="2xx")
    metrics.api_request("deletecollection", "200")
    assert sample("devenv_api_requests_total", verb="update", result="2xx") == before + 1


def test_set_phases_zeroes_phases_that_disappeared() -> None:
    metrics.set_phases({"Ready": 3, "Failed": 1})
    metrics.set_phases({"Ready": 2})
    values = {phase: sample("devenv_environments", phase=phase) for phase in models.PHASES}
    assert values == {"Pending": 0, "Provisioning": 0, "Ready": 2, "Failed": 0,
                      "Terminating": 0}


# -- health ----------------------------------------------------------------------------


class Clock:
    """``time`` as the health checks see it: the test moves it, so what they report follows
    from what the test did, never from how long a loaded machine took to do it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(metrics, "time", fake)  # the health checks' clock only
    return fake


def test_health_is_alive_but_not_ready_until_marked() -> None:
    health = metrics.Health()
    assert health.alive()
    assert not health.ready()
    health.mark_ready()
    assert health.ready()


def test_health_goes_stale_without_heartbeats_and_recovers_with_one(clock: Clock) -> None:
    health = metrics.Health(stale_after=0.05)
    health.mark_ready()
    clock.advance(0.1)
    assert not health.alive()
    assert not health.ready()  # a wedged operator is not ready either
    health.beat()
    assert health.alive()
    assert health.ready()


@pytest.fixture
def server(clock: Clock) -> Iterator[tuple[str, metrics.Health]]:
    """The server on a free port, its health on the test's ``clock``."""
    health = metrics.Health(stale_after=0.2)
    srv = metrics.serve(0, health, host="127.0.0.1")
    try:
        yield f"http://127.0.0.1:{srv.port}", health
    finally:
        srv.close()


def fetch(url: str, timeout: float = 5) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310  # loopback
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode()
        content_type = exc.headers["Content-Type"]
        exc.close()
        return exc.code, content_type, body


def test_server_answers_probes_according_to_health(server: tuple[str, metrics.Health],
                                                   clock: Clock) -> None:
    base, health = server
    assert fetch(base + "/healthz")[0] == 200
    code, ctype, body = fetch(base + "/readyz")
    assert (code, ctype, json.loads(body)) == (503, "application/json", {"ok": False})
    health.mark_ready()
    assert fetch(base + "/readyz")[:1] == (200,)
    clock.advance(0.3)  # no heartbeat: the process is wedged
    assert fetch(base + "/healthz")[0] == 503
    assert fetch(base + "/readyz")[0] == 503
    health.beat()
    assert fetch(base + "/healthz?verbose=1")[0] == 200


def test_server_exposes_metrics_in_prometheus_text(server: tuple[str, metrics.Health]) -> None:
    base, _ = server
    code, ctype, body = fetch(base + "/metrics")
    assert code == 200
    assert ctype.startswith("text/plain")
    assert "# TYPE devenv_reconciles_total counter" in body
    assert 'devenv_environments{phase="Ready"}' in body
    assert "_created" not in body
    assert fetch(base + "/secret-stuff")[0] == 404


def test_a_busy_pool_is_alive_while_work_finishes_and_stuck_when_none_does(
        clock: Clock) -> None:
    health = metrics.Health(stale_after=0.2)
    health.started()
    health.started()
    clock.advance(0.15)
    health.finished()  # some work finished: busy, not stuck
    clock.advance(0.1)
    health.beat()
    assert health.alive()
    clock.advance(0.15)  # one call in flight, nothing finished for 0.25 s
    health.beat()
    assert not health.alive()
    health.finished()
    assert health.alive()


def test_an_idle_pool_is_never_stuck(clock: Clock) -> None:
    health = metrics.Health(stale_after=0.05)
    clock.advance(0.1)
    health.beat()
    health.started()  # new work after a long idle time starts a fresh window
    assert health.alive()


# A server that read connections in turn, or from a bounded pool of threads, would hold a
# probe until the idle connections ahead of it timed out (REQUEST_TIMEOUT each, raised to
# IDLE_TIMEOUT here). A probe answered within PROBE_DEADLINE, a small fraction of that, while
# every idle connection is still open, was not starved by them. Neither bound is a latency
# target: on a loaded machine a probe takes a few tenths of a second, far from both.
IDLE_CONNECTIONS = 300
IDLE_BATCH = 60  # opened between probes: well under the listen backlog (asyncio's 100)
PROBE_DEADLINE = 10.0
IDLE_TIMEOUT = 120.0


def probe_within_deadline(base: str) -> int:
    started = time.monotonic()
    try:
        code = fetch(base + "/healthz", timeout=PROBE_DEADLINE)[0]
    except (TimeoutError, urllib.error.URLError) as exc:
        pytest.fail(f"/healthz not answered within {PROBE_DEADLINE}s: {exc}")
    assert time.monotonic() - started < PROBE_DEADLINE
    return code


def still_open(conn: socket.socket) -> bool:
    """Neither closed nor answered by the server (it has nothing to answer)."""
    conn.setblocking(False)
    try:
        conn.recv(1)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def test_idle_connections_do_not_starve_the_probes(server: tuple[str, metrics.Health],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of connections that never send a request: /healthz is answered while every
    one of them stays open. (The health's clock stands still: a probe answered late still
    says 200, so only a probe not answered in time fails.)"""
    monkeypatch.setattr(metrics, "REQUEST_TIMEOUT", IDLE_TIMEOUT)
    base, _ = server
    port = int(base.rsplit(":", 1)[1])
    idle: list[socket.socket] = []
    try:
        while len(idle) < IDLE_CONNECTIONS:
            idle += [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE_BATCH)]
            # Answered only once the server has accepted every connection queued before it
            # (the accept queue is first in, first out): each of them is idle in the server.
            assert probe_within_deadline(base) == 200
        assert probe_within_deadline(base) == 200
        assert sum(still_open(conn) for conn in idle) == IDLE_CONNECTIONS
    finally:
        for conn in idle:
            conn.close()


def test_a_request_that_never_ends_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "REQUEST_TIMEOUT", 0.2)
    srv = metrics.serve(0, metrics.Health(), host="127.0.0.1")
    try:
        conn = socket.create_connection(("127.0.0.1", srv.port))
        conn.sendall(b"GET /metrics HTTP/1.1\r\n")  # and never the blank line
        conn.settimeout(2)
        assert conn.recv(100) == b""  # closed by the server after its timeout
        conn.close()
    finally:
        srv.close()


def test_an_oversized_request_is_refused(server: tuple[str, metrics.Health]) -> None:
    base, _ = server
    conn = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])))
    conn.sendall(b"GET /" + b"a" * 20000 + b" HTTP/1.0\r\n\r\n")
    conn.settimeout(2)
    assert b"200" not in conn.recv(100)
    conn.close()
