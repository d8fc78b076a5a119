"""kwok Stage configuration, generated at run time.

kwok simulates kubelets: every Stage selects objects (jq expressions over the object)
and patches their status. Ours are deliberately fast and deterministic:

* ``node-initialize`` makes a registered Node Ready; ``node-heartbeat`` refreshes the
  conditions' heartbeat times every ~20-30 s (kwok also renews the node Leases).
* ``pod-ready`` makes a scheduled pod Running/Ready immediately (no delay).
* ``pod-image-pull-error``: a pod with any (init) container image starting with
  ``unpullable.invalid/`` never becomes Ready; its containers wait with reason
  ``ErrImagePull`` and, one second later, ``ImagePullBackOff`` (like a kubelet).
* ``pod-crash-loop-N``: a pod with a container image starting with ``crashloop.invalid/``
  runs, but that container crashes (exit code 1, reason Error) and waits in
  ``CrashLoopBackOff``; its restartCount rises 1, 2, ... ``CRASH_LOOP_STEPS`` two seconds
  apart (like a kubelet's back-off, only faster). Its other containers run.
* ``pod-job-complete``: a running pod owned by a Job succeeds, so Jobs complete.
* ``pod-job-fail``: a running pod owned by a Job whose container image starts with
  ``fail.invalid/`` fails instead (exit code 1, reason Error), so Jobs fail.
* ``pod-delete``: a pod with a deletionTimestamp is deleted for good (grace period 0),
  which lets namespace deletion finish. Finalizers on pods are respected.

The documents are JSON (valid YAML), one per ``---`` separated document.
"""

from __future__ import annotations

import json
from typing import Any

UNPULLABLE_PREFIX = "unpullable.invalid/"
CRASHLOOP_PREFIX = "crashloop.invalid/"
JOB_FAIL_PREFIX = "fail.invalid/"
CRASH_LOOP_STEPS = 5
CRASH_LOOP_INTERVAL_MS = 2_000
HEARTBEAT_MS = 20_000
HEARTBEAT_JITTER_MS = 30_000
BACKOFF_MS = 1_000

# jq: true if any container or init container uses an unpullable image.
UNPULLABLE_JQ = (
    "[.spec.initContainers[]?, .spec.containers[]? | .image"
    f' | startswith("{UNPULLABLE_PREFIX}")] | any'
)
CRASHLOOP_JQ = (
    "[.spec.initContainers[]?, .spec.containers[]? | .image"
    f' | startswith("{CRASHLOOP_PREFIX}")] | any'
)
JOB_FAIL_JQ = (
    "[.spec.initContainers[]?, .spec.containers[]? | .image"
    f' | startswith("{JOB_FAIL_PREFIX}")] | any'
)
RESTARTS_JQ = "[.status.containerStatuses[]?.restartCount] | max // 0 | tostring"
READY_JQ = '.status.conditions[]? | select(.type == "Ready") | .status'
WAITING_REASONS_JQ = ".status.containerStatuses[]?.state.waiting.reason"

NOT_DELETING = {"jq": {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}}

NODE_CONDITIONS = (
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("NetworkUnavailable", "False", "RouteCreated", "kwok node network is up"),
)


def _stage(
    name: str,
    kind: str,
    selectors: list[dict[str, Any]],
    steps: list[dict[str, Any]],
    delay_ms: int | None = None,
    jitter_ms: int | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": selectors},
        "steps": steps,
    }
    if delay_ms is not None:
        delay: dict[str, int] = {"durationMilliseconds": delay_ms}
        if jitter_ms is not None:
            delay["jitterDurationMilliseconds"] = jitter_ms
        spec["delay"] = delay
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": spec,
    }


def _jq(key: str, operator: str, *values: str) -> dict[str, Any]:
    expr: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        expr["values"] = list(values)
    return {"jq": expr}


def _status_patch(template: str) -> dict[str, Any]:
    return {"patch": {"subresource": "status", "root": "status", "template": template}}


def _node_initialize_template(kube_version: str, kwok_version: str) -> str:
    lines = ["{{ $now := Now }}", "conditions:"]
    for ctype, status, reason, message in NODE_CONDITIONS:
        lines += [
            f"- type: {ctype}",
            f'  status: "{status}"',
            f"  reason: {reason}",
            f"  message: {json.dumps(message)}",
            "  lastHeartbeatTime: {{ $now | Quote }}",
            "  lastTransitionTime: {{ $now | Quote }}",
        ]
    lines += [
        "addresses:",
        "- type: InternalIP",
        "  address: {{ NodeIP | Quote }}",
        "- type: Hostname",
        "  address: {{ .metadata.name | Quote }}",
        "nodeInfo:",
        "  architecture: amd64",
        "  operatingSystem: linux",
        "  osImage: kwok",
        "  kernelVersion: kwok",
        f"  kubeletVersion: {kube_version}",
        f"  containerRuntimeVersion: kwok://{kwok_version}",
        "  machineID: {{ .metadata.uid | Quote }}",
        "  systemUUID: {{ .metadata.uid | Quote }}",
        "  bootID: {{ .metadata.uid | Quote }}",
        "phase: Running",
    ]
    return "\n".join(lines) + "\n"


NODE_HEARTBEAT_TEMPLATE = """\
{{ $now := Now }}
conditions:
{{ range .status.conditions }}
- type: {{ .type | Quote }}
  lastHeartbeatTime: {{ $now | Quote }}
{{ end }}
"""

_POD_ADDRESSES = """\
{{ with NodeIPWith .spec.nodeName }}
hostIP: {{ . | Quote }}
hostIPs:
- ip: {{ . | Quote }}
{{ end }}
{{ with PodIPWith .spec.nodeName (or .spec.hostNetwork false) (or .metadata.uid "") \
(or .metadata.name "") (or .metadata.namespace "") }}
podIP: {{ . | Quote }}
podIPs:
- ip: {{ . | Quote }}
{{ end }}
startTime: {{ or .status.startTime Now | Quote }}
"""

POD_READY_TEMPLATE = (
    """\
{{ $now := Now }}
phase: Running
conditions:
- {type: PodReadyToStartContainers, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: {{ printf "kwok://%s" .image | Quote }}
  containerID: {{ printf "kwok://%s" .name | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ with .spec.initContainers }}
initContainerStatuses:
{{ range . }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: {{ printf "kwok://%s" .image | Quote }}
  ready: true
  restartCount: 0
{{ if eq (or .restartPolicy "") "Always" }}
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ else }}
  started: false
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
{{ end }}
{{ end }}
"""
    + _POD_ADDRESSES
)


def _not_ready_header(phase: str) -> str:
    """A pod in ``phase`` whose containers are not ready, up to each container's name and
    image (the caller writes the rest of its status)."""
    return (
        "{{ $now := Now }}\n"
        f"phase: {phase}\n"
        """\
conditions:
- {type: PodReadyToStartContainers, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "False", reason: ContainersNotReady, \
lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "False", reason: ContainersNotReady, \
lastTransitionTime: {{ $now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
"""
    )


def _pull_failure_template(reason: str) -> str:
    prefix = json.dumps(UNPULLABLE_PREFIX)
    if reason == "ErrImagePull":
        message = 'printf "failed to pull image %q: %s: not found" .image .image'
    else:
        message = 'printf "Back-off pulling image %q" .image'
    return (
        _not_ready_header("Pending")
        + """\
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    waiting:
"""
        + f"{{{{ if hasPrefix {prefix} .image }}}}\n"
        + f"      reason: {reason}\n"
        + f"      message: {{{{ {message} | Quote }}}}\n"
        + "{{ else }}\n"
        + "      reason: ContainerCreating\n"
        + "{{ end }}\n"
        + "{{ end }}\n"
        # Addresses only on the first patch: a second PodIPWith call would allocate
        # another IP and the strategic merge would append it to podIPs (invalid).
        + (_POD_ADDRESSES if reason == "ErrImagePull" else "")
    )


def _crash_loop_template(restarts: int) -> str:
    prefix = json.dumps(CRASHLOOP_PREFIX)
    return (
        _not_ready_header("Running")
        + """\
  imageID: {{ printf "kwok://%s" .image | Quote }}
  containerID: {{ printf "kwok://%s" .name | Quote }}
"""
        + f"{{{{ if hasPrefix {prefix} .image }}}}\n"
        + "  ready: false\n"
        + "  started: false\n"
        + f"  restartCount: {restarts}\n"
        + "  state:\n"
        + "    waiting:\n"
        + "      reason: CrashLoopBackOff\n"
        + '      message: {{ printf "back-off restarting failed container %s" .name | Quote }}\n'
        + "  lastState:\n"
        + "    terminated:\n"
        + "      exitCode: 1\n"
        + "      reason: Error\n"
        + "      startedAt: {{ $now | Quote }}\n"
        + "      finishedAt: {{ $now | Quote }}\n"
        + "{{ else }}\n"
        + "  ready: true\n"
        + "  started: true\n"
        + "  restartCount: 0\n"
        + "  state:\n"
        + "    running:\n"
        + "      startedAt: {{ $now | Quote }}\n"
        + "{{ end }}\n"
        + "{{ end }}\n"
        # Addresses only on the first patch (see _pull_failure_template).
        + (_POD_ADDRESSES if restarts == 1 else "")
    )


POD_JOB_COMPLETE_TEMPLATE = """\
{{ $now := Now }}
phase: Succeeded
conditions:
- {type: ContainersReady, status: "False", reason: PodCompleted, \
lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: {{ printf "kwok://%s" .image | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
"""


POD_JOB_FAIL_TEMPLATE = """\
{{ $now := Now }}
phase: Failed
conditions:
- {type: ContainersReady, status: "False", reason: PodFailed, \
lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "False", reason: PodFailed, lastTransitionTime: {{ $now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: {{ printf "kwok://%s" .image | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 1
      reason: Error
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
"""


def stages(kube_version: str, kwok_version: str) -> list[dict[str, Any]]:
    """All Stage objects, in the order kwok should prefer them."""
    pull_failing = [
        NOT_DELETING,
        _jq(UNPULLABLE_JQ, "In", "true"),
    ]
    crash_loop = [
        _stage(
            f"pod-crash-loop-{n}",
            "Pod",
            [
                NOT_DELETING,
                _jq(UNPULLABLE_JQ, "In", "false"),
                _jq(CRASHLOOP_JQ, "In", "true"),
                _jq(RESTARTS_JQ, "In", str(n - 1)),
            ],
            [_status_patch(_crash_loop_template(n))],
            delay_ms=CRASH_LOOP_INTERVAL_MS if n > 1 else None,
        )
        for n in range(1, CRASH_LOOP_STEPS + 1)
    ]
    return [
        _stage(
            "node-initialize",
            "Node",
            [_jq(READY_JQ, "NotIn", "True")],
            [_status_patch(_node_initialize_template(kube_version, kwok_version))],
        ),
        _stage(
            "node-heartbeat",
            "Node",
            [_jq(READY_JQ, "In", "True")],
            [_status_patch(NODE_HEARTBEAT_TEMPLATE)],
            delay_ms=HEARTBEAT_MS,
            jitter_ms=HEARTBEAT_JITTER_MS,
        ),
        _stage(
            "pod-image-pull-error",
            "Pod",
            [*pull_failing, _jq(WAITING_REASONS_JQ, "NotIn", "ErrImagePull", "ImagePullBackOff")],
            [_status_patch(_pull_failure_template("ErrImagePull"))],
        ),
        _stage(
            "pod-image-pull-backoff",
            "Pod",
            [*pull_failing, _jq(WAITING_REASONS_JQ, "In", "ErrImagePull")],
            [_status_patch(_pull_failure_template("ImagePullBackOff"))],
            delay_ms=BACKOFF_MS,
        ),
        _stage(
            "pod-ready",
            "Pod",
            [
                NOT_DELETING,
                _jq(UNPULLABLE_JQ, "In", "false"),
                _jq(CRASHLOOP_JQ, "In", "false"),
                _jq(".status.phase", "In", "Pending"),
                _jq(READY_JQ, "NotIn", "True"),
            ],
            [_status_patch(POD_READY_TEMPLATE)],
        ),
        *crash_loop,
        _stage(
            "pod-job-complete",
            "Pod",
            [
                NOT_DELETING,
                _jq(".status.phase", "In", "Running"),
                _jq(".metadata.ownerReferences[]?.kind", "In", "Job"),
                _jq(JOB_FAIL_JQ, "In", "false"),
            ],
            [_status_patch(POD_JOB_COMPLETE_TEMPLATE)],
        ),
        _stage(
            "pod-job-fail",
            "Pod",
            [
                NOT_DELETING,
                _jq(".status.phase", "In", "Running"),
                _jq(".metadata.ownerReferences[]?.kind", "In", "Job"),
                _jq(JOB_FAIL_JQ, "In", "true"),
            ],
            [_status_patch(POD_JOB_FAIL_TEMPLATE)],
        ),
        _stage(
            "pod-delete",
            "Pod",
            [_jq(".metadata.deletionTimestamp", "Exists")],
            [{"delete": True}],
        ),
    ]


def render(kube_version: str, kwok_version: str) -> str:
    """The kwok ``--config`` file content."""
    return "".join(
        "---\n" + json.dumps(doc, indent=2) + "\n" for doc in stages(kube_version, kwok_version)
    )
