#!/bin/sh
# What the official postgres image's entrypoint does with the settings the dfs stack uses: on an empty $PGDATA,
# initdb with POSTGRES_USER and the password in POSTGRES_PASSWORD_FILE, create POSTGRES_DB, accept password logins
# (scram-sha-256) from the network; then run the server as the postgres user.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
mkdir -p "$PGDATA"
chown postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password=$(mktemp)
    cat "$POSTGRES_PASSWORD_FILE" > "$password"
    chown postgres "$password"
    runuser -u postgres -- initdb --pgdata "$PGDATA" --username "$POSTGRES_USER" --pwfile "$password" \
        --auth-local trust --auth-host scram-sha-256 --encoding UTF8 --locale C.UTF-8 >/dev/null
    rm -f "$password"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    runuser -u postgres -- postgres --single -D "$PGDATA" -c listen_addresses='' postgres \
        <<SQL >/dev/null
CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER";
SQL
fi
exec runuser -u postgres -- "$@" -D "$PGDATA" -c listen_addresses='*'
