package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

const infoUsage = `Usage: hyperblow info [--json] SOURCE

Show what a torrent holds: name, info-hash, piece length and count, total size,
trackers and the file tree. Nothing is downloaded.

Examples:
  hyperblow info ubuntu.torrent
  hyperblow info --json ubuntu.torrent | jq .files

Flags:
`

// infoJSON is the --json output; its field names are a contract.
type infoJSON struct {
	Name        string         `json:"name"`
	InfoHash    string         `json:"info_hash"`
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
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("info: want one SOURCE, got %d arguments (see hyperblow info --help)", len(pos))
	}
	t, err := loadSource(context.Background(), pos[0])
	if err != nil {
		return err
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
