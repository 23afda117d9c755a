package engine

import (
	"fmt"

	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// BEP 52 piece layers for a v2-only torrent known by a magnet link: its info dictionary
// carries each file's pieces root but not the piece layers, so after the metadata
// verifies, the magnet's torrent asks its peers for them with hash requests (the whole piece
// layer of a file, in chunks of at most wire.MaxHashesPerRequest, no proofs) and keeps
// a layer only when it hashes up to the file's root. One peer is asked for a whole file;
// a peer that refuses or answers wrong is not asked again for that file.

// layerFetch is a magnet's state once the metadata is known and layers are missing.
type layerFetch struct {
	raw  []byte // the verified info dictionary
	pl   int64
	need []metainfo.LayerNeed
	got  map[[32]byte][]byte
	// per root: the peer asked (nil: nobody), the chunks it sent, the peers that failed
	asked  map[[32]byte]*peer
	chunks map[[32]byte][]byte
	failed map[[32]byte]map[*peer]bool
}

func newLayerFetch(raw []byte, info *metainfo.Info) *layerFetch {
	return &layerFetch{
		raw: raw, pl: info.PieceLength, need: info.MissingLayers(), got: map[[32]byte][]byte{},
		asked: map[[32]byte]*peer{}, chunks: map[[32]byte][]byte{}, failed: map[[32]byte]map[*peer]bool{},
	}
}

// padded is the number of hashes in a file's padded piece layer: what is asked.
func padded(n metainfo.LayerNeed) int {
	p := 1
	for p < n.Pieces {
		p *= 2
	}
	return p
}

// ask sends the requests of every file nobody is working on to a peer that has not
// failed it. Peers that offered metadata (so are past their handshakes) are used.
func (lf *layerFetch) ask(t *Torrent) {
	for _, n := range lf.need {
		if _, ok := lf.got[n.Root]; ok {
			continue
		}
		if mp := lf.asked[n.Root]; mp != nil && !mp.closing && t.peers[mp.conn] == mp {
			continue
		}
		for _, mp := range t.peers {
			if mp.closing || mp.ext.M[wire.ExtMetadata] == 0 || lf.failed[n.Root][mp] {
				continue
			}
			lf.asked[n.Root] = mp
			lf.chunks[n.Root] = nil
			total := padded(n)
			step := min(total, wire.MaxHashesPerRequest)
			for idx := 0; idx < total; idx += step {
				req := wire.HashReq{Root: n.Root, BaseLayer: n.Layer, Index: uint32(idx), Length: uint32(step)}
				mp.conn.Send(req.Message(wire.HashRequest))
			}
			break
		}
	}
}

// fail marks mp as unable to give root's layer and asks someone else.
func (lf *layerFetch) fail(t *Torrent, mp *peer, root [32]byte, why string) {
	t.log.Info("peer cannot give a piece layer", "addr", mp.addr, "root", fmt.Sprintf("%x", root), "reason", why)
	if lf.failed[root] == nil {
		lf.failed[root] = map[*peer]bool{}
	}
	lf.failed[root][mp] = true
	delete(lf.asked, root)
	lf.ask(t)
}

// message takes a hashes or hash reject message; it returns the torrent once every
// layer is known.
func (lf *layerFetch) message(t *Torrent, mp *peer, m wire.Message) (*metainfo.Torrent, error) {
	if m.ID == wire.HashReject {
		r, err := wire.ParseHashRequest(m.Payload)
		if err == nil && lf.asked[r.Root] == mp {
			lf.fail(t, mp, r.Root, "hash reject")
		}
		return nil, nil
	}
	h, err := wire.ParseHashes(m.Payload)
	if err != nil {
		t.dropPeer(mp, err)
		return nil, nil
	}
	var n *metainfo.LayerNeed
	for k := range lf.need {
		if lf.need[k].Root == h.Root {
			n = &lf.need[k]
		}
	}
	total := 0
	if n != nil {
		total = padded(*n)
	}
	step := min(total, wire.MaxHashesPerRequest)
	switch {
	case n == nil || lf.asked[h.Root] != mp:
		return nil, nil // not asked of it (or no longer)
	case h.BaseLayer != n.Layer || int(h.Index) != len(lf.chunks[h.Root])/32 || int(h.Length) != step:
		lf.fail(t, mp, h.Root, "hashes out of order or not as asked")
		return nil, nil
	}
	lf.chunks[h.Root] = append(lf.chunks[h.Root], h.Hashes[:32*h.Length]...)
	if len(lf.chunks[h.Root]) < 32*total {
		return nil, nil
	}
	layer := lf.chunks[h.Root][:32*n.Pieces]
	if !metainfo.CheckPieceLayer(*n, layer, lf.pl) {
		lf.fail(t, mp, h.Root, "the layer does not hash to the file's pieces root")
		return nil, nil
	}
	lf.got[h.Root] = layer
	delete(lf.chunks, h.Root)
	if len(lf.got) < len(lf.need) {
		return nil, nil
	}
	mt, err := torrentFromInfoLayers(lf.raw, t.magnet, lf.got)
	if err != nil {
		return nil, fmt.Errorf("metadata of %s with its piece layers: %w", t.ih, err)
	}
	return mt, nil
}

// why says what the fetch still lacks, for the failure message.
func (lf *layerFetch) why() string {
	failed := 0
	for _, peers := range lf.failed {
		failed += len(peers)
	}
	return fmt.Sprintf("the info arrived, but the BEP 52 piece layers of %d of its %d larger files did not (%d refusals or wrong answers from peers)",
		len(lf.need)-len(lf.got), len(lf.need), failed)
}
