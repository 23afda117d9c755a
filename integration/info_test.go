package integration

import (
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// infoJSON is the contract of `hyperblow info --json`: snake_case keys, all
// present. files lists the torrent's files (in torrent order; the test does not
// check the order) without BEP 47
// padding files, each path relative to the torrent's top folder and joined with
// "/" (a single-file torrent has one file whose path is its name); total_length is
// the sum of all lengths in the info dictionary, padding included (libtorrent's
// total_size); trackers are the announce tiers (announce-list, else [[announce]]),
// [] when there are none.
type infoJSON struct {
	Name        string     `json:"name"`
	InfoHash    string     `json:"info_hash"` // v1, 40 lower-case hex digits
	PieceLength int64      `json:"piece_length"`
	NumPieces   int        `json:"num_pieces"`
	TotalLength int64      `json:"total_length"`
	Private     bool       `json:"private"`
	Trackers    [][]string `json:"trackers"`
	Files       []fileJSON `json:"files"`
}

type fileJSON struct {
	Path   string `json:"path"`
	Length int64  `json:"length"`
}

var infoKeys = []string{"name", "info_hash", "piece_length", "num_pieces", "total_length", "private", "trackers", "files"}

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// TestInfoJSON compares `hyperblow info --json` with what python3-libtorrent reads
// from the same .torrent, for a single-file torrent with two tracker tiers, a
// multi-file torrent without trackers, and one with padding files.
func TestInfoJSON(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)
	for _, tc := range []struct {
		name string
		tor  func() *Torrent
	}{
		{"single file, two tiers", func() *Torrent {
			return makeTorrent(t, data.Big, []string{"http://127.0.0.1:9/announce", "udp://127.0.0.1:9/announce"}, 1<<20)
		}},
		{"multi-file, no trackers", func() *Torrent { return makeTorrent(t, data.Tree, nil, 16<<10) }},
		{"multi-file with padding", func() *Torrent {
			return makeTorrentOpts(t, data.Tree, []string{"http://127.0.0.1:9/announce"}, 32<<10, torrentOpts{pad: true})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tor := tc.tor()
			r := run(t, 20*time.Second, procOpts{}, bin, "info", "--json", tor.Path)
			if r.code != 0 {
				t.Fatalf("hyperblow info --json: %v", r)
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal([]byte(r.stdout), &keys); err != nil {
				t.Fatalf("info --json is not a JSON object: %v\n%s", err, r.stdout)
			}
			for _, k := range infoKeys {
				if _, ok := keys[k]; !ok {
					t.Errorf("info --json has no %q key", k)
				}
			}
			var got infoJSON
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("info --json: %v\n%s", err, r.stdout)
			}
			want := wantInfo(tor.Info)
			if !hex40.MatchString(got.InfoHash) {
				t.Errorf("info_hash %q is not 40 lower-case hex digits", got.InfoHash)
			}
			if string(keys["trackers"]) == "null" || string(keys["files"]) == "null" {
				t.Errorf("trackers and files must be arrays, not null:\n%s", r.stdout)
			}
			sortFiles(got.Files)
			sortFiles(want.Files)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("info --json disagrees with libtorrent:\n got %+v\nwant %+v", got, want)
			}

			text := run(t, 20*time.Second, procOpts{}, bin, "info", tor.Path)
			if text.code != 0 || !strings.Contains(text.stdout, tor.Info.Name) || !strings.Contains(strings.ToLower(text.stdout), tor.InfoHash) {
				t.Errorf("hyperblow info (text) should exit 0 and show the name and info-hash: %v", text)
			}
		})
	}
}

// wantInfo is the expected `info --json` for what libtorrent read.
func wantInfo(li ltInfo) infoJSON {
	w := infoJSON{
		Name: li.Name, InfoHash: li.InfoHash, PieceLength: li.PieceLength, NumPieces: li.NumPieces,
		TotalLength: li.TotalLength, Private: li.Private, Trackers: li.Trackers, Files: []fileJSON{},
	}
	if w.Trackers == nil {
		w.Trackers = [][]string{}
	}
	for _, f := range li.Files {
		if !f.Pad {
			w.Files = append(w.Files, fileJSON{Path: f.Path, Length: f.Length})
		}
	}
	return w
}

// sortFiles orders files by path: the comparison does not depend on file order.
func sortFiles(fs []fileJSON) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
}
