package peerconn

import "github.com/hyperblow/hyperblow/engine/wire"

// Event is what a started Conn delivers to its owner: a [Msg] or a [Closed]. The
// interface is sealed so that an owner's type switch is complete with these two.
type Event interface{ isEvent() }

// Msg is one message from the peer, in the order the peer sent it. Keep-alives and
// message ids wire does not know are not delivered. M.Payload is owned by the
// receiver.
type Msg struct {
	Conn *Conn
	M    wire.Message
}

// Closed is the last event of a started Conn, delivered exactly once. Err says why
// the connection ended and is never nil.
type Closed struct {
	Conn *Conn
	Err  error
}

func (Msg) isEvent()    {}
func (Closed) isEvent() {}
