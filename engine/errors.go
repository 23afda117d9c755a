package engine

import "errors"

// ErrClosed is returned by reads on a torrent or client that has been closed.
var ErrClosed = errors.New("engine: torrent closed")
