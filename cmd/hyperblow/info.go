package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hyperblow/hyperblow/cache"
	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

const infoUsage = `Usage: hyperblow info [flags] SOURCE

Show what a torrent holds: name, info-hash, piece length and count, total size,
trackers and the file tree. SOURCE is a .torrent file, an http(s) URL of one, a
magnet link or a bare info-hash. For a .torrent nothing is downloaded; for a
magnet link or an info-hash the metadata (the info dictionary) is fetched from
peers first (BEP 9), found through its trackers, its x.pe peers, --peer, and
the DHT (unless --no-dht), for at most --metadata-timeout.

Examples:
  hyperblow info ubuntu.torrent
  hyperblow info --json ubuntu.torrent | jq .files
  hyperblow info 'magnet:?xt=urn:btih:...&tr=udp://tracker.example:6969'
  hyperblow info --peer 192.0.2.7:6881 0123456789abcdef0123456789abcdef01234567

Flags:
`

// infoJSON is the --json output; its field names are a contract.
type infoJSON struct {
	Name     string `json:"name"`
	InfoHash string `json:"info_hash"`
	// BEP 52: "v1", "v2" (v2-only: info_hash is the v2 hash truncated to 20 bytes, as
	// in the swarm) or "hybrid"; info_hash_v2 is the whole SHA-256 info-hash.
	Format      string         `json:"format"`
	InfoHashV2  string         `json:"info_hash_v2,omitempty"`
	PieceLength int64          `json:"piece_length"`
	NumPieces   int            `json:"num_pieces"`
	TotalLength int64          `json:"total_length"`
	Private     bool           `json:"private"`
	Trackers    [][]string     `json:"trackers"`
	Files       []infoFileJSON `json:"files"`
	Comment     string         `json:"comment,omitempty"`
	CreatedBy   string         `json:"created_by,omitempty"`
}

type infoFileJSON struct {
	Path   string `json:"path"`
	Length int64  `json:"length"`
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", infoUsage, stdout)
	asJSON := fs.Bool("json", false, "print JSON for machines")
	var peers peersFlag
	fs.Var(&peers, "peer", "HOST:PORT of a peer to ask for a magnet link's metadata (repeatable)")
	var mf mountFlags
	fs.DurationVar(&mf.metadataTimeout, "metadata-timeout", 2*time.Minute, "give up fetching a magnet link's metadata after this long")
	fs.BoolVar(&mf.noDHT, "no-dht", false, "do not use the DHT (BEP 5) to find peers for a magnet link")
	mf.registerNoUTP(fs)
	fs.Var(&mf.dhtBootstrap, "dht-bootstrap", "HOST:PORT of a DHT node to join through (repeatable; default: the public routers)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("info: want one SOURCE, got %d arguments (see hyperblow info --help)", len(pos))
	}
	if err := mf.checkFlags(fs); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, m, err := parseSource(ctx, pos[0])
	if err != nil {
		return err
	}
	if m != nil {
		if t, err = fetchMetadata(ctx, m, peers, mf.metadataTimeout, &mf); err != nil {
			return err
		}
	}
	info := t.Info
	out := infoJSON{
		Name:        info.Name,
		InfoHash:    t.InfoHash.String(),
		PieceLength: info.PieceLength,
		NumPieces:   info.NumPieces,
		TotalLength: info.TotalLength,
		Private:     info.Private,
		Trackers:    t.AnnounceList,
		Comment:     t.Comment,
		CreatedBy:   t.CreatedBy,
		Files:       []infoFileJSON{},
	}
	out.Format, out.InfoHashV2 = formatJSON(t)
	if out.Trackers == nil {
		out.Trackers = [][]string{}
	}
	for _, f := range info.VisibleFiles() {
		out.Files = append(out.Files, infoFileJSON{Path: strings.Join(f.Path, "/"), Length: f.Length})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printInfo(stdout, t, out)
	return nil
}

// printInfo prints for people. Names come from the torrent: they are quoted
// when they hold anything but printable characters, so they can't drive the terminal.
func printInfo(w io.Writer, t *metainfo.Torrent, out infoJSON) {
	fmt.Fprintf(w, "Name:         %s\n", safe(out.Name))
	fmt.Fprintf(w, "Info-hash:    %s\n", out.InfoHash)
	if out.InfoHashV2 != "" {
		fmt.Fprintf(w, "Info-hash v2: %s (%s)\n", out.InfoHashV2, out.Format)
	}
	fmt.Fprintf(w, "Pieces:       %d × %s\n", out.NumPieces, humanSize(out.PieceLength))
	fmt.Fprintf(w, "Total size:   %s (%d bytes)\n", humanSize(out.TotalLength), out.TotalLength)
	if out.Private {
		fmt.Fprintf(w, "Private:      yes (no DHT, no PEX)\n")
	}
	if out.Comment != "" {
		fmt.Fprintf(w, "Comment:      %s\n", safe(out.Comment))
	}
	if len(out.Trackers) == 0 {
		fmt.Fprintf(w, "Trackers:     none\n")
	} else {
		fmt.Fprintf(w, "Trackers:\n")
		for i, tier := range out.Trackers {
			for _, u := range tier {
				fmt.Fprintf(w, "  tier %d: %s\n", i+1, safe(u))
			}
		}
	}
	fmt.Fprintf(w, "Files (%d):\n", len(out.Files))
	printTree(w, out.Files)
}

// printTree prints files as an indented tree, folders first met first.
func printTree(w io.Writer, files []infoFileJSON) {
	printed := map[string]bool{}
	for _, f := range files {
		comps := strings.Split(f.Path, "/")
		for d := 1; d < len(comps); d++ {
			dir := strings.Join(comps[:d], "/")
			if !printed[dir] {
				printed[dir] = true
				fmt.Fprintf(w, "  %s%s/\n", strings.Repeat("  ", d-1), safe(comps[d-1]))
			}
		}
		fmt.Fprintf(w, "  %s%s  (%s)\n", strings.Repeat("  ", len(comps)-1), safe(comps[len(comps)-1]), humanSize(f.Length))
	}
}

func safe(s string) string {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// fetchMetadata resolves a magnet link with a client that only dials out.
func fetchMetadata(ctx context.Context, m *metainfo.Magnet, peers []netip.AddrPort, timeout time.Duration, mf *mountFlags) (*metainfo.Torrent, error) {
	dhtOn, boot, state := mf.dhtSettings()
	c, err := engine.NewClient(engine.Config{CacheSize: cache.MinSize, DHT: dhtOn, DHTBootstrap: boot, DHTStateFile: state, NoUTP: mf.noUTP})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	t, err := c.AddMagnet(m, engine.TorrentOptions{Peers: peers, MetadataTimeout: timeout})
	if err != nil {
		return nil, withPeerHint(err) // mount.go
	}
	mt, err := t.WaitInfo(ctx)
	if err != nil && ctx.Err() != nil {
		c.RemoveTorrent(t) // its error then says how far it got: "interrupted after ..."
		if terr := t.Err(); terr != nil {
			err = terr
		}
	}
	return mt, err
}
