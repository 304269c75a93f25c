#!/usr/bin/env bash
# Make sure SpatiaLite's loadable module exists; install it when we are root.
set -euo pipefail
for candidate in /usr/lib/*/mod_spatialite.so /usr/lib/mod_spatialite.so /usr/local/lib/mod_spatialite.so; do
  [ -e "$candidate" ] && exit 0
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing libsqlite3-mod-spatialite ..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsqlite3-mod-spatialite >/dev/null
  exit 0
fi
echo "SpatiaLite is missing: run 'sudo apt-get install libsqlite3-mod-spatialite' (or set SPATIALITE_LIBRARY_PATH)." >&2
exit 1
