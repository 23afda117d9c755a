//go:build !linux

package utp

import "syscall"

// readBatch reads with recvmmsg where there is one (Linux); here it reads
// nothing and returns false.
func (s *Socket) readBatch(rc syscall.RawConn) bool { return false }
