package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a program started by the test; its output goes to a log file that
// is printed when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *testutil.SyncBuffer
	done chan struct{}
}

// start runs a program until the test ends: on cleanup it gets SIGTERM, then
// SIGKILL after 10 seconds; on failure its output is logged.
func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("==== %s output ====\n%s", name, tail(p.log.String(), 200))
		}
	})
	return p
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// waitHTTP polls url until it answers 200 or the process exits.
func waitHTTP(t *testing.T, p *proc, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready:\n%s", p.name, tail(p.log.String(), 50))
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s within %v", p.name, url, within)
}

// notification is one Alertmanager webhook delivery (version 4 payload).
type notification struct {
	Receiver string  `json:"receiver"`
	Status   string  `json:"status"`
	Alerts   []alert `json:"alerts"`
	At       time.Time
	Path     string
}

type alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// webhook receives Alertmanager notifications; each receiver of the shipped
// Alertmanager config is pointed at its own path.
type webhook struct {
	srv *httptest.Server
	mu  sync.Mutex
	all []notification
	ch  chan struct{}
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{ch: make(chan struct{}, 1)}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var n notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		n.At, n.Path = time.Now(), r.URL.Path
		w.mu.Lock()
		w.all = append(w.all, n)
		w.mu.Unlock()
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) notifications() []notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]notification(nil), w.all...)
}

// delivered is a flattened alert as a receiver got it.
type delivered struct {
	path   string
	status string
	alert  alert
	at     time.Time
}

func (w *webhook) delivered() []delivered {
	var out []delivered
	for _, n := range w.notifications() {
		for _, a := range n.Alerts {
			out = append(out, delivered{path: n.Path, status: a.Status, alert: a, at: n.At})
		}
	}
	return out
}

// waitAlert waits until the alert alertname of the breaker name has been
// delivered with status (firing or resolved), and returns it.
func (w *webhook) waitAlert(ctx context.Context, t *testing.T, status, alertname, name string) delivered {
	t.Helper()
	for {
		for _, d := range w.delivered() {
			if d.status == status && d.alert.Labels["alertname"] == alertname && d.alert.Labels["name"] == name {
				return d
			}
		}
		select {
		case <-w.ch:
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s %s for %s; notifications so far:\n%s", status, alertname, name, w.dump())
		}
	}
}

func (w *webhook) dump() string {
	var b strings.Builder
	for _, d := range w.delivered() {
		fmt.Fprintf(&b, "  %s %s %s %v\n", d.at.Format("15:04:05.000"), d.path, d.status, d.alert.Labels)
	}
	return b.String()
}
