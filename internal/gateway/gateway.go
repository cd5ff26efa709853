package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Options configures New. The zero value is usable.
type Options struct {
	// Logger receives upstream errors (warn) and one record per proxied
	// request (debug). Default slog.Default().
	Logger *slog.Logger
	// Transport carries the requests of every HTTP upstream without tls:
	// settings, after the breaker and the route's timeout. Each distinct
	// tls: block, and gRPC routes (NewGRPCTransport), get a clone of it
	// with their TLS client configuration or protocols, so with such routes
	// it must be an *http.Transport: New refuses another RoundTripper then.
	// Default: NewBaseTransport(), with a fast path of the gateway's own for
	// plain HTTP/1.1 to http:// upstreams (requests without a body or with a
	// small one it can send again) that skips http.Transport's per-request
	// hand-off between goroutines.
	Transport http.RoundTripper
	// MaxReplayMemory bounds the bytes that the replay buffers of all
	// routes with fallbacks hold at once; a request that would go over it
	// is sent without fallback replay, logged and counted in
	// breaker.MetricReplaySkipped. Default config.DefaultMaxReplayMemory.
	MaxReplayMemory int64
	// DisableFastPath, with Transport nil, sends every request through
	// NewBaseTransport() itself, without the fast path.
	DisableFastPath bool
	// MeterProvider receives breaker.MetricReplaySkipped. Default: the
	// global one.
	MeterProvider metric.MeterProvider
}

// Gateway holds the routes' reverse proxies.
type Gateway struct {
	routes   []*route
	byPrefix map[string]*route
	tr       *transports
	replay   *replayBudget
}

// NewBaseTransport returns the transport the routes share by default:
// http.DefaultTransport's settings (proxy from the environment, dial and TLS
// timeouts, HTTP/2) with more idle connections per upstream, and without
// transparent decompression, so bodies and Accept-Encoding pass through
// untouched.
func NewBaseTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	// Keep a connection per concurrent request: one opened and closed per
	// request above the idle limit costs more than the request itself.
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}

// New builds a reverse proxy for each route, through the breakers of reg
// that the route names: its own, then its fallbacks' (a fallback chain,
// reg.NewChainFromConfig). routes come from a validated config.Config.
func New(routes []config.Route, reg *breaker.Registry, opts Options) (*Gateway, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	tr := &transports{base: opts.Transport}
	if tr.base == nil {
		tr.httpBase = NewBaseTransport()
		tr.base = tr.httpBase
		if !opts.DisableFastPath {
			// The fast path for plain HTTP/1.1 upstreams, over the
			// transport that carries everything else.
			tr.base = newH1Transport(tr.httpBase)
		}
	} else {
		tr.httpBase, _ = opts.Transport.(*http.Transport)
	}
	g := &Gateway{tr: tr, byPrefix: make(map[string]*route, len(routes)), replay: &replayBudget{limit: opts.MaxReplayMemory}}
	if g.replay.limit <= 0 {
		g.replay.limit = config.DefaultMaxReplayMemory
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	skipped, err := mp.Meter(breaker.ScopeName).Int64Counter(breaker.MetricReplaySkipped,
		metric.WithDescription("Requests of routes with fallbacks sent without fallback replay because max_replay_memory was reached."))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	for _, rc := range routes {
		if !strings.HasPrefix(rc.Prefix, "/") || !strings.HasSuffix(rc.Prefix, "/") {
			return nil, fmt.Errorf("gateway: route %q: the prefix must start and end with /", rc.Prefix)
		}
		if _, dup := g.byPrefix[rc.Prefix]; dup {
			return nil, fmt.Errorf("gateway: route %s: another route has this prefix", rc.Prefix)
		}
		r, err := newRoute(rc, reg, g.tr, logger)
		if err != nil {
			return nil, fmt.Errorf("gateway: route %s: %w", rc.Prefix, err)
		}
		r.replay = g.replay
		r.skipped, r.skippedAttrs = skipped, metric.WithAttributeSet(attribute.NewSet(attribute.String(breaker.LabelName, rc.Breaker)))
		g.routes = append(g.routes, r)
		g.byPrefix[rc.Prefix] = r
	}
	return g, nil
}

// Register serves the routes on mux, under the catch-all pattern "/": the
// gateway finds a request's route itself, so that the mux's more specific
// patterns (/metrics, the admin API) still win. (A ServeMux pattern per
// route would cost O(routes) per registration: ServeMux checks each new
// prefix pattern against the others, and 10,000 routes took seconds.)
func (g *Gateway) Register(mux *http.ServeMux) {
	mux.Handle("/", g)
}

// ServeHTTP sends the request to the route with the longest prefix its
// path starts with, as ServeMux does for subtree patterns: a path that
// names a route's prefix without its trailing slash is redirected (301) to
// it, and one under no route is not found (404). The path is the one the
// mux cleaned; it is matched decoded (%2F is a slash here, as it was in
// ServeMux before Go 1.22).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p := req.URL.Path
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			if r, ok := g.byPrefix[p[:i+1]]; ok {
				r.ServeHTTP(w, req)
				return
			}
		}
	}
	if _, ok := g.byPrefix[p+"/"]; ok {
		u := &url.URL{Path: p + "/", RawQuery: req.URL.RawQuery}
		http.Redirect(w, req, u.String(), http.StatusMovedPermanently)
		return
	}
	http.NotFound(w, req)
}

// CloseIdleConnections closes the idle connections of the base transport
// and of the routes' TLS transports.
func (g *Gateway) CloseIdleConnections() { g.tr.closeIdle() }

type route struct {
	cfg       config.Route
	chain     *breaker.Chain
	members   []*member // the route's upstream, then its fallbacks
	byBreaker map[*breaker.Breaker]*member
	isFailure func(status int) bool
	grpc      *grpcRoute // nil on an HTTP route
	proxy     *httputil.ReverseProxy
	logger    *slog.Logger
	// replay is the gateway's budget for replay buffers; skipped counts
	// the requests it could not hold.
	replay       *replayBudget
	skipped      metric.Int64Counter
	skippedAttrs metric.MeasurementOption
	// direct: requests that directTakes go by serveDirect, not proxy. Set
	// for routes of one member on the fast path (h1Transport): the
	// operator's upstream_fast_path: false turns both off.
	direct bool
}

// member is one upstream of a route's chain.
type member struct {
	b        *breaker.Breaker
	name     []string // the breaker's name, as a header value
	upstream *url.URL
	rt       http.RoundTripper // base, bounded by the route's timeout
}

func newRoute(rc config.Route, reg *breaker.Registry, tr *transports, logger *slog.Logger) (*route, error) {
	if rc.Upstream == nil || rc.Timeout <= 0 {
		return nil, errors.New("needs an upstream and a positive timeout")
	}
	chain, err := reg.NewChainFromConfig(breaker.ChainConfig{Primary: rc.Breaker, Fallbacks: rc.Breakers()[1:]})
	if err != nil {
		return nil, err
	}
	if rc.MaxReplayBody <= 0 {
		rc.MaxReplayBody = config.DefaultMaxReplayBody
	}
	if rc.BodyReadTimeout <= 0 {
		rc.BodyReadTimeout = config.DefaultBodyReadTimeout
	}
	r := &route{cfg: rc, chain: chain, byBreaker: map[*breaker.Breaker]*member{}, isFailure: is5xx}
	if rc.FailureStatus != nil {
		r.isFailure = func(status int) bool { return slices.Contains(rc.FailureStatus, status) }
	}
	upstreams, tlss := []*url.URL{rc.Upstream}, []*config.UpstreamTLS{rc.TLS}
	for i, f := range rc.Fallbacks {
		if f.Upstream == nil {
			return nil, fmt.Errorf("fallbacks[%d]: needs an upstream", i)
		}
		upstreams, tlss = append(upstreams, f.Upstream), append(tlss, f.TLS)
	}
	attrs := []any{slog.String("route", rc.Prefix), slog.String("breaker", rc.Breaker)}
	r.logger = logger.With(attrs...)
	for i, name := range chain.Members() {
		b, _ := reg.Get(name) // the chain found it
		next, err := tr.get(tlss[i], rc.GRPC())
		if err != nil {
			return nil, fmt.Errorf("%s: tls: %w", upstreams[i].Redacted(), err)
		}
		if tlss[i] != nil && tlss[i].InsecureSkipVerify {
			r.logger.Warn("insecure_skip_verify: the upstream's TLS certificate is not verified",
				slog.String("upstream", upstreams[i].Redacted()), slog.String("member", name))
		}
		m := &member{b: b, name: []string{name}, upstream: upstreams[i],
			rt: &headerTimeout{next: next, timeout: rc.Timeout, upstream: upstreams[i].Redacted()}}
		r.members = append(r.members, m)
		r.byBreaker[b] = m
	}
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			setTarget(pr.Out, rc.Upstream, rc.Prefix, pr.In.URL) // and the upstream's own Host
			pr.SetXForwarded()
		},
		Transport: r,
		// FlushInterval is 0: ReverseProxy flushes after every write the
		// responses that stream (text/event-stream, or no Content-Length),
		// so server-sent events reach the client as the upstream sends
		// them, and buffers the others (a flush per write would cost a
		// syscall each, and -1 a timer per response).
		BufferPool:   copyBuffers,
		ErrorHandler: r.fail,
		// Body copy errors (mostly clients that hang up mid-stream).
		ErrorLog: slog.NewLogLogger(r.logger.Handler(), slog.LevelDebug),
		// An upstream's answer that comes before the end of the request's
		// body is written at once, in full duplex (duplex.go).
		ModifyResponse: answerEarly,
	}
	if rc.GRPC() {
		r.setGRPC(rc)
	}
	if h1, ok := r.members[0].rt.(*headerTimeout).next.(*h1Transport); ok && len(r.members) == 1 && r.grpc == nil {
		// The fast path must carry the route's requests (no proxy, no
		// user in the URL). It still leaves to http.Transport those that
		// declare trailers (HTTP/2 ones can without a body): serveDirect's
		// unaskedSwitch is for the 101 that only http.Transport returns.
		// (A gRPC route's transport is never the fast path; r.grpc == nil
		// says so here too, since serveDirect rewrites as a prefix route.)
		_, r.direct = h1.takes(&http.Request{Method: http.MethodGet, URL: rc.Upstream, Header: http.Header{}})
	}
	return r, nil
}

func is5xx(status int) bool { return status >= 500 && status <= 599 }

// target is the URL of the request for in at upstream (see setTarget),
// with the query.
func target(upstream *url.URL, prefix string, in *url.URL, query string) *url.URL {
	out := &http.Request{URL: &url.URL{RawQuery: query}}
	setTarget(out, upstream, prefix, in)
	return out.URL
}

// setTarget points out, whose URL holds the query to send, at upstream for
// the client's URL in: the prefix is stripped (its trailing slash kept), the
// rest joined to upstream's path, in its escaped form too. out's Host is
// cleared: the upstream's own is sent. out.URL is rewritten in place.
func setTarget(out *http.Request, upstream *url.URL, prefix string, in *url.URL) {
	*out.URL = url.URL{Path: stripPrefix(in.Path, prefix), RawQuery: out.URL.RawQuery}
	if raw := in.EscapedPath(); strings.HasPrefix(raw, prefix) {
		out.URL.RawPath = stripPrefix(raw, prefix)
	}
	(&httputil.ProxyRequest{Out: out}).SetURL(upstream)
}

// stripPrefix is "/" + p without prefix; a slice of p, not a new string,
// when p starts with prefix and prefix ends with a slash (a route's does).
func stripPrefix(p, prefix string) string {
	if strings.HasPrefix(p, prefix) && strings.HasSuffix(prefix, "/") {
		return p[len(prefix)-1:]
	}
	return "/" + strings.TrimPrefix(p, prefix)
}

// copyBuffers are the 32 KiB buffers ReverseProxy copies response bodies
// through, shared by every route.
var copyBuffers = &bufferPool{}

const copyBufferSize = 32 << 10

// bufferPool is an httputil.BufferPool of copyBufferSize buffers. It pools
// array pointers, so that Put does not allocate.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[copyBufferSize]byte); ok {
		return b[:]
	}
	return make([]byte, copyBufferSize)
}

func (bp *bufferPool) Put(b []byte) {
	if cap(b) >= copyBufferSize {
		bp.p.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
	}
}

func (r *route) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.grpc != nil {
		// No body_read_timeout: a gRPC request's body is its client stream,
		// which may rightly last as long as the call.
		r.serveGRPC(w, req)
		return
	}
	req, done := withBodyTimeout(w, req, r.cfg.BodyReadTimeout)
	defer done()
	if len(r.members) == 1 && !r.logger.Enabled(req.Context(), slog.LevelDebug) {
		// Nothing to log and no fallback to hold interim responses back
		// for: no need to watch the response.
		if r.direct && directTakes(req) {
			r.serveDirect(w, req)
			return
		}
		r.proxy.ServeHTTP(w, req)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		r.logger.LogAttrs(req.Context(), slog.LevelDebug, "proxied",
			slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	}()
	if len(r.members) > 1 {
		// ReverseProxy copies 1xx interim responses (103 Early Hints) to the
		// client as they arrive; from a member that may then fail and be
		// replaced by a fallback they would be bytes sent too early.
		sw.dropInterim = true
		out, release, over, err := withReplay(req, r.cfg.MaxReplayBody, r.replay)
		if err != nil {
			r.badBody(sw, req, err)
			return
		}
		defer release()
		if over != nil {
			r.skipped.Add(req.Context(), 1, r.skippedAttrs)
			r.logger.LogAttrs(req.Context(), slog.LevelWarn, "request body not buffered for replay",
				slog.String("reason", over.Error()), slog.Int64("content_length", req.ContentLength),
				slog.Int64("max_replay_memory", r.replay.limit))
		}
		req = out
	}
	r.proxy.ServeHTTP(sw, req)
}

// errorBody is the JSON body of the gateway's own 502 and 504 responses.
type errorBody struct {
	Error   string `json:"error"`
	Breaker string `json:"breaker"`
	Route   string `json:"route"`
}

// fail answers a request whose round trip returned an error: that of the
// last member of the chain that was called (a *memberError), or the
// rejection of the member whose breaker lets a call through first when none
// was.
func (r *route) fail(w http.ResponseWriter, req *http.Request, err error) {
	var (
		rej *breaker.RejectedError
		te  *TimeoutError
		me  *memberError
	)
	name := r.cfg.Breaker
	attrs := []slog.Attr{slog.String("error", err.Error())}
	if errors.As(err, &me) {
		name = me.member
		if me.attempts != "" {
			w.Header().Set(HeaderAttempts, me.attempts)
			attrs = append(attrs, slog.String("member", name), slog.String("attempts", me.attempts))
		}
	}
	switch {
	case errors.As(err, &rej):
		attrs = append(attrs, slog.String("state", rej.State.String()), slog.Duration("retry_after", rej.RetryAfter()))
		r.logger.LogAttrs(req.Context(), slog.LevelDebug, "rejected by the circuit breaker", attrs...)
		exporter.WriteRejection(w, rej)
	case bodyTimedOut(req.Context()) != nil:
		r.slowBody(w, req)
	case req.Context().Err() != nil:
		// The client hung up; nobody is left to answer.
		r.logger.LogAttrs(req.Context(), slog.LevelDebug, "client went away", attrs...)
	case errors.As(err, &te):
		r.logger.LogAttrs(req.Context(), slog.LevelWarn, "upstream timeout", attrs...)
		r.writeError(w, http.StatusGatewayTimeout, name, te.Error())
	default:
		r.logger.LogAttrs(req.Context(), slog.LevelWarn, "upstream error", attrs...)
		r.writeError(w, http.StatusBadGateway, name, "upstream unreachable: "+err.Error())
	}
}

// badBody answers a request whose body could not be read.
func (r *route) badBody(w http.ResponseWriter, req *http.Request, err error) {
	if bodyTimedOut(req.Context()) != nil {
		r.slowBody(w, req)
		return
	}
	if req.Context().Err() != nil {
		r.logger.LogAttrs(req.Context(), slog.LevelDebug, "client went away", slog.String("error", err.Error()))
		return
	}
	r.logger.LogAttrs(req.Context(), slog.LevelDebug, "bad request body", slog.String("error", err.Error()))
	r.writeError(w, http.StatusBadRequest, r.cfg.Breaker, "reading the request body: "+err.Error())
}

// slowBody answers 408 to a request whose body did not arrive within the
// route's body_read_timeout.
func (r *route) slowBody(w http.ResponseWriter, req *http.Request) {
	te := bodyTimedOut(req.Context())
	r.logger.LogAttrs(req.Context(), slog.LevelInfo, "request body timeout",
		slog.String("method", req.Method), slog.String("path", req.URL.Path), slog.Duration("body_read_timeout", te.After))
	w.Header().Set("Connection", "close")
	r.writeError(w, http.StatusRequestTimeout, r.cfg.Breaker, te.Error())
}

func (r *route) writeError(w http.ResponseWriter, status int, breakerName, msg string) {
	body, _ := json.Marshal(errorBody{Error: msg, Breaker: breakerName, Route: r.cfg.Prefix})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set(exporter.HeaderBreakerName, breakerName)
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// statusWriter remembers the status for the access log, and drops 1xx
// interim responses if told to (101 Switching Protocols is final). Unwrap
// lets http.ResponseController (which ReverseProxy uses to flush and to
// hijack for upgrades) reach the real writer.
type statusWriter struct {
	http.ResponseWriter
	status      int
	dropInterim bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.dropInterim && code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		return
	}
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
