#!/usr/bin/env bash
# Installs the programs breakerwatch's tests run for real: promtool and
# Prometheus, Alertmanager and amtool, and docker-compose (only to validate the
# compose file; no engine is needed), as Debian packages (root or sudo
# required); and Prometheus 3 (for its OTLP receiver), built from the Go
# module proxy into ${XDG_CACHE_HOME:-$HOME/.cache}/breakerwatch/bin.
# Does nothing when everything is already installed.
set -euo pipefail

# Prometheus 3, pinned: the Go module version of a Prometheus 3 release.
PROMETHEUS3_VERSION=v0.316.0

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)

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

# The e2e test TestOTLPPushToPrometheus3 finds it here (or at
# $BREAKERWATCH_PROMETHEUS3). The build takes about 10 minutes on 2 cores;
# the cache keeps it for the next run.
bin="${XDG_CACHE_HOME:-$HOME/.cache}/breakerwatch/bin"
prom3="$bin/prometheus-$PROMETHEUS3_VERSION"
if [ ! -x "$prom3" ]; then
  echo "install-deps: building Prometheus 3 ($PROMETHEUS3_VERSION) into $bin; about 10 minutes" >&2
  mkdir -p "$bin"
  tmp="$(mktemp -d "$bin/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # Outside the module, so that breakerwatch's go.mod plays no part.
  (cd "$tmp" && GOBIN="$tmp" go install "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS3_VERSION")
  mv "$tmp/prometheus" "$prom3"
fi
