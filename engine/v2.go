package engine

import (
	"fmt"
	"net/netip"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/peerconn"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// BEP 52 in the engine. Pieces are verified by metainfo.Info.VerifyPiece (SHA-1, the
// per-file merkle trees, or both for a hybrid). A v2-only torrent is known in the swarm
// by its v2 info-hash truncated to 20 bytes (metainfo.Torrent.InfoHash already is that);
// a hybrid by its v1 hash, and it also answers v2 peers that connect with the truncated
// v2 hash.

// checkVerifiable refuses a torrent whose pieces could not all be verified: a v2-only
// torrent without the piece layers of its larger files (its info came from peers and
// fetching layers with BEP 52 hash requests is not implemented).
func checkVerifiable(mt *metainfo.Torrent) error {
	if n := mt.Info.MissingPieceLayers(); n > 0 {
		return fmt.Errorf("torrent %s: BitTorrent v2 piece layers of %d files are not known (the info came without them, and fetching them from peers with hash requests is not supported yet): use the .torrent file", mt.Info.Name, n)
	}
	return nil
}

// truncatedV2 returns the 20-byte v2 info-hash of a hybrid torrent, and false for others.
func truncatedV2(mt *metainfo.Torrent) (bt.InfoHash, bool) {
	if mt.InfoHashV2 == [32]byte{} || !mt.Info.HasV1() {
		return bt.InfoHash{}, false
	}
	return bt.InfoHash(mt.InfoHashV2[:20]), true
}

// otherHash is the hash a hybrid torrent is also known by: its truncated v2
// info-hash, or its v1 info-hash when it is keyed by the truncated v2 one (a
// magnet with only xt=urn:btmh:). false for others and before the info.
func (t *Torrent) otherHash() (bt.InfoHash, bool) {
	mt := t.Metainfo()
	if mt == nil {
		return bt.InfoHash{}, false
	}
	v2, ok := truncatedV2(mt)
	if !ok {
		return bt.InfoHash{}, false
	}
	if t.ih == v2 {
		return mt.InfoHash, true
	}
	return v2, true
}

// announceOtherHash has the torrent's trackers told of a hybrid's other hash as
// well (BEP 52: a tracker keeps the v1 and v2 swarms apart), and the peers of both
// handed to AddPeers; they are dialled with the torrent's own hash. A magnet with
// both xt=urn:btih: and xt=urn:btmh: does it from the start, others once the info
// says the torrent is a hybrid. A v2-only torrent's own hash already is the
// truncated v2 one.
func (t *Torrent) announceOtherHash() {
	if t.announcer == nil {
		return
	}
	if other, ok := t.otherOrMagnetHash(); ok {
		t.announcer.AlsoAnnounce(other, t.addOtherPeers)
	}
}

// otherOrMagnetHash is otherHash, or before the info the truncated v2 hash of a
// magnet that has both xt=urn:btih: and xt=urn:btmh:.
func (t *Torrent) otherOrMagnetHash() (bt.InfoHash, bool) {
	if other, ok := t.otherHash(); ok {
		return other, true
	}
	if m := t.magnet; m != nil && m.InfoHashV2 != [32]byte{} && !m.V2Only() {
		return bt.InfoHash(m.InfoHashV2[:20]), true
	}
	return bt.InfoHash{}, false
}

// addOtherPeers adds peers found under the hybrid's other hash (its trackers'
// second announces, the DHT): they are dialled with that hash, which is all a
// peer that came by it may know the torrent by (BEP 52 leaves the two swarms
// apart wherever they are kept).
func (t *Torrent) addOtherPeers(addrs []netip.AddrPort) {
	t.send(peersMsg{addrs: addrs, other: true})
}

// addPeersMsg takes a peersMsg: an address first named under the other hash is
// marked so (owner).
func (t *Torrent) addPeersMsg(m peersMsg) {
	if !m.other {
		t.addAddrs(m.addrs, false)
		return
	}
	var fresh []netip.AddrPort
	for _, a := range m.addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if _, ok := t.addrs[a]; !ok {
			fresh = append(fresh, a)
		}
	}
	t.addAddrs(fresh, false)
	for _, a := range fresh {
		if st := t.addrs[a]; st != nil {
			st.other = true
		}
	}
}

// dialHash sets the hash a dial to a names the torrent by: the other one for
// an address found under it (owner).
func (t *Torrent) dialHash(a netip.AddrPort, tc *peerconn.Torrent) {
	if st := t.addrs[a]; st != nil && st.other {
		if other, ok := t.otherOrMagnetHash(); ok {
			tc.InfoHash = other
		}
	}
}

// hybridByV2 finds the hybrid torrent also known by h (otherHash). c.mu is held.
func (c *Client) hybridByV2(h bt.InfoHash) *Torrent {
	for _, t := range c.torrents {
		if o, ok := t.otherHash(); ok && o == h {
			return t
		}
	}
	return nil
}

// hybridV2Hashes lists the other hashes of the hybrid torrents, which an
// incoming peer may ask for as well (MSE names the torrent only hashed). c.mu is held.
func (c *Client) hybridV2Hashes() []bt.InfoHash {
	var hs []bt.InfoHash
	for _, t := range c.torrents {
		if o, ok := t.otherHash(); ok {
			hs = append(hs, o)
		}
	}
	return hs
}

// serveHashes answers a BEP 52 hash request from the torrent's piece layers (a peer that
// came by magnet link needs them), or refuses it with a hash reject. A malformed request
// closes the connection.
func (t *Torrent) serveHashes(p *peer, m wire.Message) error {
	r, err := wire.ParseHashRequest(m.Payload)
	if err != nil {
		return err
	}
	if h, ok := t.info.LayerHashes(r.Root, r.BaseLayer, r.Index, r.Length, r.ProofLayers); ok {
		p.conn.Send(wire.HashesMsg{HashReq: r, Hashes: h}.Message())
	} else {
		p.conn.Send(r.Message(wire.HashReject))
	}
	return nil
}
