"""``kubectl devenv rerun-job ENV JOB``: run a job of an environment again, on purpose.

A job runs once per rendered spec (its Job is named after a hash of it). To run it again
with the same spec, the command sets the annotation ``rerun.shipit.dev/<JOB>`` on the
DevEnvironment to a fresh nonce (the time, to the microsecond); the operator renders the
nonce into the job's pod template, so the hash, and the Job, are new. It then waits until
the status names the new Job, and prints its name. Waiting for it to complete is ``wait``'s
job: the environment is not Ready again until it has.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from devenv_cli import inputs, state, waiting
from devenv_cli.api import Api
from devenv_cli.exits import EXIT_FAILED, EXIT_OK, Outcome
from devenv_operator import errors, kinds
from devenv_operator.jobs import RERUN_PREFIX


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _job_name(obj: dict[str, Any] | None, job: str) -> str:
    return next((j.job_name for j in state.jobs(obj) if j.name == job), "")


def cmd_rerun_job(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    obj = api.get(kinds.DEVENV, args.name)
    if obj is None:
        raise errors.NotFound(f'devenvironment "{args.name}" not found')
    known = [j.name for j in state.jobs(obj)] or [
        str(j.get("name")) for j in (obj.get("spec") or {}).get("jobs") or []]
    if args.job not in known:
        _note(f"error: devenv {args.name} has no job {args.job} "
              f"(jobs: {', '.join(known) or 'none'})")
        return EXIT_FAILED
    timeout = inputs.duration(args.timeout, "--timeout").total_seconds()
    before = _job_name(obj, args.job)
    nonce = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    patched = api.kube.patch(kinds.DEVENV, args.name,
                             {"metadata": {"annotations": {RERUN_PREFIX + args.job: nonce}}})
    if patched is None:
        raise errors.NotFound(f'devenvironment "{args.name}" not found')

    def rerun(o: dict[str, Any]) -> bool:
        after = _job_name(o, args.job)
        return bool(after) and after != before

    last, timed_out = waiting.watch_until(api, args.name, rerun, timeout)
    if last is None:
        raise errors.NotFound(f'devenvironment "{args.name}" was deleted')
    if timed_out:
        _note(f"asked to rerun job {args.job} of devenv {args.name} ({RERUN_PREFIX}"
              f"{args.job}={nonce}); the operator has not started a new Job within "
              f"{args.timeout}")
        return int(Outcome.TIMEOUT)
    after = _job_name(last, args.job)
    _note(f"job {args.job} of devenv {args.name} reruns as Job {after}"
          + (f" (was {before})" if before else "")
          + f"; `kubectl devenv wait {args.name}` waits for it")
    out.write(after + "\n")
    return EXIT_OK
