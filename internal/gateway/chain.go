package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/breakerwatch/breakerwatch/breaker"
	"github.com/breakerwatch/breakerwatch/exporter"
)

// Response headers the gateway adds.
const (
	// HeaderServedBy names the breaker of the upstream whose response the
	// client gets: the route's own, or the fallback that served.
	HeaderServedBy = "X-Breakerwatch-Served-By"
	// HeaderAttempts, on routes with fallbacks, lists the members of the
	// chain that were considered, in order, each with its outcome: the
	// upstream's status, "timeout", "unreachable", or the state of a breaker
	// that rejected the request ("open", "half-open"), e.g.
	// "openai_api=open, anthropic_api=200".
	HeaderAttempts = "X-Breakerwatch-Attempts"
)

// RoundTrip sends out through the route's chain (breaker.CallChain): to the
// route's upstream, then, while the request can be sent again, to each
// fallback in turn until one answers with a status that is not a failure.
// A member whose breaker rejects the request is skipped without a call.
// Everything happens before ReverseProxy writes a byte to the client, so a
// response that has started is never retried.
//
// When no member serves, the client gets the last called member's failure:
// its response, untouched, or its error (502/504); when none was called, the
// rejection of the member whose breaker lets a call through first (503).
func (r *route) RoundTrip(out *http.Request) (*http.Response, error) {
	rp, _ := out.Context().Value(replayKey{}).(*replay)
	var last attempt // the latest failure of a called member, kept until another runs
	res, err := breaker.CallChain(out.Context(), r.chain, func(ctx context.Context, b *breaker.Breaker) (*http.Response, error) {
		m := r.byBreaker[b]
		last.discard()
		state := b.State() // as the request arrived at this member, like exporter.Middleware's header
		resp, err := m.rt.RoundTrip(r.attemptRequest(ctx, out, m, rp))
		if err == nil && resp.StatusCode < 100 {
			// Three digits, but no HTTP status: net/http's server would
			// panic writing it.
			_ = resp.Body.Close()
			resp, err = nil, fmt.Errorf("malformed HTTP status code %03d from the upstream", resp.StatusCode)
		}
		if err == nil && !r.isFailure(resp.StatusCode) {
			annotate(resp, m, state)
			return resp, nil
		}
		if err == nil {
			err = &statusError{resp.StatusCode}
		}
		last = attempt{m: m, state: state, resp: resp, err: err}
		if rp == nil || !rp.ok {
			// The body went to this member and cannot be sent again.
			return nil, breaker.NoFallback(err)
		}
		return nil, err
	})
	attempts := ""
	if rp != nil {
		attempts = formatAttempts(res.Errors, res.Served, res.Value)
	}
	if err == nil {
		if attempts != "" {
			res.Value.Header.Set(HeaderAttempts, attempts)
		}
		if res.Fallback {
			r.logger.LogAttrs(out.Context(), slog.LevelDebug, "served by a fallback",
				slog.String("fallback", res.Served), slog.String("attempts", attempts))
		}
		return res.Value, nil
	}
	switch {
	case last.resp != nil: // the upstream's own failing response
		annotate(last.resp, last.m, last.state)
		if attempts != "" {
			last.resp.Header.Set(HeaderAttempts, attempts)
		}
		return last.resp, nil
	case last.m != nil:
		return nil, &memberError{member: last.m.b.Name(), err: last.err, attempts: attempts}
	}
	if rej := soonest(res.Errors); rej != nil {
		return nil, &memberError{member: rej.Name, err: rej, attempts: attempts}
	}
	return nil, err // the client went away before any member was called
}

// attemptRequest is out as sent to m. On a route without fallbacks it is
// out itself. Otherwise it carries m's URL, a fresh copy of the buffered
// body (or the unbuffered body, which only one member ever gets), and no
// Expect header when the body is buffered.
func (r *route) attemptRequest(ctx context.Context, out *http.Request, m *member, rp *replay) *http.Request {
	if rp == nil {
		return out
	}
	a := out.WithContext(ctx)
	if m != r.members[0] {
		a.URL = target(m.upstream, r.cfg.Prefix, rp.in, out.URL.RawQuery)
	}
	if rp.ok && len(rp.body) > 0 {
		a.Body, _ = rp.getBody()
		a.GetBody = rp.getBody
		a.ContentLength = int64(len(rp.body))
		if a.Header.Get("Expect") != "" {
			a.Header = a.Header.Clone()
			a.Header.Del("Expect")
		}
	}
	return a
}

// annotate sets the headers naming the member whose response this is. The
// values are shared, built once (ReverseProxy copies them to the client's
// response): a proxied request allocates none of them.
func annotate(resp *http.Response, m *member, state breaker.State) {
	h := resp.Header
	h[HeaderServedBy] = m.name
	h[exporter.HeaderBreakerName] = m.name
	h[exporter.HeaderBreakerState] = headerValue(stateValues[:], int(state), state)
	h[exporter.HeaderBreakerMode] = headerValue(modeValues[:], int(m.b.Mode()), m.b.Mode())
}

// The header values of each state and mode, by number.
var (
	stateValues = [...][]string{
		breaker.StateClosed: {breaker.StateClosed.String()}, breaker.StateHalfOpen: {breaker.StateHalfOpen.String()},
		breaker.StateOpen: {breaker.StateOpen.String()},
	}
	modeValues = [...][]string{
		breaker.ModeEnforce: {breaker.ModeEnforce.String()}, breaker.ModeMonitor: {breaker.ModeMonitor.String()},
		breaker.ModeDisabled: {breaker.ModeDisabled.String()},
	}
)

func headerValue(values [][]string, i int, v fmt.Stringer) []string {
	if i >= 0 && i < len(values) {
		return values[i]
	}
	return []string{v.String()}
}

// attempt is a called member's failure.
type attempt struct {
	m     *member
	state breaker.State
	resp  *http.Response // nil for a transport error
	err   error
}

// discard closes the kept response: another member is about to answer.
// (Its body is not drained: it may be slow to come.)
func (a *attempt) discard() {
	if a.resp != nil {
		_ = a.resp.Body.Close()
	}
	*a = attempt{}
}

// statusError is a member's response whose status counts as a failure.
type statusError struct{ status int }

func (e *statusError) Error() string {
	return "upstream answered " + strconv.Itoa(e.status) + " " + http.StatusText(e.status)
}

// memberError is the error of a chain that no member served: the error of
// the member named (the last one called, or a rejection), and the attempts.
type memberError struct {
	member   string
	err      error
	attempts string
}

func (e *memberError) Error() string { return e.err.Error() }
func (e *memberError) Unwrap() error { return e.err }

// formatAttempts is HeaderAttempts' value: each member that did not serve,
// then the one that served, if any, with its response's status.
func formatAttempts(errs []*breaker.MemberError, served string, resp *http.Response) string {
	parts := make([]string, 0, len(errs)+1)
	for _, me := range errs {
		parts = append(parts, me.Member+"="+outcome(me.Err))
	}
	if served != "" {
		parts = append(parts, served+"="+strconv.Itoa(resp.StatusCode))
	}
	return strings.Join(parts, ", ")
}

// outcome is one member's short outcome for HeaderAttempts.
func outcome(err error) string {
	var (
		rej *breaker.RejectedError
		se  *statusError
		te  *TimeoutError
	)
	switch {
	case errors.As(err, &rej):
		return rej.State.String()
	case errors.As(err, &se):
		return strconv.Itoa(se.status)
	case errors.As(err, &te):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "unreachable"
}

// soonest is the rejection, among errs, of the breaker that lets a call
// through first (the earliest in the chain on a tie); nil if none.
func soonest(errs []*breaker.MemberError) *breaker.RejectedError {
	var best *breaker.RejectedError
	for _, me := range errs {
		var rej *breaker.RejectedError
		if errors.As(me.Err, &rej) && (best == nil || rej.RetryAt.Before(best.RetryAt)) {
			best = rej
		}
	}
	return best
}
