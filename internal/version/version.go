// Package version says which breakerwatch this is.
package version

import (
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
