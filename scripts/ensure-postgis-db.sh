#!/usr/bin/env bash
# Create the database named in $1 (a postgresql:// URL) if missing, with PostGIS enabled.
set -euo pipefail
url="$1"
db="${url##*/}"; db="${db%%\?*}"
server="${url%/*}/postgres"
if ! psql "$server" -tAc "select 1 from pg_database where datname='$db'" | grep -q 1; then
  psql "$server" -qc "create database \"$db\""
fi
psql "$url" -qc "create extension if not exists postgis" >/dev/null
