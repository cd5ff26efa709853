#!/usr/bin/env bash
# Installs the programs breakerwatch's tests and checks run for real:
#   - Debian packages: promtool and Prometheus, Alertmanager and amtool, and
#     docker-compose (only to validate the compose file; no engine is needed).
#     Root or sudo required.
#   - Go tools from the module proxy at pinned versions (staticcheck), built
#     into ${XDG_CACHE_HOME:-$HOME/.cache}/breakerwatch/bin so that a second
#     run does not rebuild them. The Makefile runs them from there.
# Does nothing when everything is already installed.
set -euo pipefail

# --- Debian packages --------------------------------------------------------
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
