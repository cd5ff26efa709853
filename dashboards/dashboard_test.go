package dashboards

import (
	"encoding/json"
	"flag"
	"fmt"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
	"github.com/breakerwatch/breakerwatch/mixin"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func checkedInDashboard(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), filepath.FromSlash(DashboardPath)))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestDashboardRoundTrip reads the checked-in dashboard into the SDK's types
// and writes it back: the bytes must not change, so nothing in the file is
// unknown to the SDK or lost by it.
func TestDashboardRoundTrip(t *testing.T) {
	raw := checkedInDashboard(t)
	plugins.RegisterDefaultPlugins()
	//lint:ignore SA1019 the classic dashboard model is what Grafana 12.2 file provisioning loads; see docs/development.md
	var d dashboard.Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	again, err := marshalDashboard(d)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(raw) {
		t.Errorf("round trip through dashboard.Dashboard changed the JSON:\n%s", testutil.FirstDiff(raw, again))
	}
	if d.Uid == nil || *d.Uid != mixin.DashboardUID || d.Title == nil || *d.Title != mixin.DashboardTitle {
		t.Errorf("uid %v, title %v", d.Uid, d.Title)
	}
}

// jsonDashboard is the part of the classic JSON model the tests read.
type jsonDashboard struct {
	Templating struct {
		List []struct {
			Type       string `json:"type"`
			Name       string `json:"name"`
			Query      any    `json:"query"`
			Multi      bool   `json:"multi"`
			IncludeAll bool   `json:"includeAll"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name string `json:"name"`
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []jsonPanel `json:"panels"`
}

type jsonPanel struct {
	ID         uint32 `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Thresholds struct {
				Steps []struct {
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

func parseDashboard(t *testing.T, raw []byte) jsonDashboard {
	t.Helper()
	var d jsonDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDashboardVariables(t *testing.T) {
	d := parseDashboard(t, checkedInDashboard(t))
	var names []string
	for _, v := range d.Templating.List {
		names = append(names, v.Name)
		switch v.Name {
		case mixin.VarDatasource:
			if v.Type != "datasource" || v.Query != "prometheus" {
				t.Errorf("datasource variable: type %q, query %v", v.Type, v.Query)
			}
		case mixin.VarJob, mixin.VarBreaker:
			if v.Type != "query" || !v.Multi || !v.IncludeAll || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("%s variable: %+v", v.Name, v)
			}
		}
	}
	if !slices.Equal(names, []string{mixin.VarDatasource, mixin.VarJob, mixin.VarBreaker}) {
		t.Errorf("variables %v", names)
	}
	breakerQuery, _ := d.Templating.List[2].Query.(string)
	if !strings.HasPrefix(breakerQuery, "label_values(circuit_breaker_state{") || !strings.HasSuffix(breakerQuery, ", name)") {
		t.Errorf("breaker variable query %q", breakerQuery)
	}
}

// TestDashboardPanels: every panel has an id, a data source and targets with
// a data source and a refId; no two panels overlap on the 24-column grid.
func TestDashboardPanels(t *testing.T) {
	d := parseDashboard(t, checkedInDashboard(t))
	ids := map[uint32]bool{}
	type rect struct {
		id         uint32
		x, y, w, h int
	}
	var rects []rect
	for _, p := range d.Panels {
		if p.ID == 0 || ids[p.ID] {
			t.Errorf("panel %q: id %d missing or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %d: gridPos %+v outside the grid", p.ID, g)
		}
		for _, r := range rects {
			if g.X < r.x+r.w && r.x < g.X+g.W && g.Y < r.y+r.h && r.y < g.Y+g.H {
				t.Errorf("panel %d %+v overlaps panel %d", p.ID, g, r.id)
			}
		}
		rects = append(rects, rect{p.ID, g.X, g.Y, g.W, g.H})
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %d: datasource %+v", p.ID, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d: no targets", p.ID)
		}
		refs := map[string]bool{}
		for i, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %d target %d: refId %q missing or repeated", p.ID, i, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %d target %s: datasource %+v", p.ID, tg.RefID, tg.Datasource)
			}
			if tg.Expr == "" {
				t.Errorf("panel %d target %s: no expr", p.ID, tg.RefID)
			}
		}
	}
}

// TestDashboardThresholdLines: the lines the issue asks for, from Params.
func TestDashboardThresholdLines(t *testing.T) {
	p := mixin.DefaultParams()
	d := parseDashboard(t, checkedInDashboard(t))
	want := map[uint32][]float64{
		mixin.PanelSuccessRate: {p.SuccessRate},
		mixin.PanelErrorRate:   {p.ErrorRate},
		mixin.PanelLatency:     {p.LatencyTargetMs, p.LatencyAlertMs},
		mixin.PanelLatencyP95:  {p.LatencyTargetMs, p.LatencyAlertMs},
		mixin.PanelTrips:       {p.FlapTrips},
	}
	if p.SuccessRate != 0.95 || p.LatencyTargetMs != 2000 {
		t.Fatalf("defaults moved: success %g, latency target %g", p.SuccessRate, p.LatencyTargetMs)
	}
	for _, jp := range d.Panels {
		w, ok := want[jp.ID]
		if !ok {
			continue
		}
		var got []float64
		for _, st := range jp.FieldConfig.Defaults.Thresholds.Steps {
			if st.Value != nil {
				got = append(got, *st.Value)
			}
		}
		if !slices.Equal(got, w) {
			t.Errorf("panel %d %q: threshold lines %v, want %v", jp.ID, jp.Title, got, w)
		}
	}
}

// labelValuesQuery matches Grafana's label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+), (\w+)\)$`)

// TestDashboardQueriesParse substitutes the dashboard's variables in every
// panel query and variable query, the way Grafana would for several
// selections, and has promtool parse the result (as recording rules).
func TestDashboardQueriesParse(t *testing.T) {
	p := mixin.DefaultParams()
	qs, err := PanelQueries(p)
	if err != nil {
		t.Fatal(err)
	}
	d := parseDashboard(t, checkedInDashboard(t))
	var exprs []string
	for _, q := range qs {
		exprs = append(exprs, q.Expr)
	}
	var checkedIn []string
	for _, jp := range d.Panels {
		for _, tg := range jp.Targets {
			checkedIn = append(checkedIn, tg.Expr)
		}
	}
	slices.Sort(exprs)
	slices.Sort(checkedIn)
	if !slices.Equal(exprs, checkedIn) {
		t.Fatalf("PanelQueries differ from the checked-in dashboard's targets")
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			m := labelValuesQuery.FindStringSubmatch(q)
			if m == nil {
				t.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
			}
			exprs = append(exprs, m[1])
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			exprs = append(exprs, a.Expr)
		}
	}
	selections := []map[string][]string{
		{}, // All
		{mixin.VarJob: {"breakerwatch"}, mixin.VarBreaker: {"openai_api"}},
		{mixin.VarJob: {"breakerwatch", "gateway"}, mixin.VarBreaker: {"openai_api", "claude.api-v2", "meta_api"}},
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard_queries\n    rules:\n")
	for i, sel := range selections {
		for j, e := range exprs {
			x := Expand(e, sel)
			if strings.Contains(x, "$") {
				t.Errorf("unexpanded variable in %s", x)
			}
			quoted, _ := json.Marshal(x) // a JSON string is a YAML string
			fmt.Fprintf(&b, "      - record: dashboard:query_%d_%d\n        expr: %s\n", i, j, quoted)
		}
	}
	file := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := testutil.MustRunTool(t, testutil.RepoRoot(t), "promtool", "check", "rules", file)
	want := fmt.Sprintf("SUCCESS: %d rules found", len(selections)*len(exprs))
	if !strings.Contains(out, want) {
		t.Errorf("promtool: %s (want %q)", out, want)
	}
}

func TestDashboardDeterministic(t *testing.T) {
	a, err := DashboardJSON(mixin.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := DashboardJSON(mixin.DefaultParams())
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Fatal("DashboardJSON is not deterministic")
		}
	}
}

func TestExpand(t *testing.T) {
	tests := map[string]struct {
		vars map[string][]string
		want string
	}{
		"all":          {nil, `x{job=~".+", name=~".+"}`},
		"one":          {map[string][]string{mixin.VarJob: {"bw"}, mixin.VarBreaker: {"a.b"}}, `x{job=~"bw", name=~"a\\.b"}`},
		"several":      {map[string][]string{mixin.VarBreaker: {"a", "b"}}, `x{job=~".+", name=~"(a|b)"}`},
		"empty values": {map[string][]string{mixin.VarBreaker: {}}, `x{job=~".+", name=~".+"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Expand(`x{job=~"$job", name=~"${breaker}"}`, tc.vars); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if got := Expand("rate(x[$__rate_interval])", nil); got != "rate(x[$__rate_interval])" {
		t.Errorf("unknown variable changed: %s", got)
	}
}

var update = flag.Bool("update", false, "rewrite the generated files under the repository root")

// TestGenerated fails when the checked-in dashboard differs from the
// generator's output. Rewrite it with
//
//	go test ./dashboards -run TestGenerated -update
//
// or `breakerwatch generate`.
func TestGenerated(t *testing.T) {
	dash, err := DashboardJSON(mixin.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	testutil.CheckGenerated(t, testutil.RepoRoot(t), *update,
		"regenerate it with `go test ./dashboards -run TestGenerated -update` or `breakerwatch generate`",
		testutil.Generated{Path: DashboardPath, Want: dash})
}
