package main

// These tests build the breakerwatch binary once and run it as a process:
// serve in front of test upstreams that the tests break and heal, ctl
// against it, validate, the demo and the shutdown.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/testutil"
)

// binary is the path of the built breakerwatch.
var binary string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "breakerwatch-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "breakerwatch")
		args := []string{"build", "-o", binary}
		if raceEnabled { // the process then reports its own data races
			args = append(args, "-race")
		}
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		build := exec.Command(gobin, append(args, ".")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building breakerwatch:", err)
			return 1
		}
		return m.Run()
	}())
}

// proc is a running breakerwatch.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *testutil.SyncBuffer
	stderr *testutil.SyncBuffer
	done   chan struct{}
	err    error // of Wait, once done is closed
	base   string
}

// cleanEnv is the test process's environment without the variables
// breakerwatch reads, plus extra ("KEY=value").
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CIRCUIT_BREAKER_ENABLED", "CB_FAILURE_THRESHOLD", "CB_TIMEOUT_SECONDS", "HEALTH_CHECK_INTERVAL",
			"CB_MODE", "BREAKERWATCH_ADMIN_TOKEN", "BREAKERWATCH_LISTEN", "BREAKERWATCH_REDIS_URL":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// start runs breakerwatch with args; it is stopped when the test ends.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = cleanEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if strings.Contains(p.stderr.String(), "DATA RACE") {
			t.Errorf("the process reported a data race:\n%s", p.stderr)
		}
		if t.Failed() {
			t.Logf("breakerwatch %s\n--- stdout ---\n%s\n--- stderr ---\n%s", strings.Join(args, " "), p.stdout, p.stderr)
		}
	})
	return p
}

var servingRE = regexp.MustCompile(`breakerwatch is serving on (http://\S+)`)

// serve starts `breakerwatch serve` on a free loopback port and waits
// until it prints its URL.
func serve(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := start(t, env, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := servingRE.FindStringSubmatch(p.stdout.String()); m != nil {
			p.base = m[1]
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("breakerwatch exited before serving: %v\n%s", p.err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("breakerwatch did not start serving within 60s")
		}
	}
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop() int {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatal("breakerwatch did not exit within 30s of SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

// runCmd runs breakerwatch to completion.
func runCmd(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = cleanEnv(env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "breakerwatch.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// response is what a client got.
type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

func get(t *testing.T, url string) response { t.Helper(); return do(t, http.MethodGet, url) }

// breakerMetrics is the part of /api/circuit-breaker/metrics the tests read.
type breakerMetrics struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Mode   string `json:"mode"`
	Counts struct {
		Success     uint64 `json:"success"`
		Failure     uint64 `json:"failure"`
		Rejected    uint64 `json:"rejected"`
		Ignored     uint64 `json:"ignored"`
		WouldReject uint64 `json:"would_reject"`
	} `json:"counts"`
	Transitions []struct {
		From  string `json:"from"`
		To    string `json:"to"`
		Count uint64 `json:"count"`
	} `json:"transitions"`
}

func (p *proc) breaker(name string) breakerMetrics {
	p.t.Helper()
	r := get(p.t, p.base+"/api/circuit-breaker/metrics")
	var body struct {
		Breakers []breakerMetrics `json:"breakers"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		p.t.Fatalf("metrics: %v: %s", err, r.body)
	}
	for _, b := range body.Breakers {
		if b.Name == name {
			return b
		}
	}
	p.t.Fatalf("no breaker %q in %s", name, r.body)
	return breakerMetrics{}
}

func (b breakerMetrics) transitions(from, to string) uint64 {
	for _, tr := range b.Transitions {
		if tr.From == from && tr.To == to {
			return tr.Count
		}
	}
	return 0
}

// logLine is one JSON log record.
type logLine map[string]any

// logs parses the JSON log records written so far.
func (p *proc) logs() []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits for a JSON log record whose fields include want.
func (p *proc) waitLog(within time.Duration, want map[string]string) logLine {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
	next:
		for _, l := range p.logs() {
			for k, v := range want {
				if fmt.Sprint(l[k]) != v {
					continue next
				}
			}
			return l
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no log record with %v within %v", want, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
