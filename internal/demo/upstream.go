package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// upstream is one simulated provider API on loopback.
type upstream struct {
	name     string
	behavior atomic.Pointer[Behavior]
	srv      *http.Server
	ln       net.Listener
	chunkGap time.Duration // between two events of a stream
}

func newUpstream(name string, chunkGap time.Duration, logger *slog.Logger) (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: upstream %s: %w", name, err)
	}
	u := &upstream{name: name, ln: ln, chunkGap: chunkGap}
	u.behavior.Store(&Healthy)
	u.srv = &http.Server{
		Handler:           u,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return u, nil
}

func (u *upstream) url() string { return "http://" + u.ln.Addr().String() }

func (u *upstream) set(b Behavior) { u.behavior.Store(&b) }

// ServeHTTP answers like a chat-completion API: JSON, or server-sent events
// when the request asks for a stream (?stream=true, "stream": true in the
// body, or Accept: text/event-stream).
func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := *u.behavior.Load()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if b.Latency > 0 && !sleep(r.Context(), b.Latency) {
		return
	}
	if b.ErrorRate > 0 && rand.Float64() < b.ErrorRate {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"error":{"type":"overloaded","message":"%s (simulated): %s"}}`+"\n", u.name, b)
		return
	}
	if r.URL.Query().Get("stream") == "true" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") ||
		strings.Contains(strings.ReplaceAll(string(body), " ", ""), `"stream":true`) {
		u.stream(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprintf("demo-%d", rand.Uint32()), "object": "chat.completion", "model": u.name + "-demo",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]string{"role": "assistant", "content": "Hello from the simulated " + u.name + "."}}},
	})
}

func (u *upstream) stream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for _, word := range strings.Fields("Hello from the simulated " + u.name) {
		chunk, _ := json.Marshal(map[string]any{"object": "chat.completion.chunk",
			"choices": []any{map[string]any{"index": 0, "delta": map[string]string{"content": word + " "}}}})
		if _, err := fmt.Fprintf(w, "data: %s\n\n", chunk); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		if !sleep(r.Context(), u.chunkGap) {
			return
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// sleep waits for d and reports true, or returns false as soon as ctx is
// done (the client went away).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
