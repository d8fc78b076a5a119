#!/bin/sh
# The nginx lookalike's entrypoint, written for localcluster after the behaviour of the
# official image's: when starting nginx, run the executable *.sh in /docker-entrypoint.d/
# (in order), then exec nginx as root; nginx's own `user nginx;` drops the workers.
set -e

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
	for f in /docker-entrypoint.d/*.sh; do
		[ -e "$f" ] || continue
		if [ -x "$f" ]; then
			echo "$0: launching $f"
			"$f"
		else
			echo "$0: ignoring $f, not executable"
		fi
	done
	echo "$0: configuration complete; ready for start up"
fi

exec "$@"
