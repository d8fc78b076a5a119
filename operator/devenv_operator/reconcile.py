"""One level-triggered reconcile of a DevEnvironment: build -> apply -> observe -> status.

Every run recomputes every child from the spec and converges the cluster towards it with
server-side apply, writing only what differs. It is safe to run at any time, any number of
times, after any crash: the state lives in the cluster (the children and ``.status``).
Blocking: called from a worker thread. Kubernetes I/O goes through ``kube.Kube`` only.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import logging
import re
import secrets as pysecrets
import string
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from devenv_operator import (
    builders,
    cache,
    diff,
    errors,
    kube,
    lifecycle,
    metrics,
    models,
    status,
    transitions,
)
from devenv_operator.builders.config import GENERATED_ANNOTATION
from devenv_operator.settings import Settings

log = logging.getLogger("devenv_operator.reconcile")

Clock = Callable[[], datetime]
T = TypeVar("T")
_ALPHABET = string.ascii_letters + string.digits
CHILD_KINDS = (kube.CONFIGMAP, kube.SECRET, kube.DEPLOYMENT, kube.SERVICE)
# Pods are listed to name what blocks a Deployment (image pulls, scheduling), but not while
# it is only seconds old and simply coming up: that LIST would slow every normal start.
POD_LOOK_AFTER = 3.0
# Threads writing statuses: one small PATCH each, at most one per reconcile; every thread
# costs memory whether busy or not.
STATUS_WRITERS = 4


def random_value(length: int) -> str:
    """Cryptographically random alphanumeric text."""
    return "".join(pysecrets.choice(_ALPHABET) for _ in range(length))


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What one reconcile decided."""

    status: dict[str, Any]
    requeue_after: float
    copy_sources: set[tuple[str, str]] = field(default_factory=set)
    writes: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)
    ready_after: float | None = None  # seconds from provisioning start, when it became Ready
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds, when done now
    expired: bool = False


@dataclass
class _Run:
    """Per-run scratch state."""

    body: Mapping[str, Any]
    writes: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    keep: dict[str, set[str]] = field(default_factory=dict)  # kind -> names still desired
    lock: threading.Lock = field(default_factory=threading.Lock)  # applies run in parallel
    expiry: lifecycle.Expiry = field(default_factory=lambda: lifecycle.Expiry(None, None))


def validate(body: Mapping[str, Any], prefix: str) -> tuple[models.DevEnvironmentSpec | None,
                                                           str | None, str | None]:
    """(spec, namespace, problem): the parsed spec, its namespace, or why it is invalid."""
    name = body["metadata"]["name"]
    raw = body.get("spec") or {}
    try:
        spec = models.DevEnvironmentSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = f"spec.{where}: {first['msg']}" if where else f"spec: {first['msg']}"
        return None, raw.get("namespace"), message
    namespace = builders.namespace_name(name, spec, prefix)
    if len(namespace) > 63 or not re.fullmatch(models.DNS_LABEL, namespace):
        return spec, None, (f"the default namespace {namespace!r} is not a valid namespace name "
                            "(at most 63 lowercase letters, digits and '-'); set spec.namespace")
    deps = {s.name: list(s.depends_on or []) for s in spec.services}
    cycle = builders.find_cycle(deps)
    if cycle:
        return spec, namespace, f"spec.services: dependsOn cycle {' -> '.join(cycle)}"
    return spec, namespace, None


class Reconciler:
    """Converges DevEnvironments; one instance per operator, shared by all worker threads."""

    def __init__(self, api: kube.Kube, settings: Settings, *, clock: Clock = utcnow,
                 random: Callable[[int], str] = random_value) -> None:
        self.api = api
        self.settings = settings
        self.clock = clock
        self.random = random
        # uid -> the last status we wrote (JSON text: compact at thousands of environments),
        # until the watch brings the body that carries it.
        self._written: dict[str, str] = {}
        # Children come from this cache (fed by the operator's watches and by our writes);
        # each environment's are LISTed into it at its first reconcile and at every resync.
        self.cache = cache.ChildCache(builders.ENVIRONMENT_LABEL)
        self._listed: dict[str, datetime] = {}  # uid -> when its children were last LISTed
        self._lock = threading.Lock()
        # Independent objects of one environment are applied in parallel, as a client doing
        # it by hand would; this pool is separate from the one running reconciles.
        self._fanout = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="apply")
        # Events are best effort and nothing waits for them: a small pool of their own, so
        # that in a burst they queue behind the applies instead of delaying them.
        self._events = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="events")
        # Status writes leave the reconcile without waiting, so that the next reconcile (a
        # dependency just became Available) is not held up by the previous one's status
        # patch. They stay in order per environment: each waits for the one before it.
        self._status_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=STATUS_WRITERS, thread_name_prefix="status")
        self._status_writes: dict[str, concurrent.futures.Future[None]] = {}
        self._status_failed: dict[str, errors.KubeError] = {}  # raised by the next reconcile
        # Told (from a worker thread) the name of an environment whose status write failed,
        # so that it is reconciled again.
        self.on_status_lost: Callable[[str], None] | None = None

    # -- entry point -------------------------------------------------------------------

    def reconcile(self, body: Mapping[str, Any]) -> Outcome:
        try:
            with self._lock:
                failed = self._status_failed.pop(body["metadata"]["uid"], None)
            if failed is not None:  # the caller backs off and reports it, as for any error
                raise failed
            return self._reconcile(body)
        except errors.KubeError:
            with self._lock:  # something unexpected: read the cluster itself next time
                self._listed.pop(body["metadata"]["uid"], None)
            raise

    def _reconcile(self, body: Mapping[str, Any]) -> Outcome:
        run = _Run(body)
        meta = body["metadata"]
        name, uid = meta["name"], meta["uid"]
        generation = int(meta.get("generation", 1))
        now = self.clock()
        created = status.parse_time(meta.get("creationTimestamp")) or now
        previous = self._previous_status(body)
        spec, namespace, problem = validate(body, self.settings.namespace_prefix)
        expiry = self._expiry(body, spec, created)
        if expiry.at is not None and now >= expiry.at:
            return self._expire(run, previous, expiry.at, now)
        base = status.Observation(
            generation=generation, created_at=created, namespace=namespace,
            ready_timeout=spec.ready_timeout_delta() if spec else models.parse_duration("10m"),
            expires_at=expiry.at, expiring=bool(expiry.warn_at and now >= expiry.warn_at),
            expiry_note=expiry.clamped_note)
        run.expiry = expiry
        if spec is None or namespace is None or problem is not None:
            state = self._namespace_state_readonly(namespace, name, uid)
            obs = replace(base, invalid=problem, namespace_state=state)
            return self._finish(run, previous, obs, now, set())

        env = builders.Env(name=name, uid=uid, spec=spec, namespace=namespace)
        state = self._ensure_namespace(run, env)
        fresh = state == "created"  # a namespace we just created has no children to list
        state = "ready" if fresh else state
        if state != "ready":
            obs = replace(base, namespace_state=state)
            return self._finish(run, previous, obs, now, set())

        children = self._observe(env, fresh=fresh, now=now)
        # Config and the first services go out together, as a client applying a directory
        # would: a pod that starts before its ConfigMap exists is retried by the kubelet.
        secret_problems, config_pending, sources = self._converge_config(run, env, children)
        services = self._converge_services(run, env, children)
        config_errors = [e for e in self._collect(config_pending) if e is not None]
        self._prune(run, env, children)
        obs = replace(base, namespace_state="ready", secret_problems=secret_problems,
                      apply_errors=config_errors, services=services)
        return self._finish(run, previous, obs, now, sources)

    # -- lifecycle ---------------------------------------------------------------------

    def _expiry(self, body: Mapping[str, Any], spec: models.DevEnvironmentSpec | None,
                created: datetime) -> lifecycle.Expiry:
        if spec is None:  # invalid spec: still honour a readable ttl and the operator's policy
            raw_ttl = (body.get("spec") or {}).get("ttl")
            ttl = raw_ttl if isinstance(raw_ttl, str) and re.fullmatch(models.DURATION,
                                                                       raw_ttl) else None
            spec = models.DevEnvironmentSpec.model_construct(ttl=ttl, expires_at=None,
                                                             services=[])
        return lifecycle.effective_expiry(
            spec, created, body["metadata"].get("annotations") or {},
            default_ttl=self.settings.duration("default_ttl"),
            max_ttl=self.settings.duration("max_ttl"),
            warning=self.settings.duration("expiry_warning") or models.parse_duration("15m"))

    def _expire(self, run: _Run, previous: dict[str, Any], expires_at: datetime,
                now: datetime) -> Outcome:
        """Delete an expired DevEnvironment; the usual teardown follows."""
        meta = run.body["metadata"]
        lateness = max((now - expires_at).total_seconds(), 0.0)
        message = (f"Expired at {status.rfc3339(expires_at)}; deleting the environment "
                   f"and namespace {previous.get('namespace') or ''}".rstrip())
        if self.api.delete(kube.DEVENV, meta["name"], uid=meta["uid"]):
            log.info("DevEnvironment %s expired %.2fs ago; deleting it", meta["name"], lateness)
            self.api.event(run.body, "Normal", "Expired", message)
            metrics.EXPIRATIONS.inc()
            metrics.EXPIRY_LATENESS.observe(lateness)
        return Outcome(previous, self.settings.seconds("resync_interval"), writes=1,
                       events=[("Normal", "Expired", message)], expired=True)

    # -- namespace ---------------------------------------------------------------------

    def _namespace_state_readonly(self, namespace: str | None, name: str, uid: str) -> str:
        if namespace is None:
            return "missing"
        observed = self.api.get(kube.NAMESPACE, namespace)
        if observed is None:
            return "missing"
        return _state_of(builders.namespace_ownership(observed, name, uid))

    def _ensure_namespace(self, run: _Run, env: builders.Env) -> str:
        desired = diff.with_hash(builders.build_namespace(env))
        # A new environment (no namespace in its status yet) most likely needs a new
        # namespace: try to create it straight away. A create never adopts anything; when
        # the name is taken, the ownership check below decides, as for any other run.
        recorded = self._previous_status(run.body).get("namespace")
        observed = self.api.get(kube.NAMESPACE, env.namespace) if recorded else None
        if observed is None:
            try:
                self.api.create(kube.NAMESPACE, desired)
                run.writes += 1
                run.events.append(("Normal", "NamespaceCreated",
                                   f"Created Namespace {env.namespace}"))
                log.info("Created Namespace %s for DevEnvironment %s", env.namespace, env.name)
                return "created"
            except errors.AlreadyExists:
                observed = self.api.get(kube.NAMESPACE, env.namespace)
                if observed is None:
                    return "missing"
        state = _state_of(builders.namespace_ownership(observed, env.name, env.uid))
        if state == "ready" and diff.needs_apply(desired, observed):
            # Guard with the resourceVersion we checked ownership on: never write to a
            # namespace that changed hands in between.
            guarded = {**desired, "metadata": {
                **desired["metadata"],
                "resourceVersion": observed["metadata"]["resourceVersion"]}}
            self.api.apply(kube.NAMESPACE, guarded)
            run.writes += 1
        return state

    # -- observe -----------------------------------------------------------------------

    def _observe(self, env: builders.Env, *, fresh: bool, now: datetime
                 ) -> dict[str, dict[str, dict[str, Any]]]:
        """The environment's children by kind and name: from the cache, LISTed when due."""
        with self._lock:
            listed = self._listed.get(env.uid)
            due = listed is None or (now - listed).total_seconds() >= (
                0.9 * self.settings.seconds("resync_interval"))
            if fresh or due:
                self._listed[env.uid] = now
        if fresh:  # a namespace we just created has no children to list
            self.cache.forget_namespace(env.namespace)  # whatever an earlier one held
            return {k.kind: {} for k in CHILD_KINDS}
        if due:
            selector = (f"{builders.MANAGED_BY_LABEL}={builders.MANAGED_BY_VALUE},"
                        f"{builders.ENVIRONMENT_LABEL}={env.name}")
            listings = self._parallel([
                functools.partial(self.api.list_versioned, k, env.namespace, selector)
                for k in CHILD_KINDS])
            for k, (items, version) in zip(CHILD_KINDS, listings, strict=True):
                self.cache.replace(k.kind, env.namespace, env.name, items, version)
        return {k.kind: self.cache.children(k.kind, env.namespace, env.name)
                for k in CHILD_KINDS}

    # -- config ------------------------------------------------------------------------

    def _converge_config(self, run: _Run, env: builders.Env,
                         children: dict[str, dict[str, dict[str, Any]]]
                         ) -> tuple[list[builders.SecretProblem],
                                    list[concurrent.futures.Future[str | None]],
                                    set[tuple[str, str]]]:
        """Start applying ConfigMaps and Secrets; (problems, pending applies, copy sources)."""
        observed_secrets = children[kube.SECRET.kind]
        existing = {
            name: dict(obj.get("data") or {}) for name, obj in observed_secrets.items()
            if GENERATED_ANNOTATION in (obj["metadata"].get("annotations") or {})
        }
        refs = {(s.copy_from.namespace, s.copy_from.name)
                for s in (env.spec.config.secrets or [] if env.spec.config else [])
                if s.copy_from is not None}
        ordered = sorted(refs)

        def read(ref: tuple[str, str]) -> dict[str, Any] | None:
            return self.api.get(kube.SECRET, ref[1], ref[0])

        found = self._parallel([functools.partial(read, ref) for ref in ordered])
        sources = dict(zip(ordered, found, strict=True))
        secrets, problems = builders.build_secrets(env, existing=existing, sources=sources,
                                                   random_value=self.random)
        def seed(kind: kube.Kind, obj: dict[str, Any]) -> str | None:
            name = obj["metadata"]["name"]
            try:
                self._apply(run, kind, obj, children[kind.kind].get(name))
            except errors.Invalid as exc:
                return f"{kind.kind} {name}: {exc}"
            return None

        config_maps = builders.build_config_maps(env)
        jobs = [functools.partial(seed, kind, obj)
                for kind, objects in ((kube.CONFIGMAP, config_maps), (kube.SECRET, secrets))
                for obj in objects]
        pending = self._start(jobs)
        run.keep[kube.SECRET.kind] = {s["metadata"]["name"] for s in secrets}
        run.keep[kube.CONFIGMAP.kind] = {c["metadata"]["name"] for c in config_maps}
        return problems, pending, refs

    # -- services ----------------------------------------------------------------------

    def _converge_services(self, run: _Run, env: builders.Env,
                           children: dict[str, dict[str, dict[str, Any]]]
                           ) -> list[status.ServiceObservation]:
        by_name = {s.name: s for s in env.spec.services}
        waves = builders.dependency_levels({s.name: list(s.depends_on or [])
                                            for s in env.spec.services})
        available: dict[str, bool] = {}
        found: dict[str, status.ServiceObservation] = {}
        keep_services = {s.name for s in env.spec.services if s.ports}
        # Each wave depends only on earlier ones, so its services are applied in parallel,
        # and whether a dependency is Available is judged on what this run just applied.
        for wave in waves:
            applying: list[models.Service] = []
            for name in wave:
                service = by_name[name]
                current = children[kube.DEPLOYMENT.kind].get(name)
                waiting = [d for d in service.depends_on or [] if not available.get(d)]
                if current is None and waiting:
                    available[name] = False
                    found[name] = status.ServiceObservation(name, service.replicas,
                                                            waiting_for=waiting)
                    continue
                applying.append(service)
            # A Deployment and its Service do not depend on each other: apply both at once.
            jobs: list[Callable[[], tuple[dict[str, Any] | None, str | None]]] = []
            for service in applying:
                jobs.append(functools.partial(
                    self._apply_child, run, kube.DEPLOYMENT,
                    builders.build_deployment(env, service), children))
                svc = builders.build_service(env, service)
                jobs.append(functools.partial(self._apply_child, run, kube.SERVICE, svc, children)
                            if svc is not None else _nothing)
            results = self._parallel(jobs)
            for i, service in enumerate(applying):
                (deployment, deployment_error), (_, service_error) = results[2 * i:2 * i + 2]
                error = deployment_error or service_error
                found[service.name] = status.ServiceObservation(
                    service.name, service.replicas,
                    deployment or children[kube.DEPLOYMENT.kind].get(service.name), error=error)
                available[service.name] = error is None and status.deployment_available(
                    deployment, service.replicas)
        run.keep[kube.DEPLOYMENT.kind] = set(by_name)
        run.keep[kube.SERVICE.kind] = keep_services
        if not all(available.values()) and self._worth_looking_at_pods(found):
            found = self._attach_pods(env, found)
        return [found[s.name] for s in env.spec.services]

    def _apply_child(self, run: _Run, kind: kube.Kind, obj: dict[str, Any],
                     children: dict[str, dict[str, dict[str, Any]]]
                     ) -> tuple[dict[str, Any] | None, str | None]:
        """(the object as applied, or None; why the API server refused it, or None)."""
        try:
            return self._apply(run, kind, obj,
                               children[kind.kind].get(obj["metadata"]["name"])), None
        except errors.Invalid as exc:
            return None, str(exc)

    def _parallel(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Run blocking calls concurrently; results in order; the first error is raised."""
        if len(jobs) <= 1:
            return [job() for job in jobs]
        return self._collect(self._start(jobs))

    def _start(self, jobs: Sequence[Callable[[], T]]) -> list[concurrent.futures.Future[T]]:
        """Submit blocking calls; only the reconcile's own thread may wait for them (a job
        that waited for other jobs could deadlock the pool)."""
        return [self._fanout.submit(job) for job in jobs]

    @staticmethod
    def _collect(futures: Sequence[concurrent.futures.Future[T]]) -> list[T]:
        return [future.result() for future in futures]

    def _worth_looking_at_pods(self, found: Mapping[str, status.ServiceObservation]) -> bool:
        now = self.clock()
        for obs in found.values():
            if obs.deployment is None or status.deployment_available(obs.deployment,
                                                                     obs.replicas):
                continue
            created = status.parse_time(obs.deployment["metadata"].get("creationTimestamp"))
            if created is None or (now - created).total_seconds() >= POD_LOOK_AFTER:
                return True
        return False

    def _attach_pods(self, env: builders.Env, found: dict[str, status.ServiceObservation]
                     ) -> dict[str, status.ServiceObservation]:
        selector = f"{builders.ENVIRONMENT_LABEL}={env.name}"
        pods: dict[str, list[dict[str, Any]]] = {}
        for pod in self.api.list(kube.POD, env.namespace, label_selector=selector):
            service = (pod["metadata"].get("labels") or {}).get(builders.NAME_LABEL, "")
            pods.setdefault(service, []).append(pod)
        return {
            name: (obs if obs.deployment is None else status.ServiceObservation(
                obs.name, obs.replicas, obs.deployment, obs.waiting_for,
                pods.get(name, []), obs.error))
            for name, obs in found.items()
        }

    # -- writes ------------------------------------------------------------------------

    def _apply(self, run: _Run, kind: kube.Kind, obj: Mapping[str, Any],
               observed: Mapping[str, Any] | None) -> dict[str, Any]:
        desired = diff.with_hash(obj)
        if not diff.needs_apply(desired, observed):
            return dict(observed or {})
        result = self.api.apply(kind, desired)
        self.cache.put(kind.kind, result)
        meta = desired["metadata"]
        verb = "Created" if observed is None else "Updated"
        log.info("%s %s %s in %s", verb, kind.kind, meta["name"], meta["namespace"])
        with run.lock:  # applies of one run go in parallel
            run.writes += 1
            if kind in (kube.DEPLOYMENT, kube.SERVICE) or observed is None:
                run.events.append(("Normal", verb, f"{verb} {kind.kind} {meta['name']} "
                                                   f"in {meta['namespace']}"))
        return result

    def _prune(self, run: _Run, env: builders.Env,
               children: dict[str, dict[str, dict[str, Any]]]) -> None:
        for kind in CHILD_KINDS:
            keep = run.keep.get(kind.kind, set())
            for name, obj in children[kind.kind].items():
                if name in keep:
                    continue
                deleted = self.api.delete(kind, name, env.namespace,
                                          uid=obj["metadata"].get("uid"))
                self.cache.remove(kind.kind, obj)
                if deleted:
                    run.writes += 1
                    log.info("Deleted %s %s in %s", kind.kind, name, env.namespace)
                    run.events.append(("Normal", "Deleted",
                                       f"Deleted {kind.kind} {name} in {env.namespace}"))

    # -- status ------------------------------------------------------------------------

    def _previous_status(self, body: Mapping[str, Any]) -> dict[str, Any]:
        uid = body["metadata"]["uid"]
        with self._lock:
            text = self._written.get(uid)
        cached: dict[str, Any] | None = json.loads(text) if text is not None else None
        current = dict(body.get("status") or {})
        if cached is not None and cached.get("observedGeneration", 0) >= current.get(
                "observedGeneration", 0):
            return cached
        return current

    def _finish(self, run: _Run, previous: dict[str, Any], obs: status.Observation,
                now: datetime, sources: set[tuple[str, str]]) -> Outcome:
        new = {k: v for k, v in status.compute(obs, previous, now).items() if v is not None}
        body = run.body
        meta = body["metadata"]
        run.events.extend(transitions.transition_events(previous, new, now, meta))
        if new != previous:
            self._write_status(meta["uid"], meta["name"], {"status": _merge_nulls(previous, new)},
                               json.dumps(new))
            run.writes += 1
        for event_type, reason, message in transitions.coalesce(run.events):
            self._events.submit(self.api.event, body, event_type, reason, message, at=now)
        ready_after, steps = transitions.timings(previous, new, now)
        return Outcome(new, self._requeue(obs, new, now, run.expiry), sources, run.writes,
                       run.events, ready_after, steps)

    def _write_status(self, uid: str, name: str, patch: dict[str, Any], written: str) -> None:
        with self._lock:
            self._written[uid] = written
            before = self._status_writes.get(uid)
            future = self._status_pool.submit(self._patch_status, uid, name, patch, before)
            self._status_writes[uid] = future

        def done(_: concurrent.futures.Future[None]) -> None:
            with self._lock:
                if self._status_writes.get(uid) is future:
                    del self._status_writes[uid]
        future.add_done_callback(done)

    def _patch_status(self, uid: str, name: str, patch: dict[str, Any],
                      before: concurrent.futures.Future[None] | None) -> None:
        if before is not None:
            concurrent.futures.wait([before])  # submitted earlier: running or done (FIFO)
        try:
            self.api.patch(kube.DEVENV, name, patch, subresource="status")
            with self._lock:  # a later write went through: an earlier failure is moot
                self._status_failed.pop(uid, None)
        except errors.KubeError as exc:
            log.warning("Writing the status of %s failed, reconciling again: %s", name, exc)
            with self._lock:
                self._written.pop(uid, None)
                self._status_failed[uid] = exc
            if self.on_status_lost is not None:
                self.on_status_lost(name)

    def _status_written(self, uid: str) -> None:
        """Wait until this environment's queued status writes are done."""
        with self._lock:
            pending = self._status_writes.get(uid)
        if pending is not None:
            concurrent.futures.wait([pending])

    def teardown(self, body: Mapping[str, Any]) -> str | None:
        """Delete the environment's namespace if we created it; None once it is gone.

        Otherwise returns what still blocks the deletion, which is also written to status.
        """
        meta = body["metadata"]
        namespace = (body.get("status") or {}).get("namespace")
        if not namespace:
            _, namespace, _ = validate(body, self.settings.namespace_prefix)
        observed = self.api.get(kube.NAMESPACE, namespace) if namespace else None
        if observed is None and namespace:
            self.cache.forget_namespace(namespace)  # gone: nothing of it is left to remember
        if observed is None or not builders.owned_by(observed, meta["uid"]):
            return None  # never created, already gone, or not ours to delete
        if not observed["metadata"].get("deletionTimestamp"):
            self.api.delete(kube.NAMESPACE, namespace or "", uid=observed["metadata"]["uid"])
            log.info("Deleting Namespace %s of DevEnvironment %s", namespace, meta["name"])
            self.api.event(body, "Normal", "Deleting", f"Deleting Namespace {namespace}")
        message = (f"Waiting for namespace {namespace} to be deleted: "
                   f"{describe_namespace_blockers(observed)}")
        self._write_terminating(body, message)
        return message

    def _write_terminating(self, body: Mapping[str, Any], message: str) -> None:
        self._status_written(body["metadata"]["uid"])  # never overtaken by an older status
        previous = self._previous_status(body)
        if previous.get("phase") == "Terminating" and previous.get("message") == message:
            return
        now = status.rfc3339(self.clock())
        conditions = [c for c in previous.get("conditions") or [] if c["type"] != status.READY]
        ready = {"type": status.READY, "status": "False", "reason": "Terminating",
                 "message": message, "lastTransitionTime": now,
                 "observedGeneration": body["metadata"].get("generation", 1)}
        new = {**previous, "phase": "Terminating", "message": message,
               "conditions": [ready, *conditions]}
        self.api.patch(kube.DEVENV, body["metadata"]["name"], {"status": new},
                       subresource="status")
        with self._lock:
            self._written[body["metadata"]["uid"]] = json.dumps(new)

    def close(self) -> None:
        """Drop queued work (Events not yet posted); the operator is stopping."""
        for pool in (self._fanout, self._events, self._status_pool):
            pool.shutdown(wait=False, cancel_futures=True)

    def forget(self, uid: str) -> None:
        with self._lock:
            self._written.pop(uid, None)
            self._listed.pop(uid, None)
            self._status_writes.pop(uid, None)
            self._status_failed.pop(uid, None)

    def _requeue(self, obs: status.Observation, new: Mapping[str, Any], now: datetime,
                 expiry: lifecycle.Expiry) -> float:
        """Seconds until the next reconcile is due even if nothing happens meanwhile."""
        settled = (new["phase"] in ("Ready", "Failed")
                   and new["conditions"][0]["reason"] != "ReadyTimeout")
        if settled:
            wait = self.settings.seconds("resync_interval")
        elif obs.namespace_state == "terminating":
            wait = 2.0
        else:
            wait = self.settings.seconds("provisioning_recheck")
        deadlines = [status.ready_deadline(obs, new), expiry.at]
        if expiry.warn_at is not None and expiry.warn_at > now:
            deadlines.append(expiry.warn_at)
        for deadline in deadlines:
            if deadline is not None:
                wait = min(wait, max((deadline - now).total_seconds(), 0.0))
        return wait


def _nothing() -> tuple[dict[str, Any] | None, str | None]:
    return None, None


def _merge_nulls(previous: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch that also removes fields present before and absent now."""
    patch = dict(new)
    for key in previous:
        if key not in new:
            patch[key] = None
    return patch


def _state_of(ownership: builders.Ownership) -> str:
    return {builders.Ownership.OURS: "ready", builders.Ownership.TERMINATING: "terminating",
            builders.Ownership.FOREIGN: "conflict"}[ownership]


def describe_namespace_blockers(namespace: Mapping[str, Any]) -> str:
    """What still keeps a terminating namespace, from its status conditions."""
    parts: list[str] = []
    for cond in (namespace.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in (
                "NamespaceContentRemaining", "NamespaceFinalizersRemaining",
                "NamespaceDeletionContentFailure", "NamespaceDeletionDiscoveryFailure"):
            parts.append(cond.get("message", cond["type"]))
    return "; ".join(parts) or "namespace controller is deleting its content"
