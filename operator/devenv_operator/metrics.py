"""All Prometheus collectors, and the small HTTP server for /metrics, /healthz and /readyz.

Labels only ever come from fixed sets (phase, reason, outcome, step, verb, result class);
never names or UIDs. The per-phase gauge is recomputed from the phases of the objects the
operator currently watches, so it is right after a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from devenv_operator import models, status

log = logging.getLogger("devenv_operator.metrics")

disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise
REGISTRY = CollectorRegistry(auto_describe=True)
STEPS = ("namespace", "config", "services", "jobs")
OUTCOMES = ("success", "retry", "error")
VERBS = ("get", "list", "create", "patch", "update", "delete", "watch")
RESULTS = ("2xx", "4xx", "409", "404", "422", "5xx", "error")

_TIME_BUCKETS = (1, 2, 5, 10, 15, 30, 60, 90, 120, 180, 300, 420, 600, 900)
_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

ENVIRONMENTS = Gauge("devenv_environments", "DevEnvironments by phase.", ["phase"],
                     registry=REGISTRY)
TIME_TO_READY = Histogram(
    "devenv_time_to_ready_seconds",
    "Time from DevEnvironment creation (or spec change) to Ready.",
    buckets=_TIME_BUCKETS, registry=REGISTRY)
STEP_DURATION = Histogram(
    "devenv_provisioning_step_seconds",
    "Time from provisioning start until a step (namespace, config, services, jobs) was "
    "done.",
    ["step"], buckets=_TIME_BUCKETS, registry=REGISTRY)
RECONCILES = Counter("devenv_reconciles_total", "Reconciles by outcome.", ["outcome"],
                     registry=REGISTRY)
RECONCILE_DURATION = Histogram("devenv_reconcile_duration_seconds", "Duration of a reconcile.",
                               buckets=_FAST_BUCKETS, registry=REGISTRY)
FAILURES = Counter("devenv_failures_total",
                   "Transitions into a failing condition, by reason.", ["reason"],
                   registry=REGISTRY)
EXPIRATIONS = Counter("devenv_expirations_total", "Environments deleted on expiry.",
                      registry=REGISTRY)
EXPIRY_LATENESS = Histogram("devenv_expiry_lateness_seconds",
                            "Delay between the expiry time and the deletion request.",
                            buckets=_FAST_BUCKETS, registry=REGISTRY)
TEARDOWN_DURATION = Histogram(
    "devenv_teardown_seconds", "Time from deletion request until the namespace was gone.",
    buckets=_TIME_BUCKETS, registry=REGISTRY)
UNEXPECTED_ERRORS = Counter(
    "devenv_unexpected_errors_total",
    "Reconciles that ended in an unexpected exception (a bug): each is also a condition "
    "and an Event on the environment.", registry=REGISTRY)
ORPHANS_DELETED = Counter(
    "devenv_orphaned_namespaces_deleted_total",
    "Namespaces deleted because the environment that created them was gone without its "
    "teardown (an orphaning delete and a removed finalizer).", registry=REGISTRY)
EVENTS_DROPPED = Counter(
    "devenv_events_dropped_total",
    "Events not posted because too many were waiting (the status still has the facts).",
    registry=REGISTRY)
API_REQUESTS = Counter("devenv_api_requests_total",
                       "Kubernetes API requests made by the operator, by verb and result.",
                       ["verb", "result"], registry=REGISTRY)

for _phase in models.PHASES:
    ENVIRONMENTS.labels(_phase)
for _outcome in OUTCOMES:
    RECONCILES.labels(_outcome)
for _reason in status.FAILED_REASONS:
    FAILURES.labels(_reason)
for _step in STEPS:
    STEP_DURATION.labels(_step)


def result_class(code: str) -> str:
    """Map an HTTP status (or "error") onto the fixed result label set."""
    if code in ("404", "409", "422"):
        return code
    if code.isdigit():
        return f"{code[0]}xx" if code[0] in "245" else "4xx"
    return "error"


def api_request(verb: str, code: str) -> None:
    API_REQUESTS.labels(verb if verb in VERBS else "update", result_class(code)).inc()


def set_phases(counts: dict[str, int]) -> None:
    for phase in models.PHASES:
        ENVIRONMENTS.labels(phase).set(counts.get(phase, 0))


class Health:
    """What the probes report.

    Alive while the event loop ticks (``beat``) and the worker pool makes progress: a pool
    that is merely busy is alive as long as some work keeps finishing (``started`` and
    ``finished`` around every blocking call); one with work in flight and nothing finished
    for ``stale_after`` seconds is stuck. Ready once watching has begun, while alive.
    """

    def __init__(self, stale_after: float = 60.0) -> None:
        self.stale_after = stale_after
        self._lock = threading.Lock()
        self._heartbeat = time.monotonic()
        self._progress = time.monotonic()
        self._in_flight = 0
        self._ready = False

    def beat(self) -> None:
        self._heartbeat = time.monotonic()

    def started(self) -> None:
        with self._lock:
            if self._in_flight == 0:
                self._progress = time.monotonic()  # an idle pool was not stuck
            self._in_flight += 1

    def finished(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._progress = time.monotonic()

    def mark_ready(self) -> None:
        self._ready = True

    def idle(self) -> bool:
        """No blocking call in flight."""
        with self._lock:
            return self._in_flight == 0

    def alive(self) -> bool:
        now = time.monotonic()
        with self._lock:
            stuck = self._in_flight > 0 and now - self._progress >= self.stale_after
        return now - self._heartbeat < self.stale_after and not stuck

    def ready(self) -> bool:
        return self._ready and self.alive()


# The metrics/health server serves whoever reaches the port (see deploy/networkpolicy.yaml):
# connections are coroutines on a loop of its own, so idle ones cost little and cannot
# starve /healthz; each must send its request within REQUEST_TIMEOUT and within
# MAX_REQUEST bytes, and beyond MAX_CONNECTIONS new ones are closed at once.
MAX_CONNECTIONS = 4096
REQUEST_TIMEOUT = 10.0
MAX_REQUEST = 8192


class MetricsServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` over HTTP/1.0, on a thread of its own."""

    def __init__(self, port: int, health: Health, host: str = "0.0.0.0") -> None:  # noqa: S104
        self._routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)),
            "/healthz": lambda: _probe(health.alive()),
            "/readyz": lambda: _probe(health.ready()),
        }
        self._loop = asyncio.new_event_loop()
        self._connections = 0
        self._server = self._loop.run_until_complete(asyncio.start_server(
            self._serve, host, port, limit=MAX_REQUEST, reuse_address=True))
        self.port: int = self._server.sockets[0].getsockname()[1]
        threading.Thread(target=self._loop.run_forever, name="metrics", daemon=True).start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        try:
            if self._connections > MAX_CONNECTIONS:
                return
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ConnectionError):
                return
            parts = head.split(b"\r\n", 1)[0].split()
            if len(parts) < 2 or parts[0] not in (b"GET", b"HEAD"):
                code, ctype, body = 405, "text/plain", b"method not allowed\n"
            else:
                route = self._routes.get(parts[1].decode("latin-1").split("?", 1)[0])
                code, ctype, body = route() if route else (404, "text/plain", b"not found\n")
            reply = (f"HTTP/1.0 {code} {_REASONS.get(code, '')}\r\nContent-Type: {ctype}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            writer.write(reply + (body if parts[0:1] != [b"HEAD"] else b""))
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self._connections -= 1
            writer.close()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
            503: "Service Unavailable"}


def serve(port: int, health: Health, host: str = "0.0.0.0") -> MetricsServer:  # noqa: S104
    """Start the metrics/health server in a daemon thread."""
    server = MetricsServer(port, health, host)
    log.info("Serving /metrics, /healthz and /readyz on port %d", server.port)
    return server


def _probe(ok: bool) -> tuple[int, str, bytes]:
    body = json.dumps({"ok": ok}).encode() + b"\n"
    return (200 if ok else 503), "application/json", body
