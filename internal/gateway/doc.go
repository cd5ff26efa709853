// Package gateway is breakerwatch's reverse proxy: each configured route
// forwards a path prefix to an upstream URL through a named breaker.
//
// A request to /openai/v1/chat/completions on the route
// {prefix: /openai/, upstream: https://api.openai.com} goes to
// https://api.openai.com/v1/chat/completions: the prefix is stripped (its
// trailing slash kept) and the rest is joined to the upstream's path. The
// outbound Host is the upstream's; X-Forwarded-For, -Host and -Proto are set;
// hop-by-hop headers (Connection and the headers it names, Keep-Alive,
// Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade) are dropped in both
// directions by httputil.ReverseProxy, except that protocol upgrades
// (WebSocket) are passed through. On a route of one upstream on the fast
// path (below), a request without a body, an Upgrade, TE or Expect header,
// or a query that ReverseProxy would re-encode (directTakes) is proxied by
// the gateway's own copy of ReverseProxy's steps (serveDirect), which
// sends and answers the same without its deep copies; a differential test
// holds the two together.
//
// # Outcomes
//
// The breaker sees one call per request, ending when the upstream's response
// headers arrive: a transport error, a timeout or a failure status (every
// 5xx unless the route lists failure_status) is a failure; a 4xx is a
// success; a client that hangs up before the headers is ignored. The
// response body is streamed to the client. A response that streams
// (text/event-stream, or no Content-Length) is flushed after every write, so
// server-sent events arrive as the upstream sends them; others go out as
// the server's buffers fill or the body ends. The response names
// the breaker whose upstream answered (X-Breakerwatch-Served-By and the
// X-Circuit-Breaker-* headers of exporter.Middleware).
//
// # gRPC
//
// A route with protocol grpc (config.RouteGRPC) carries a gRPC service's
// calls: the path goes to the upstream unchanged, over HTTP/2 only
// (NewGRPCTransport: prior knowledge over cleartext, ALPN over TLS), and
// trailers pass through. A call's outcome is its grpc-status, which comes
// in the trailers (or the headers of a trailers-only response) once the
// body has ended; so the breaker's call wraps the whole proxied exchange
// and ends when the response does, and its duration is the call's (a
// stream's lifetime for a streaming call). The status counts as a failure
// when the route's failure codes list it (config.DefaultFailureCodes by
// default). The body still streams: each message is flushed as it comes.
// The gateway's own answers are trailers-only gRPC statuses that a gRPC
// client can read: UNAVAILABLE for a rejection or an unreachable upstream,
// DEADLINE_EXCEEDED for the header timeout. gRPC routes have no fallbacks.
//
// # Fallbacks
//
// A route may list fallback upstreams, each behind its own breaker: the
// route's breaker and theirs form a breaker.Chain, called with
// breaker.CallChain from the proxy's RoundTripper, so that everything
// happens before a byte of the response is written and a response that has
// started is never retried. A member whose breaker rejects the request is
// skipped without a call. A member that fails (transport error, timeout,
// failure status) is replaced by the next one only if the request can be
// sent again: it has no body, or its body was read whole within the route's
// max_replay_body; a larger body streams to the first member called, and
// that member's failure is the answer. The first member that answers with a
// status that is not a failure serves (circuit_breaker_fallback_total counts
// it when it is not the route's own). X-Breakerwatch-Attempts lists the
// members considered and their outcomes. Responses of members that are
// replaced are closed unread, and their 1xx interim responses are not
// passed on.
//
// # Timeouts
//
// A route's timeout bounds the wait for the upstream's response headers,
// from the start of the round trip (dial, TLS, request write, upstream think
// time). Once the headers have arrived the body is never cut by the gateway:
// a token stream may run as long as the upstream and the client keep it
// open.
//
// A route's body_read_timeout bounds the client's sending of the request
// body, through a read deadline on its connection (HTTP/1) or stream
// (HTTP/2): a body that stalls or trickles past it gets 408, the upstream
// call in flight is canceled, and the breaker counts the call as ignored
// (a *BodyTimeoutError matches context.Canceled), since it is the client's
// doing, not the upstream's. An upstream's answer that comes before the end
// of the body (413 to a large upload) is written at once, in full duplex
// (HTTP/1), and closes the client's connection once the server has read
// what is left of the body, within body_read_timeout, if that is at most
// 256 KiB.
//
// # Connections to upstreams
//
// Requests to plain http:// upstreams that need nothing more than HTTP/1.1
// with keep-alive (no body, or a body of at most 64 KiB that can be sent
// again, as a route with fallbacks buffers it; no Expect, Upgrade or
// trailers; no proxy from the environment) take the gateway's own fast
// path: the handler's goroutine writes the request and reads the response
// on a kept-alive connection itself, where http.Transport would hand them to
// two goroutines of the connection and back. A kept-alive connection that
// the upstream closed while idle is replaced, and the request sent again
// when nothing of it can have been processed (a safe method, an
// Idempotency-Key, or a connection found closed before sending). Every
// other request (streamed bodies, upgrades, https:// and gRPC upstreams)
// goes through http.Transport, whose settings (dialer, idle limits and
// timeout, response header limit) the fast path shares. A request without a
// body is written by the fast path itself (writeRequest: Request.Write's
// fields, in another order).
//
// # TLS
//
// An upstream with tls: settings (config.UpstreamTLS: a CA file, a client
// certificate for mutual TLS, a server name, or no verification) gets a
// transport of its own, shared by every upstream with the same settings;
// the others share the base transport. Every transport speaks HTTP/2 to
// the upstreams that offer it through ALPN.
//
// # Errors
//
// A rejected request gets exporter.WriteRejection's 503 with Retry-After and
// a JSON body naming the breaker. An upstream that does not answer in time
// gets 504, one that cannot be reached (a TLS failure included) 502, a
// request whose body did not arrive in time 408, each with a JSON body
// {"error": "...", "breaker": "...", "route": "..."}. On a route with
// fallbacks that no member served, the answer is that of the last member
// called (its own failing response, or its 502/504), or, when every member
// was rejected, the rejection of the one whose breaker lets a call through
// first.
package gateway
