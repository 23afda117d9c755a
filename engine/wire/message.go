package wire

import "fmt"

// ID is the one-byte message type that follows the length prefix.
type ID uint8

// Message ids. BEP 3 defines 0–9, BEP 6 (fast extension) 0x0D–0x11, BEP 10 20.
const (
	Choke         ID = 0
	Unchoke       ID = 1
	Interested    ID = 2
	NotInterested ID = 3
	Have          ID = 4
	Bitfield      ID = 5
	Request       ID = 6
	Piece         ID = 7
	Cancel        ID = 8
	Port          ID = 9 // BEP 5: the sender's DHT port

	Suggest     ID = 0x0D // BEP 6
	HaveAll     ID = 0x0E // BEP 6
	HaveNone    ID = 0x0F // BEP 6
	Reject      ID = 0x10 // BEP 6
	AllowedFast ID = 0x11 // BEP 6

	Extended ID = 20 // BEP 10
)

var idNames = [...]string{
	Choke: "choke", Unchoke: "unchoke", Interested: "interested",
	NotInterested: "not interested", Have: "have", Bitfield: "bitfield",
	Request: "request", Piece: "piece", Cancel: "cancel", Port: "port",
	Suggest: "suggest", HaveAll: "have all", HaveNone: "have none",
	Reject: "reject", AllowedFast: "allowed fast", Extended: "extended",
}

// Known reports whether this package understands id. Unknown ids are still framed
// (their payload is returned raw) so a connection can skip them.
func (id ID) Known() bool { return int(id) < len(idNames) && idNames[id] != "" }

// String returns the message name, or "unknown(0xNN)".
func (id ID) String() string {
	if id.Known() {
		return idNames[id]
	}
	return fmt.Sprintf("unknown(0x%02x)", uint8(id))
}

// Message is one peer message, in a flat form that needs no allocation to parse.
// Which fields are meaningful depends on ID:
//
//	Keepalive                                 no other field (ID is then meaningless)
//	Choke, Unchoke, Interested, NotInterested,
//	HaveAll, HaveNone                         none
//	Have, Suggest, AllowedFast                Index
//	Request, Cancel, Reject                   Index, Begin, Length
//	Piece                                     Index, Begin, Payload (the block)
//	Bitfield                                  Payload (the bitfield bytes)
//	Port                                      Port
//	Extended                                  ExtID, Payload (opaque, BEP 10)
//	unknown ids                               Payload (everything after the id)
//
// A Keepalive must be tested first, since the zero ID is Choke.
type Message struct {
	Keepalive bool
	ID        ID
	Index     uint32
	Begin     uint32
	Length    uint32
	Payload   []byte
	ExtID     uint8
	Port      uint16
}

// EncodedLen returns the number of bytes [AppendMessage] writes for m, length prefix
// included; a send queue can account for it without encoding.
func (m Message) EncodedLen() int {
	if m.Keepalive {
		return 4
	}
	return 4 + bodyLen(m)
}

// bodyLen is the value of m's length prefix: the id byte and what follows.
func bodyLen(m Message) int {
	switch m.ID {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return 1
	case Have, Suggest, AllowedFast:
		return 5
	case Request, Cancel, Reject:
		return 13
	case Piece:
		return 9 + len(m.Payload)
	case Port:
		return 3
	case Extended:
		return 2 + len(m.Payload)
	default: // Bitfield and unknown ids
		return 1 + len(m.Payload)
	}
}

// String describes m for logs, without its payload bytes.
func (m Message) String() string {
	if m.Keepalive {
		return "keep-alive"
	}
	switch m.ID {
	case Have, Suggest, AllowedFast:
		return fmt.Sprintf("%v(%d)", m.ID, m.Index)
	case Request, Cancel, Reject:
		return fmt.Sprintf("%v(index=%d begin=%d len=%d)", m.ID, m.Index, m.Begin, m.Length)
	case Piece:
		return fmt.Sprintf("piece(index=%d begin=%d len=%d)", m.Index, m.Begin, len(m.Payload))
	case Port:
		return fmt.Sprintf("port(%d)", m.Port)
	case Extended:
		return fmt.Sprintf("extended(id=%d len=%d)", m.ExtID, len(m.Payload))
	case Bitfield:
		return fmt.Sprintf("bitfield(%d bytes)", len(m.Payload))
	}
	if !m.ID.Known() {
		return fmt.Sprintf("%v(%d bytes)", m.ID, len(m.Payload))
	}
	return m.ID.String()
}
