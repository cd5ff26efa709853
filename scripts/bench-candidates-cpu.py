# CPU time per op: each variant runs a fixed number of iterations; the
# children's user+system CPU time (getrusage) divided by the iterations is
# far less sensitive to time spent descheduled on an oversubscribed VM than
# ns/op (wall clock). Variants take turns, order alternating per round.
#
# Usage (docs/benchmarks.md#candidates), from the repository root:
#   python3 scripts/bench-candidates-cpu.py BASE.test BRANCH.test ROUNDS
# where BASE.test and BRANCH.test are `go test -c ./breaker/` binaries of
# the code before and after; BRANCH.test must have BenchmarkExecuteCandidates.
import resource, subprocess, statistics, sys, os
N = 2_000_000
BIN = {"base": sys.argv[1], "branch": sys.argv[2]}
CWD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "breaker")
subs = ["enforce", "monitor", "disabled"]
res = {(v, s): [] for v in ("base", "branch") for s in subs}
cand = {"none": [], "three": []}
def cpu(args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=CWD)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
for r in range(int(sys.argv[3])):
    for s in subs:
        order = ["base", "branch"] if r % 2 == 0 else ["branch", "base"]
        for v in order:
            t = cpu([BIN[v], "-test.run", "^$", "-test.bench", f"BenchmarkExecute$/^{s}$", "-test.benchtime", f"{N}x"])
            res[(v, s)].append(t / N * 1e9)
    for c in ("none", "three"):
        n = N if c == "none" else N // 4
        t = cpu([BIN["branch"], "-test.run", "^$", "-test.bench", f"BenchmarkExecuteCandidates$/^{c}$", "-test.benchtime", f"{n}x"])
        cand[c].append(t / n * 1e9)
    print("round", r, flush=True)
for s in subs:
    b, br = res[("base", s)], res[("branch", s)]
    ratios = sorted(y / x for x, y in zip(b, br))
    print(f"{s}: main {statistics.median(b):.1f} CPU-ns/op, branch {statistics.median(br):.1f} CPU-ns/op, ratio of medians {statistics.median(br)/statistics.median(b):.3f}, per-round ratios median {statistics.median(ratios):.3f} range {ratios[0]:.3f}-{ratios[-1]:.3f} (n={len(ratios)})")
d = sorted(t - n for n, t in zip(cand["none"], cand["three"]))
print(f"candidates none {statistics.median(cand['none']):.1f}, three {statistics.median(cand['three']):.1f} CPU-ns/op; per-round difference median {statistics.median(d):.1f} range {d[0]:.1f}-{d[-1]:.1f}")
