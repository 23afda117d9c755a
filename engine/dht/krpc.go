package dht

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// Limits on one KRPC message (BEP 5). Every packet is read through benc.Parse with
// krpcLimits first, so no packet can make decoding allocate more than a small multiple
// of its size.
const (
	// maxPacket is the largest datagram handled; larger ones are dropped unread. BEP 5
	// messages are far smaller: a get_peers reply with 8 nodes and 50 peers is ~700 bytes.
	maxPacket = 2048
	// maxTIDLen bounds the transaction id. Replies echo it, so a long one would let a
	// sender inflate our replies; messages with a longer one are dropped.
	maxTIDLen = 32
	// maxTokenLen bounds an announce token (ours are 8 bytes; libtorrent's 4).
	maxTokenLen = 64
	// maxParsedNodes and maxParsedValues bound what one reply contributes to a lookup.
	maxParsedNodes  = 32
	maxParsedValues = 256
	// maxErrorText bounds an error message kept from a remote node.
	maxErrorText = 200
)

// krpcLimits bounds the bencode scan of one packet: KRPC nests at most three deep
// (message, "r", "values"); a little headroom tolerates extensions.
var krpcLimits = benc.Limits{MaxSize: maxPacket, MaxDepth: 8, MaxTokens: 1024, SortedKeys: false}

// Message types, the "y" key of BEP 5.
const (
	typeQuery    = 'q'
	typeResponse = 'r'
	typeError    = 'e'
)

// method is a BEP 5 query name.
type method uint8

// The four BEP 5 queries.
const (
	methodUnknown method = iota
	methodPing
	methodFindNode
	methodGetPeers
	methodAnnouncePeer
)

var methodNames = [...]string{
	methodUnknown:      "unknown",
	methodPing:         "ping",
	methodFindNode:     "find_node",
	methodGetPeers:     "get_peers",
	methodAnnouncePeer: "announce_peer",
}

// String returns the wire name of m.
func (m method) String() string { return methodNames[m] }

func parseMethod(b []byte) method {
	for m := methodPing; m <= methodAnnouncePeer; m++ {
		if string(b) == methodNames[m] {
			return m
		}
	}
	return methodUnknown
}

// BEP 5 error codes, the first element of an error's "e" list.
const (
	CodeGeneric       = 201 // generic error
	CodeServer        = 202 // server error (ours: the peer store is full)
	CodeProtocol      = 203 // protocol error: malformed packet, invalid arguments or bad token
	CodeMethodUnknown = 204 // method unknown
)

// message is one decoded KRPC message. Byte slices alias the packet, so a message must
// not outlive its buffer; clone copies what a waiting query keeps.
type message struct {
	TID    []byte
	Type   byte // typeQuery, typeResponse or typeError
	Method method
	Args   queryArgs // queries
	Reply  replyArgs // responses
	// Code and Text are the error of an error message.
	Code int
	Text string
	// Requester is BEP 42's "ip": the address the responder saw our query come from.
	Requester netip.AddrPort
	// ReadOnly is BEP 43's "ro": the querier answers no queries, so it must not enter
	// routing tables.
	ReadOnly bool
}

// queryArgs are the "a" arguments of a query. Target holds find_node's "target" or
// the "info_hash" of get_peers and announce_peer.
type queryArgs struct {
	ID          ID
	Target      ID
	Port        uint16
	ImpliedPort bool
	Token       []byte
	// Want is BEP 32's "want": wantN4 and wantN6 bits, 0 when absent.
	Want uint8
}

// BEP 32 "want" bits.
const (
	wantN4 uint8 = 1 << iota
	wantN6
)

// replyArgs are the "r" values of a response.
type replyArgs struct {
	ID     ID
	Nodes  []NodeInfo
	Values []netip.AddrPort
	Token  []byte
	// HasNodes and HasValues tell an empty list from an absent key.
	HasNodes, HasValues bool
}

// clone copies the parts of m that alias the packet buffer.
func (m message) clone() message {
	m.TID = append([]byte(nil), m.TID...)
	m.Args.Token = append([]byte(nil), m.Args.Token...)
	m.Reply.Token = append([]byte(nil), m.Reply.Token...)
	return m
}

// parseError is a malformed or unanswerable KRPC message. When TID is set and the
// message was (or claimed to be) a query, the sender gets a BEP 5 error with Code;
// otherwise the packet is dropped.
type parseError struct {
	TID   []byte
	Query bool
	Code  int
	Msg   string
}

func (e *parseError) Error() string { return fmt.Sprintf("krpc: %s (code %d)", e.Msg, e.Code) }

// replyable reports whether the sender of the bad packet should get an error reply: it
// has a transaction id to echo and was not itself a response or an error (answering
// those could start an endless exchange of errors between two nodes).
func (e *parseError) replyable() bool { return e.TID != nil && e.Query }

// errNotDict is the parse error of a packet that is not a bencoded dictionary.
var errNotDict = errors.New("krpc: not a bencoded dictionary")

// parseMessage decodes one KRPC packet (BEP 5). Malformed input is an error: a
// *parseError when anything can be said back, otherwise a wrapped benc error or
// errNotDict. It never panics, and apart from the nodes and values of a reply (bounded
// by maxParsedNodes and maxParsedValues) it allocates nothing.
func parseMessage(b []byte) (message, error) {
	var m message
	if len(b) > maxPacket {
		return m, fmt.Errorf("krpc: packet of %d bytes exceeds %d", len(b), maxPacket)
	}
	v, err := benc.Parse(b, krpcLimits)
	if err != nil {
		return m, fmt.Errorf("krpc: %w", err)
	}
	if v.Kind() != benc.Dict {
		return m, errNotDict
	}
	var y, q, a, r, e, ip benc.Value
	var tidOK bool
	for k, val := range v.Entries() {
		switch string(k) {
		case "t":
			if s, ok := val.Bytes(); ok && len(s) <= maxTIDLen {
				m.TID, tidOK = s, true
			}
		case "y":
			y = val
		case "q":
			q = val
		case "a":
			a = val
		case "r":
			r = val
		case "e":
			e = val
		case "ip":
			ip = val
		case "ro":
			ro, _ := val.Int()
			m.ReadOnly = ro == 1
		}
	}
	ys, _ := y.Bytes()
	isQuery := len(ys) == 1 && ys[0] == typeQuery || len(ys) != 1 && q.Kind() != benc.Invalid
	bad := func(code int, format string, args ...any) error {
		pe := &parseError{Query: isQuery, Code: code, Msg: fmt.Sprintf(format, args...)}
		if tidOK {
			pe.TID = m.TID
		}
		return pe
	}
	if !tidOK {
		return m, bad(CodeProtocol, "missing or invalid transaction id")
	}
	if len(ys) != 1 {
		return m, bad(CodeProtocol, "missing or invalid message type")
	}
	m.Type = ys[0]
	if s, ok := ip.Bytes(); ok && len(s) == 6 {
		if p, err := bt.ParseCompactPeers(s); err == nil {
			m.Requester = p[0]
		}
	}
	switch m.Type {
	case typeQuery:
		name, ok := q.Bytes()
		if !ok {
			return m, bad(CodeProtocol, "query without method name")
		}
		m.Method = parseMethod(name)
		if m.Method == methodUnknown {
			return m, bad(CodeMethodUnknown, "method unknown")
		}
		if err := parseArgs(a, m.Method, &m.Args); err != nil {
			return m, bad(CodeProtocol, "%s: %v", m.Method, err)
		}
	case typeResponse:
		if err := parseReply(r, &m.Reply); err != nil {
			return m, bad(CodeProtocol, "response: %v", err)
		}
	case typeError:
		m.Code, m.Text = parseErrorList(e)
	default:
		return m, bad(CodeProtocol, "unknown message type %q", ys[0])
	}
	return m, nil
}

// parseArgs reads the "a" dictionary of a query of method meth.
func parseArgs(a benc.Value, meth method, out *queryArgs) error {
	if a.Kind() != benc.Dict {
		return errors.New(`missing "a" dictionary`)
	}
	var hasID, hasTarget, hasPort, hasToken bool
	var port int64
	for k, val := range a.Entries() {
		switch key := string(k); key {
		case "id":
			hasID = readID(val, &out.ID)
		case "target":
			if meth == methodFindNode {
				hasTarget = readID(val, &out.Target)
			}
		case "info_hash":
			if meth == methodGetPeers || meth == methodAnnouncePeer {
				hasTarget = readID(val, &out.Target)
			}
		case "port":
			port, hasPort = val.Int()
		case "implied_port":
			n, ok := val.Int()
			out.ImpliedPort = ok && n != 0
		case "token":
			out.Token, hasToken = val.Bytes()
			hasToken = hasToken && len(out.Token) <= maxTokenLen
		case "want":
			out.Want = parseWant(val)
		}
	}
	if !hasID {
		return errors.New(`missing or invalid "id"`)
	}
	switch meth {
	case methodFindNode:
		if !hasTarget {
			return errors.New(`missing or invalid "target"`)
		}
	case methodGetPeers:
		if !hasTarget {
			return errors.New(`missing or invalid "info_hash"`)
		}
	case methodAnnouncePeer:
		if !hasTarget {
			return errors.New(`missing or invalid "info_hash"`)
		}
		if !hasToken {
			return errors.New(`missing or invalid "token"`)
		}
		if hasPort && port > 0 && port <= 0xffff {
			out.Port = uint16(port)
		} else if !out.ImpliedPort || hasPort && (port < 0 || port > 0xffff) {
			return errors.New(`missing or invalid "port"`)
		}
	}
	return nil
}

// parseWant reads BEP 32's "want" list leniently: "n4" and "n6" are kept, anything
// else (and anything past the first few items) is ignored.
func parseWant(v benc.Value) uint8 {
	var w uint8
	i := 0
	for item := range v.Items() {
		if i++; i > 8 {
			break
		}
		switch s, _ := item.Bytes(); string(s) {
		case "n4":
			w |= wantN4
		case "n6":
			w |= wantN6
		}
	}
	return w
}

// parseReply reads the "r" dictionary of a response: "nodes" and BEP 32's "nodes6"
// both go to Nodes (each bounded by maxParsedNodes), values may be IPv4 or IPv6
// peers. Values of other lengths are skipped, not errors: a reply stays useful for
// its nodes.
func parseReply(r benc.Value, out *replyArgs) error {
	if r.Kind() != benc.Dict {
		return errors.New(`missing "r" dictionary`)
	}
	var hasID bool
	for k, val := range r.Entries() {
		switch string(k) {
		case "id":
			hasID = readID(val, &out.ID)
		case "nodes":
			s, ok := val.Bytes()
			if !ok {
				return errors.New(`"nodes" is not a string`)
			}
			nodes, err := parseCompactNodes(s, maxParsedNodes)
			if err != nil {
				return err
			}
			out.Nodes, out.HasNodes = append(out.Nodes, nodes...), true
		case "nodes6":
			s, ok := val.Bytes()
			if !ok {
				return errors.New(`"nodes6" is not a string`)
			}
			nodes, err := parseCompactNodes6(s, maxParsedNodes)
			if err != nil {
				return err
			}
			out.Nodes, out.HasNodes = append(out.Nodes, nodes...), true
		case "values":
			if val.Kind() != benc.List {
				return errors.New(`"values" is not a list`)
			}
			out.HasValues = true
			n := min(val.Len(), maxParsedValues)
			out.Values = make([]netip.AddrPort, 0, n)
			for item := range val.Items() {
				if len(out.Values) == n {
					break
				}
				s, ok := item.Bytes()
				var p []netip.AddrPort
				switch {
				case ok && len(s) == 6:
					p, _ = bt.ParseCompactPeers(s)
				case ok && len(s) == 18:
					p, _ = bt.ParseCompactPeers6(s)
					p[0] = netip.AddrPortFrom(p[0].Addr().Unmap(), p[0].Port())
				default:
					continue
				}
				if p[0].Port() != 0 {
					out.Values = append(out.Values, p[0])
				}
			}
		case "token":
			s, ok := val.Bytes()
			if ok && len(s) <= maxTokenLen {
				out.Token = s
			}
		}
	}
	if !hasID {
		return errors.New(`missing or invalid "id"`)
	}
	return nil
}

// parseErrorList reads the "e" list [code, message] of an error, leniently: a missing
// or odd part becomes 0 or "".
func parseErrorList(e benc.Value) (code int, text string) {
	i := 0
	for item := range e.Items() {
		switch i {
		case 0:
			if n, ok := item.Int(); ok && n >= 0 && n < 1000 {
				code = int(n)
			}
		case 1:
			if s, ok := item.Bytes(); ok {
				text = cleanText(s)
			}
		}
		i++
		if i == 2 {
			break
		}
	}
	return code, text
}

// readID copies a 20-byte string into id.
func readID(v benc.Value, id *ID) bool {
	s, ok := v.Bytes()
	if !ok || len(s) != IDLen {
		return false
	}
	copy(id[:], s)
	return true
}
