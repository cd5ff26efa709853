// Package version says which breakerwatch this is.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version, when set at link time, is the version reported:
//
//	go build -ldflags "-X github.com/breakerwatch/breakerwatch/internal/version.Version=v1.2.3" ./cmd/breakerwatch
//
// When empty, String derives it from the build information.
var Version = ""

// String returns Version, or else the module version recorded by the Go
// toolchain (set by `go install module@version`), or else "devel" with the
// VCS revision when the build recorded one (devel+abc123def456, +dirty for
// uncommitted changes).
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return "devel+" + rev + dirty
}

// Info is what breakerwatch_build_info and the OTLP resource report.
type Info struct {
	// Version is String().
	Version string
	// Revision is the full VCS revision the binary was built from, with
	// "-dirty" for uncommitted changes; "unknown" when the build recorded
	// none (go test, go run of a single package outside a checkout).
	Revision string
	// GoVersion is the Go toolchain that built the binary (runtime.Version).
	GoVersion string
}

// Get returns the running binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return infoFrom(String(), bi, runtime.Version())
}

func infoFrom(v string, bi *debug.BuildInfo, goVersion string) Info {
	in := Info{Version: v, Revision: "unknown", GoVersion: goVersion}
	if bi == nil {
		return in
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && in.Revision != "unknown" {
		in.Revision += "-dirty"
	}
	return in
}
