package testutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the repository root: the nearest directory above the
// test's working directory (its package directory) that holds a go.mod and
// a .git, so that a nested module's tests find the root too.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		_, errMod := os.Stat(filepath.Join(d, "go.mod"))
		_, errGit := os.Stat(filepath.Join(d, ".git"))
		if errMod == nil && errGit == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no repository root (go.mod and .git) above %s", dir)
		}
	}
}

// Generated is a file a generator writes under the repository root.
type Generated struct {
	Path string // slash-separated, relative to the repository root
	Want []byte // what the generator writes
}

// CheckGenerated fails the test when a checked-in file differs from the
// generator's output, naming the first differing line; with update it
// rewrites the files first. regenerate says how to rewrite them.
func CheckGenerated(t *testing.T, root string, update bool, regenerate string, files ...Generated) {
	t.Helper()
	for _, f := range files {
		path := filepath.Join(root, filepath.FromSlash(f.Path))
		if update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f.Want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(filepath.Base(f.Path), func(t *testing.T) {
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (%s)", err, regenerate)
			}
			if !bytes.Equal(got, f.Want) {
				t.Errorf("%s differs from the generator's output: %s, and commit it.\n%s", f.Path, regenerate, FirstDiff(got, f.Want))
			}
		})
	}
}

// FirstDiff describes the first line where got and want differ.
func FirstDiff(got, want []byte) string {
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
