#!/usr/bin/env bash
# Installs the programs breakerwatch's tests run for real: promtool and
# Prometheus, Alertmanager and amtool, redis-server (the fleet's tests start
# one per test on a loopback port), docker-compose (only to validate the
# compose file; no engine is needed) and Chromium (the status page's browser
# tests drive it headless), from Debian packages (root or sudo required); and
# the npm packages of the dashboard schema check (dashboards/schemacheck:
# @grafana/schema and TypeScript, the versions its package-lock.json pins),
# into the user's cache, keyed by the lock file's hash, so that a second run
# installs nothing.
# Does nothing when everything is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)

if [ ${#need[@]} -gt 0 ]; then
  # shellcheck disable=SC2207
  need=($(printf '%s\n' "${need[@]}" | sort -u))
  echo "install-deps: installing ${need[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The dashboard schema check's npm packages (dashboards/schema_test.go looks
# for them here).
schema=dashboards/schemacheck
sum=$(sha256sum "$schema/package-lock.json" | cut -c1-16)
dest="${XDG_CACHE_HOME:-$HOME/.cache}/breakerwatch/schemacheck-$sum"
if [ ! -f "$dest/node_modules/typescript/bin/tsc" ]; then
  echo "install-deps: installing the npm packages of $schema into $dest" >&2
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cp "$schema/package.json" "$schema/package-lock.json" "$tmp/"
  (cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  rm -rf "$dest"
  mv "$tmp" "$dest"
fi
