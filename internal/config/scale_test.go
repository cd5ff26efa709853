package config

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// parseAllocated parses data and returns the bytes the parse
// allocated and its error (runtime.MemStats.TotalAlloc: deterministic for a given input,
// unlike timings).
func parseAllocated(t *testing.T, data string) (uint64, error) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Parse("c.yaml", []byte(data), nil)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
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

// Regressions: 2,000 routes with one prefix made validation report each
// against every earlier one (two million problems, 716 MB); 3,000 YAML
// aliases of one route exhausted memory.
func TestPathologicalConfigsAreBounded(t *testing.T) {
	const route = "{prefix: /dup/, upstream: 'http://x', breaker: a}"
	tests := map[string]struct {
		head, item string
		n          int
		first      string
		omitted    int
	}{
		"2000 duplicated routes": {"", "  - " + route + "\n", 2000,
			`c.yaml:4: routes[1].prefix: "/dup/" is also the prefix of routes[0] (line 3)`, 2000 - 1 - MaxProblems},
		"3000 aliases of one route": {"  - &r " + route + "\n", "  - *r\n", 3000,
			`c.yaml:3: routes[1].prefix: "/dup/" is also the prefix of routes[0] (line 3)`, 3000 - MaxProblems},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			data := "breakers: {a: {}}\nroutes:\n" + tt.head + strings.Repeat(tt.item, tt.n)
			allocated, err := parseAllocated(t, data)
			checkBounded(t, err, allocated, tt.first, tt.omitted)
		})
	}
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
