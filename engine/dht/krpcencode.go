package dht

import (
	"fmt"
	"net/netip"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// clientVersion is the BEP 5 "v" key: two letters naming the client and two bytes of
// version.
const clientVersion = "HB\x00\x01"

// wireMessage is a KRPC message as benc.Marshal encodes it (keys sorted, nil parts
// omitted).
type wireMessage struct {
	T  []byte     `bencode:"t"`
	Y  string     `bencode:"y"`
	Q  string     `bencode:"q,omitempty"`
	A  *wireArgs  `bencode:"a,omitempty"`
	R  *wireReply `bencode:"r,omitempty"`
	E  []any      `bencode:"e,omitempty"`
	IP []byte     `bencode:"ip,omitempty"`
	V  string     `bencode:"v,omitempty"`
}

type wireArgs struct {
	ID          []byte   `bencode:"id"`
	Target      []byte   `bencode:"target,omitempty"`
	InfoHash    []byte   `bencode:"info_hash,omitempty"`
	Port        *int     `bencode:"port,omitempty"`
	ImpliedPort int      `bencode:"implied_port,omitempty"`
	Token       []byte   `bencode:"token,omitempty"`
	Want        []string `bencode:"want,omitempty"`
}

type wireReply struct {
	ID     []byte   `bencode:"id"`
	Nodes  []byte   `bencode:"nodes,omitempty"`
	Nodes6 []byte   `bencode:"nodes6,omitempty"`
	Values [][]byte `bencode:"values,omitempty"`
	Token  []byte   `bencode:"token,omitempty"`
}

// encodeQuery encodes a BEP 5 query. args.Target goes out as "target" for find_node
// and as "info_hash" for get_peers and announce_peer.
func encodeQuery(tid []byte, meth method, args queryArgs) ([]byte, error) {
	a := &wireArgs{ID: args.ID[:]}
	if args.Want&wantN4 != 0 {
		a.Want = append(a.Want, "n4")
	}
	if args.Want&wantN6 != 0 {
		a.Want = append(a.Want, "n6")
	}
	switch meth {
	case methodPing:
	case methodFindNode:
		a.Target = args.Target[:]
	case methodGetPeers:
		a.InfoHash = args.Target[:]
	case methodAnnouncePeer:
		a.InfoHash = args.Target[:]
		port := int(args.Port)
		a.Port = &port
		if args.ImpliedPort {
			a.ImpliedPort = 1
		}
		a.Token = args.Token
	default:
		return nil, fmt.Errorf("krpc: encode query: unknown method %d", meth)
	}
	b, err := benc.Marshal(&wireMessage{T: tid, Y: "q", Q: meth.String(), A: a, V: clientVersion})
	if err != nil {
		return nil, fmt.Errorf("krpc: encode %s query: %w", meth, err)
	}
	return b, nil
}

// encodeResponse encodes a BEP 5 response to a query from requester, which is echoed
// as BEP 42's "ip" so the querier learns its external address.
func encodeResponse(tid []byte, r replyArgs, requester netip.AddrPort) ([]byte, error) {
	w := &wireReply{ID: r.ID[:], Token: r.Token}
	for _, n := range r.Nodes { // IPv4 nodes go in "nodes", IPv6 in "nodes6" (BEP 32)
		if n.Addr.Addr().Unmap().Is4() {
			w.Nodes = appendCompactNode(w.Nodes, n)
		} else {
			w.Nodes6 = appendCompactNode(w.Nodes6, n)
		}
	}
	if len(r.Values) > 0 {
		flat := make([]byte, 0, 18*len(r.Values))
		w.Values = make([][]byte, 0, len(r.Values))
		for _, p := range r.Values {
			start := len(flat)
			flat = bt.AppendCompactPeer(flat, p)
			w.Values = append(w.Values, flat[start:len(flat):len(flat)])
		}
	}
	msg := &wireMessage{T: tid, Y: "r", R: w, V: clientVersion}
	if requester.Addr().Unmap().Is4() {
		msg.IP = bt.AppendCompactPeer(nil, requester)
	}
	b, err := benc.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("krpc: encode response: %w", err)
	}
	return b, nil
}

// encodeError encodes a BEP 5 error: "e" is the list [code, message].
func encodeError(tid []byte, code int, text string) ([]byte, error) {
	b, err := benc.Marshal(&wireMessage{T: tid, Y: "e", E: []any{int64(code), text}, V: clientVersion})
	if err != nil {
		return nil, fmt.Errorf("krpc: encode error %d: %w", code, err)
	}
	return b, nil
}
