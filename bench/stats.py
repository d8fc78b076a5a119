"""PURE: percentiles, summaries, ratios, the result schema and its markdown rendering.

Nothing here touches the cluster or the clock, so it is unit tested without one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SCHEMA_VERSION = 1
# Top-level keys every results file has; scenario sections may be absent when skipped.
REQUIRED_KEYS = ("schema", "date", "environment", "settings", "scenarios", "targets")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Iterable[float]) -> dict[str, float]:
    """n, min, p50, p95, p99, max and mean of some durations (seconds), rounded to ms."""
    data = [float(v) for v in values]
    if not data:
        return {"n": 0}
    out = {
        "n": len(data),
        "min": min(data),
        "p50": percentile(data, 50),
        "p95": percentile(data, 95),
        "p99": percentile(data, 99),
        "max": max(data),
        "mean": sum(data) / len(data),
    }
    return {k: (v if k == "n" else round(v, 3)) for k, v in out.items()}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator rounded to 2 places; None when either is missing or zero."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, 2)


def ratios(summaries: Mapping[str, Mapping[str, float]], subject: str,
           stats: Sequence[str] = ("p50", "p95")) -> dict[str, dict[str, float | None]]:
    """``subject``/other for every other method and statistic: {"operator/floor": {...}}."""
    mine = summaries.get(subject, {})
    out: dict[str, dict[str, float | None]] = {}
    for other, theirs in summaries.items():
        if other == subject:
            continue
        out[f"{subject}/{other}"] = {s: ratio(mine.get(s), theirs.get(s)) for s in stats}
    return out


def per_item(deltas: Mapping[str, float], items: int) -> dict[str, float]:
    """Counter deltas divided by a number of items (e.g. API requests per environment)."""
    if items <= 0:
        raise ValueError("items must be positive")
    return {k: round(v / items, 2) for k, v in sorted(deltas.items())}


def counter_deltas(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """after - before per key (keys missing before count as 0); zero deltas are dropped."""
    out = {}
    for key, value in after.items():
        delta = value - before.get(key, 0.0)
        if delta:
            out[key] = delta
    return out


WRITE_VERBS = ("create", "patch", "update", "delete")


def writes(by_verb: Mapping[str, float]) -> float:
    return sum(v for k, v in by_verb.items() if k in WRITE_VERBS)


def parse_prometheus(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Samples of a Prometheus text exposition: {metric: {sorted label pairs: value}}."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels: list[tuple[str, str]] = []
        for part in _split_labels(rest.rstrip("}")):
            key, _, raw = part.partition("=")
            labels.append((key.strip(), raw.strip().strip('"')))
        out.setdefault(name.strip(), {})[tuple(sorted(labels))] = float(value)
    return out


def _split_labels(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def by_label(samples: Mapping[tuple[tuple[str, str], ...], float], label: str
             ) -> dict[str, float]:
    """Sum samples of one metric grouped by one label's value."""
    out: dict[str, float] = {}
    for labels, value in samples.items():
        key = dict(labels).get(label, "")
        out[key] = out.get(key, 0.0) + value
    return out


def validate_result(result: Mapping[str, Any]) -> list[str]:
    """Problems with a results document (empty when it fits the schema)."""
    problems = [f"missing key {k!r}" for k in REQUIRED_KEYS if k not in result]
    if result.get("schema") != SCHEMA_VERSION:
        problems.append(f"schema must be {SCHEMA_VERSION}")
    settings = result.get("settings", {})
    for key in ("qps", "nodes", "operator"):
        if key not in settings:
            problems.append(f"settings.{key} missing")
    for name, target in (result.get("targets") or {}).items():
        if not {"goal", "value", "met"} <= set(target):
            problems.append(f"targets.{name} needs goal, value and met")
    return problems


def target(goal: str, value: float | None, limit: float, *, below: bool = True
           ) -> dict[str, Any]:
    """A reported (not enforced) target: met when value is below (or above) the limit."""
    met = None if value is None else (value <= limit if below else value >= limit)
    return {"goal": goal, "value": value, "limit": limit, "met": met}


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def markdown(result: Mapping[str, Any]) -> str:
    """A compact markdown summary of a results document."""
    lines = [f"### Run of {result['date']}", ""]
    env = result.get("environment", {})
    settings = result.get("settings", {})
    lines.append(f"Machine: {env.get('cpus')} CPUs, Python {env.get('python')}, "
                 f"Kubernetes {env.get('kubernetes')}, Helm {env.get('helm')}; "
                 f"controller-manager/scheduler QPS {settings.get('qps')}, "
                 f"{settings.get('nodes')} kwok nodes (pods Ready with no delay).")
    lines.append("")
    scenarios = result.get("scenarios", {})
    single = scenarios.get("single")
    if single:
        lines += [f"**Single environment** (examples/stack.yaml, {single['reps']} reps, "
                  "seconds from apply to Ready)", "",
                  "| method | p50 | p95 | namespace p50 | config p50 | services p50 "
                  "| status p50 |", "|---|---|---|---|---|---|---|"]
        for method, data in single["methods"].items():
            total, steps = data["total"], data.get("steps", {})
            cells = [_fmt(steps.get(s, {}).get("p50"))
                     for s in ("namespace", "config", "services", "status")]
            lines.append(f"| {method} | {_fmt(total.get('p50'))} | {_fmt(total.get('p95'))} | "
                         + " | ".join(cells) + " |")
        lines += ["", "Ratios (p50, p95): " + "; ".join(
            f"{k} {_fmt(v['p50'])}, {_fmt(v['p95'])}" for k, v in single["ratios"].items()), ""]
    burst = scenarios.get("burst")
    if burst:
        lines += ["**Burst** (environments created at once)", "",
                  "| size | method | makespan s | p50 | p95 | p99 | env/s | errors | left |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for size, methods in burst["rounds"].items():
            for method, data in methods.items():
                ttr = data["time_to_ready"]
                lines.append(
                    f"| {size} | {method} | {_fmt(data['makespan'])} | {_fmt(ttr.get('p50'))} "
                    f"| {_fmt(ttr.get('p95'))} | {_fmt(ttr.get('p99'))} "
                    f"| {_fmt(data['per_second'])} | {data['errors']} | {data['left_behind']} |")
        lines.append("")
    cost = scenarios.get("cost")
    if cost:
        lines += ["**Cost per environment**", ""]
        for label, data in cost.get("per_environment", {}).items():
            lines.append(f"- {label}: requests {data.get('requests')}, writes "
                         f"{_fmt(data.get('writes'))} (of which Events "
                         f"{_fmt(data.get('events'))}), CPU {_fmt(data.get('cpu_seconds'))} s")
        rss = cost.get("rss_mb", {})
        lines.append("- operator RSS (MB) at " + ", ".join(
            f"{k} envs: {_fmt(v)}" for k, v in rss.items()))
        lines.append("")
    expiry = scenarios.get("expiry")
    if expiry:
        late, gone = expiry["lateness"], expiry["expiry_to_namespace_gone"]
        lines += [f"**Expiry** ({expiry['environments']} environments, staggered): lateness "
                  f"p50 {_fmt(late.get('p50'))} s, p99 {_fmt(late.get('p99'))} s; expiry to "
                  f"namespace gone p50 {_fmt(gone.get('p50'))} s, p99 {_fmt(gone.get('p99'))} s",
                  ""]
    lines += _template_lines(scenarios.get("template"))
    targets = result.get("targets", {})
    if targets:
        lines += ["| target | value | limit | met |", "|---|---|---|---|"]
        for t in targets.values():
            met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
            lines.append(f"| {t['goal']} | {_fmt(t['value'])} | {_fmt(t['limit'])} | {met} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _template_lines(found: Mapping[str, Any] | None) -> list[str]:
    """The template scenario: one template edit against the same edit in every spec."""
    if not found:
        return []
    n = found["environments"]
    lines = [f"**Template edit** ({n} environments per round; edit: {found['edit']}; seconds "
             "from the start of `kubectl apply` of the edit)", "",
             "| round | objects applied | kubectl s | converged p50 | p95 | all converged "
             "| config all | status all | operator writes/env | of which Events "
             "| CPU s/env | not converged |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, label in (("template", "template (1 template edited)"),
                       ("no_template", f"no template ({n} specs edited)")):
        r = found.get(key)
        if not r:
            continue
        op = r["operator"]
        lines.append(
            f"| {label} | {r['client_writes']} | {_fmt(r['command_seconds'])} "
            f"| {_fmt(r['converged'].get('p50'))} | {_fmt(r['converged'].get('p95'))} "
            f"| {_fmt(r['makespan'])} | {_fmt(r['config'].get('max'))} "
            f"| {_fmt(r['status'].get('max'))} | {_fmt(op['writes'])} | {_fmt(op['events'])} "
            f"| {_fmt(op['cpu_seconds'])} | {r['not_converged']} |")
    lines += ["", "Converged: the environment's `app-config` ConfigMap shows the new value and "
              "its DevEnvironment is Ready and records the edit (`status.template.generation`, "
              "or `status.observedGeneration` without a template). Operator writes: "
              "create/patch/update/delete in `devenv_api_requests_total`, Events included. "
              "A template's environments are re-rendered 10 per second.", ""]
    return lines
