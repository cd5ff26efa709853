package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
	"github.com/breakerwatch/breakerwatch/internal/config"
)

// Options configures New. The zero value is usable.
type Options struct {
	// Logger receives upstream errors (warn) and one record per proxied
	// request (debug). Default slog.Default().
	Logger *slog.Logger
	// Transport carries every route's requests after the breaker and the
	// route's timeout. Default NewBaseTransport().
	Transport http.RoundTripper
}

// Gateway holds the routes' reverse proxies.
type Gateway struct {
	routes []*route
	base   http.RoundTripper
}

// NewBaseTransport returns the transport the routes share by default:
// http.DefaultTransport's settings (proxy from the environment, dial and TLS
// timeouts, HTTP/2) with more idle connections per upstream, and without
// transparent decompression, so bodies and Accept-Encoding pass through
// untouched.
func NewBaseTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return t
}

// New builds a reverse proxy for each route, through the breaker of reg that
// the route names. routes come from a validated config.Config.
func New(routes []config.Route, reg *breaker.Registry, opts Options) (*Gateway, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	base := opts.Transport
	if base == nil {
		base = NewBaseTransport()
	}
	g := &Gateway{base: base}
	for _, rc := range routes {
		b, ok := reg.Get(rc.Breaker)
		if !ok {
			return nil, fmt.Errorf("gateway: route %s: %w: %q", rc.Prefix, breaker.ErrNotFound, rc.Breaker)
		}
		if rc.Upstream == nil || rc.Timeout <= 0 {
			return nil, fmt.Errorf("gateway: route %s: needs an upstream and a positive timeout", rc.Prefix)
		}
		g.routes = append(g.routes, newRoute(rc, b, base, logger))
	}
	return g, nil
}

// Register adds every route to mux, at its prefix.
func (g *Gateway) Register(mux *http.ServeMux) {
	for _, r := range g.routes {
		mux.Handle(r.cfg.Prefix, r)
	}
}

// CloseIdleConnections closes the base transport's idle connections.
func (g *Gateway) CloseIdleConnections() {
	if c, ok := g.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

type route struct {
	cfg    config.Route
	b      *breaker.Breaker
	proxy  *httputil.ReverseProxy
	logger *slog.Logger
}

func newRoute(rc config.Route, b *breaker.Breaker, base http.RoundTripper, logger *slog.Logger) *route {
	logger = logger.With(slog.String("route", rc.Prefix), slog.String("breaker", rc.Breaker))
	var opts []exporter.Option
	if rc.FailureStatus != nil {
		opts = append(opts, exporter.WithFailureStatus(rc.FailureStatus...))
	}
	r := &route{cfg: rc, b: b, logger: logger}
	upstream, prefix := rc.Upstream, rc.Prefix
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			in := pr.In.URL
			pr.Out.URL.Path = "/" + strings.TrimPrefix(in.Path, prefix)
			pr.Out.URL.RawPath = ""
			if raw := in.EscapedPath(); strings.HasPrefix(raw, prefix) {
				pr.Out.URL.RawPath = "/" + raw[len(prefix):]
			}
			pr.SetURL(upstream)
			pr.SetXForwarded()
		},
		Transport: exporter.NewTransport(&headerTimeout{next: base, timeout: rc.Timeout, upstream: upstream.Redacted()},
			b, opts...),
		// Flush after every write: server-sent events and other streams
		// reach the client as the upstream sends them.
		FlushInterval: -1,
		ErrorHandler:  r.fail,
		// Body copy errors (mostly clients that hang up mid-stream).
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return r
}

func (r *route) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		r.logger.LogAttrs(req.Context(), slog.LevelDebug, "proxied",
			slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	}()
	r.proxy.ServeHTTP(sw, req)
}

// errorBody is the JSON body of the gateway's own 502 and 504 responses.
type errorBody struct {
	Error   string `json:"error"`
	Breaker string `json:"breaker"`
	Route   string `json:"route"`
}

// fail answers a request whose round trip returned an error.
func (r *route) fail(w http.ResponseWriter, req *http.Request, err error) {
	var (
		rej *breaker.RejectedError
		te  *TimeoutError
	)
	switch {
	case errors.As(err, &rej):
		r.logger.LogAttrs(req.Context(), slog.LevelDebug, "rejected by the circuit breaker",
			slog.String("state", rej.State.String()), slog.Duration("retry_after", rej.RetryAfter()))
		exporter.WriteRejection(w, rej)
	case req.Context().Err() != nil:
		// The client hung up; nobody is left to answer.
		r.logger.LogAttrs(req.Context(), slog.LevelDebug, "client went away", slog.String("error", err.Error()))
	case errors.As(err, &te):
		r.logger.LogAttrs(req.Context(), slog.LevelWarn, "upstream timeout", slog.String("error", err.Error()))
		r.writeError(w, http.StatusGatewayTimeout, err.Error())
	default:
		r.logger.LogAttrs(req.Context(), slog.LevelWarn, "upstream error", slog.String("error", err.Error()))
		r.writeError(w, http.StatusBadGateway, "upstream unreachable: "+err.Error())
	}
}

func (r *route) writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(errorBody{Error: msg, Breaker: r.cfg.Breaker, Route: r.cfg.Prefix})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set(exporter.HeaderBreakerName, r.cfg.Breaker)
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// statusWriter remembers the status for the access log. Unwrap lets
// http.ResponseController (which ReverseProxy uses to flush and to hijack
// for upgrades) reach the real writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
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
