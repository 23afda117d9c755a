package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Torrent is a .torrent made by python3-libtorrent for data on disk.
type Torrent struct {
	Path     string // the .torrent file
	InfoHash string // v1, 40 lower-case hex
	Data     string // the file or folder it describes
	SaveDir  string // the folder holding Data, as seeders want it
	Info     ltInfo // what libtorrent reads from it
}

// ltInfo is lthelper.py's description of a torrent: the reference that
// `hyperblow info --json` is compared with.
type ltInfo struct {
	Name        string     `json:"name"`
	InfoHash    string     `json:"info_hash"`
	InfoHashV2  string     `json:"info_hash_v2"` // BEP 52; "" for v1
	PieceLength int64      `json:"piece_length"`
	NumPieces   int        `json:"num_pieces"`
	TotalLength int64      `json:"total_length"`
	Private     bool       `json:"private"`
	MultiFile   bool       `json:"multi_file"`
	Trackers    [][]string `json:"trackers"`
	Files       []struct {
		Path   string `json:"path"` // relative to the torrent's top folder, "/"-separated
		Length int64  `json:"length"`
		Pad    bool   `json:"pad"`
	} `json:"files"`
}

// torrentOpts are the less common choices for makeTorrentOpts.
type torrentOpts struct {
	pad    bool   // align files to pieces with BEP 47 padding files
	format string // "v2" or "hybrid" (BEP 52); "" is v1
}

// makeTorrent writes a v1 .torrent for dataPath (a file or a folder) with each of
// trackerURLs in its own tier, and returns it with its info-hash.
func makeTorrent(t testing.TB, dataPath string, trackerURLs []string, pieceLength int) *Torrent {
	t.Helper()
	return makeTorrentOpts(t, dataPath, trackerURLs, pieceLength, torrentOpts{})
}

func makeTorrentOpts(t testing.TB, dataPath string, trackerURLs []string, pieceLength int, o torrentOpts) *Torrent {
	t.Helper()
	requireLibtorrent(t)
	abs, err := filepath.Abs(dataPath)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(abs)+".torrent")
	argv := []string{python(), ltHelper(t), "make", "--piece-length", strconv.Itoa(pieceLength)}
	for _, u := range trackerURLs {
		argv = append(argv, "--tracker", u)
	}
	if o.pad {
		argv = append(argv, "--pad")
	}
	if o.format != "" {
		argv = append(argv, "--format", o.format)
	}
	argv = append(argv, abs, out)
	r := mustRun(t, 2*time.Minute, argv...)
	tor := &Torrent{Path: out, Data: abs, SaveDir: filepath.Dir(abs)}
	if err := json.Unmarshal([]byte(r.stdout), &tor.Info); err != nil {
		t.Fatalf("lthelper make: %v: %s", err, r.stdout)
	}
	tor.InfoHash = tor.Info.InfoHash
	if len(tor.InfoHash) != 40 {
		t.Fatalf("lthelper make: bad info-hash %q", tor.InfoHash)
	}
	if err := os.Chmod(out, 0o644); err != nil {
		t.Fatal(err)
	}
	return tor
}

// readLtInfo is what python3-libtorrent reads from a .torrent file.
func readLtInfo(t testing.TB, torrentPath string) ltInfo {
	t.Helper()
	requireLibtorrent(t)
	r := mustRun(t, time.Minute, python(), ltHelper(t), "info", torrentPath)
	var info ltInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("lthelper info: %v: %s", err, r.stdout)
	}
	return info
}
