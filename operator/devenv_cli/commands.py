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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml

from devenv_cli import diagnose, naming, report, state, waiting
from devenv_cli.api import Api, Identity
from devenv_cli.state import Outcome
from devenv_operator import errors, kinds, models, templates

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_FOUND = 3

Command = Callable[[Api, argparse.Namespace, TextIO], int]


class UsageError(Exception):
    """Raised for arguments that cannot work together (exit 4)."""


# --- small helpers ---------------------------------------------------------------------------

def _pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _duration(text: str, flag: str) -> timedelta:
    try:
        return state.parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _stable_for(text: str) -> float:
    """--stable-for in seconds; a bare 0 (no unit) turns the window off."""
    return 0.0 if text.strip() == "0" else _duration(text, "--stable-for").total_seconds()


def _waited(seconds: float) -> str:
    return models.format_duration(timedelta(seconds=round(seconds)))


def _load_documents(path: str) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}") from None
    if not all(isinstance(d, dict) for d in docs):
        raise UsageError(f"{path}: every document must be a mapping")
    return docs


def _one_of_kind(docs: list[dict[str, Any]], kind: str, path: str) -> dict[str, Any]:
    found = [d for d in docs if d.get("kind") == kind]
    if len(found) != 1:
        raise UsageError(f"{path}: expected exactly one {kind}, found {len(found)}")
    return found[0]


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
    if bool(args.filename) == bool(args.template):
        raise UsageError("give exactly one of -f MANIFEST and --template TEMPLATE")
    if args.filename:
        doc = _one_of_kind(_load_documents(args.filename), models.KIND, args.filename)
        obj: dict[str, Any] = {"apiVersion": models.API_VERSION, "kind": models.KIND,
                               "metadata": dict(doc.get("metadata") or {}),
                               "spec": dict(doc.get("spec") or {})}
    else:
        obj = {"apiVersion": models.API_VERSION, "kind": models.KIND, "metadata": {},
               "spec": {"templateRef": {"name": args.template}}}
    spec = obj["spec"]
    params = _pairs(args.set, "--set")
    if params:
        if not spec.get("templateRef"):
            raise UsageError("--set gives template parameters: the manifest has no templateRef")
        spec["parameters"] = {**(spec.get("parameters") or {}), **params}
    if args.ttl:
        _duration(args.ttl, "--ttl")
        spec["ttl"] = args.ttl
    if args.wait:
        _duration(args.timeout, "--timeout")  # refused before anything is created
        _stable_for(args.stable_for)
    if args.class_name:
        spec["className"] = args.class_name
    if args.namespace:
        spec["namespace"] = args.namespace
    if args.owner:
        spec["owner"] = args.owner
    labels = _pairs(args.label, "--label")
    if labels:
        obj["metadata"]["labels"] = {**(obj["metadata"].get("labels") or {}), **labels}
    return obj


def _name_and_provenance(args: argparse.Namespace, obj: Mapping[str, Any],
                         environ: Mapping[str, str]) -> tuple[str, naming.Provenance | None]:
    given = args.name or (obj.get("metadata") or {}).get("name")
    if given:
        return str(given), naming.detect(environ)
    try:
        return naming.derive(environ, prefix=args.name_prefix, ident=args.name_id)
    except naming.NamingError as exc:
        raise UsageError(str(exc)) from None


def cmd_create(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _desired(args)
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
    identity = _whoami(api)
    existing = api.get(kinds.DEVENV, name)
    if existing is not None:
        current_owner = (existing.get("spec") or {}).get("owner")
        if (existing.get("metadata") or {}).get("deletionTimestamp"):
            _note(f"error: devenv {name} exists and is being deleted; wait until it is gone "
                  "or choose another name")
            return EXIT_FAILED
        if current_owner and identity is not None and not identity.owns(current_owner):
            _note(f"error: devenv {name} already exists and belongs to {current_owner} "
                  f"(you are {identity.username}); choose another name")
            return EXIT_FAILED
        if current_owner:  # keep it in what we apply, or server-side apply would drop it
            obj["spec"].setdefault("owner", current_owner)
    elif identity is not None and identity.username and not obj["spec"].get("owner"):
        obj["spec"]["owner"] = identity.username
    applied = api.kube.apply(kinds.DEVENV, obj)
    if existing is None:
        _note(f"devenvironment/{name} created")
    else:
        before = (existing.get("metadata") or {}).get("generation")
        after = (applied.get("metadata") or {}).get("generation")
        what = "spec updated" if before != after else "unchanged"
        owner = (existing.get("spec") or {}).get("owner") or "none"
        _note(f"devenvironment/{name} already exists (owner {owner}): reused, {what}")
    code = EXIT_OK
    result = applied
    if args.wait:
        code, last = _wait(api, name, args.timeout, args.summary, out=sys.stderr,
                           stable_text=args.stable_for)
        result = last or applied
    if args.output == "json":
        status = state.status_of(result)
        namespace = status.get("namespace") or (result.get("spec") or {}).get("namespace")
        json.dump({"name": name, "namespace": namespace,
                   "created": existing is None, "phase": status.get("phase"),
                   "endpoints": status.get("endpoints") or []}, out)
        out.write("\n")
    else:
        out.write(name + "\n")
    return code


# --- wait --------------------------------------------------------------------------------

def _wait(api: Api, name: str, timeout_text: str, summary: str | None,
          out: TextIO, stable_text: str = "0s") -> tuple[int, dict[str, Any] | None]:
    """Wait and report; (exit code, last version seen)."""
    timeout = _duration(timeout_text, "--timeout").total_seconds()
    stable = _stable_for(stable_text)
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


# --- diagnose, endpoints, list -----------------------------------------------------------------

def cmd_diagnose(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _get_or_exit(api, args.name)
    evidence = diagnose.collect(api, args.name, obj, log_lines=args.tail)
    now = datetime.now(UTC)
    written = diagnose.write_bundle(evidence, Path(args.output), now, args.format)
    _note(f"wrote {len(written)} files to {args.output}")
    out.write(report.one_line(args.name, obj) + "\n")
    return EXIT_OK


def cmd_endpoints(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _get_or_exit(api, args.name)
    if args.output == "json":
        json.dump(state.status_of(obj).get("endpoints") or [], out, indent=2)
        out.write("\n")
    else:
        out.write(report.endpoints_table(obj) + "\n")
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
    timeout = _duration(args.timeout, "--timeout").total_seconds()
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
    delta = _duration(args.duration, "DURATION")
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

    timeout = _duration(args.timeout, "--timeout").total_seconds()
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
        doc = _one_of_kind(_load_documents(args.filename), templates.KIND, args.filename)
        template_spec = doc.get("spec") or {}
        template_name = str((doc.get("metadata") or {}).get("name") or "")
    else:
        found = api_factory().get(kinds.TEMPLATE, args.template)
        if found is None:
            raise errors.NotFound(f'devenvironmenttemplate "{args.template}" not found')
        template_spec, template_name = found.get("spec") or {}, args.template
    environment = {k: v for k, v in (("ttl", args.ttl), ("className", args.class_name))
                   if v}
    rendered = templates.render(template_spec, _pairs(args.set, "--set"),
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
