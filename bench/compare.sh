#!/usr/bin/env bash
# compare.sh OLDREV [NEWREV]: benchmarks of two commits, interleaved.
#
# Builds the bench module's test binary at OLDREV and at NEWREV (default: the
# working tree as it is, uncommitted changes included), then runs them in
# turns, ROUNDS times, the order alternating per round, so that a burst of
# load from elsewhere on the machine lands on both. Prints benchstat's table
# (medians, 95% confidence intervals, p-values) and, per benchmark, the
# median and range of the per-round ratios NEW/OLD of ns/op.
#
# Environment:
#   BENCH      benchmark regexp (default: the breakerwatch contenders of
#              BenchmarkExecute that both commits have)
#   ROUNDS     rounds (default 10)
#   BENCHTIME  -test.benchtime of each run (default 300ms)
#   PKG        bench (default: the bench module) or breaker (the in-package
#              benchmarks of breaker/)
#   BASE       a benchmark name (e.g. BenchmarkExecute/breakerwatch-enforce):
#              also print, for each version, every benchmark's per-round
#              ratio to BASE's run in the same round (one process in the
#              wall-time pass, the same round in the CPU pass)
#   OUT        directory for the binaries and raw output
#              (default ${TMPDIR:-/tmp}/breakerwatch-compare)
#   CPU_N      if set, a second pass measures CPU time instead of wall time:
#              each benchmark of the first pass runs alone for exactly
#              CPU_N iterations (-test.benchtime CPU_Nx), in turns, ROUNDS
#              times; the process's user+system CPU time, less that of a run
#              of the same binary that benchmarks nothing, divided by CPU_N
#              is its cpu-ns/op. Time spent waiting for a core does not
#              count, so this is far steadier than ns/op on a loaded
#              machine; work on other goroutines (a metric reader's
#              collections, the GC) does count.
#
# Example (about 2 minutes): bench/compare.sh 405f3bc
#   ROUNDS=20 BENCH='BenchmarkExecute$/breakerwatch-enforce(\+otlp)?$' bench/compare.sh HEAD
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || $1 == -* ]]; then
	echo "usage: $0 OLDREV [NEWREV]   (NEWREV defaults to the working tree)" >&2
	exit 2
fi
old=$1
new=${2:-}
BENCH=${BENCH:-'BenchmarkExecute$/breakerwatch-(enforce|monitor|disabled)$'}
ROUNDS=${ROUNDS:-10}
BENCHTIME=${BENCHTIME:-300ms}
PKG=${PKG:-bench}
OUT=${OUT:-${TMPDIR:-/tmp}/breakerwatch-compare}
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da

case $PKG in
bench) pkgdir=bench pkg=. ;;
breaker) pkgdir=. pkg=./breaker ;;
*)
	echo "PKG must be bench or breaker, not '$PKG'" >&2
	exit 2
	;;
esac
if ! [[ $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
	echo "ROUNDS must be a positive integer, not '$ROUNDS'" >&2
	exit 2
fi

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
mkdir -p "$OUT"

# build REV NAME: the test binary of REV ("" = the working tree) at $OUT/NAME.test.
build() {
	local rev=$1 name=$2 src
	if [[ -z $rev ]]; then
		src=$root
	else
		local sha
		sha=$(git -C "$root" rev-parse --verify --quiet "$rev^{commit}") || {
			echo "$rev: not a commit" >&2
			exit 2
		}
		src=$OUT/src-$sha
		if [[ ! -d $src ]]; then
			mkdir -p "$src.tmp"
			git -C "$root" archive "$sha" | tar -x -C "$src.tmp"
			mv "$src.tmp" "$src"
		fi
	fi
	(cd "$src/$pkgdir" && go test -c -o "$OUT/$name.test" "$pkg")
	if [[ -z $rev ]]; then
		echo "built $OUT/$name.test from the working tree (HEAD $(git -C "$root" rev-parse --short HEAD) and any uncommitted changes)" >&2
	else
		echo "built $OUT/$name.test from $rev ($(git -C "$root" rev-parse --short "$rev"))" >&2
	fi
}

build "$old" old
build "$new" new

: >"$OUT/old.txt"
: >"$OUT/new.txt"
run() { "$OUT/$1.test" -test.run '^$' -test.bench "$BENCH" -test.benchmem -test.benchtime "$BENCHTIME" 2>/dev/null | grep '^Benchmark' | tee -a "$OUT/$1.txt" | sed "s/^/$1 /"; }
for i in $(seq 1 "$ROUNDS"); do
	echo "round $i/$ROUNDS (load: $(cut -d' ' -f1 /proc/loadavg))" >&2
	if ((i % 2)); then run old; run new; else run new; run old; fi
done >"$OUT/rounds.txt"

if command -v benchstat >/dev/null; then
	benchstat "$OUT/old.txt" "$OUT/new.txt"
else
	go run "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION" "$OUT/old.txt" "$OUT/new.txt"
fi

# Per-round ratios: the k-th run of a benchmark in new.txt over the k-th in old.txt.
echo
echo "per-round ratio new/old of ns/op: median (min-max) over $ROUNDS rounds"
awk '
	FNR == 1 { file++ }
	/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name); n = ++seen[file, name]; ns[file, name, n] = $3; names[name] = 1 }
	END {
		for (name in names) {
			m = 0
			for (k = 1; (1, name, k) in ns && (2, name, k) in ns; k++) r[++m] = ns[2, name, k] / ns[1, name, k]
			if (m == 0) { printf "%-60s not in both\n", name; continue }
			for (i = 2; i <= m; i++) { v = r[i]; for (j = i - 1; j >= 1 && r[j] > v; j--) r[j + 1] = r[j]; r[j + 1] = v }
			med = (m % 2) ? r[(m + 1) / 2] : (r[m / 2] + r[m / 2 + 1]) / 2
			printf "%-60s %.3f (%.3f-%.3f)\n", name, med, r[1], r[m]
		}
	}' "$OUT/old.txt" "$OUT/new.txt" | sort
echo "raw output: $OUT/old.txt $OUT/new.txt $OUT/rounds.txt" >&2

# baseratios: reads "version name round value" lines; prints, per version
# and benchmark, the median (min-max) over rounds of value / BASE's value.
baseratios() {
	awk -v base="$BASE" '
		{ v[$1, $2, $3] = $4; names[$2] = 1; vers[$1] = 1; if ($3 > rounds) rounds = $3 }
		END {
			for (ver in vers) for (name in names) {
				if (name == base) continue
				m = 0
				for (k = 1; k <= rounds; k++) if ((ver, name, k) in v && (ver, base, k) in v) r[++m] = v[ver, name, k] / v[ver, base, k]
				if (m == 0) continue
				for (i = 2; i <= m; i++) { x = r[i]; for (j = i - 1; j >= 1 && r[j] > x; j--) r[j + 1] = r[j]; r[j + 1] = x }
				med = (m % 2) ? r[(m + 1) / 2] : (r[m / 2] + r[m / 2 + 1]) / 2
				printf "%-4s %-55s %.3f (%.3f-%.3f) n=%d\n", ver, name, med, r[1], r[m], m
			}
		}' | sort
}
if [[ -n ${BASE:-} ]]; then
	echo
	echo "per-round ratio to $BASE of ns/op: median (min-max)"
	for v in old new; do
		awk -v ver="$v" '/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name); print ver, name, ++k[name], $3 }' "$OUT/$v.txt"
	done | baseratios
fi

[[ -n ${CPU_N:-} ]] || exit 0
if ! [[ $CPU_N =~ ^[1-9][0-9]*$ ]]; then
	echo "CPU_N must be a positive integer, not '$CPU_N'" >&2
	exit 2
fi
# cpu BIN REGEX: user+system seconds of one run of BIN benchmarking REGEX.
cpu() {
	local TIMEFORMAT='%3U %3S' t
	t=$({ time "$1" -test.run '^$' -test.bench "$2" -test.benchtime "${CPU_N}x" >/dev/null 2>&1; } 2>&1)
	awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%.3f", a[1] + a[2] }'
}
# The benchmarks both binaries ran, as anchored regexps: Top$/^sub$.
mapfile -t names < <(grep -h '^Benchmark' "$OUT/old.txt" "$OUT/new.txt" | awk '{ sub(/-[0-9]+$/, "", $1); print $1 }' | sort | uniq -d)
: >"$OUT/cpu.txt"
for i in $(seq 1 "$ROUNDS"); do
	echo "cpu round $i/$ROUNDS (load: $(cut -d' ' -f1 /proc/loadavg))" >&2
	if ((i % 2)); then order="old new"; else order="new old"; fi
	for v in $order; do
		idle=$(cpu "$OUT/$v.test" '^$')
		for name in "${names[@]}"; do
			re=$(sed -e 's/[][\.+*?(){}|^$]/\\&/g' -e 's|/|$/^|' -e 's/$/$/' <<<"$name")
			[[ $re == *'$/^'* ]] || re="^$re"
			echo "$v $name $idle $(cpu "$OUT/$v.test" "$re")" >>"$OUT/cpu.txt"
		done
	done
done
echo
echo "cpu-ns/op ($CPU_N iterations per run, less a run that benchmarks nothing), median over $ROUNDS rounds; per-round ratio new/old: median (min-max)"
awk -v n="$CPU_N" '
	function med(a, m,    i, j, v) {
		for (i = 2; i <= m; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
		return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	{ k = ++cnt[$1, $2]; c[$1, $2, k] = ($4 - $3) / n * 1e9; names[$2] = 1 }
	END {
		for (name in names) {
			m = cnt["old", name]; if (cnt["new", name] < m) m = cnt["new", name]
			delete o; delete w; delete r
			for (k = 1; k <= m; k++) { o[k] = c["old", name, k]; w[k] = c["new", name, k]; r[k] = w[k] / o[k] }
			mo = med(o, m); mw = med(w, m); mr = med(r, m)
			printf "%-55s old %8.1f  new %8.1f  ratio %.3f (%.3f-%.3f)\n", name, mo, mw, mr, r[1], r[m]
		}
	}' "$OUT/cpu.txt" | sort
echo "raw CPU output (version, benchmark, idle-run seconds, run seconds): $OUT/cpu.txt" >&2
if [[ -n ${BASE:-} ]]; then
	echo
	echo "per-round ratio to $BASE of cpu-ns/op: median (min-max)"
	awk -v n="$CPU_N" '{ print $1, $2, ++k[$1, $2], ($4 - $3) / n }' "$OUT/cpu.txt" | baseratios
fi
