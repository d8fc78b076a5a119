"""``endpoints``, ``port-forward``, ``logs`` and ``exec``: reaching an environment's services.

``endpoints`` prints ``status.endpoints[]``. The other three find the environment's
namespace and the service's Deployment (or a job's Job) in its status, then hand over to
kubectl (``kubectl port-forward -n NS svc/api 8080:8080``, ``kubectl logs -n NS
deploy/api``, ``kubectl exec -n NS deploy/api -- CMD``): the plugin process becomes
kubectl, with the connection flags it was given, so signals, the terminal and the exit
code are kubectl's own. ``--print-command`` prints that command line instead.

The names a user gives are checked before kubectl runs, so a typo gets the list of what
exists (``exits.Unavailable``, exit 1) instead of kubectl's NotFound.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from typing import Any, TextIO

from devenv_cli import reach
from devenv_cli.api import Api, ConfigError, Connection
from devenv_cli.exits import EXIT_OK, UsageError
from devenv_operator import errors, kinds


def _get(api: Api, name: str) -> dict[str, Any]:
    obj = api.get(kinds.DEVENV, name)
    if obj is None:
        raise errors.NotFound(f'devenvironment "{name}" not found')
    return obj


def _flags(args: argparse.Namespace) -> list[str]:
    return Connection(args.kubeconfig, args.context, args.as_user, args.as_group).flags()


def cmd_endpoints(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _get(api, args.name)
    if not reach.endpoints(obj):
        print(reach.no_endpoints(args.name, obj), file=sys.stderr, flush=True)
    if args.output == "json":
        json.dump(reach.endpoints_json(obj), out, indent=2)
        out.write("\n")
    elif reach.endpoints(obj):
        out.write(reach.endpoints_table(obj, wide=args.output == "wide") + "\n")
    return EXIT_OK


def _service_object(api: Api, service: str, namespace: str) -> dict[str, Any] | None:
    """The Service (for its port names); None where it cannot be read: the status's port
    numbers are enough then."""
    try:
        return api.get(kinds.SERVICE, service, namespace)
    except errors.Forbidden:
        return None


def _local_port(text: str | None) -> str | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) > 65535:
        raise UsageError(f"LOCAL_PORT {text!r}: expected a port number (0: a free one)")
    return text


def cmd_port_forward(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _get(api, args.name)
    namespace = reach.namespace(args.name, obj)
    service, wanted = reach.split_target(args.target)
    reach.service(args.name, obj, service)
    available = reach.ports(obj, service, _service_object(api, service, namespace))
    remote = reach.port(args.name, service, available, wanted)
    argv = reach.port_forward(_flags(args), namespace, service, remote,
                              _local_port(args.local_port), args.address)
    return _hand_over(argv, args.print_command, out)


def cmd_logs(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _get(api, args.name)
    namespace = reach.namespace(args.name, obj)
    if args.target.startswith(reach.JOB_PREFIX):
        job = args.target.removeprefix(reach.JOB_PREFIX)
        target = reach.JOB_PREFIX + reach.job_object(args.name, obj, job)
    else:
        target = "deploy/" + reach.service(args.name, obj, args.target)
    if args.tail is not None and args.tail < -1:
        raise UsageError(f"--tail {args.tail}: expected a number of lines (-1: all)")
    options = reach.LogOptions(follow=args.follow, tail=args.tail, previous=args.previous,
                               container=args.container, since=args.since,
                               timestamps=args.timestamps)
    return _hand_over(reach.logs(_flags(args), namespace, target, options),
                      args.print_command, out)


def cmd_exec(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = _get(api, args.name)
    namespace = reach.namespace(args.name, obj)
    service = reach.service(args.name, obj, args.service)
    argv = reach.exec_command(_flags(args), namespace, service, args.command_args,
                              container=args.container, stdin=args.stdin, tty=args.tty)
    return _hand_over(argv, args.print_command, out)


def _hand_over(argv: list[str], print_only: bool, out: TextIO) -> int:
    """Become ``kubectl ARGV`` (never returns), or print it."""
    if print_only:
        out.write(shlex.join(["kubectl", *argv]) + "\n")
        return EXIT_OK
    binary = shutil.which("kubectl")
    if binary is None:
        raise ConfigError("kubectl is not on PATH (port-forward, logs and exec run it)")
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: Ctrl-C, the terminal of `exec -it` and the exit code are kubectl's.
    os.execv(binary, [binary, *argv])  # noqa: S606 (argv built here, no shell)
