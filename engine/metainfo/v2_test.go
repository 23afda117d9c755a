package metainfo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// v2Expected is testdata/v2/expected.json, written by gen.py with libtorrent and hashlib.
type v2Expected struct {
	PieceLength int64 `json:"piece_length"`
	Files       []struct {
		Path   string `json:"path"`
		Length int    `json:"length"`
		Seed   int    `json:"seed"`
		Root   string `json:"root"`
	} `json:"files"`
	V2Only, Hybrid struct {
		V1, V2    string
		NumPieces int   `json:"num_pieces"`
		TotalSize int64 `json:"total_size"`
	}
}

func loadV2Expected(t *testing.T) v2Expected {
	t.Helper()
	b, err := os.ReadFile("testdata/v2/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e v2Expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// v2Content is gen.py's content(n, seed).
func v2Content(n, seed int) []byte {
	b := make([]byte, n)
	for k := range b {
		b[k] = byte((k*seed + k/7) % 251)
	}
	return b
}

// torrentData lays the expected files out as info does, padding with zeros.
func torrentData(t *testing.T, info *Info, e v2Expected) []byte {
	t.Helper()
	data := make([]byte, info.NumPieces*int(info.PieceLength))
	k := 0
	for _, f := range info.Files {
		if f.Padding {
			continue
		}
		ef := e.Files[k]
		k++
		if got := strings.Join(f.Path, "/"); got != ef.Path || f.Length != int64(ef.Length) {
			t.Fatalf("file %d is %s (%d bytes), want %s (%d)", k-1, got, f.Length, ef.Path, ef.Length)
		}
		copy(data[f.Offset:], v2Content(ef.Length, ef.Seed))
	}
	if k != len(e.Files) {
		t.Fatalf("%d files, want %d", k, len(e.Files))
	}
	return data[:info.TotalLength]
}

func TestMerkleRootKnownValues(t *testing.T) {
	e := loadV2Expected(t)
	for _, f := range e.Files {
		if f.Length == 0 {
			continue
		}
		got := MerkleRoot(v2Content(f.Length, f.Seed))
		if hex.EncodeToString(got[:]) != f.Root {
			t.Errorf("MerkleRoot(%s) = %x, want %s (hashlib)", f.Path, got, f.Root)
		}
	}
	// Hand-computed: one block, two blocks, three blocks (one zero leaf).
	a, b, c := bytes.Repeat([]byte{1}, BlockSize), bytes.Repeat([]byte{2}, BlockSize), []byte("x")
	ha, hb, hc := sha256.Sum256(a), sha256.Sum256(b), sha256.Sum256(c)
	if got := MerkleRoot(a); got != ha {
		t.Errorf("one block: %x, want its SHA-256", got)
	}
	ab := sha256.Sum256(append(ha[:], hb[:]...))
	if got := MerkleRoot(append(append([]byte{}, a...), b...)); got != ab {
		t.Errorf("two blocks: %x, want %x", got, ab)
	}
	c0 := sha256.Sum256(append(hc[:], make([]byte, 32)...))
	abc := sha256.Sum256(append(ab[:], c0[:]...))
	if got := MerkleRoot(append(append(append([]byte{}, a...), b...), c...)); got != abc {
		t.Errorf("three blocks: %x, want %x", got, abc)
	}
}

func TestParseV2Libtorrent(t *testing.T) {
	e := loadV2Expected(t)
	for _, tc := range []struct {
		file string
		want struct {
			V1, V2    string
			NumPieces int   `json:"num_pieces"`
			TotalSize int64 `json:"total_size"`
		}
	}{{"v2only.torrent", e.V2Only}, {"hybrid.torrent", e.Hybrid}} {
		t.Run(tc.file, func(t *testing.T) {
			tor, err := Load("testdata/v2/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			info := tor.Info
			if hex.EncodeToString(tor.InfoHashV2[:]) != tc.want.V2 {
				t.Errorf("InfoHashV2 = %x, want %s", tor.InfoHashV2, tc.want.V2)
			}
			wantIH := tc.want.V1
			if wantIH == "" {
				wantIH = tc.want.V2[:40]
			}
			if tor.InfoHash.String() != wantIH {
				t.Errorf("InfoHash = %s, want %s", tor.InfoHash, wantIH)
			}
			if !info.HasV2() || info.HasV1() != (tc.want.V1 != "") {
				t.Errorf("HasV1 %v HasV2 %v", info.HasV1(), info.HasV2())
			}
			if info.NumPieces != tc.want.NumPieces {
				t.Errorf("NumPieces = %d, want %d", info.NumPieces, tc.want.NumPieces)
			}
			if info.TotalLength != tc.want.TotalSize {
				t.Errorf("TotalLength = %d, want libtorrent's %d (padding after the last file included)", info.TotalLength, tc.want.TotalSize)
			}
			data := torrentData(t, info, e)
			for fi, f := range info.Files {
				if root, ok := info.PiecesRoot(fi); ok {
					for _, ef := range e.Files {
						if ef.Path == strings.Join(f.Path, "/") && hex.EncodeToString(root[:]) != ef.Root {
							t.Errorf("PiecesRoot(%s) = %x, want %s", ef.Path, root, ef.Root)
						}
					}
				}
			}
			for i := range info.NumPieces {
				p := data[info.PieceOffset(i) : info.PieceOffset(i)+info.PieceLen(i)]
				if !info.VerifyPiece(i, p) {
					t.Errorf("piece %d does not verify", i)
				}
				bad := bytes.Clone(p)
				bad[len(bad)/2] ^= 1
				if info.VerifyPiece(i, bad) {
					t.Errorf("piece %d with a flipped byte verifies", i)
				}
				if info.VerifyPiece(i, p[:len(p)-1]) {
					t.Errorf("piece %d one byte short verifies", i)
				}
			}
		})
	}
}

// TestCreateV2MatchesLibtorrent: the same files with the same piece length give the
// info dictionary libtorrent writes, byte for byte (so the same info-hashes), and parse back.
func TestCreateV2MatchesLibtorrent(t *testing.T) {
	e := loadV2Expected(t)
	var files []InputFile
	for k := len(e.Files) - 1; k >= 0; k-- { // reversed: Create sorts into tree order
		f := e.Files[k]
		files = append(files, FileBytes(v2Content(f.Length, f.Seed), strings.Split(f.Path, "/")...))
	}
	for _, tc := range []struct {
		format Format
		v1, v2 string
	}{{FormatV2, "", e.V2Only.V2}, {FormatHybrid, e.Hybrid.V1, e.Hybrid.V2}} {
		b, err := CreateFromFiles("tree", files, CreateOptions{PieceLength: e.PieceLength, Format: tc.format})
		if err != nil {
			t.Fatal(err)
		}
		tor, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(tor.InfoHashV2[:]) != tc.v2 {
			t.Errorf("format %d: v2 info-hash %x, libtorrent's %s", tc.format, tor.InfoHashV2, tc.v2)
		}
		if tc.v1 != "" && tor.InfoHash.String() != tc.v1 {
			t.Errorf("format %d: v1 info-hash %s, libtorrent's %s", tc.format, tor.InfoHash, tc.v1)
		}
		data := torrentData(t, tor.Info, e)
		for i := range tor.Info.NumPieces {
			if !tor.Info.VerifyPiece(i, data[tor.Info.PieceOffset(i):tor.Info.PieceOffset(i)+tor.Info.PieceLen(i)]) {
				t.Errorf("format %d: piece %d does not verify", tc.format, i)
			}
		}
	}
}

// TestLayerHashes: a hash request's answer hashes back up to the file's root with its
// uncles, and the whole layer with no proof is the piece layer.
func TestLayerHashes(t *testing.T) {
	tor, err := Load("testdata/v2/v2only.torrent")
	if err != nil {
		t.Fatal(err)
	}
	info := tor.Info
	root, _ := info.PiecesRoot(0) // a.bin: 4 pieces of 32 KiB, layer height 1
	whole, ok := info.LayerHashes(root, 1, 0, 4, 0)
	if !ok || !bytes.Equal(whole, info.v2.files[0].layer) {
		t.Fatalf("whole layer: ok %v", ok)
	}
	// Hashes 2..3 with uncles: the pair's parent, with the uncle (parent of 0..1), is the root.
	part, ok := info.LayerHashes(root, 1, 2, 2, 5)
	if !ok || len(part) != 32*3 {
		t.Fatalf("part with proof: ok %v, %d bytes", ok, len(part))
	}
	right := sha256.Sum256(part[:64])
	if got := sha256.Sum256(append(append([]byte{}, part[64:]...), right[:]...)); got != root {
		t.Fatalf("range and uncle hash to %x, want the root %x", got, root)
	}
	for _, bad := range [][4]uint32{{0, 0, 4, 0}, {1, 1, 2, 0}, {1, 0, 3, 0}, {1, 4, 4, 0}, {1, 0, 8, 0}} {
		if _, ok := info.LayerHashes(root, bad[0], bad[1], bad[2], bad[3]); ok {
			t.Errorf("LayerHashes(%v) answered", bad)
		}
	}
}

// TestHybridWithoutLayersVerifiesV1: a hybrid known only by its info dictionary (no
// piece layers) verifies its larger files' pieces by SHA-1.
func TestHybridWithoutLayersVerifiesV1(t *testing.T) {
	e := loadV2Expected(t)
	tor, err := Load("testdata/v2/hybrid.torrent")
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseInfo(tor.RawInfo)
	if err != nil {
		t.Fatal(err)
	}
	data := torrentData(t, info, e)
	for i := range info.NumPieces {
		p := data[info.PieceOffset(i) : info.PieceOffset(i)+info.PieceLen(i)]
		bad := bytes.Clone(p)
		bad[0] ^= 1
		if !info.VerifyPiece(i, p) || info.VerifyPiece(i, bad) {
			t.Errorf("piece %d: good or bad data misjudged", i)
		}
	}
}
