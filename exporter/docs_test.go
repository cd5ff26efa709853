package exporter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

const apiDoc = "../docs/api.md"

var exampleRE = regexp.MustCompile("(?s)<!-- example: ([^>]+?) -->\\s*```json\\n(.*?)\\n```")

// shape maps every key path of a JSON value to its type; array elements are
// merged under path[].
func shape(v any, path string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		out[path] = "object"
		for k, e := range v {
			shape(e, path+"."+k, out)
		}
	case []any:
		out[path] = "array"
		for _, e := range v {
			shape(e, path+"[]", out)
		}
	case string:
		out[path] = "string"
	case float64:
		out[path] = "number"
	case bool:
		out[path] = "bool"
	case nil:
		out[path] = "null"
	}
}

func shapeOf(t *testing.T, raw []byte) (map[string]string, any) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
	out := map[string]string{}
	shape(v, "", out)
	return out, v
}

// realResponses produces, for each documented example, the body the code
// really sends in that situation.
func realResponses(t *testing.T) map[string]func() (int, []byte) {
	adminOf := func(reg *breaker.Registry, opts exporter.AdminOptions) func(method, path, body, remote string, hdr ...string) (int, []byte) {
		opts.Logger = slog.New(slog.DiscardHandler)
		h := exporter.NewAdmin(reg, opts)
		return func(method, path, body, remote string, hdr ...string) (int, []byte) {
			rec := direct(h, method, path, body, remote, "localhost:8000", hdr...)
			return rec.Code, rec.Body.Bytes()
		}
	}
	const local, remote = "127.0.0.1:50000", "198.51.100.7:50000"
	failing := func() []exporter.HealthResult {
		return []exporter.HealthResult{{Name: "openai_api", Healthy: false, Error: "GET https://api.openai.com/v1/models: 503 Service Unavailable",
			CheckedAt: time.Now().UTC(), Duration: 212900 * time.Microsecond}}
	}
	passing := func() []exporter.HealthResult {
		return []exporter.HealthResult{{Name: "openai_api", Healthy: true, CheckedAt: time.Now().UTC(), Duration: 84 * time.Millisecond}}
	}
	// openai_api open in enforce mode, meta_api open in monitor mode.
	fixture := func(t *testing.T) *breaker.Registry {
		reg := testRegistry(t)
		b := register(t, reg, breaker.Config{Name: "openai_api", FailureThreshold: 2})
		run(b, 3, fail)
		return reg
	}
	responses := map[string]func() (int, []byte){
		"GET /api/circuit-breaker/metrics 200": func() (int, []byte) {
			_, reg := adminFixture(t)
			return adminOf(reg, exporter.AdminOptions{})("GET", prefix+"metrics", "", remote)
		},
		"GET /api/circuit-breaker/health 200": func() (int, []byte) {
			reg := testRegistry(t)
			run(register(t, reg, breaker.Config{Name: "meta_api", Mode: breaker.ModeMonitor, FailureThreshold: 1}), 1, fail)
			return adminOf(reg, exporter.AdminOptions{Health: passing})("GET", prefix+"health", "", remote)
		},
		"GET /api/circuit-breaker/health 503": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{Health: failing})("GET", prefix+"health", "", remote)
		},
		"GET /api/circuit-breaker/status 200": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{Health: failing})("GET", prefix+"status", "", remote)
		},
		"POST /api/circuit-breaker/reset/{name} 200": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{})("POST", prefix+"reset/openai_api", "", local)
		},
		"POST /api/circuit-breaker/reset/{name} 404": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{})("POST", prefix+"reset/openai", "", local)
		},
		"POST /api/circuit-breaker/reset-all 200": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{})("POST", prefix+"reset-all", "", local)
		},
		"POST /api/circuit-breaker/reset-all 403": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{})("POST", prefix+"reset-all", "", remote)
		},
		"POST /api/circuit-breaker/reset-all 401": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{Token: "t"})("POST", prefix+"reset-all", "", remote)
		},
		"POST /api/circuit-breaker/reload 200": func() (int, []byte) {
			reload := func() (string, error) {
				return "3 breaker(s) kept, 1 mode switched, 0 replaced, 0 added, 0 removed; 4 route(s)", nil
			}
			return adminOf(fixture(t), exporter.AdminOptions{Reload: reload})("POST", prefix+"reload", "", local)
		},
		"POST /api/circuit-breaker/reload 422": func() (int, []byte) {
			reload := func() (string, error) {
				return "", errors.New(`breakerwatch.yaml:4: breakers.openai_api.mode: unknown mode "enforcing"`)
			}
			return adminOf(fixture(t), exporter.AdminOptions{Reload: reload})("POST", prefix+"reload", "", local)
		},
		"GET /api/circuit-breaker/reset-all 405": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{})("GET", prefix+"reset-all", "", remote)
		},
		"GET /api/circuit-breaker/breakers 404": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{})("GET", prefix+"breakers", "", remote)
		},
		"POST /api/circuit-breaker/mode/{name} 200": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{})("POST", prefix+"mode/openai_api", `{"mode":"monitor"}`, local)
		},
		"POST /api/circuit-breaker/mode/{name} 400": func() (int, []byte) {
			return adminOf(fixture(t), exporter.AdminOptions{})("POST", prefix+"mode/openai_api", `{"mode":"off"}`, local)
		},
		"POST /api/circuit-breaker/mode/{name} 413": func() (int, []byte) {
			big := `{"mode":"` + strings.Repeat(" ", 2000) + `monitor"}`
			return adminOf(fixture(t), exporter.AdminOptions{})("POST", prefix+"mode/openai_api", big, local)
		},
		"GET /api/circuit-breaker/history 200": func() (int, []byte) {
			reg, _, h := liveFixture(t, exporter.LiveOptions{}, exporter.AdminOptions{Logger: slog.New(slog.DiscardHandler)})
			run(register(t, reg, breaker.Config{Name: "openai_api", FailureThreshold: 2}), 2, fail)
			direct(h, "POST", prefix+"reset/openai_api", "", local, "localhost")
			rec := direct(h, "GET", prefix+"history", "", remote, "localhost")
			return rec.Code, rec.Body.Bytes()
		},
		"GET /api/circuit-breaker/series 200": func() (int, []byte) {
			reg, live, h := liveFixture(t, exporter.LiveOptions{}, exporter.AdminOptions{})
			b := register(t, reg, breaker.Config{Name: "openai_api", FailureThreshold: 100})
			now := time.Now()
			live.Sample(reg, now.Add(-2*time.Second))
			run(b, 3, succeed)
			run(b, 1, fail)
			live.Sample(reg, now)
			rec := direct(h, "GET", prefix+"series?name=openai_api", "", remote, "localhost")
			return rec.Code, rec.Body.Bytes()
		},
		"GET /api/circuit-breaker/events snapshot 200": func() (int, []byte) {
			return streamEvent(t, "snapshot", failing, nil)
		},
		"GET /api/circuit-breaker/events update 200": func() (int, []byte) {
			return streamEvent(t, "update", failing, func(reg *breaker.Registry, _ *exporter.Live) {
				b, _ := reg.Get("openai_api")
				run(b, 2, fail)
			})
		},
		"GET /api/circuit-breaker/events sample 200": func() (int, []byte) {
			return streamEvent(t, "sample", failing, func(reg *breaker.Registry, live *exporter.Live) {
				live.Sample(reg, time.Now())
			})
		},
		"rejection 503": func() (int, []byte) {
			b, _ := fixture(t).Get("openai_api")
			var rej *breaker.RejectedError
			if err := b.Execute(context.Background(), succeed); !errors.As(err, &rej) {
				t.Fatalf("want a rejection, got %v", err)
			}
			rec := httptest.NewRecorder()
			exporter.WriteRejection(rec, rej)
			return rec.Code, rec.Body.Bytes()
		},
	}
	maps.Copy(responses, tuneResponses(t))
	return responses
}

// TestAPIDocExamples checks docs/api.md against the code: every documented
// example has the keys and value types of the real response in that
// situation (error examples must match word for word), and every situation
// the test knows is documented.
func TestAPIDocExamples(t *testing.T) {
	doc, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	real := realResponses(t)
	var documented []string
	for _, m := range exampleRE.FindAllSubmatch(doc, -1) {
		key, example := string(m[1]), m[2]
		documented = append(documented, key)
		t.Run(key, func(t *testing.T) {
			produce, ok := real[key]
			if !ok {
				t.Fatalf("docs/api.md documents %q, which the test cannot produce: add it to realResponses", key)
			}
			wantStatus := key[strings.LastIndex(key, " ")+1:]
			status, body := produce()
			if fmt.Sprint(status) != wantStatus {
				t.Errorf("real status %d, documented %s: %s", status, wantStatus, body)
			}
			docShape, docValue := shapeOf(t, example)
			realShape, realValue := shapeOf(t, body)
			for p, typ := range realShape {
				if docShape[p] != typ {
					t.Errorf("real response has %s (%s); the example has %q", p, typ, docShape[p])
				}
			}
			for p, typ := range docShape {
				if _, ok := realShape[p]; !ok {
					t.Errorf("the example has %s (%s); the real response does not", p, typ)
				}
			}
			if obj, ok := realValue.(map[string]any); ok && len(obj) == 1 && obj["error"] != nil {
				if docErr := docValue.(map[string]any)["error"]; docErr != obj["error"] {
					t.Errorf("error message\n  documented %q\n  real       %q", docErr, obj["error"])
				}
			}
		})
	}
	for key := range real {
		if !slices.Contains(documented, key) {
			t.Errorf("%q is not documented in docs/api.md", key)
		}
	}
}

// streamEvent opens the events stream of an admin API with an openai_api
// breaker (and health check), calls act once the snapshot has come, and
// returns the data of the first event of that name.
func streamEvent(t *testing.T, name string, health func() []exporter.HealthResult, act func(*breaker.Registry, *exporter.Live)) (int, []byte) {
	reg, live, h := liveFixture(t, exporter.LiveOptions{Coalesce: 10 * time.Millisecond,
		Routes: []exporter.Route{{Prefix: "/chat/", Breakers: []string{"openai_api", "anthropic_api"}}}},
		exporter.AdminOptions{Health: health})
	register(t, reg, breaker.Config{Name: "openai_api", FailureThreshold: 2})
	register(t, reg, breaker.Config{Name: "anthropic_api"})
	resp, evs := openEvents(t, h)
	ev := next(t, evs, "snapshot", 10*time.Second)
	if act != nil {
		act(reg, live)
		ev = next(t, evs, name, 10*time.Second)
	}
	return resp.StatusCode, []byte(ev.data)
}
