#!/usr/bin/env bash
# Installs the programs breakerwatch's tests and checks run for real:
#   - Debian packages: promtool and Prometheus, Alertmanager and amtool,
#     redis-server (the fleet's tests start one per test on a loopback port),
#     docker-compose (only to validate the compose file; no engine is needed)
#     Chromium (the status page's browser tests drive it headless), nginx and
#     wrk (the gateway benchmark starts nginx itself, never as a service).
#     Root or sudo required.
#   - npm packages of the dashboard schema check (dashboards/schemacheck:
#     @grafana/schema and TypeScript, the versions its package-lock.json
#     pins), into the user's cache, keyed by the lock file's hash.
#   - Go tools from the module proxy at pinned versions (staticcheck), built
#     into ${XDG_CACHE_HOME:-$HOME/.cache}/breakerwatch/bin so that a second
#     run does not rebuild them. The Makefile runs them from there.
#   - Prometheus 3 (for its OTLP receiver), built from the Go module proxy
#     into the same directory (about 10 minutes on 2 cores, once).
# Does nothing when everything is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Prometheus 3, pinned: the Go module version of a Prometheus 3 release.
PROMETHEUS3_VERSION=v0.316.0

# --- Debian packages --------------------------------------------------------
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)

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

# --- Go tools ---------------------------------------------------------------
bindir="${XDG_CACHE_HOME:-$HOME/.cache}/breakerwatch/bin"
mkdir -p "$bindir"

# go_tool NAME PACKAGE VERSION builds PACKAGE@VERSION into $bindir/NAME unless
# that exact version is already there (a NAME.version stamp records it).
go_tool() {
  local name=$1 want="$2@$3" stamp="$bindir/$1.version"
  if [ -x "$bindir/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "install-deps: go install $want" >&2
  GOBIN="$bindir" go install "$want"
  echo "$want" >"$stamp"
}

go_tool staticcheck honnef.co/go/tools/cmd/staticcheck v0.8.2


# The e2e test TestOTLPPushToPrometheus3 finds it here (or at
# $BREAKERWATCH_PROMETHEUS3). The build takes about 10 minutes on 2 cores;
# the cache keeps it for the next run.
prom3="$bindir/prometheus-$PROMETHEUS3_VERSION"
if [ ! -x "$prom3" ]; then
  echo "install-deps: building Prometheus 3 ($PROMETHEUS3_VERSION) into $bindir; about 10 minutes" >&2
  mkdir -p "$bindir"
  tmp="$(mktemp -d "$bindir/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # Outside the module, so that breakerwatch's go.mod plays no part.
  (cd "$tmp" && GOBIN="$tmp" go install "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS3_VERSION")
  mv "$tmp/prometheus" "$prom3"
fi
