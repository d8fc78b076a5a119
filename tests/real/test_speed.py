"""apply -> Ready of examples/stack.yaml on real containers, against the floor measured in
the same run on the same node: the same rendered objects (under the shipped default class's
hardening) applied by a direct client, all at once (floor) or with api created only once db
and cache are Available (floor+deps, what the operator must do). The figures (medians, the
ratios, the step breakdown) are reported in the real-node figures; the test asserts that
every round became Ready, not a ratio (this machine is shared and noisy).

``REAL_SPEED_REPS`` (default 3) rounds, methods rotated so none always follows another.

The stack as examples/stack.yaml has it, except that db's readiness probe runs every second
(``periodSeconds: 1``) instead of every 10: with the default period, db becomes Ready either
at its first probe or ten seconds later, by luck of when postgres listens, and that 10 s step
(not the operator) decided the ratio (1.0x in one run, 8.6x in the next, floor+deps 11.3 s
then 1.3 s).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from bench import methods, render, stats
from bench.cluster import Api, Tracker
from devenv_operator import classes, kube
from tests.e2e.helpers import ROOT, Kubectl, unique, wait_for
from tests.real.helpers import RealCluster, timings

METHODS = ("operator", "floor", "floor+deps")


def default_class() -> classes.DevEnvironmentClassSpec:
    shipped = yaml.safe_load((ROOT / "deploy" / "classes" / "default.yaml").read_text())
    return classes.DevEnvironmentClassSpec.model_validate(shipped["spec"])


def plan(method: str, spec: dict[str, Any]) -> methods.Plan:
    name = unique("spd")
    namespace = f"dev-{name}" if method == "operator" else f"floor-{name}"
    rendered = render.render(name, spec, namespace, class_name="default",
                             policy=default_class())
    return methods.Plan(method, spec, [name], [namespace], [rendered])


def run(api: Api, tracker: Tracker, p: methods.Plan) -> methods.Sample:
    if p.method == "operator":
        (sample,) = methods.run_operator(api, tracker, p, workers=4)
    else:
        (sample,) = methods.run_floor(api, tracker, p, workers=4,
                                      honour_deps=p.method == "floor+deps")
    if p.method == "operator":
        api.delete(kube.DEVENV, p.names[0])
    else:
        api.delete(kube.NAMESPACE, p.namespaces[0])
    return sample


def test_the_stack_on_real_containers_against_the_floor(
        installed: dict[str, float], real_cluster: RealCluster, kubectl: Kubectl) -> None:
    api = Api.connect(str(Path(real_cluster.cluster.kubeconfig)), pool_size=8)
    tracker = Tracker(api)
    tracker.start()
    spec = render.stack_manifest()["spec"]
    db = next(s for s in spec["services"] if s["name"] == "db")
    db["readinessProbe"]["periodSeconds"] = 1
    reps = int(os.environ.get("REAL_SPEED_REPS", "3"))
    samples: dict[str, list[methods.Sample]] = {m: [] for m in METHODS}
    namespaces: list[str] = []
    try:
        for rep in range(reps):
            for method in METHODS[rep % 3:] + METHODS[:rep % 3]:
                p = plan(method, spec)
                samples[method].append(run(api, tracker, p))
                namespaces.append(p.namespaces[0])
        errors = [f"{m}: {s.error}" for m, got in samples.items() for s in got if s.error]
        assert not errors, errors
        totals = {m: stats.summarize(s.total for s in got if s.total is not None)
                  for m, got in samples.items()}
        steps = {m: {k: stats.summarize(s.steps().get(k, 0.0) for s in got)["p50"]
                     for k in ("namespace", "config", "services", "status")}
                 for m, got in samples.items()}
        ratios = stats.ratios(totals, "operator", stats=("p50",))
        timings["stack_speed"] = {
            "reps": reps, "p50_s": {m: t["p50"] for m, t in totals.items()},
            "ratios_p50": {k: v["p50"] for k, v in ratios.items()},
            "steps_p50_s": steps, "api_retries": api.retries}
    finally:
        tracker.stop()
        wait_for(lambda: all(kubectl("get", "namespace", ns, check=False).returncode != 0
                             for ns in namespaces), 180, interval=1,
                 what="the rounds' namespaces gone")
