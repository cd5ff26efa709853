//go:build unix

package gateway

import (
	"errors"
	"net"
	"syscall"
)

// peeker looks at a connection's socket without reading from it or
// blocking. Made once per connection, so that a look allocates nothing.
type peeker struct {
	rc   syscall.RawConn
	buf  [1]byte
	open bool
	look func(fd uintptr) bool // p.peek, bound once
}

// newPeeker returns a peeker for c, or nil when c has no socket to look at.
func newPeeker(c net.Conn) *peeker {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &peeker{rc: rc}
	p.look = p.peek
	return p
}

// alive reports whether the peer has neither closed the connection nor
// sent anything on it. A nil peeker cannot tell, and says yes.
func (p *peeker) alive() bool {
	if p == nil {
		return true
	}
	p.open = false
	return p.rc.Read(p.look) == nil && p.open
}

func (p *peeker) peek(fd uintptr) bool {
	// Nothing to read: open. Zero bytes: closed. Bytes: not ours.
	_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	p.open = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
	return true
}
