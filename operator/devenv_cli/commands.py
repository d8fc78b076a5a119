"""What each ``kubectl devenv`` command does, given its parsed arguments; returns its exit code.

Each ``cmd_*`` takes the API (``render`` a way to get one: it may work offline), the parsed
arguments and the stream for results. Results meant for scripts (a name, JSON, a table, the
failure report of a wait) go to that stream; progress and notes to stderr. Errors are raised
(``UsageError``, ``errors.KubeError``) and turned into exit codes by ``app``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml

from devenv_cli import access, diagnose, inputs, naming, report, rerun, state, waiting
from devenv_cli.api import Api, Identity
from devenv_cli.exits import EXIT_FAILED, EXIT_OK, Outcome, UsageError
from devenv_operator import errors, kinds, models, templates

Command = Callable[[Api, argparse.Namespace, TextIO], int]


# --- small helpers ---------------------------------------------------------------------------

def _waited(seconds: float) -> str:
    return models.format_duration(timedelta(seconds=round(seconds)))


def _whoami(api: Api) -> Identity | None:
    """Who we are, or None where the cluster cannot say (SelfSubjectReview is 1.28+)."""
    try:
        return api.whoami()
    except (errors.NotFound, errors.Forbidden, errors.Invalid):
        return None


def _get_or_exit(api: Api, name: str) -> dict[str, Any]:
    obj = api.get(kinds.DEVENV, name)
    if obj is None:
        raise errors.NotFound(f'devenvironment "{name}" not found')
    return obj


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- create ------------------------------------------------------------------------------

def _desired(args: argparse.Namespace) -> dict[str, Any]:
    """The DevEnvironment the flags describe (name not decided yet)."""
    obj = _manifest_or_template(args)
    spec = obj["spec"]
    _add_parameters(spec, inputs.pairs(args.set, "--set"))
    if args.ttl:
        inputs.duration(args.ttl, "--ttl")
        spec["ttl"] = args.ttl
    if args.wait:
        inputs.duration(args.timeout, "--timeout")  # refused before anything is created
        inputs.stable_for(args.stable_for)
    spec.update({key: value for key, value in (
        ("className", args.class_name), ("namespace", args.namespace), ("owner", args.owner))
        if value})
    labels = inputs.pairs(args.label, "--label")
    if labels:
        obj["metadata"]["labels"] = {**(obj["metadata"].get("labels") or {}), **labels}
    return obj


def _manifest_or_template(args: argparse.Namespace) -> dict[str, Any]:
    """The object ``-f MANIFEST`` gives (its metadata and spec only), or one that refers
    to ``--template``."""
    if bool(args.filename) == bool(args.template):
        raise UsageError("give exactly one of -f MANIFEST and --template TEMPLATE")
    if not args.filename:
        return {"apiVersion": models.API_VERSION, "kind": models.KIND, "metadata": {},
                "spec": {"templateRef": {"name": args.template}}}
    doc = inputs.document(args.filename, models.KIND)
    return {"apiVersion": models.API_VERSION, "kind": models.KIND,
            "metadata": dict(doc.get("metadata") or {}), "spec": dict(doc.get("spec") or {})}


def _add_parameters(spec: dict[str, Any], params: dict[str, str]) -> None:
    """``--set`` values over the manifest's own parameters (they need a template)."""
    if not params:
        return
    if not spec.get("templateRef"):
        raise UsageError("--set gives template parameters: the manifest has no templateRef")
    spec["parameters"] = {**(spec.get("parameters") or {}), **params}


def _name_and_provenance(args: argparse.Namespace, obj: Mapping[str, Any],
                         environ: Mapping[str, str]) -> tuple[str, naming.Provenance | None]:
    given = args.name or (obj.get("metadata") or {}).get("name")
    if given:
        return str(given), naming.detect(environ)
    try:
        return naming.derive(environ, prefix=args.name_prefix, ident=args.name_id)
    except naming.NamingError as exc:
        raise UsageError(str(exc)) from None


def _name(args: argparse.Namespace, obj: dict[str, Any]) -> str:
    """Decide ``obj``'s name and record its CI provenance; the metadata of a copied object
    that the server sets (uid, resourceVersion, ...) is dropped."""
    name, provenance = _name_and_provenance(args, obj, os.environ)
    problem = naming.check_name(name)
    if problem:
        raise UsageError(f"name {problem}")
    meta = obj["metadata"]
    meta["name"] = name
    for drop in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        meta.pop(drop, None)
    if provenance is not None:
        meta["labels"] = {**provenance.labels(), **(meta.get("labels") or {})}
        meta["annotations"] = {**provenance.annotations(), **(meta.get("annotations") or {})}
    return name


def _refusal(name: str, existing: Mapping[str, Any] | None,
             identity: Identity | None) -> str | None:
    """Why an environment of this name cannot be reused by us, or None (also: none exists)."""
    if existing is None:
        return None
    if (existing.get("metadata") or {}).get("deletionTimestamp"):
        return (f"devenv {name} exists and is being deleted; wait until it is gone or choose "
                "another name")
    owner = (existing.get("spec") or {}).get("owner")
    if owner and identity is not None and not identity.owns(owner):
        return (f"devenv {name} already exists and belongs to {owner} "
                f"(you are {identity.username}); choose another name")
    return None


def _settle_owner(spec: dict[str, Any], existing: Mapping[str, Any] | None,
                  identity: Identity | None) -> None:
    """The owner to apply: the existing one (server-side apply would drop it from an object
    that leaves it out), else the one given, else us."""
    if existing is not None:
        current = (existing.get("spec") or {}).get("owner")
        if current:
            spec.setdefault("owner", current)
    elif identity is not None and identity.username and not spec.get("owner"):
        spec["owner"] = identity.username


def _applied_note(name: str, existing: Mapping[str, Any] | None,
                  applied: Mapping[str, Any]) -> str:
    if existing is None:
        return f"devenvironment/{name} created"
    before = (existing.get("metadata") or {}).get("generation")
    after = (applied.get("metadata") or {}).get("generation")
    what = "spec updated" if before != after else "unchanged"
    owner = (existing.get("spec") or {}).get("owner") or "none"
    return f"devenvironment/{name} already exists (owner {owner}): reused, {what}"


def _write_created(out: TextIO, output: str, name: str, result: Mapping[str, Any],
                   created: bool) -> None:
    """The result of ``create`` for scripts: its name, or (``-o json``) where it is."""
    if output != "json":
        out.write(name + "\n")
        return
    status = state.status_of(result)
    namespace = status.get("namespace") or (result.get("spec") or {}).get("namespace")
    json.dump({"name": name, "namespace": namespace, "created": created,
               "phase": status.get("phase"), "endpoints": status.get("endpoints") or [],
               "url": status.get("url")}, out)
    out.write("\n")


def cmd_create(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _desired(args)
    name = _name(args, obj)
    identity = _whoami(api)
    existing = api.get(kinds.DEVENV, name)
    refusal = _refusal(name, existing, identity)
    if refusal:
        _note(f"error: {refusal}")
        return EXIT_FAILED
    _settle_owner(obj["spec"], existing, identity)
    applied = api.kube.apply(kinds.DEVENV, obj)
    _note(_applied_note(name, existing, applied))
    code, result = EXIT_OK, applied
    if args.wait:
        code, last = _wait(api, name, args.timeout, args.summary, out=sys.stderr,
                           stable_text=args.stable_for)
        result = last or applied
    _write_created(out, args.output, name, result, created=existing is None)
    return code


# --- wait --------------------------------------------------------------------------------

def _wait(api: Api, name: str, timeout_text: str, summary: str | None,
          out: TextIO, stable_text: str = "0s") -> tuple[int, dict[str, Any] | None]:
    """Wait and report; (exit code, last version seen)."""
    timeout = inputs.duration(timeout_text, "--timeout").total_seconds()
    stable = inputs.stable_for(stable_text)
    _get_or_exit(api, name)
    progress = waiting.Progress(sys.stderr, name)
    result = waiting.wait_for(api, name, timeout, progress, stable_for=stable)
    now = datetime.now(UTC)
    waited = _waited(result.elapsed)
    if result.outcome is Outcome.READY:
        evidence = report.Evidence(name, result.obj)
        _note(report.headline(name, result.outcome, result.obj, waited))
    else:
        evidence = diagnose.collect(api, name, result.obj) if result.obj is not None else \
            report.Evidence(name, None)
        out.write(report.failure_text(evidence, result.outcome, waited, now))
        out.flush()
    if summary:
        text = report.summary_markdown(evidence, result.outcome, waited, now)
        with open(summary, "a", encoding="utf-8") as handle:  # $GITHUB_STEP_SUMMARY appends
            handle.write(("\n" if handle.tell() else "") + text)
    return int(result.outcome), result.obj


def cmd_wait(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    return _wait(api, args.name, args.timeout, args.summary, out, args.stable_for)[0]


# --- diagnose, list -----------------------------------------------------------------

def cmd_diagnose(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _get_or_exit(api, args.name)
    evidence = diagnose.collect(api, args.name, obj, log_lines=args.tail)
    now = datetime.now(UTC)
    written = diagnose.write_bundle(evidence, Path(args.output), now, args.format)
    _note(f"wrote {len(written)} files to {args.output}")
    out.write(report.one_line(args.name, obj) + "\n")
    return EXIT_OK


def cmd_list(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    items, _ = api.list(kinds.DEVENV)
    if args.mine:
        identity = api.whoami()
        items = [o for o in items if identity.owns((o.get("spec") or {}).get("owner"))]
    items.sort(key=lambda o: str((o.get("metadata") or {}).get("name")))
    if args.output == "json":
        json.dump([report.summary_of(o) for o in items], out, indent=2)
        out.write("\n")
    else:
        out.write(report.list_table(items, datetime.now(UTC)) + "\n")
    return EXIT_OK


# --- delete ------------------------------------------------------------------------------------

def cmd_delete(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    """Delete an environment (its namespace and everything in it go with it); an environment
    that is already gone is not an error, so that CI clean-up steps can always run it."""
    obj = api.get(kinds.DEVENV, args.name)
    if obj is None:
        _note(f"devenvironment/{args.name} not found: nothing to delete")
        return EXIT_OK
    uid = obj["metadata"]["uid"]
    namespace = state.status_of(obj).get("namespace")
    api.kube.delete(kinds.DEVENV, args.name, uid=uid)  # this very object, not a successor
    _note(f"devenvironment/{args.name} deleted" + (
        f" (namespace {namespace} and everything in it go too)" if namespace else ""))
    if not args.wait:
        return EXIT_OK
    timeout = inputs.duration(args.timeout, "--timeout").total_seconds()
    started = time.monotonic()
    last, timed_out = waiting.watch_until(  # a successor of the same name counts as gone
        api, args.name, lambda o: (o.get("metadata") or {}).get("uid") != uid, timeout)
    if timed_out and last is not None:
        _note(f"devenvironment/{args.name} is still terminating after {args.timeout}: "
              f"{state.status_of(last).get('message') or 'no message'}")
        return int(Outcome.TIMEOUT)
    _note(f"devenvironment/{args.name} is gone after {time.monotonic() - started:.0f}s")
    return EXIT_OK


# --- extend ------------------------------------------------------------------------------------

def cmd_extend(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _get_or_exit(api, args.name)
    delta = inputs.duration(args.duration, "DURATION")
    now = datetime.now(UTC).replace(microsecond=0)
    target = now + delta
    current = state.parse_time(state.status_of(obj).get("expiresAt"))
    if not args.allow_shorten:
        if current is None:
            _note(f"devenv {args.name} has no expiry: setting one would shorten its life "
                  "(use --allow-shorten)")
            return EXIT_OK
        if target < current:
            _note(f"devenv {args.name} expires at {state.format_time(current)}, later than "
                  f"now + {args.duration}; not shortened (use --allow-shorten)")
            out.write(state.format_time(current) + "\n")
            return EXIT_OK
    patched = api.kube.patch(kinds.DEVENV, args.name,
                             {"spec": {"expiresAt": state.format_time(target)}})
    if patched is None:
        raise errors.NotFound(f'devenvironment "{args.name}" not found')
    generation = (patched.get("metadata") or {}).get("generation")

    def confirmed(o: dict[str, Any]) -> bool:
        observed = state.status_of(o).get("observedGeneration")
        return isinstance(observed, int) and isinstance(generation, int) \
            and observed >= generation and bool(state.status_of(o).get("expiresAt"))

    timeout = inputs.duration(args.timeout, "--timeout").total_seconds()
    last, timed_out = waiting.watch_until(api, args.name, confirmed, timeout)
    if last is None:
        raise errors.NotFound(f'devenvironment "{args.name}" was deleted')
    if timed_out:
        _note(f"requested expiry {state.format_time(target)}; the operator has not confirmed "
              f"it within {args.timeout}")
        out.write(state.format_time(target) + "\n")
        return EXIT_OK
    effective = state.parse_time(state.status_of(last).get("expiresAt"))
    if effective is not None and effective < target - timedelta(seconds=1):
        _note(f"devenv {args.name}: expiry clamped by the maximum lifetime to "
              f"{state.format_time(effective)} (requested {state.format_time(target)})")
    else:
        _note(f"devenv {args.name} now expires at {state.format_time(effective or target)}")
    out.write(state.format_time(effective or target) + "\n")
    return EXIT_OK


# --- render ----------------------------------------------------------------------------------

def cmd_render(api_factory: Callable[[], Api], args: argparse.Namespace, out: TextIO) -> int:
    if bool(args.filename) == bool(args.template):
        raise UsageError("give exactly one of --template TEMPLATE and -f TEMPLATE_FILE")
    if args.filename:
        doc = inputs.document(args.filename, templates.KIND)
        template_spec = doc.get("spec") or {}
        template_name = str((doc.get("metadata") or {}).get("name") or "")
    else:
        found = api_factory().get(kinds.TEMPLATE, args.template)
        if found is None:
            raise errors.NotFound(f'devenvironmenttemplate "{args.template}" not found')
        template_spec, template_name = found.get("spec") or {}, args.template
    environment = {k: v for k, v in (("ttl", args.ttl), ("className", args.class_name))
                   if v}
    rendered = templates.render(template_spec, inputs.pairs(args.set, "--set"),
                                environment=environment)
    if isinstance(rendered, templates.RenderError):
        _note(f"error: template {template_name}: {rendered.reason}: {rendered.message}")
        return EXIT_FAILED
    obj: dict[str, Any] = {"apiVersion": models.API_VERSION, "kind": models.KIND,
                           "metadata": {"name": args.name} if args.name else {},
                           "spec": rendered.spec}
    if args.output == "json":
        json.dump(obj, out, indent=2)
        out.write("\n")
    else:
        out.write(yaml.safe_dump(obj, sort_keys=False))
    return EXIT_OK


# Every command but render, which may work offline (it takes a way to connect instead).
COMMANDS: dict[str, Command] = {
    "create": cmd_create, "wait": cmd_wait, "diagnose": cmd_diagnose,
    "extend": cmd_extend, "list": cmd_list, "delete": cmd_delete,
    "rerun-job": rerun.cmd_rerun_job, "endpoints": access.cmd_endpoints,
    "port-forward": access.cmd_port_forward, "logs": access.cmd_logs, "exec": access.cmd_exec,
}
