#!/bin/sh
# The redis lookalike's entrypoint, written for localcluster after the behaviour of the
# official image's: as root, make the data directory (the working directory, /data) the
# redis user's and re-run as that user (gosu). Upstream's binary is built with
# protected-mode off; Debian's is not, so it is turned off here unless a config file says.
set -e

# `redis-server` implied when the first argument is an option or a config file.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi

if [ "$1" = redis-server ]; then
	case "${2:-}" in
		"" | -*) shift; set -- redis-server --protected-mode no "$@" ;;
	esac
	if [ "$(umask)" = 0022 ]; then
		umask 0077
	fi
fi

exec "$@"
