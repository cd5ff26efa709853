package config

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// parseAllocated parses data and returns its error and the bytes the parse
// allocated (runtime.MemStats.TotalAlloc: deterministic for a given input,
// unlike timings).
func parseAllocated(t *testing.T, data string) (error, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Parse("c.yaml", []byte(data), nil)
	runtime.ReadMemStats(&after)
	return err, after.TotalAlloc - before.TotalAlloc
}

// checkBounded checks that err lists MaxProblems problems, the first of
// them firstWant, then one that counts the omitted ones, and that the parse
// allocated under 64 MiB.
func checkBounded(t *testing.T, err error, allocated uint64, firstWant string, omitted int) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want an *Error", err)
	}
	if got := len(ce.Problems); got != MaxProblems+1 {
		t.Fatalf("%d problems, want %d and a count of the rest", got, MaxProblems+1)
	}
	if got := ce.Problems[0].String(); got != firstWant {
		t.Errorf("first problem %q, want %q", got, firstWant)
	}
	last := ce.Problems[MaxProblems].String()
	if want := fmt.Sprintf("c.yaml: %d more problems not listed (only the first %d found are)", omitted, MaxProblems); last != want {
		t.Errorf("last problem %q, want %q", last, want)
	}
	const limit = 64 << 20
	if allocated > limit {
		t.Errorf("parsing allocated %d MiB, want under %d MiB", allocated>>20, limit>>20)
	}
	t.Logf("allocated %.1f MiB", float64(allocated)/(1<<20))
}

// Regression: 2,000 routes with one prefix made validation report each
// against every earlier one (two million problems, 716 MB).
func TestManyDuplicateRoutesAreBounded(t *testing.T) {
	const n = 2000
	var b strings.Builder
	b.WriteString("breakers: {a: {}}\nroutes:\n")
	for range n {
		b.WriteString("  - {prefix: /dup/, upstream: 'http://x', breaker: a}\n")
	}
	err, allocated := parseAllocated(t, b.String())
	checkBounded(t, err, allocated, `c.yaml:4: routes[1].prefix: "/dup/" is also the prefix of routes[0] (line 3)`, n-1-MaxProblems)
}

// Regression: 3,000 YAML aliases of one route exhausted memory.
func TestManyAliasesOfARouteAreBounded(t *testing.T) {
	const n = 3000
	var b strings.Builder
	b.WriteString("breakers: {a: {}}\nroutes:\n  - &r {prefix: /dup/, upstream: 'http://x', breaker: a}\n")
	for range n {
		b.WriteString("  - *r\n")
	}
	err, allocated := parseAllocated(t, b.String())
	checkBounded(t, err, allocated, `c.yaml:3: routes[1].prefix: "/dup/" is also the prefix of routes[0] (line 3)`, n-MaxProblems)
}

func TestPrefixIndex(t *testing.T) {
	tests := map[string]struct {
		earlier []string
		prefix  string
		want    string // the earlier prefix reported, "" for none
	}{
		"contains one of two": {[]string{"/a/", "/b/c/"}, "/b/", "/b/c/"},
		"disjoint":            {[]string{"/a/", "/ab/"}, "/abc/", ""},
		"same":                {[]string{"/x/", "/a/"}, "/a/", "/a/"},
		"inside an earlier":   {[]string{"/a/"}, "/a/b/c/", "/a/"},
		"contains an earlier": {[]string{"/a/b/c/", "/a/b/d/"}, "/a/", "/a/b/c/"},
		"sibling":             {[]string{"/a/b/"}, "/a/c/", ""},
		"deeper sibling":      {[]string{"/a/b/c/"}, "/a/b/d/", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var x prefixIndex
			for i, p := range tt.earlier {
				x.add(p, fmt.Sprintf("routes[%d]", i))
			}
			got, ok := x.conflict(tt.prefix)
			if !ok {
				got.prefix = ""
			}
			if got.prefix != tt.want {
				t.Errorf("conflict(%q) = %q, want %q", tt.prefix, got.prefix, tt.want)
			}
		})
	}
}
