package gateway

import (
	"errors"
	"net/http"
)

// answerEarly is the routes' ReverseProxy.ModifyResponse. An upstream may
// answer before it has read the request body that the transport is still
// sending it (413 Payload Too Large, 401 on an upload); its response is
// then written in full duplex, at once, and closes the client's connection.
//
// net/http's HTTP/1 server is half duplex by default: writing the response
// headers first takes the request body's lock, which the transport holds
// while it waits for the client's next bytes, so a client that waits for
// the answer before sending more got none until body_read_timeout; and it
// discards a body's unread rest of under 256 KiB under the transport, which
// then fails to read it and closes the upstream connection, mid-response.
// Full duplex (http.ResponseController.EnableFullDuplex) leaves the body
// alone. HTTP/2 is full duplex already (http.ErrNotSupported), and a gRPC
// route's body is not timed (no timedBody): both are left as they are. The
// gateway's own answers (a rejection, 502, 504) stay half duplex: the
// server reads a small unread body's rest before them and keeps the
// connection, as it always did.
//
// In full duplex the server no longer cleans up after the body, and the
// gateway does. The response closes the connection (Connection: close, as
// net/http's own answer to a large unread body does): the server would
// otherwise read the next request after a body whose end it may not have
// found (a chunked body whose read it interrupted stays in error, and what
// follows would be parsed as a request; golang/go#68560 makes it panic on
// the next request after a body whose end it reads once the handler has
// returned), and the client learns that it may stop sending. And a read of
// the body still in flight as the handler returns is ended (stop).
func answerEarly(resp *http.Response) error {
	if resp.Request == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		return nil
	}
	tb, ok := resp.Request.Context().Value(bodyKey{}).(*timedBody)
	if !ok || tb.eof.Load() || tb.rc.EnableFullDuplex() != nil {
		return nil
	}
	tb.duplex = true
	resp.Header.Set("Connection", "close")
	return nil
}

// errBodyStopped is the error of a read of a body after stop.
var errBodyStopped = errors.New("gateway: request body read after the response ended")

// stop ends, as the handler returns, the reads of a body that a response in
// full duplex left unread: a read in flight (the transport's, sending the
// body to an upstream that has answered) is interrupted, and the reader
// gets errBodyStopped from then on. Left in flight, that read would wait
// for the client's next bytes while the server, past the handler, waits to
// close the body; the server would interrupt it itself, but lift the read
// deadline for good. With the deadline back, the server then ends the
// response and reads what is left of the body (up to 256 KiB; past that it
// gives up on the connection) within body_read_timeout.
func (b *timedBody) stop() {
	b.stopping.Store(true)
	_ = b.rc.SetReadDeadline(aLongTimeAgo)
	b.mu.Lock() // a read in flight has returned; later ones find stopping
	_ = b.rc.SetReadDeadline(b.deadline)
	b.mu.Unlock()
}
