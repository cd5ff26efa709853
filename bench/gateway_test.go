package bench

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/breakerwatch/breakerwatch/internal/serve"
)

// BenchmarkGateway puts the same load, from wrk, on each contender in turn:
//
//	direct        wrk -> upstream
//	reverseproxy  wrk -> bare httputil.ReverseProxy (newBareProxy) -> upstream
//	enforce, monitor, disabled
//	              wrk -> breakerwatch serve (serve.Run, in this process, one
//	              route through one breaker in that mode) -> upstream
//	nginx         wrk -> nginx proxy_pass, upstream keepalive -> upstream
//	              (when nginx is installed)
//
// The upstream answers every request with 1 KiB (Content-Length set). It
// runs in a child process (this test binary again, see TestMain), so the
// allocations this process makes while wrk runs are the proxy's own. wrk
// keeps its connections alive; each sub-benchmark runs it once for
// -gateway.warmup, then for -gateway.duration, and reports the second run:
//
//	req/s        wrk's requests per second
//	p50-ms       wrk's median latency
//	p99-ms       wrk's 99th percentile latency
//	ns/op        1e9 / (req/s): one op is one request
//	allocs/op    heap allocations of this process per request (the proxy's,
//	B/op         zero for direct and nginx, which do not run here)
//	cpu-us/op    CPU time of this process per request (user + system)
//
// One -count round runs every contender at 16, then at 64 connections, so
// that the machine's load drifts over all of them alike. Run with
// -benchtime 1x (each op of the benchmark loop is a whole wrk run).
func BenchmarkGateway(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (scripts/install-deps.sh installs it)")
	}
	up := startUpstream(b)
	contenders := []struct {
		name  string
		start func(testing.TB, string) string
	}{
		{"direct", func(_ testing.TB, up string) string { return up }},
		{"reverseproxy", startBareProxy},
		{"enforce", breakerwatchStarter("enforce")},
		{"monitor", breakerwatchStarter("monitor")},
		{"disabled", breakerwatchStarter("disabled")},
	}
	if _, err := exec.LookPath(nginxBinary()); err == nil {
		contenders = append(contenders, struct {
			name  string
			start func(testing.TB, string) string
		}{"nginx", startNginx})
	} else {
		b.Logf("nginx is not installed: no nginx contender")
	}
	for _, conns := range []int{16, 64} {
		for _, c := range contenders {
			b.Run(fmt.Sprintf("conns=%d/%s", conns, c.name), func(b *testing.B) {
				target := c.start(b, up) + benchPath
				b.ReportAllocs()                              // overridden: allocs/op and B/op below are per request
				runWrk(b, wrk, target, conns, *gatewayWarmup) // connections open, pools fill
				var total wrkResult
				var before, after runtime.MemStats
				for range b.N {
					runtime.GC()
					runtime.ReadMemStats(&before)
					cpu0 := processCPU()
					r := runWrk(b, wrk, target, conns, *gatewayDuration)
					cpu := processCPU() - cpu0
					runtime.ReadMemStats(&after)
					r.mallocs = after.Mallocs - before.Mallocs
					r.bytes = after.TotalAlloc - before.TotalAlloc
					r.cpu = cpu
					total.add(r)
				}
				total.report(b)
			})
		}
	}
}

var (
	gatewayDuration = flag.Duration("gateway.duration", 3*time.Second, "BenchmarkGateway: how long wrk runs per measurement (whole seconds)")
	gatewayWarmup   = flag.Duration("gateway.warmup", time.Second, "BenchmarkGateway: how long wrk runs before measuring (whole seconds)")
	gatewayThreads  = flag.Int("gateway.threads", runtime.NumCPU(), "BenchmarkGateway: wrk threads")
)

// benchPath is the path wrk requests; every contender sends it to the
// upstream unchanged or (breakerwatch, which strips its route prefix) as
// /payload.
const benchPath = "/v1/payload"

// upstreamEnv makes this test binary the benchmark's upstream (TestMain).
const upstreamEnv = "BREAKERWATCH_BENCH_UPSTREAM"

// payload is what the upstream answers: 1 KiB.
var payload = bytes.Repeat([]byte("0123456789abcdef"), 64)

func TestMain(m *testing.M) {
	if os.Getenv(upstreamEnv) == "1" {
		os.Exit(serveUpstream())
	}
	os.Exit(m.Run())
}

// serveUpstream serves payload on a loopback port, printed on stdout,
// until stdin closes (the parent exits or kills it).
func serveUpstream() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	size := strconv.Itoa(len(payload))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
			h["Content-Length"] = []string{size}
			_, _ = w.Write(payload)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	fmt.Printf("http://%s\n", ln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	_ = srv.Serve(ln)
	return 1
}

// startUpstream runs the upstream in a child process and returns its URL.
func startUpstream(tb testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), upstreamEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("upstream did not start: %v", err)
	}
	return strings.TrimSpace(line)
}

// newBareProxy is the reverse proxy a user writes in twenty lines with the
// standard library: httputil.NewSingleHostReverseProxy with its defaults
// (http.DefaultTransport, so at most 2 idle connections per upstream).
func newBareProxy(upstream string) (*http.Server, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // wrk hangs up mid-request when it stops
	return &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}, nil
}

func startBareProxy(tb testing.TB, upstream string) string {
	srv, err := newBareProxy(upstream)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		_ = srv.Close()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	return "http://" + ln.Addr().String()
}

// breakerwatchStarter runs `breakerwatch serve` (serve.Run, as the command
// runs it) with one route, /v1/ -> upstream, through one breaker in mode.
func breakerwatchStarter(mode string) func(testing.TB, string) string {
	return func(tb testing.TB, upstream string) string {
		cfg := fmt.Sprintf("breakers:\n  upstream:\n    mode: %s\nroutes:\n  - prefix: /v1/\n    upstream: %s\n    breaker: upstream\n", mode, upstream)
		path := filepath.Join(tb.TempDir(), "breakerwatch.yml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			tb.Fatal(err)
		}
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			err := serve.Run(ctx, serve.Options{
				ConfigPath: path,
				Listen:     "127.0.0.1:0",
				Env:        func(string) (string, bool) { return "", false },
				// serve's default log level: the per-request debug record is off.
				Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
				Stdout: pw,
			})
			pw.CloseWithError(io.EOF)
			done <- err
		}()
		var runErr error
		stopped := false
		stop := func() error {
			if !stopped {
				cancel()
				runErr, stopped = <-done, true
			}
			return runErr
		}
		var base string
		tb.Cleanup(func() {
			if err := stop(); err != nil && base != "" {
				tb.Errorf("serve: %v", err)
			}
		})
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "breakerwatch is serving on "); ok {
				base = u
				break
			}
		}
		go func() { _, _ = io.Copy(io.Discard, pr) }()
		if base == "" {
			tb.Fatalf("serve did not start: %v", stop())
		}
		return base
	}
}

func nginxBinary() string {
	if p := os.Getenv("NGINX"); p != "" && !strings.Contains(p, ";") {
		return p
	}
	return "nginx"
}

// startNginx runs nginx in the foreground (daemon off) with a generated
// configuration under a temporary prefix: proxy_pass to the upstream with
// keepalive connections, no access log, worker_processes auto. Its
// listening socket is made here on an ephemeral port and inherited by nginx
// (the NGINX environment variable, as in nginx's binary upgrade), so there
// is no window in which another process can take the port.
func startNginx(tb testing.TB, upstream string) string {
	prefix := tb.TempDir()
	if err := os.Chmod(prefix, 0o755); err != nil { // the workers (user nobody) read nothing here, but may create temp dirs
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	_ = ln.Close() // f holds a duplicate of the socket
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	u, err := url.Parse(upstream)
	if err != nil {
		tb.Fatal(err)
	}
	conf := fmt.Sprintf(`worker_processes auto;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream backend {
    server %[2]s;
    keepalive 64;
  }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, prefix, u.Host, ln.Addr().String())
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(nginxBinary(), "-p", prefix, "-e", filepath.Join(prefix, "error.log"), "-c", confPath)
	cmd.ExtraFiles = []*os.File{f} // fd 3
	cmd.Env = append(os.Environ(), "NGINX=3;")
	// Its own process group, so that the workers are stopped with the
	// master; and the master dies with this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGQUIT) // graceful: the master stops its workers
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	base := "http://" + ln.Addr().String()
	// Ready when it answers through to the upstream.
	deadline := time.Now().Add(10 * time.Second)
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	for {
		resp, err := client.Get(base + benchPath)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			errLog, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			tb.Fatalf("nginx exited: %v\n%s%s", err, out.String(), errLog)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			errLog, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			tb.Fatalf("nginx did not answer within 10s\n%s%s", out.String(), errLog)
		}
	}
}

// wrkResult is one wrk run, or the sum of several (add).
type wrkResult struct {
	runs     int
	requests uint64
	seconds  float64
	rps      float64 // sum over runs
	p50, p99 float64 // seconds, sum over runs
	mallocs  uint64
	bytes    uint64
	cpu      time.Duration
}

func (r *wrkResult) add(o wrkResult) {
	r.runs++
	r.requests += o.requests
	r.seconds += o.seconds
	r.rps += o.rps
	r.p50 += o.p50
	r.p99 += o.p99
	r.mallocs += o.mallocs
	r.bytes += o.bytes
	r.cpu += o.cpu
}

func (r *wrkResult) report(b *testing.B) {
	n := float64(r.runs)
	rps := r.rps / n
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(1e9/rps, "ns/op")
	b.ReportMetric(r.p50/n*1e3, "p50-ms")
	b.ReportMetric(r.p99/n*1e3, "p99-ms")
	b.ReportMetric(float64(r.mallocs)/float64(r.requests), "allocs/op")
	b.ReportMetric(float64(r.bytes)/float64(r.requests), "B/op")
	b.ReportMetric(float64(r.cpu.Microseconds())/float64(r.requests), "cpu-us/op")
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m),`)
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP50      = regexp.MustCompile(`\n\s+50%\s+([0-9.]+)(us|ms|s|m)\b`)
	wrkP99      = regexp.MustCompile(`\n\s+99%\s+([0-9.]+)(us|ms|s|m)\b`)
	wrkFailures = regexp.MustCompile(`Non-2xx or 3xx responses: \d+|Socket errors: [^\n]+`)
)

// runWrk runs wrk against target and parses its report. Any error, non-2xx
// response or socket error fails the benchmark: a contender that does not
// serve every request has not earned its figure.
func runWrk(tb testing.TB, wrk, target string, conns int, d time.Duration) wrkResult {
	threads := min(*gatewayThreads, conns)
	secs := max(1, int(d.Round(time.Second)/time.Second)) // wrk takes whole seconds
	cmd := exec.Command(wrk, "--latency", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "10s", target)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("wrk: %v\n%.2000s", err, out)
	}
	s := string(out)
	if m := wrkFailures.FindString(s); m != "" {
		tb.Fatalf("wrk against %s: %s\n%s", target, m, s)
	}
	var r wrkResult
	m := wrkRequests.FindStringSubmatch(s)
	p50 := wrkP50.FindStringSubmatch(s)
	p99 := wrkP99.FindStringSubmatch(s)
	rps := wrkRPS.FindStringSubmatch(s)
	if m == nil || p50 == nil || p99 == nil || rps == nil {
		tb.Fatalf("cannot parse wrk's report:\n%s", s)
	}
	r.requests, _ = strconv.ParseUint(m[1], 10, 64)
	r.seconds = wrkSeconds(tb, m[2], m[3])
	r.rps, _ = strconv.ParseFloat(rps[1], 64)
	r.p50 = wrkSeconds(tb, p50[1], p50[2])
	r.p99 = wrkSeconds(tb, p99[1], p99[2])
	if r.requests == 0 {
		tb.Fatalf("wrk made no request:\n%s", s)
	}
	return r
}

func wrkSeconds(tb testing.TB, v, unit string) float64 {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		tb.Fatalf("wrk: %q: %v", v, err)
	}
	switch unit {
	case "us":
		return f / 1e6
	case "ms":
		return f / 1e3
	case "m":
		return f * 60
	}
	return f
}

// processCPU is the CPU time this process has used (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestGatewayContenders checks that every contender of BenchmarkGateway
// proxies: 200 and the upstream's 1 KiB, and that breakerwatch's route went
// through its breaker (the headers it adds).
func TestGatewayContenders(t *testing.T) {
	up := startUpstream(t)
	check := func(t *testing.T, base string) http.Header {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
		defer client.CloseIdleConnections()
		resp, err := client.Get(base + benchPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, payload) {
			t.Fatalf("GET %s: %d, %d bytes; want 200 and the %d-byte payload", base+benchPath, resp.StatusCode, len(body), len(payload))
		}
		return resp.Header
	}
	t.Run("reverseproxy", func(t *testing.T) { check(t, startBareProxy(t, up)) })
	for _, mode := range []string{"enforce", "monitor", "disabled"} {
		t.Run(mode, func(t *testing.T) {
			h := check(t, breakerwatchStarter(mode)(t, up))
			if got := h.Get("X-Circuit-Breaker-Mode"); got != mode {
				t.Errorf("X-Circuit-Breaker-Mode = %q, want %q", got, mode)
			}
		})
	}
	t.Run("nginx", func(t *testing.T) {
		if _, err := exec.LookPath(nginxBinary()); err != nil {
			t.Skip("nginx is not installed")
		}
		check(t, startNginx(t, up))
	})
}
