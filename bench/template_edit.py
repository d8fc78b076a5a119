"""Scenario ``template``: one template edit against the same edit written into every spec.

N environments are made from one ``DevEnvironmentTemplate`` (``examples/template-shop.yaml``
under another name, every image allowed; kwok runs any image), brought to Ready, and then
the template is edited once: the default of ``logLevel`` goes from ``info`` to ``debug``,
which changes one ConfigMap (``app-config``, key ``LOG_LEVEL``) in every environment and
nothing else (the operator does not roll Deployments when a ConfigMap changes). Then N new
environments carry the same rendered spec written out in full (no template), are brought to
Ready, and the equivalent edit is applied to all N specs with one ``kubectl apply
--server-side`` of N objects, as a CI or GitOps tool would. Both edits go through
``kubectl apply --server-side``, timed from the moment kubectl starts.

An environment has converged when both hold, each first seen through a watch:

- ``config``: its ``app-config`` ConfigMap has ``LOG_LEVEL: debug``;
- ``status``: its DevEnvironment is Ready and records the edit: ``status.template.generation``
  equals the template's new generation (template), or ``status.observedGeneration`` equals
  ``metadata.generation`` after the spec changed (no template).

Writes are the deltas of the operator's ``devenv_api_requests_total`` (create, patch,
update, delete) from just before the edit until its counters stop moving after the last
environment converged, per environment; Events are counted separately (they are creates).
The template's own ``Valid`` status patch falls in the template's window (1/N per
environment). Kopf's own requests are not in that counter.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import itertools
import subprocess
import time
from collections.abc import Mapping
from typing import Any

import yaml

from bench import methods, render, scenarios, stats
from devenv_operator import kube, templates
from devenv_operator.kube import Kind

EXAMPLE = render.ROOT / "examples" / "template-shop.yaml"
TEMPLATE_NAME = "bench-shop"
API_IMAGE = "registry.example.com/shop/api:1"
CONFIG_MAP, KEY, BEFORE, AFTER = "app-config", "LOG_LEVEL", "info", "debug"
CI_MANAGER = render.BENCH_MANAGER  # the bench creates with SSA as this manager; CI edits as it
TIMEOUT_S = 600.0
_rounds = itertools.count(1)


# -- pure: the objects --------------------------------------------------------------------


def template_body(log_level: str = BEFORE) -> dict[str, Any]:
    """The example's template, renamed, with ``logLevel`` defaulting to ``log_level``."""
    body: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"] = {"name": TEMPLATE_NAME, "labels": {"shipit.dev/bench": "true"}}
    for param in body["spec"]["parameters"]:
        if param["name"] == "logLevel":
            param["default"] = log_level
    return body


def templated_spec() -> dict[str, Any]:
    """An environment's spec that names the template (what CI writes with a template)."""
    return {"owner": "bench", "templateRef": {"name": TEMPLATE_NAME},
            "parameters": {"apiImage": API_IMAGE}}


def full_spec(log_level: str = BEFORE) -> dict[str, Any]:
    """The same environment written out in full: the template rendered as the operator
    renders it (``templates.render``), with ``logLevel`` defaulting to ``log_level``."""
    raw = templated_spec()
    result = templates.render(template_body(log_level)["spec"], raw["parameters"],
                              environment=raw)
    if isinstance(result, templates.RenderError):
        raise ValueError(f"the bench template does not render: {result.message}")
    return copy.deepcopy(result.spec)


def config_value(spec: Mapping[str, Any]) -> str | None:
    """``LOG_LEVEL`` of ``app-config`` in a full spec."""
    for cm in (spec.get("config") or {}).get("configMaps") or []:
        if cm.get("name") == CONFIG_MAP:
            value = (cm.get("data") or {}).get(KEY)
            return None if value is None else str(value)
    return None


def converged_status(obj: Mapping[str, Any], template_generation: int | None) -> bool:
    """A DevEnvironment is Ready and records the edit (see the module docstring)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    if not ready:
        return False
    if template_generation is not None:
        return int((status.get("template") or {}).get("generation") or 0) >= template_generation
    generation = int(meta.get("generation") or 1)
    return generation >= 2 and int(status.get("observedGeneration") or 0) >= generation


def summarize_edit(started: float, finished_command: float, config_at: Mapping[str, float],
                   status_at: Mapping[str, float], namespaces: Mapping[str, str]
                   ) -> dict[str, Any]:
    """Per-environment seconds from the edit to config / status / both (converged).

    ``namespaces`` maps environment name -> namespace; ``config_at`` is keyed by namespace,
    ``status_at`` by environment name. Environments that did not converge are counted.
    """
    config, status, both = [], [], []
    for name, ns in namespaces.items():
        c, s = config_at.get(ns), status_at.get(name)
        if c is not None:
            config.append(c - started)
        if s is not None:
            status.append(s - started)
        if c is not None and s is not None:
            both.append(max(c, s) - started)
    return {"command_seconds": round(finished_command - started, 3),
            "converged": stats.summarize(both), "config": stats.summarize(config),
            "status": stats.summarize(status),
            "makespan": round(max(both), 3) if both else None,
            "not_converged": len(namespaces) - len(both)}


# -- against the cluster ------------------------------------------------------------------


def _kubectl_apply(ctx: scenarios.Context, objects: list[dict[str, Any]]) -> str | None:
    """``kubectl apply --server-side`` of objects; an error message, or None."""
    proc = subprocess.run(
        [ctx.kubectl, f"--kubeconfig={ctx.kubeconfig}", "apply", "--server-side",
         f"--field-manager={CI_MANAGER}", "-f", "-"],
        input=render.to_yaml(objects), capture_output=True, text=True, timeout=TIMEOUT_S)
    return None if proc.returncode == 0 else f"kubectl exit {proc.returncode}: {proc.stderr[-300:]}"


def _wait_template_valid(ctx: scenarios.Context, generation: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = ctx.api.kube.get(kube.TEMPLATE, TEMPLATE_NAME) or {}
        status = body.get("status") or {}
        valid = [c for c in status.get("conditions") or [] if c.get("type") == "Valid"]
        if status.get("observedGeneration") == generation and valid:
            if valid[0].get("status") != "True":
                raise RuntimeError(f"template not valid: {valid[0].get('message')}")
            return
        time.sleep(0.2)
    raise RuntimeError(f"template generation {generation} not checked by the operator in time")


def _bring_up(ctx: scenarios.Context, spec: dict[str, Any], count: int, tag: str
              ) -> methods.Plan:
    """Create ``count`` environments (server-side apply, 16 at a time), wait until Ready."""
    n = next(_rounds)
    names = [f"{tag}{n}-{i}" for i in range(count)]
    p = methods.Plan("operator", spec, names, [f"dev-{x}" for x in names])
    ctx.operator.ensure_running()
    with cf.ThreadPoolExecutor(ctx.workers) as pool:
        list(pool.map(lambda name: ctx.api.apply(render.devenv(name, spec)), names))

    def ready() -> bool:
        return all("Ready" in ctx.tracker.devenvs.get(x, _NO).conditions for x in names)

    if not ctx.tracker.wait(ready, TIMEOUT_S):
        with ctx.tracker._cond:
            missing = [x for x in names
                       if "Ready" not in ctx.tracker.devenvs.get(x, _NO).conditions]
        raise RuntimeError(f"{len(missing)} of {count} environments not Ready in time "
                           f"(e.g. {missing[:3]})")
    return p


class _No:
    conditions: dict[str, float] = {}  # noqa: RUF012 - read-only sentinel


_NO = _No()


def _events(ctx: scenarios.Context, names: set[str]) -> int:
    return scenarios._count_events(ctx, names)


def _edit(ctx: scenarios.Context, p: methods.Plan, objects: list[dict[str, Any]],
          template_generation: int | None) -> dict[str, Any]:
    """Apply ``objects`` with kubectl; wait until every environment of ``p`` converged."""
    names = set(p.names)
    namespaces = dict(zip(p.names, p.namespaces, strict=True))
    wanted_ns = set(p.namespaces)
    config_at: dict[str, float] = {}
    status_at: dict[str, float] = {}

    def observe(kind: Kind, etype: str, obj: Mapping[str, Any], now: float) -> None:
        meta = obj.get("metadata") or {}
        if etype == "DELETED":
            return
        if (kind == kube.CONFIGMAP and meta.get("namespace") in wanted_ns
                and meta.get("name") == CONFIG_MAP
                and (obj.get("data") or {}).get(KEY) == AFTER):
            config_at.setdefault(meta["namespace"], now)
        elif (kind == kube.DEVENV and meta.get("name") in names
              and converged_status(obj, template_generation)):
            status_at.setdefault(meta["name"], now)

    before = scenarios._operator_counters(ctx, settle=True)
    events_before = _events(ctx, names)
    with ctx.tracker._cond:
        ctx.tracker.observers.append(observe)
    try:
        started = time.time()
        error = _kubectl_apply(ctx, objects)
        finished = time.time()
        if error:
            raise RuntimeError(f"edit: {error}")

        def done() -> bool:
            return len(config_at) == len(p.names) and len(status_at) == len(p.names)

        ctx.tracker.wait(done, TIMEOUT_S)
    finally:
        with ctx.tracker._cond:
            ctx.tracker.observers.remove(observe)
            config_at, status_at = dict(config_at), dict(status_at)
    after = scenarios._operator_counters(ctx, settle=True)
    events = _events(ctx, names) - events_before
    n = len(p.names)
    requests = stats.counter_deltas(before["requests"], after["requests"])
    writes = stats.writes(requests)
    out = summarize_edit(started, finished, config_at, status_at, namespaces)
    out.update(environments=n, client_writes=len(objects),
               operator={"requests": stats.per_item(requests, n) if requests else {},
                         "writes": round(writes / n, 2), "events": round(events / n, 2),
                         "writes_excluding_events": round((writes - events) / n, 2),
                         "writes_total": writes,
                         "cpu_seconds": round((after["cpu"] - before["cpu"]) / n, 4)})
    return out


def run(ctx: scenarios.Context, count: int) -> dict[str, Any]:
    """Both rounds (template, then no template), each torn down before the next."""
    out: dict[str, Any] = {"environments": count, "edit": f"logLevel default {BEFORE} -> "
                           f"{AFTER} (ConfigMap {CONFIG_MAP} key {KEY})"}
    # Round 1: from the template.
    error = _kubectl_apply(ctx, [template_body(BEFORE)])
    if error:
        raise RuntimeError(f"template: {error}")
    body = ctx.api.kube.get(kube.TEMPLATE, TEMPLATE_NAME) or {}
    first = int(body["metadata"]["generation"])
    _wait_template_valid(ctx, first)
    p = _bring_up(ctx, templated_spec(), count, "t")
    scenarios.say(f"template: {count} environments from template {TEMPLATE_NAME} Ready; "
                  "editing the template")
    got = _edit(ctx, p, [template_body(AFTER)], first + 1)
    _wait_template_valid(ctx, first + 1)
    got["template_generation"] = first + 1
    out["template"] = got
    scenarios.say(f"template: converged in {got['makespan']}s, operator writes per env "
                  f"{got['operator']['writes']}; tearing down")
    torn, left = scenarios.teardown(ctx, p)
    got.update(teardown_seconds=round(torn, 1), left_behind=left)
    ctx.api.delete(kube.TEMPLATE, TEMPLATE_NAME)
    # Round 2: the same rendered spec written out in full, then the same edit in every spec.
    spec = full_spec(BEFORE)
    p = _bring_up(ctx, spec, count, "s")
    scenarios.say(f"template: {count} environments with the full spec Ready; applying the "
                  f"edit to {count} specs")
    edited = [render.devenv(name, full_spec(AFTER)) for name in p.names]
    got = _edit(ctx, p, edited, None)
    out["no_template"] = got
    scenarios.say(f"template (none): converged in {got['makespan']}s, operator writes per env "
                  f"{got['operator']['writes']}; tearing down")
    torn, left = scenarios.teardown(ctx, p)
    got.update(teardown_seconds=round(torn, 1), left_behind=left)
    out["notes"] = (
        "converged = app-config shows LOG_LEVEL=debug AND the DevEnvironment is Ready and "
        "records the edit (status.template.generation = the template's new generation; "
        "without a template status.observedGeneration = metadata.generation), each first "
        "seen through a watch; seconds from the start of the kubectl apply of the edit "
        "(1 template vs N DevEnvironments). Operator writes = create/patch/update/delete "
        "deltas of devenv_api_requests_total per environment until the counters settle; "
        "the operator wakes a template's environments 10 per second")
    return out
