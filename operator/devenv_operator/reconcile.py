"""One level-triggered reconcile of a DevEnvironment, as the steps of the API contract.

validate -> expire? -> namespace -> config and services (in dependency waves) -> prune ->
status. Every run recomputes every child from the spec and converges the cluster towards
it, writing only what differs; it is safe to run at any time, any number of times, after
any crash: the state lives in the cluster (the children and ``.status``).

The parts it stands on each own their state: ``children.ChildReader`` (the child cache and
when to LIST), ``engine.Applier`` (apply and prune), ``statuswriter.StatusWriter`` (status
writes, in order per environment), ``recorder.EventRecorder`` (Events), and the
environment's ``records.EnvRecord``. Blocking: called from a worker thread.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import secrets as pysecrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from devenv_operator import (
    builders,
    classes,
    diff,
    errors,
    kube,
    lifecycle,
    metrics,
    models,
    pods,
    status,
    templates,
)
from devenv_operator.builders.config import GENERATED_ANNOTATION
from devenv_operator.children import ChildReader, Children
from devenv_operator.engine import Applier, Run
from devenv_operator.fanout import Fanout
from devenv_operator.recorder import EventRecorder
from devenv_operator.records import EnvRecord, Records, Source
from devenv_operator.settings import Settings
from devenv_operator.statuswriter import StatusWriter
from devenv_operator.transitions import (
    Event,
    change_events,
    requeue_after,
    timings,
    transition_events,
    worth_an_event,
)

log = logging.getLogger("devenv_operator.reconcile")

Clock = Callable[[], datetime]
NamespaceStep = status.NamespaceState | Literal["created"]
_ALPHABET = string.ascii_letters + string.digits


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
    copy_sources: frozenset[Source] = frozenset()
    writes: int = 0
    events: list[Event] = field(default_factory=list)
    ready_after: float | None = None  # seconds from provisioning start, when it became Ready
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds, when done now
    expired: bool = False


class Reconciler:
    """Converges DevEnvironments; one instance per operator, shared by all worker threads."""

    def __init__(self, api: kube.Kube, settings: Settings, *, children: ChildReader,
                 applier: Applier, statuses: StatusWriter, events: EventRecorder,
                 fanout: Fanout, records: Records, class_index: classes.ClassIndex,
                 template_index: templates.TemplateIndex, clock: Clock = utcnow,
                 random: Callable[[int], str] = random_value) -> None:
        self.api = api
        self.settings = settings
        self.children = children
        self.applier = applier
        self.statuses = statuses
        self.events = events
        self.fanout = fanout
        self.records = records
        self.class_index = class_index
        self.template_index = template_index
        self.clock = clock
        self.random = random

    def reconcile(self, body: Mapping[str, Any], record: EnvRecord) -> Outcome:
        try:
            self.statuses.raise_failed(record)  # the caller backs off and reports it
            return self._reconcile(body, record)
        except errors.KubeError:
            self.children.invalidate(record)  # something unexpected: read the cluster
            raise

    def _reconcile(self, body: Mapping[str, Any], record: EnvRecord) -> Outcome:
        meta = body["metadata"]
        now = self.clock()
        created = status.parse_time(meta.get("creationTimestamp")) or now
        previous = self.statuses.previous(record, body)
        raw, template = rendered(self.template_index, body.get("spec") or {})
        record.template_name = template.name if template else None
        checked = builders.validate(meta["name"], raw, self.settings.namespace_prefix,
                                    previous.get("namespace"))
        if template is not None and not template.ok:  # nothing to build from
            checked = builders.Validated(None, checked.namespace, template.message)
        resolved = self.class_index.resolve(checked.spec.class_name if checked.spec else None)
        expiry = self._expiry(raw, meta, checked.spec, created, resolved.policy)
        if expiry.at is not None and now >= expiry.at:
            return self._expire(body, previous, expiry.at, now)
        spec = checked.spec
        base = status.Observation(
            generation=int(meta.get("generation", 1)), created_at=created,
            namespace=checked.namespace,
            ready_timeout=spec.ready_timeout_delta() if spec else models.parse_duration("10m"),
            expires_at=expiry.at, expiring=bool(expiry.warn_at and now >= expiry.warn_at),
            expiry_note=expiry.clamped_note, template=template,
            fail_fast=fail_fast_rules(self.settings, resolved.policy))
        run, events = Run(), list[Event]()
        if spec is None or checked.namespace is None or not checked.ok:
            obs = replace(base, invalid=checked.problem,
                          invalid_reason=template.reason if template and not template.ok
                          else "InvalidSpec",
                          namespace_state=self._namespace_state(checked.namespace, meta))
            return self._finish(body, record, run, events, previous, obs, expiry, now)
        record.owner, record.class_name = spec.owner, resolved.name
        record.created = meta.get("creationTimestamp") or ""
        refusal = self._class_refusal(record, spec, resolved, checked.namespace)
        if refusal is not None:  # the class says no: nothing is created or changed
            obs = replace(base, invalid=refusal[1], invalid_reason=refusal[0],
                          namespace_state=self._namespace_state(checked.namespace, meta))
            return self._finish(body, record, run, events, previous, obs, expiry, now)

        env = builders.Env(name=meta["name"], uid=meta["uid"], spec=spec,
                           namespace=checked.namespace, class_name=resolved.name,
                           policy=resolved.policy or builders.UNCLASSED)
        try:
            state = self._ensure_namespace(run, events, env,
                                           recorded=bool(previous.get("namespace")))
        except (errors.Invalid, errors.Forbidden) as exc:  # will not pass until changed
            obs = replace(base, namespace_state="failed", namespace_problem=_refusal(exc))
            return self._finish(body, record, run, events, previous, obs, expiry, now)
        if state != "created" and state != "ready":
            obs = replace(base, namespace_state=state)
            return self._finish(body, record, run, events, previous, obs, expiry, now)

        # A namespace this run created has no children to list.
        children = self.children.observe(record, env, fresh=state == "created", now=now)
        # Config and the first services go out together, as a client applying a directory
        # would: a pod that starts before its ConfigMap exists is retried by the kubelet.
        secret_problems, config_pending, sources, env = self._converge_config(run, env, children)
        services = self._converge_services(run, env, children, now,
                                           recheck_pods=status.worth_rechecking_pods(previous))
        config_errors = [e for e in self.fanout.collect(config_pending) if e is not None]
        self.applier.prune(run, env.namespace, children)
        obs = replace(base, namespace_state="ready", secret_problems=secret_problems,
                      apply_errors=config_errors, services=services,
                      endpoints=[(s.name, p.port) for s in env.spec.services
                                 for p in s.ports or []])
        return self._finish(body, record, run, events, previous, obs, expiry, now, sources)

    # -- lifecycle ---------------------------------------------------------------------

    def _expiry(self, raw: Mapping[str, Any], meta: Mapping[str, Any],
                spec: models.DevEnvironmentSpec | None, created: datetime,
                policy: classes.DevEnvironmentClassSpec | None) -> lifecycle.Expiry:
        return lifecycle.expiry_of(
            raw, spec, created, meta.get("annotations") or {},
            default_ttl=self.settings.duration("default_ttl"),
            max_ttl=self.settings.duration("max_ttl"),
            warning=self.settings.duration("expiry_warning") or models.parse_duration("15m"),
            policy=policy)

    def _expire(self, body: Mapping[str, Any], previous: dict[str, Any],
                expires_at: datetime, now: datetime) -> Outcome:
        """Delete an expired DevEnvironment; the usual teardown follows."""
        meta = body["metadata"]
        lateness = max((now - expires_at).total_seconds(), 0.0)
        expired = Event("Normal", "Expired", (
            f"Expired at {status.rfc3339(expires_at)}; deleting the environment "
            f"and namespace {previous.get('namespace') or ''}").rstrip())
        if self.api.delete(kube.DEVENV, meta["name"], uid=meta["uid"]):
            log.info("DevEnvironment %s expired %.2fs ago; deleting it", meta["name"], lateness)
            self.events.post_now(body, expired)
            metrics.EXPIRATIONS.inc()
            metrics.EXPIRY_LATENESS.observe(lateness)
        return Outcome(previous, self.settings.seconds("resync_interval"), writes=1,
                       events=[expired], expired=True)

    # -- class -------------------------------------------------------------------------

    def _class_refusal(self, record: EnvRecord, spec: models.DevEnvironmentSpec,
                       resolved: classes.Resolved, namespace: str) -> tuple[str, str] | None:
        """(reason, message) when the environment's class refuses it, else None."""
        return classes.refusal(resolved, spec, namespace=namespace,
                               operator_prefix=self.settings.namespace_prefix,
                               owner_count=self.records.owned_before(record))

    # -- namespace ---------------------------------------------------------------------

    def _namespace_state(self, namespace: str | None, meta: Mapping[str, Any]
                         ) -> status.NamespaceState:
        """Where the namespace of an invalid spec stands (read only: nothing is created)."""
        observed = self.api.get(kube.NAMESPACE, namespace) if namespace else None
        if observed is None:
            return "missing"
        return status.namespace_state(
            builders.namespace_ownership(observed, meta["name"], meta["uid"]))

    def _ensure_namespace(self, run: Run, events: list[Event], env: builders.Env, *,
                          recorded: bool) -> NamespaceStep:
        """Create or update the namespace; "created" when this run created it."""
        desired = diff.with_hash(builders.build_namespace(env))
        # A new environment (no namespace in its status yet) most likely needs a new
        # namespace: try to create it straight away. A create never adopts anything; when
        # the name is taken, the ownership check below decides, as for any other run.
        observed = self.api.get(kube.NAMESPACE, env.namespace) if recorded else None
        if observed is None:
            try:
                self.api.create(kube.NAMESPACE, desired)
            except errors.AlreadyExists:
                observed = self.api.get(kube.NAMESPACE, env.namespace)
                if observed is None:
                    return "missing"
            else:
                run.wrote()
                events.append(Event("Normal", "NamespaceCreated",
                                    f"Created Namespace {env.namespace}"))
                log.info("Created Namespace %s for DevEnvironment %s", env.namespace, env.name)
                return "created"
        state = status.namespace_state(
            builders.namespace_ownership(observed, env.name, env.uid))
        if state == "ready" and diff.needs_apply(desired, observed):
            # Guard with the resourceVersion we checked ownership on: never write to a
            # namespace that changed hands in between.
            guarded = {**desired, "metadata": {
                **desired["metadata"],
                "resourceVersion": observed["metadata"]["resourceVersion"]}}
            self.api.apply(kube.NAMESPACE, guarded)
            run.wrote()
        return state

    # -- config ------------------------------------------------------------------------

    def _converge_config(self, run: Run, env: builders.Env, children: Children
                         ) -> tuple[list[builders.SecretProblem],
                                    list[concurrent.futures.Future[status.ApplyFailure | None]],
                                    frozenset[Source], builders.Env]:
        """Start applying ConfigMaps, Secrets and the class's objects: (problems, pending
        applies, copy sources, the environment with the pull Secrets it got)."""
        existing = {
            name: dict(obj.get("data") or {}) for name, obj in children[kube.SECRET.kind].items()
            if GENERATED_ANNOTATION in (obj["metadata"].get("annotations") or {})
        }
        refs = builders.copy_sources(env)
        found = self.fanout.run([functools.partial(self._copy_source, namespace, name)
                                 for namespace, name in refs])
        secrets, problems = builders.build_secrets(
            env, existing=existing, sources=dict(zip(refs, found, strict=True)),
            random_value=self.random)
        env = replace(env, pull_secrets=builders.pull_secret_names(env, secrets))
        config_maps = builders.build_config_maps(env)
        class_objects = builders.build_class_objects(env)

        def seed(kind: kube.Kind, obj: dict[str, Any]) -> status.ApplyFailure | None:
            return self.applier.try_apply(run, kind, obj, children)[1]

        objects = [(kube.CONFIGMAP, obj) for obj in config_maps] + [
            (kube.SECRET, obj) for obj in secrets] + [
            (kube.KINDS[obj["kind"]], obj) for obj in class_objects]
        pending = self.fanout.start([functools.partial(seed, kind, obj)
                                     for kind, obj in objects])
        for kind in (kube.SECRET, kube.CONFIGMAP, kube.RESOURCEQUOTA, kube.LIMITRANGE,
                     kube.NETWORKPOLICY, kube.ROLEBINDING):
            run.keep[kind.kind] = {o["metadata"]["name"] for k, o in objects if k is kind}
        return problems, pending, frozenset(refs), env

    def _copy_source(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The source of a copy, or None when it is missing or the operator may not read it
        (the two must look the same to the environment's owner)."""
        try:
            return self.api.get(kube.SECRET, name, namespace)
        except errors.Forbidden:
            return None

    # -- services ----------------------------------------------------------------------

    def _converge_services(self, run: Run, env: builders.Env, children: Children,
                           now: datetime, recheck_pods: bool
                           ) -> list[status.ServiceObservation]:
        """Apply each dependency wave whose dependencies are Available; observe the rest."""
        by_name = {s.name: s for s in env.spec.services}
        available: dict[str, bool] = {}
        found: dict[str, status.ServiceObservation] = {}
        deployments = children[kube.DEPLOYMENT.kind]
        # Each wave depends only on earlier ones, so its services are applied in parallel,
        # and whether a dependency is Available is judged on what this run just applied.
        for wave in builders.dependency_levels({s.name: list(s.depends_on or [])
                                                for s in env.spec.services}):
            applying: list[models.Service] = []
            for name in wave:
                service = by_name[name]
                waiting = [d for d in service.depends_on or [] if not available.get(d)]
                if deployments.get(name) is None and waiting:
                    available[name] = False
                    found[name] = status.ServiceObservation(name, service.replicas,
                                                            waiting_for=waiting)
                else:
                    applying.append(service)
            for service, observation in zip(applying, self._apply_wave(run, env, applying,
                                                                       children), strict=True):
                found[service.name] = observation
                available[service.name] = observation.error is None and (
                    status.deployment_available(observation.deployment, service.replicas))
        run.keep[kube.DEPLOYMENT.kind] = set(by_name)
        run.keep[kube.SERVICE.kind] = {s.name for s in env.spec.services if s.ports}
        if recheck_pods or not all(available.values()):
            found = self.children.with_pods(env, found, now, always=recheck_pods)
        return [found[s.name] for s in env.spec.services]

    def _apply_wave(self, run: Run, env: builders.Env, services: list[models.Service],
                    children: Children) -> list[status.ServiceObservation]:
        """Apply the Deployments and Services of one wave at once (neither waits on the
        other)."""
        jobs: list[Callable[[], tuple[dict[str, Any] | None, status.ApplyFailure | None]]] = []
        for service in services:
            jobs.append(functools.partial(self.applier.try_apply, run, kube.DEPLOYMENT,
                                          builders.build_deployment(env, service), children))
            svc = builders.build_service(env, service)
            jobs.append(functools.partial(self.applier.try_apply, run, kube.SERVICE, svc,
                                          children) if svc is not None else _nothing)
        results = self.fanout.run(jobs)
        observed: list[status.ServiceObservation] = []
        for i, service in enumerate(services):
            (deployment, deployment_error), (_, service_error) = results[2 * i:2 * i + 2]
            observed.append(status.ServiceObservation(
                service.name, service.replicas,
                deployment or children[kube.DEPLOYMENT.kind].get(service.name),
                error=deployment_error or service_error))
        return observed

    # -- status ------------------------------------------------------------------------

    def _finish(self, body: Mapping[str, Any], record: EnvRecord, run: Run,
                events: list[Event], previous: dict[str, Any], obs: status.Observation,
                expiry: lifecycle.Expiry, now: datetime,
                sources: frozenset[Source] = frozenset()) -> Outcome:
        new = {k: v for k, v in status.compute(obs, previous, now).items() if v is not None}
        events = [*events, *change_events(c for c in run.changes if worth_an_event(c)),
                  *transition_events(previous, new, now, body["metadata"])]
        if new != previous:
            self.statuses.submit(record, previous, new)
            run.wrote()
        # In the environment's namespace once it is there: its owner can read them there.
        self.events.post(body, events, at=now,
                         namespace=obs.namespace if obs.namespace_state == "ready" else None)
        ready_after, steps = timings(previous, new, now)
        deadlines = [status.ready_deadline(obs, new), expiry.at]
        if expiry.warn_at is not None and expiry.warn_at > now:
            deadlines.append(expiry.warn_at)
        wait = requeue_after(
            phase=new["phase"], reason=new["conditions"][0]["reason"],
            namespace_terminating=obs.namespace_state == "terminating", now=now,
            deadlines=deadlines, resync=self.settings.seconds("resync_interval"),
            provisioning_recheck=self.settings.seconds("provisioning_recheck"))
        return Outcome(new, wait, sources, run.writes, events, ready_after, steps)


def fail_fast_rules(settings: Settings, policy: classes.DevEnvironmentClassSpec | None
                    ) -> pods.FailFast:
    """When a stuck service fails the environment: the class's failFast, else the
    operator's settings."""
    rules = policy.fail_fast if policy else None
    after = rules.image_pull_fail_after if rules else None
    restarts = rules.crash_loop_restarts if rules else None
    return pods.FailFast(
        image_pull_after=models.parse_duration(after or settings.image_pull_fail_after),
        crash_loop_restarts=restarts or settings.crash_loop_restarts)


def rendered(index: templates.TemplateIndex, raw: Mapping[str, Any]
             ) -> tuple[Mapping[str, Any], status.TemplateObservation | None]:
    """The spec to build from: the environment's own, or its template rendered with its
    parameters and overrides; and how the rendering went (None: no template)."""
    ref = raw.get("templateRef")
    name = ref.get("name") if isinstance(ref, Mapping) else None
    if not name:
        return raw, None
    known = index.get(name)
    if known is None:
        return raw, status.TemplateObservation(
            name, None, "TemplateNotFound", f"DevEnvironmentTemplate {name} does not exist")
    result = templates.render(known.spec, raw.get("parameters") or {},
                              raw.get("services") or None, raw.get("config"), environment=raw)
    if isinstance(result, templates.RenderError):
        return raw, status.TemplateObservation(
            name, known.generation, result.reason,
            f"DevEnvironmentTemplate {name}: {result.message}")
    return result.spec, status.TemplateObservation(
        name, known.generation, "TemplateRendered",
        f"Rendered from DevEnvironmentTemplate {name} (generation {known.generation})")


def _nothing() -> tuple[dict[str, Any] | None, status.ApplyFailure | None]:
    return None, None


def _refusal(exc: errors.KubeError) -> str:
    """Why the API server refused a write, for a status message."""
    return f"{exc.reason or type(exc).__name__}: {exc}"
