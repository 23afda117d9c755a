package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/session"
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
	var nf netFlags
	nf.register(fs, "info", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("info: want one SOURCE, got %d arguments (see hyperblow info --help)", len(pos))
	}
	if err := nf.checkFlags(fs); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := session.ParseSource(ctx, pos[0])
	if err != nil {
		return err
	}
	t := src.Torrent
	if src.Magnet != nil {
		if t, err = fetchMetadata(ctx, src, &nf); err != nil {
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

// fetchMetadata fetches a magnet link's metadata with a session that only
// dials out; its torrent stops with the session.
func fetchMetadata(ctx context.Context, src session.Source, nf *netFlags) (*metainfo.Torrent, error) {
	nf.noLSD, nf.noUPnP = true, true // as before: a client that only asks
	s, err := nf.newSession(nil, nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	e, err := s.Start(ctx, src, session.StartOptions{})
	if err != nil {
		return nil, err
	}
	return e.WaitInfo(ctx)
}
