package metainfo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// CreateOptions controls Create and CreateFromFiles. The zero value makes a torrent
// with no trackers and an automatic piece length.
type CreateOptions struct {
	// PieceLength is the piece size; 0 picks a power of two from 16 KiB to 16 MiB that
	// gives about 1000-2000 pieces.
	PieceLength int64
	// Trackers are BEP 12 tiers of http, https or udp announce URLs.
	Trackers [][]string
	// WebSeeds are BEP 19 http or https URLs.
	WebSeeds     []string
	Private      bool // BEP 27
	Comment      string
	CreatedBy    string
	CreationDate int64 // Unix seconds; 0 leaves it out, which keeps output reproducible
	// Format is v1 (the zero value), v2-only or hybrid (BEP 52; create_v2.go).
	Format Format
	// Name is the torrent's name; the default is the base name of the path for Create.
	Name string
	// Progress, if set, is called from the hashing loop with the bytes hashed so far
	// and the total: after each piece, with done never decreasing and the last call
	// having done == total. It runs on the goroutine that hashes, so it must be cheap
	// (store the numbers; draw elsewhere).
	Progress func(done, total int64)
}

// InputFile is one file for CreateFromFiles.
type InputFile struct {
	// Path holds the components under the torrent's folder. A torrent of one InputFile
	// with an empty Path is a single-file torrent named by the torrent's name.
	Path   []string
	Length int64
	Data   io.ReaderAt // Length bytes of content

	open func() (io.ReadCloser, error) // set by Create: a file on disk, opened when hashed
}

// FileBytes is an InputFile holding data in memory, for tests and the demo.
func FileBytes(data []byte, path ...string) InputFile {
	return InputFile{Path: path, Length: int64(len(data)), Data: bytes.NewReader(data)}
}

// CreateFromFiles builds a .torrent from files given in memory (or any io.ReaderAt),
// in the order given. name names the torrent (opts.Name if empty). Names must already
// be safe (they are not sanitized: a creator should know its own names), paths must be
// distinct, and no file may sit where another file's directory is. The result is
// canonical bencode with sorted keys, and it is checked by parsing it back.
func CreateFromFiles(name string, files []InputFile, opts CreateOptions) ([]byte, error) {
	if name == "" {
		name = opts.Name
	}
	b, err := create(name, files, opts)
	if err != nil {
		return nil, fmt.Errorf("metainfo: create: %w", err)
	}
	return b, nil
}

// fileDict and infoDict are the v1 info dictionary as encoded (benc sorts the keys).
type fileDict struct {
	Length int64    `bencode:"length"`
	Path   []string `bencode:"path"`
}

type infoDict struct {
	Files       []fileDict `bencode:"files,omitempty"`
	Length      int64      `bencode:"length,omitempty"`
	Name        string     `bencode:"name"`
	PieceLength int64      `bencode:"piece length"`
	Pieces      []byte     `bencode:"pieces"`
	Private     int        `bencode:"private,omitempty"`
}

type torrentDict struct {
	Announce     string          `bencode:"announce,omitempty"`
	AnnounceList [][]string      `bencode:"announce-list,omitempty"`
	Comment      string          `bencode:"comment,omitempty"`
	CreatedBy    string          `bencode:"created by,omitempty"`
	CreationDate int64           `bencode:"creation date,omitempty"`
	Info         benc.RawMessage `bencode:"info"`
	URLList      []string        `bencode:"url-list,omitempty"`
}

func create(name string, files []InputFile, opts CreateOptions) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	single := len(files) == 1 && len(files[0].Path) == 0
	total, err := checkFiles(files, single)
	if err != nil {
		return nil, err
	}
	pl := opts.PieceLength
	if pl == 0 {
		pl = autoPieceLength(total)
	}
	if pl < MinPieceLength || pl > MaxPieceLength {
		return nil, fmt.Errorf("piece length %d is not in %s..%s", pl, size(MinPieceLength), size(MaxPieceLength))
	}
	if n := (total + pl - 1) / pl; n > MaxPieces {
		return nil, fmt.Errorf("%d pieces of %s, over the limit of %d: use a larger piece length", n, size(pl), MaxPieces)
	}
	tiers, err := checkTrackers(opts.Trackers)
	if err != nil {
		return nil, err
	}
	for _, u := range opts.WebSeeds {
		if !hasScheme(u, "http", "https") || strings.TrimSpace(u) != u {
			return nil, fmt.Errorf("web seed %q: want an http or https URL", u)
		}
	}

	t := torrentDict{
		Comment:      opts.Comment,
		CreatedBy:    opts.CreatedBy,
		CreationDate: opts.CreationDate,
		URLList:      opts.WebSeeds,
	}
	if len(tiers) > 0 {
		t.Announce = tiers[0][0]
		if len(tiers) > 1 || len(tiers[0]) > 1 {
			t.AnnounceList = tiers
		}
	}
	if opts.Format != FormatV1 && !single && len(files) == 1 && len(files[0].Path) == 1 {
		// A v2 file tree of one file at its top reads as a single-file
		// torrent (BEP 52): the folder's name would be lost, or, in a
		// hybrid, the v1 and v2 parts would disagree.
		return nil, fmt.Errorf("a v2 or hybrid torrent cannot hold a folder with one file in it: give the file itself (%s), or make a v1 torrent", files[0].Path[0])
	}
	if opts.Format != FormatV1 {
		out, err := createV2(name, files, single, pl, opts.Format, opts, t)
		if err != nil {
			return nil, err
		}
		return checkOutput(out)
	}

	pieces, err := hashPieces(files, pl, total, opts.Progress)
	if err != nil {
		return nil, err
	}
	info := infoDict{Name: name, PieceLength: pl, Pieces: pieces}
	if opts.Private {
		info.Private = 1
	}
	if single {
		info.Length = total
	} else {
		info.Files = make([]fileDict, len(files))
		for i, f := range files {
			info.Files[i] = fileDict{Length: f.Length, Path: f.Path}
		}
	}
	rawInfo, err := benc.Marshal(info)
	if err != nil {
		return nil, err
	}
	t.Info = rawInfo
	out, err := benc.Marshal(t)
	if err != nil {
		return nil, err
	}
	return checkOutput(out)
}

// checkOutput checks a new torrent: within limits, canonical, and parsing back.
func checkOutput(out []byte) ([]byte, error) {
	if len(out) > MaxTorrentSize {
		return nil, fmt.Errorf("the torrent would be %d bytes, over the %s limit", len(out), size(MaxTorrentSize))
	}
	if err := benc.Scan(out, benc.Limits{MaxSize: MaxTorrentSize, SortedKeys: true}); err != nil {
		return nil, fmt.Errorf("internal error: output is not canonical: %w", err)
	}
	if _, err := parse(out); err != nil {
		return nil, fmt.Errorf("internal error: output does not parse: %w", err)
	}
	return out, nil
}

// autoPieceLength doubles from 16 KiB until there are at most 2000 pieces (so 1000 to
// 2000 unless clamped), up to 16 MiB.
func autoPieceLength(total int64) int64 {
	pl := int64(MinPieceLength)
	for pl < 16<<20 && total/pl >= 2000 {
		pl *= 2
	}
	return pl
}

// checkName accepts exactly the names that parsing leaves unchanged.
func checkName(s string) error {
	if c, ok := cleanComponent([]byte(s)); !ok || c != s {
		return fmt.Errorf("%q is not a safe file name (empty, \".\", \"..\", '/', control characters, invalid UTF-8 or over %d bytes)", s, MaxNameLen)
	}
	if strings.HasPrefix(s, legacyPadding) {
		return fmt.Errorf("%q would be taken for a padding file", s)
	}
	return nil
}

// checkFiles validates the input files and returns their total length.
func checkFiles(files []InputFile, single bool) (int64, error) {
	if len(files) == 0 {
		return 0, errors.New("no files")
	}
	if len(files) > MaxFiles {
		return 0, fmt.Errorf("%d files, over the limit of %d", len(files), MaxFiles)
	}
	isFile := make(map[string]bool, len(files)) // path -> true for a file, false for a directory
	var total int64
	for i, f := range files {
		if f.Length < 0 || f.Length > MaxTotalLength-total {
			return 0, fmt.Errorf("file %d (%s): length %d is negative or makes the total too large", i, strings.Join(f.Path, "/"), f.Length)
		}
		total += f.Length
		if f.Data == nil && f.open == nil && f.Length > 0 {
			return 0, fmt.Errorf("file %d (%s): no data", i, strings.Join(f.Path, "/"))
		}
		if single {
			continue
		}
		if len(f.Path) == 0 || len(f.Path) > MaxPathDepth {
			return 0, fmt.Errorf("file %d: path has %d components, want 1..%d", i, len(f.Path), MaxPathDepth)
		}
		if len(f.Path) == 2 && f.Path[0] == ".pad" {
			return 0, fmt.Errorf("file %d: path %q would be taken for a padding file", i, strings.Join(f.Path, "/"))
		}
		for j, c := range f.Path {
			if err := checkName(c); err != nil {
				return 0, fmt.Errorf("file %d: path component %d: %w", i, j, err)
			}
			p := strings.Join(f.Path[:j+1], "/")
			last := j == len(f.Path)-1
			if wasFile, seen := isFile[p]; seen && (wasFile || last) {
				return 0, fmt.Errorf("file %d: path %q is used twice (as a file or directory)", i, p)
			}
			isFile[p] = last
		}
	}
	if total == 0 {
		return 0, errors.New("total length is 0: there is nothing to share")
	}
	return total, nil
}

// checkTrackers trims and validates the announce tiers, dropping empty ones.
func checkTrackers(in [][]string) ([][]string, error) {
	var tiers [][]string
	for _, tier := range in {
		var out []string
		for _, u := range tier {
			u = strings.TrimSpace(u)
			if u == "" {
				continue
			}
			if !isTrackerURL(u) {
				return nil, fmt.Errorf("tracker %q: want an http, https or udp URL", u)
			}
			out = append(out, u)
		}
		if len(out) > 0 {
			tiers = append(tiers, out)
		}
	}
	return tiers, nil
}
