//go:build unix

package gateway

import (
	"net"
	"testing"
)

// BenchmarkPeekerAlive is the cost of the check before a kept-alive
// connection is reused (one non-blocking recvfrom with MSG_PEEK):
//
//	go test -run '^$' -bench PeekerAlive -benchmem ./internal/gateway/
func BenchmarkPeekerAlive(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if s, ok := <-accepted; ok {
		defer s.Close()
	}
	p := newPeeker(c)
	if !p.alive() {
		b.Fatal("an open, quiet connection is not alive")
	}
	b.ReportAllocs()
	for b.Loop() {
		p.alive()
	}
}
