package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// What a magnet's metadata fetch shows and needs besides the owner's logic
// (magnet.go): its status, whether it can find peers at all, and the torrent
// made from a verified info dictionary.

// ResolveState is where a resolution stands.
type ResolveState int

// The states of a resolution.
const (
	Resolving ResolveState = iota
	Resolved
	ResolveFailed
)

func (s ResolveState) String() string {
	return [...]string{"resolving", "resolved", "failed"}[s]
}

// ResolveStatus is a snapshot of a magnet's metadata fetch, for the status
// file (Torrent.ResolveStatus).
type ResolveStatus struct {
	State          ResolveState
	Name           string // the magnet's dn, or the info-hash
	InfoHash       bt.InfoHash
	Started        time.Time
	PeersKnown     int
	PeersTried     int
	PeersConnected int
	PeersOffering  int   // connected peers that offer ut_metadata
	MetadataSize   int64 // 0 until a peer tells
	PiecesHave     int
	PiecesTotal    int
	Err            error           // why it failed
	Trackers       []TrackerStatus // the magnet's trackers (tr=), as they answer
}

// ErrNoPeerSource: a magnet cannot be resolved because nothing can find a peer
// for it: it names no tracker and no peer, none was given, and the DHT is off.
var ErrNoPeerSource = errors.New("no way to find peers")

// CanFindPeers tells whether magnet m added with opts has any way to find
// a peer: the magnet's trackers (tr=) or peers (x.pe=), opts.Peers, or the
// DHT. Without one it returns an error wrapping ErrNoPeerSource that says so.
// A peer that connects to us on its own is not counted: without a tracker or
// the DHT, nothing tells peers that we want this torrent.
func (c *Client) CanFindPeers(m *metainfo.Magnet, opts TorrentOptions) error {
	if len(opts.Peers) > 0 || len(m.Peers) > 0 || c.dht != nil || (!opts.NoTrackers && len(m.Trackers) > 0) {
		return nil
	}
	return fmt.Errorf("metadata of %s: %w: the magnet link names no tracker (tr=) and no peer (x.pe=), no peer was given, and the DHT is off",
		m.InfoHash, ErrNoPeerSource)
}

// torrentFromInfo wraps a verified info dictionary into a torrent with the
// magnet's trackers and web seeds.
func torrentFromInfo(raw []byte, m *metainfo.Magnet) (*metainfo.Torrent, error) {
	return torrentFromInfoLayers(raw, m, nil)
}

// torrentFromInfoLayers is torrentFromInfo with BEP 52 piece layers (by pieces root).
func torrentFromInfoLayers(raw []byte, m *metainfo.Magnet, layers map[[32]byte][]byte) (*metainfo.Torrent, error) {
	type torrentFile struct {
		AnnounceList [][]string        `bencode:"announce-list,omitempty"`
		Info         benc.RawMessage   `bencode:"info"`
		PieceLayers  map[string]string `bencode:"piece layers,omitempty"`
		URLList      []string          `bencode:"url-list,omitempty"`
	}
	var pl map[string]string
	if len(layers) > 0 {
		pl = make(map[string]string, len(layers))
		for root, l := range layers {
			pl[string(root[:])] = string(l)
		}
	}
	b, err := benc.Marshal(torrentFile{AnnounceList: m.Trackers, Info: raw, PieceLayers: pl, URLList: m.WebSeeds})
	if err != nil {
		return nil, err
	}
	mt, err := metainfo.Parse(b)
	if err != nil {
		return nil, err
	}
	if mt.InfoHash != m.InfoHash && !(m.V2Only() && mt.InfoHashV2 == m.InfoHashV2) {
		return nil, fmt.Errorf("info-hash %s after re-wrapping, want %s", mt.InfoHash, m.InfoHash)
	}
	return mt, nil
}
