//go:build !linux

package utp

import (
	"net/netip"
	"syscall"
)

// readBatch reads with recvmmsg where there is one (Linux); here it reads
// nothing and returns false.
func (s *Socket) readBatch(rc syscall.RawConn) bool { return false }

// rawWriter is Linux's; elsewhere the net package sends.
type rawWriter struct{}

func newRawWriter(rc syscall.RawConn) *rawWriter { return nil }

func (w *rawWriter) write(b []byte, to netip.AddrPort) bool { return false }
