package exporter_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

const prefix = exporter.AdminPathPrefix

// adminFixture: api closed (enforce), db open (enforce), search open in
// monitor mode.
func adminFixture(t *testing.T) (*exporter.Metrics, *breaker.Registry) {
	t.Helper()
	m := newMetrics(t)
	reg := newRegistry(t, m)
	api := register(t, reg, breaker.Config{Name: "api"})
	run(api, 3, succeed)
	run(api, 1, fail)
	db := register(t, reg, breaker.Config{Name: "db", FailureThreshold: 2})
	run(db, 3, fail)
	search := register(t, reg, breaker.Config{Name: "search", Mode: breaker.ModeMonitor, FailureThreshold: 1})
	run(search, 2, fail)
	return m, reg
}

// call sends one request to a real server and decodes the JSON body.
func call(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodHead {
		return resp, nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: %v in %q", method, url, err, raw)
	}
	return resp, v
}

// direct serves one request in-process, from remote (RemoteAddr) to host.
func direct(h http.Handler, method, path, body, remote, host string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var v struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Error == "" {
		t.Errorf("body %q is not {\"error\": ...}", rec.Body)
	}
	return v.Error
}

func breakersOf(t *testing.T, v map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	list, _ := v["breakers"].([]any)
	for _, e := range list {
		b := e.(map[string]any)
		out[b["name"].(string)] = b
	}
	return out
}

func TestAdminReads(t *testing.T) {
	_, reg := adminFixture(t)
	srv := server(t, exporter.NewAdmin(reg, exporter.AdminOptions{}))
	c := client(t, nil)

	resp, v := call(t, c, "GET", srv.URL+prefix+"metrics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	bs := breakersOf(t, v)
	if len(bs) != 3 {
		t.Fatalf("metrics lists %d breakers, want 3: %v", len(bs), v)
	}
	api := bs["api"]
	counts := api["counts"].(map[string]any)
	window := api["window"].(map[string]any)
	if api["state"] != "closed" || api["mode"] != "enforce" || counts["success"] != 3.0 || counts["failure"] != 1.0 ||
		window["error_rate"] != 0.25 || window["duration"] != "1m0s" || window["p99_ms"].(float64) <= 0 {
		t.Errorf("api: %v", api)
	}
	if db := bs["db"]; db["state"] != "open" || db["counts"].(map[string]any)["rejected"] != 1.0 {
		t.Errorf("db: %v", db)
	}
	tr := bs["db"]["transitions"].([]any)
	if len(tr) != 1 || tr[0].(map[string]any)["from"] != "closed" || tr[0].(map[string]any)["to"] != "open" || tr[0].(map[string]any)["count"] != 1.0 {
		t.Errorf("db transitions: %v", tr)
	}
	if s := bs["search"]; s["mode"] != "monitor" || s["state"] != "open" || s["counts"].(map[string]any)["would_reject"] != 1.0 {
		t.Errorf("search: %v", s)
	}

	resp, v = call(t, c, "GET", srv.URL+prefix+"status", "")
	if resp.StatusCode != 200 || v["status"] != "degraded" {
		t.Fatalf("status: %d %v", resp.StatusCode, v)
	}
	st := breakersOf(t, v)["db"]
	settings := st["settings"].(map[string]any)
	since, err := time.Parse(time.RFC3339Nano, st["since"].(string))
	if st["state"] != "open" || settings["failure_threshold"] != 2.0 || settings["timeout"] != "1m0s" || err != nil || time.Since(since) > time.Minute {
		t.Errorf("status of db: %v (since: %v)", st, err)
	}

	resp, v = call(t, c, "GET", srv.URL+prefix+"health", "")
	if resp.StatusCode != 503 || v["status"] != "degraded" {
		t.Errorf("health: %d %v", resp.StatusCode, v)
	}

	for _, p := range []string{"metrics", "status", "health"} {
		resp, _ := call(t, c, "HEAD", srv.URL+prefix+p, "")
		if resp.StatusCode != 200 && resp.StatusCode != 503 {
			t.Errorf("HEAD %s: %d", p, resp.StatusCode)
		}
	}
}

func TestAdminHealth(t *testing.T) {
	failing := []exporter.HealthResult{{Name: "api", Healthy: false, Error: "dial tcp: connection refused", CheckedAt: time.Now(), Duration: 1500 * time.Microsecond}}
	passing := []exporter.HealthResult{{Name: "api", Healthy: true, CheckedAt: time.Now(), Duration: time.Millisecond}}
	tests := []struct {
		name        string
		setup       func(t *testing.T, reg *breaker.Registry)
		checks      []exporter.HealthResult
		status      int
		open        []string
		monitorOpen []string
	}{
		{"all closed", func(t *testing.T, reg *breaker.Registry) {
			run(register(t, reg, breaker.Config{Name: "api"}), 1, fail)
		}, passing, 200, nil, nil},
		{"enforced open", func(t *testing.T, reg *breaker.Registry) {
			run(register(t, reg, breaker.Config{Name: "db", FailureThreshold: 1}), 1, fail)
		}, nil, 503, []string{"db"}, nil},
		{"monitor open never fails", func(t *testing.T, reg *breaker.Registry) {
			run(register(t, reg, breaker.Config{Name: "search", Mode: breaker.ModeMonitor, FailureThreshold: 1}), 1, fail)
		}, nil, 200, nil, []string{"search"}},
		{"switched to monitor recovers health", func(t *testing.T, reg *breaker.Registry) {
			b := register(t, reg, breaker.Config{Name: "db", FailureThreshold: 1})
			run(b, 1, fail)
			if err := b.SetMode(breaker.ModeMonitor); err != nil {
				t.Fatal(err)
			}
		}, nil, 200, nil, []string{"db"}},
		{"disabled", func(t *testing.T, reg *breaker.Registry) {
			b := register(t, reg, breaker.Config{Name: "db", FailureThreshold: 1})
			run(b, 1, fail)
			if err := b.SetMode(breaker.ModeDisabled); err != nil {
				t.Fatal(err)
			}
		}, nil, 200, nil, nil},
		{"failing check", func(*testing.T, *breaker.Registry) {}, failing, 503, nil, nil},
		{"failing check of an enforced breaker", func(t *testing.T, reg *breaker.Registry) {
			register(t, reg, breaker.Config{Name: "api"})
		}, failing, 503, nil, nil},
		{"failing check of a monitor-mode breaker never fails", func(t *testing.T, reg *breaker.Registry) {
			register(t, reg, breaker.Config{Name: "api", Mode: breaker.ModeMonitor})
		}, failing, 200, nil, nil},
		{"failing check of a disabled breaker never fails", func(t *testing.T, reg *breaker.Registry) {
			register(t, reg, breaker.Config{Name: "api", Mode: breaker.ModeDisabled})
		}, failing, 200, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := testRegistry(t)
			tt.setup(t, reg)
			h := exporter.NewAdmin(reg, exporter.AdminOptions{Health: func() []exporter.HealthResult { return tt.checks }})
			rec := direct(h, "GET", prefix+"health", "", "192.0.2.1:1234", "breakerwatch.example")
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			var body struct {
				Status      string `json:"status"`
				Open        []struct{ Name, State, Mode string }
				MonitorOpen []struct{ Name, State, Mode string } `json:"monitor_open"`
				Checks      []exporter.HealthResult
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if want := map[int]string{200: "healthy", 503: "degraded"}[tt.status]; body.Status != want {
				t.Errorf("status %q, want %q", body.Status, want)
			}
			var open, monitorOpen []string
			for _, o := range body.Open {
				open = append(open, o.Name)
			}
			for _, o := range body.MonitorOpen {
				monitorOpen = append(monitorOpen, o.Name)
			}
			if strings.Join(open, ",") != strings.Join(tt.open, ",") || strings.Join(monitorOpen, ",") != strings.Join(tt.monitorOpen, ",") {
				t.Errorf("open %v, monitor_open %v; want %v and %v", open, monitorOpen, tt.open, tt.monitorOpen)
			}
			if len(body.Checks) != len(tt.checks) {
				t.Fatalf("checks %v, want %v", body.Checks, tt.checks)
			}
			for i, c := range body.Checks {
				w := tt.checks[i]
				if c.Name != w.Name || c.Healthy != w.Healthy || c.Error != w.Error || c.Duration != w.Duration || !c.CheckedAt.Equal(w.CheckedAt) {
					t.Errorf("check %d: %+v, want %+v", i, c, w)
				}
			}
		})
	}
}

func TestHealthResultJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	b, err := json.Marshal(exporter.HealthResult{Name: "api", Healthy: true, CheckedAt: at, Duration: 12500 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"api","healthy":true,"checked_at":"2026-01-02T15:04:05Z","duration_ms":12.5}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestAdminErrors(t *testing.T) {
	_, reg := adminFixture(t)
	srv := server(t, exporter.NewAdmin(reg, exporter.AdminOptions{}))
	c := client(t, nil)
	big := `{"mode":"` + strings.Repeat("x", exporter.MaxAdminBodyBytes) + `"}`
	tests := []struct {
		method, path, body string
		status             int
		allow              string
		contains           string
	}{
		{"GET", prefix + "nope", "", 404, "", "no such path"},
		{"GET", prefix + "metrics/", "", 404, "", "no such path"},
		{"GET", prefix, "", 404, "", "no such path"},
		{"GET", "/elsewhere", "", 404, "", "no such path"},
		{"POST", prefix + "metrics", "", 405, "GET, HEAD", "not allowed"},
		{"DELETE", prefix + "status", "", 405, "GET, HEAD", "not allowed"},
		{"GET", prefix + "reset/api", "", 405, "POST", "not allowed"},
		{"GET", prefix + "reset-all", "", 405, "POST", "not allowed"},
		{"PUT", prefix + "mode/api", `{"mode":"monitor"}`, 405, "POST", "not allowed"},
		{"POST", prefix + "reset/unknown", "", 404, "", `"unknown"`},
		{"POST", prefix + "reset/", "", 404, "", "no such circuit breaker"},
		{"POST", prefix + "reset/api/extra", "", 404, "", "no such circuit breaker"},
		{"POST", prefix + "mode/unknown", `{"mode":"monitor"}`, 404, "", `"unknown"`},
		{"POST", prefix + "mode/api", `{"mode":`, 400, "", "invalid body"},
		{"POST", prefix + "mode/api", `["monitor"]`, 400, "", "invalid body"},
		{"POST", prefix + "mode/api", `{"mode":"monitor","force":true}`, 400, "", "unknown field"},
		{"POST", prefix + "mode/api", `{"mode":"chaos"}`, 400, "", "unknown mode"},
		{"POST", prefix + "mode/api", `{"mode":1}`, 400, "", "invalid body"},
		{"POST", prefix + "mode/api", `{}`, 400, "", "missing mode"},
		{"POST", prefix + "mode/api", `null`, 400, "", "missing mode"},
		{"POST", prefix + "mode/api", ``, 400, "", "empty body"},
		{"POST", prefix + "mode/api", `{"mode":"monitor"} {"mode":"enforce"}`, 400, "", "after the JSON object"},
		{"POST", prefix + "mode/api", big, 413, "", "larger than"},
	}
	for _, tt := range tests {
		resp, v := call(t, c, tt.method, srv.URL+tt.path, tt.body)
		msg, _ := v["error"].(string)
		if resp.StatusCode != tt.status || !strings.Contains(msg, tt.contains) || len(v) != 1 {
			t.Errorf("%s %s %.40q: %d %v, want %d with an error containing %q", tt.method, tt.path, tt.body, resp.StatusCode, v, tt.status, tt.contains)
		}
		if got := resp.Header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
	// A body over the limit without Content-Length (chunked) is 413 too.
	req, _ := http.NewRequest("POST", srv.URL+prefix+"mode/api", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversized body: %d, want 413", resp.StatusCode)
	}
	if b, _ := reg.Get("api"); b.Mode() != breaker.ModeEnforce {
		t.Errorf("a rejected request changed api's mode to %v", b.Mode())
	}
}

func TestAdminMutations(t *testing.T) {
	_, reg := adminFixture(t)
	srv := server(t, exporter.NewAdmin(reg, exporter.AdminOptions{}))
	c := client(t, nil)
	db, _ := reg.Get("db")

	resp, v := call(t, c, "POST", srv.URL+prefix+"reset/db", "")
	if resp.StatusCode != 200 || v["action"] != "reset" || v["breaker"] != "db" || v["state"] != "closed" || v["mode"] != "enforce" {
		t.Errorf("reset: %d %v", resp.StatusCode, v)
	}
	if db.State() != breaker.StateClosed {
		t.Errorf("db is %v after reset", db.State())
	}
	if n := db.Snapshot().Counts.Failure; n != 2 {
		t.Errorf("reset cleared the cumulative counts: %d failures, want 2", n)
	}

	resp, v = call(t, c, "POST", srv.URL+prefix+"mode/api", `{"mode": "monitor"}`, "Content-Type", "application/json")
	if resp.StatusCode != 200 || v["mode"] != "monitor" || v["previous_mode"] != "enforce" || v["breaker"] != "api" || v["state"] != "closed" {
		t.Errorf("mode: %d %v", resp.StatusCode, v)
	}
	if b, _ := reg.Get("api"); b.Mode() != breaker.ModeMonitor {
		t.Errorf("api mode %v, want monitor", b.Mode())
	}
	// The quick rollback.
	call(t, c, "POST", srv.URL+prefix+"mode/api", `{"mode":"disabled"}`)
	if b, _ := reg.Get("api"); b.Mode() != breaker.ModeDisabled {
		t.Errorf("api mode %v, want disabled", b.Mode())
	}

	run(db, 2, fail)
	resp, v = call(t, c, "POST", srv.URL+prefix+"reset-all", "")
	names, _ := v["breakers"].([]any)
	if resp.StatusCode != 200 || v["action"] != "reset-all" || len(names) != 3 {
		t.Errorf("reset-all: %d %v", resp.StatusCode, v)
	}
	for _, b := range reg.List() {
		if b.State() != breaker.StateClosed {
			t.Errorf("%s is %v after reset-all", b.Name(), b.State())
		}
	}
}

// Unknown names never create breakers or series.
func TestAdminUnknownNames(t *testing.T) {
	m, reg := adminFixture(t)
	h := exporter.NewAdmin(reg, exporter.AdminOptions{})
	for _, name := range []string{"ghost", "x" + strings.Repeat("y", 300), "a%2Fb", "..", "%00"} {
		for _, p := range []string{"reset/", "mode/"} {
			rec := direct(h, "POST", prefix+p+name, `{"mode":"monitor"}`, "127.0.0.1:5555", "localhost")
			if rec.Code != 404 {
				t.Errorf("POST %s%s: %d, want 404", p, name, rec.Code)
			}
		}
	}
	if n := len(reg.List()); n != 3 {
		t.Errorf("%d breakers, want 3", n)
	}
	_, families := scrape(t, m.Handler())
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			if v := labelValue(mt, breaker.LabelName); v != "" && v != "api" && v != "db" && v != "search" {
				t.Errorf("%s has a series for %q", f.GetName(), v)
			}
		}
	}
}

func TestAdminAuth(t *testing.T) {
	const token = "s3cret-token"
	_, reg := adminFixture(t)
	withToken := exporter.NewAdmin(reg, exporter.AdminOptions{Token: token})
	noToken := exporter.NewAdmin(reg, exporter.AdminOptions{})
	const (
		remote   = "192.0.2.10:40000"
		loopback = "127.0.0.1:40000"
	)
	tests := []struct {
		name         string
		h            http.Handler
		method, path string
		remote, host string
		hdr          []string
		status       int
		contains     string
	}{
		{"token: none sent", withToken, "POST", "reset/api", loopback, "localhost", nil, 401, "Authorization: Bearer"},
		{"token: wrong", withToken, "POST", "reset/api", remote, "bw.example", []string{"Authorization", "Bearer nope"}, 401, "invalid admin token"},
		{"token: prefix of it", withToken, "POST", "reset/api", remote, "bw.example", []string{"Authorization", "Bearer s3cret"}, 401, "invalid"},
		{"token: basic scheme", withToken, "POST", "reset/api", remote, "bw.example", []string{"Authorization", "Basic " + token}, 401, ""},
		{"token: right, remote", withToken, "POST", "reset/api", remote, "bw.example", []string{"Authorization", "Bearer " + token}, 200, ""},
		{"token: scheme is case-insensitive", withToken, "POST", "reset-all", remote, "bw.example", []string{"Authorization", "bearer " + token}, 200, ""},
		{"token: checked before the name", withToken, "POST", "reset/ghost", remote, "bw.example", nil, 401, ""},
		{"token: reads are open", withToken, "GET", "status", remote, "bw.example", nil, 200, ""},
		{"token: cross-site browser", withToken, "POST", "reset/api", remote, "bw.example", []string{"Authorization", "Bearer " + token, "Sec-Fetch-Site", "cross-site"}, 403, "cross-origin"},
		{"no token: remote", noToken, "POST", "reset/api", remote, "bw.example", nil, 403, exporter.TokenEnvVar},
		{"no token: remote mode", noToken, "POST", "mode/api", remote, "bw.example", nil, 403, "loopback"},
		{"no token: remote even with a token sent", noToken, "POST", "reset/api", remote, "bw.example", []string{"Authorization", "Bearer x"}, 403, ""},
		{"no token: X-Forwarded-For is not trusted", noToken, "POST", "reset/api", remote, "localhost", []string{"X-Forwarded-For", "127.0.0.1"}, 403, ""},
		{"no token: checked before the name", noToken, "POST", "reset/ghost", remote, "bw.example", nil, 403, ""},
		{"no token: loopback v4", noToken, "POST", "reset/api", loopback, "localhost:8080", nil, 200, ""},
		{"no token: loopback 127.0.0.2", noToken, "POST", "reset/api", "127.0.0.2:1", "127.0.0.1:8080", nil, 200, ""},
		{"no token: loopback v6", noToken, "POST", "reset/api", "[::1]:40000", "[::1]:8080", nil, 200, ""},
		{"no token: v4-mapped loopback", noToken, "POST", "reset/api", "[::ffff:127.0.0.1]:40000", "localhost", nil, 200, ""},
		{"no token: loopback peer forwarding (X-Forwarded-For)", noToken, "POST", "reset/api", loopback, "127.0.0.1:8000", []string{"X-Forwarded-For", "203.0.113.7"}, 403, "came through a proxy"},
		{"no token: loopback peer forwarding (Forwarded)", noToken, "POST", "reset/api", loopback, "localhost", []string{"Forwarded", "for=203.0.113.7"}, 403, "Forwarded"},
		{"no token: loopback peer forwarding (Via)", noToken, "POST", "reset/api", loopback, "localhost", []string{"Via", "1.1 nginx"}, 403, "Via"},
		{"token: forwarded request with the token", withToken, "POST", "reset/api", remote, "bw.example", []string{"X-Forwarded-For", "203.0.113.7", "Authorization", "Bearer " + token}, 200, ""},
		{"no token: DNS rebinding", noToken, "POST", "reset/api", loopback, "attacker.example:8080", nil, 403, "Host"},
		{"no token: cross-site browser", noToken, "POST", "reset/api", loopback, "localhost:8080", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-origin"},
		{"no token: cross-origin Origin", noToken, "POST", "reset/api", loopback, "localhost:8080", []string{"Origin", "http://evil.example"}, 403, "cross-origin"},
		{"no token: reads are open", noToken, "GET", "metrics", remote, "bw.example", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := direct(tt.h, tt.method, prefix+tt.path, "", tt.remote, tt.host, tt.hdr...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status >= 400 {
				if msg := errorOf(t, rec); !strings.Contains(msg, tt.contains) {
					t.Errorf("error %q lacks %q", msg, tt.contains)
				}
			}
			if tt.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// Every mutation attempt is logged: who, what, result; never the token.
func TestAdminLogs(t *testing.T) {
	const token = "s3cret-token"
	_, reg := adminFixture(t)
	var buf testutil.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	h := exporter.NewAdmin(reg, exporter.AdminOptions{Token: token, Logger: logger})
	auth := []string{"Authorization", "Bearer " + token}
	direct(h, "POST", prefix+"mode/api", `{"mode":"monitor"}`, "192.0.2.7:1000", "bw", auth...)
	direct(h, "POST", prefix+"reset/db", "", "192.0.2.7:1000", "bw", "Authorization", "Bearer wrong")
	direct(h, "POST", prefix+"reset-all", "", "192.0.2.7:1000", "bw", auth...)
	direct(h, "POST", prefix+"reset/ghost", "", "192.0.2.7:1000", "bw", auth...)
	direct(h, "GET", prefix+"status", "", "192.0.2.7:1000", "bw") // reads are not logged

	logs := buf.String()
	if strings.Contains(logs, token) || strings.Contains(logs, "wrong") {
		t.Errorf("a token reached the log:\n%s", logs)
	}
	var records []map[string]any
	dec := json.NewDecoder(bytes.NewReader([]byte(logs)))
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		records = append(records, r)
	}
	want := []struct {
		level, action, breaker, auth string
		status                       float64
	}{
		{"INFO", "mode", "api", "token", 200},
		{"WARN", "reset", "db", "bad-token", 401},
		{"INFO", "reset-all", "", "token", 200},
		{"WARN", "reset", "ghost", "token", 404},
	}
	if len(records) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(records), len(want), logs)
	}
	for i, w := range want {
		r := records[i]
		b, _ := r["breaker"].(string)
		if r["level"] != w.level || r["action"] != w.action || b != w.breaker || r["auth"] != w.auth ||
			r["status"] != w.status || r["remote_addr"] != "192.0.2.7:1000" || r["result"] == nil {
			t.Errorf("record %d: %v, want %+v", i, r, w)
		}
	}
	if records[0]["from_mode"] != "enforce" || records[0]["to_mode"] != "monitor" {
		t.Errorf("mode record lacks the change: %v", records[0])
	}
}

// Mount serves /metrics and the admin API on one mux.
func TestMount(t *testing.T) {
	m, reg := adminFixture(t)
	mux := http.NewServeMux()
	exporter.Mount(mux, m, reg, exporter.AdminOptions{})
	srv := server(t, mux)
	c := client(t, nil)
	resp, err := c.Get(srv.URL + exporter.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(breaker.MetricState+"{")) || !bytes.Contains(body, []byte("go_goroutines")) {
		t.Errorf("/metrics: %d\n%s", resp.StatusCode, body)
	}
	if resp, v := call(t, c, "GET", srv.URL+prefix+"status", ""); resp.StatusCode != 200 || len(breakersOf(t, v)) != 3 {
		t.Errorf("status: %d %v", resp.StatusCode, v)
	}
	if resp, _ := call(t, c, "POST", srv.URL+prefix+"reset/db", ""); resp.StatusCode != 200 {
		t.Errorf("reset through Mount from loopback: %d", resp.StatusCode)
	}
}

// Admin calls, scrapes and traffic at once, under -race.
func TestAdminConcurrent(t *testing.T) {
	m, reg := adminFixture(t)
	mux := http.NewServeMux()
	exporter.Mount(mux, m, reg, exporter.AdminOptions{Logger: slog.New(slog.DiscardHandler)})
	srv := server(t, mux)
	c := client(t, &http.Transport{MaxIdleConnsPerHost: 32})
	var wg sync.WaitGroup
	modes := []string{"enforce", "monitor", "disabled"}
	for i := range 60 {
		wg.Go(func() {
			var resp *http.Response
			var err error
			switch i % 5 {
			case 0:
				resp, err = c.Post(srv.URL+prefix+"mode/db", "application/json", strings.NewReader(`{"mode":"`+modes[i%3]+`"}`))
			case 1:
				resp, err = c.Post(srv.URL+prefix+"reset-all", "", nil)
			case 2:
				resp, err = c.Get(srv.URL + prefix + "metrics")
			case 3:
				resp, err = c.Get(srv.URL + exporter.MetricsPath)
			case 4:
				b, _ := reg.Get("db")
				run(b, 5, fail)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
}
