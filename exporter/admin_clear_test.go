package exporter_test

import (
	"testing"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

func TestAdminModeClearAndSource(t *testing.T) {
	_, reg := adminFixture(t)
	srv := server(t, exporter.NewAdmin(reg, exporter.AdminOptions{}))
	c := client(t, nil)
	search, _ := reg.Get("search") // configured monitor

	_, v := call(t, c, "GET", srv.URL+prefix+"status", "")
	if b := breakersOf(t, v)["search"]; b["mode_source"] != breaker.ModeSourceConfig {
		t.Errorf("status before: %v", b)
	}
	resp, v := call(t, c, "POST", srv.URL+prefix+"mode/search", `{"mode":"enforce"}`)
	if resp.StatusCode != 200 || v["mode_source"] != breaker.ModeSourceRuntime || v["fleet"] != nil {
		t.Errorf("mode: %d %v", resp.StatusCode, v)
	}
	resp, v = call(t, c, "POST", srv.URL+prefix+"mode/search", `{"clear":true}`)
	if resp.StatusCode != 200 || v["mode"] != "monitor" || v["previous_mode"] != "enforce" || v["mode_source"] != breaker.ModeSourceConfig {
		t.Errorf("clear: %d %v", resp.StatusCode, v)
	}
	if search.Mode() != breaker.ModeMonitor {
		t.Errorf("search is %v after clear, want its configured monitor", search.Mode())
	}
	for _, body := range []string{`{"clear":true,"mode":"enforce"}`, `{"clear":false}`, `{"clear":"yes"}`} {
		if resp, _ := call(t, c, "POST", srv.URL+prefix+"mode/search", body); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", body, resp.StatusCode)
		}
	}
	_, v = call(t, c, "GET", srv.URL+prefix+"health", "")
	if _, ok := v["fleet"]; ok {
		t.Errorf("health without a fleet has a fleet field: %v", v)
	}
}
