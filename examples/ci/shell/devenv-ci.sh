#!/usr/bin/env bash
# Run a command against a fresh DevEnvironment, from any CI system (or a laptop):
#
#   devenv-ci.sh [kubectl devenv create flags...] -- COMMAND [ARGS...]
#   devenv-ci.sh --template shop --set apiImage=registry.example.com/shop/api:pr-42 \
#       --ttl 2h -- make integration-test
#
# 1. creates the environment (no NAME: one derived from the CI's variables, unique per
#    repository and pull/merge request) and waits until it is Ready; a bad image or a
#    crash loop ends the wait early with the reason;
# 2. runs COMMAND with DEVENV_NAME, DEVENV_NAMESPACE and DEVENV_ENDPOINTS (JSON) set;
# 3. on any failure keeps a diagnostics bundle in $DEVENV_DIAGNOSTICS_DIR (default
#    devenv-diagnostics/NAME): the object, conditions, Events, pods and logs;
# 4. deletes the environment unless DEVENV_KEEP=true (its TTL removes it in any case).
#
# Exit code: COMMAND's, or the wait's (1 Failed, 2 timed out, 3 deleted), or 4 for
# usage and connection errors. Settings: DEVENV_TIMEOUT (10m), DEVENV_KEEP (false),
# DEVENV_SUMMARY (a file to append a Markdown report to), DEVENV_DIAGNOSTICS_DIR.
set -uo pipefail

create_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  create_args+=("$1")
  shift
done
if [ $# -eq 0 ]; then
  echo "usage: $0 [kubectl devenv create flags...] -- COMMAND [ARGS...]" >&2
  exit 4
fi
shift  # the --

timeout="${DEVENV_TIMEOUT:-10m}"
keep="${DEVENV_KEEP:-false}"
summary_args=()
if [ -n "${DEVENV_SUMMARY:-}" ]; then
  summary_args=(--summary "$DEVENV_SUMMARY")
fi
cli=(kubectl devenv)
if ! command -v kubectl >/dev/null 2>&1; then
  cli=(kubectl-devenv)  # the plugin runs on its own too
fi

result="$(mktemp)"
trap 'rm -f "$result"' EXIT
"${cli[@]}" create "${create_args[@]}" --wait --timeout "$timeout" "${summary_args[@]}" \
  -o json >"$result"
rc=$?
field() {
  python3 -c 'import json, sys
try:
    value = json.load(open(sys.argv[1])).get(sys.argv[2])
except ValueError:
    value = None
print("" if value is None else value if isinstance(value, str) else json.dumps(value))' \
    "$result" "$1"
}
name="$(field name)"
if [ -z "$name" ]; then
  echo "devenv-ci: the environment was not created (exit $rc)" >&2
  exit "$rc"
fi
export DEVENV_NAME="$name"
DEVENV_NAMESPACE="$(field namespace)"
DEVENV_ENDPOINTS="$(field endpoints)"
export DEVENV_NAMESPACE DEVENV_ENDPOINTS

if [ "$rc" -eq 0 ]; then
  echo "devenv-ci: $name is Ready in namespace $DEVENV_NAMESPACE; running: $*" >&2
  "$@"
  rc=$?
fi

if [ "$rc" -ne 0 ]; then
  dir="${DEVENV_DIAGNOSTICS_DIR:-devenv-diagnostics/$name}"
  echo "devenv-ci: failed (exit $rc); keeping diagnostics in $dir" >&2
  "${cli[@]}" diagnose "$name" -o "$dir" >&2 || true
fi

if [ "$keep" = "true" ]; then
  echo "devenv-ci: keeping $name (DEVENV_KEEP=true); it expires by its TTL" >&2
else
  "${cli[@]}" delete "$name" >&2 || echo "devenv-ci: could not delete $name" >&2
fi
exit "$rc"
