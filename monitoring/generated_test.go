package monitoring

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated files under the repository root")

// repoRoot is the repository root, relative to this package's directory
// (go test runs in it).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// TestGenerated fails when the checked-in dashboard or rules differ from the
// generator's output. Rewrite them with
//
//	go test ./monitoring -run TestGenerated -update
//
// or `breakerwatch generate`.
func TestGenerated(t *testing.T) {
	root := repoRoot(t)
	if *update {
		if err := WriteFiles(root, DefaultParams()); err != nil {
			t.Fatal(err)
		}
	}
	dash, err := DashboardJSON(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	rules, err := RulesYAML(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		want []byte
	}{{DashboardPath, dash}, {RulesPath, rules}} {
		t.Run(filepath.Base(f.path), func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.path)))
			if err != nil {
				t.Fatalf("%v (generate it: go test ./monitoring -run TestGenerated -update)", err)
			}
			if !bytes.Equal(got, f.want) {
				t.Errorf("%s differs from the generator's output: regenerate it with `go test ./monitoring -run TestGenerated -update` "+
					"or `breakerwatch generate`, and commit it.\n%s", f.path, firstDiff(got, f.want))
			}
		})
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	gl := bytes.Split(got, []byte("\n"))
	wl := bytes.Split(want, []byte("\n"))
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w []byte
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if !bytes.Equal(g, w) {
			return fmt.Sprintf("line %d:", i+1) + "\n  checked in: " + string(g) + "\n  generated:  " + string(w)
		}
	}
	return "(no line differs)"
}
