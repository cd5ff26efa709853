package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := map[string]struct {
		bi   debug.BuildInfo
		want string
	}{
		"go install at a tag": {debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		"pseudo-version":      {debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101000000-abcdef123456"}}, "v0.0.0-20260101000000-abcdef123456"},
		"local, no VCS":       {debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		"local, VCS": {debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}, "devel+0123456789ab+dirty"},
	}
	for name, tt := range tests {
		if got := fromBuildInfo(&tt.bi); got != tt.want {
			t.Errorf("%s: %q, want %q", name, got, tt.want)
		}
	}
}

func TestLinkTimeVersionWins(t *testing.T) {
	old := Version
	defer func() { Version = old }()
	Version = "v9.9.9"
	if got := String(); got != "v9.9.9" {
		t.Errorf("String() = %q", got)
	}
}

func TestInfo(t *testing.T) {
	bi := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"}}}
	got := infoFrom("v1.0.0", bi, "go1.26.8")
	want := Info{Version: "v1.0.0", Revision: "0123456789abcdef0123456789abcdef01234567-dirty", GoVersion: "go1.26.8"}
	if got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
	if got := infoFrom("devel", nil, "go1.26.8"); got.Revision != "unknown" {
		t.Errorf("no build info: revision %q", got.Revision)
	}
}
