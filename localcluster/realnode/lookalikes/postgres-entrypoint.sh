#!/usr/bin/env bash
# The postgres lookalike's entrypoint, written for localcluster after the behaviour of the
# official image's: as root, make PGDATA the postgres user's and re-run as that user (gosu);
# on first start (no PG_VERSION) initdb with POSTGRES_USER/POSTGRES_PASSWORD (or *_FILE),
# scram-sha-256 for every host, create POSTGRES_DB, run /docker-entrypoint-initdb.d/*
# (.sh, .sql, .sql.gz) on a server that listens on its socket only; then exec postgres.
set -Eeo pipefail

# VAR from $VAR or from the file $VAR_FILE names, else a default.
file_env() {
	local var="$1" file="${1}_FILE" value="${2:-}"
	if [ -n "${!var:-}" ] && [ -n "${!file:-}" ]; then
		echo >&2 "error: both $var and $file are set (they are exclusive)"
		exit 1
	fi
	if [ -n "${!var:-}" ]; then
		value="${!var}"
	elif [ -n "${!file:-}" ]; then
		value="$(< "${!file}")"
	fi
	export "$var"="$value"
	unset "$file"
}

# initdb needs the current uid in the passwd file: borrow one (libnss-wrapper) when it is not.
nss_wrap() {
	if ! getent passwd "$(id -u)" > /dev/null; then
		NSS_WRAPPER_PASSWD="$(mktemp)"
		NSS_WRAPPER_GROUP="$(mktemp)"
		echo "postgres:x:$(id -u):$(id -g):PostgreSQL:$PGDATA:/bin/false" > "$NSS_WRAPPER_PASSWD"
		echo "postgres:x:$(id -g):" > "$NSS_WRAPPER_GROUP"
		export LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
	fi
}

psql_init() {
	psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "$@"
}

run_init_files() {
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) echo "$0: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
			*.sql) echo "$0: running $f"; psql_init -f "$f" ;;
			*.sql.gz) echo "$0: running $f"; gunzip -c "$f" | psql_init ;;
			*) if [ -e "$f" ]; then echo "$0: ignoring $f"; fi ;;
		esac
	done
}

init_database() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	local auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
		cat >&2 <<-'EOM'
		Error: Database is uninitialized and superuser password is not specified.
		       You must specify POSTGRES_PASSWORD to a non-empty value for the
		       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
		       (or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one)
		EOM
		exit 1
	fi
	nss_wrap
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS are words, as upstream reads them
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		$POSTGRES_INITDB_ARGS
	printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
	PGUSER="$POSTGRES_USER" PGPASSWORD="$POSTGRES_PASSWORD" \
		pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
	export PGPASSWORD="$POSTGRES_PASSWORD"
	if [ "$POSTGRES_DB" != postgres ]; then
		POSTGRES_DB=postgres psql_init --set db="$POSTGRES_DB" <<-'EOSQL'
			CREATE DATABASE :"db" ;
		EOSQL
	fi
	run_init_files
	pg_ctl -D "$PGDATA" -m fast -w stop
	unset PGPASSWORD
	echo
	echo 'PostgreSQL init process complete; ready for start up.'
	echo
}

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" || :
	find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
	mkdir -p /var/run/postgresql
	chmod 03775 /var/run/postgresql || :
	find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
	exec gosu postgres "$BASH_SOURCE" "$@"
fi

if [ "$1" = postgres ]; then
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" 2> /dev/null || :
	if [ -s "$PGDATA/PG_VERSION" ]; then
		echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
	else
		init_database
	fi
	nss_wrap
fi

exec "$@"
