package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hyperblow/hyperblow/cliflag"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/progress"
)

const createUsage = `Usage: hyperblow create [flags] PATH

Make a .torrent (BitTorrent v1; v2 or both with --v2 or --hybrid) from a file or a folder. A file makes a
single-file torrent; a folder makes a multi-file torrent of the regular files
under it, in sorted order (symbolic links and special files are skipped).

Trackers: each --tracker is its own tier (BEP 12: clients try tier 1 first,
then tier 2...). A comma-separated list in one --tracker is one tier of several
trackers, which clients try in random order:
  --tracker http://a/announce --tracker udp://b:6969   two tiers
  --tracker http://a/announce,http://b/announce       one tier of two

The torrent is written to -o FILE, by default NAME.torrent in the current
folder; an existing file is kept unless --force. At the end it prints the
info-hash and a magnet link.

Examples:
  hyperblow create ~/Videos/holiday.mkv
  hyperblow create --tracker udp://tracker.example.org:6969/announce -o album.torrent ~/Music/album
  hyperblow create --piece-length 4MiB --private --comment "team only" \
      --tracker https://tracker.example.org/announce ./dataset
  hyperblow create --web-seed https://example.org/files/ --name dataset-v2 ./dataset

Flags:
`

// --tracker and --web-seed of create (package cliflag).
type (
	tiersFlag = cliflag.Tiers
	urlsFlag  = cliflag.URLList
)

func runCreate(args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("create", createUsage, stdout)
	var (
		trackers    tiersFlag
		webSeeds    urlsFlag
		pieceLength sizeFlag
	)
	out := fset.String("o", "", "write the torrent to this `FILE` (default: NAME.torrent in the current folder)")
	force := fset.Bool("force", false, "overwrite the output file if it exists")
	fset.Var(&trackers, "tracker", "announce `URL` (http, https, udp); repeatable, one tier each; commas make one tier of several")
	fset.Var(&webSeeds, "web-seed", "BEP 19 web seed `URL` (http, https); repeatable")
	fset.Var(&pieceLength, "piece-length", "piece `SIZE`, 16KiB..64MiB (default: automatic, about 1000-2000 pieces)")
	private := fset.Bool("private", false, "BEP 27 private torrent: peers only from its trackers (no DHT, no PEX)")
	comment := fset.String("comment", "", "a comment stored in the torrent")
	name := fset.String("name", "", "the torrent's name (default: PATH's base name)")
	noDate := fset.Bool("no-date", false, "leave out the creation date, so the same input gives the same file")
	v2 := fset.Bool("v2", false, "make a BitTorrent v2-only torrent (BEP 52: SHA-256 merkle trees; v1-only clients cannot use it)")
	hybrid := fset.Bool("hybrid", false, "make a hybrid torrent: v1 and v2 at once (BEP 52), for both kinds of clients")
	pos, err := parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("create: want one PATH, got %d arguments (see hyperblow create --help)", len(pos))
	}
	if pl := int64(pieceLength); pl != 0 && (pl < metainfo.MinPieceLength || pl > metainfo.MaxPieceLength) {
		return usagef("create: --piece-length %s is not in 16KiB..64MiB (see hyperblow create --help)", formatSize(pl))
	}
	if pl := int64(pieceLength); pl != 0 && pl&(pl-1) != 0 {
		fmt.Fprintf(stderr, "hyperblow: note: --piece-length %s is not a power of two; some clients refuse such torrents\n", formatSize(pl))
	}
	format, err := createFormat(*v2, *hybrid, int64(pieceLength))
	if err != nil {
		return err
	}
	path := pos[0]
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("create: %s: %w", path, err)
	}
	files, size, err := metainfo.Measure(abs)
	if err != nil {
		return fmt.Errorf("create: %s: %w", path, err)
	}
	tname := *name
	if tname == "" {
		tname = filepath.Base(abs)
	}
	dest := *out
	if dest == "" {
		dest = tname + ".torrent"
	}
	if _, err := os.Lstat(dest); err == nil && !*force {
		return fmt.Errorf("create: %s exists: use --force to overwrite it, or -o to write elsewhere", dest)
	}
	if d, err := filepath.Abs(dest); err == nil && strings.HasPrefix(d, abs+string(filepath.Separator)) {
		fmt.Fprintf(stderr, "hyperblow: note: %s is inside %s; a later create of %s would include it\n", dest, path, path)
	}

	opts := metainfo.CreateOptions{
		PieceLength: int64(pieceLength),
		Trackers:    trackers,
		WebSeeds:    webSeeds,
		Private:     *private,
		Comment:     *comment,
		CreatedBy:   "hyperblow",
		Name:        *name,
		Format:      format,
	}
	if !*noDate {
		opts.CreationDate = time.Now().Unix()
	}
	fmt.Fprintf(stderr, "hashing %s: %s in %d files...\n", safe(path), humanSize(size), files)
	start := time.Now()
	var hashed atomic.Int64
	opts.Progress = func(done, _ int64) { hashed.Store(done) }
	bar := progress.Start(progress.NewOut(stderr, progress.IsTerminal(stderr)), progress.Options{
		Label: "hashing", Total: size, Done: hashed.Load, PlainEvery: 2 * time.Second,
		Plain: func(s progress.Stat) {
			fmt.Fprintf(stderr, "hashing: %.0f%%, %s of %s, %s\n", 100*float64(s.Done)/float64(max(s.Total, 1)),
				humanSize(s.Done), humanSize(s.Total), progress.FormatRate(s.Rate))
		},
	})
	raw, err := metainfo.Create(abs, opts)
	bar.Stop()
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	took := time.Since(start)
	fmt.Fprintf(stderr, "hashed %s in %v (%s/s)\n", humanSize(size), took.Round(time.Millisecond), humanSize(int64(float64(size)/max(took.Seconds(), 1e-3))))
	mt, err := metainfo.Parse(raw)
	if err != nil {
		return fmt.Errorf("create: internal error: the new torrent does not parse: %w", err)
	}
	if err := metainfo.WriteFile(dest, raw, *force); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	printCreated(stdout, dest, mt)
	return nil
}

// printCreated prints what was made: a summary, the info-hash and a magnet link.
func printCreated(w io.Writer, dest string, mt *metainfo.Torrent) {
	info := mt.Info
	files := len(info.VisibleFiles())
	fmt.Fprintf(w, "created %s\n", dest)
	fmt.Fprintf(w, "name:      %s\n", safe(info.Name))
	fmt.Fprintf(w, "info-hash: %s\n", mt.InfoHash)
	printV2Hash(w, mt)
	fmt.Fprintf(w, "size:      %s (%d bytes) in %d file(s), %d pieces of %s\n", humanSize(info.TotalLength), info.TotalLength, files, info.NumPieces, humanSize(info.PieceLength))
	for i, tier := range mt.AnnounceList {
		fmt.Fprintf(w, "tracker:   tier %d: %s\n", i+1, safe(strings.Join(tier, ", ")))
	}
	for _, u := range mt.URLList {
		fmt.Fprintf(w, "web seed:  %s\n", safe(u))
	}
	if info.Private {
		fmt.Fprintf(w, "private:   yes\n")
	}
	fmt.Fprintf(w, "magnet:    %s\n", magnetLink(mt))
}

// magnetLink is a BEP 9 magnet URI: info-hash, name, trackers and web seeds.
func magnetLink(mt *metainfo.Torrent) string { return mt.Magnet().String() }
