package metainfo

import (
	"crypto/sha1"
	"errors"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

func TestParseSingleFile(t *testing.T) {
	tor := mustParse(t, torrentWith(singleInfo()))
	i := tor.Info
	if i.Name != "file.bin" || i.MultiFile || i.TotalLength != 40000 || i.NumPieces != 3 || i.PieceLength != 16384 {
		t.Fatalf("got %+v", i)
	}
	if len(i.Files) != 1 || strings.Join(i.Files[0].Path, "/") != "file.bin" || i.Files[0].Length != 40000 {
		t.Fatalf("files %+v", i.Files)
	}
	if i.PieceLen(0) != 16384 || i.PieceLen(2) != 40000-2*16384 || i.PieceOffset(2) != 32768 {
		t.Fatalf("piece geometry: %d %d %d", i.PieceLen(0), i.PieceLen(2), i.PieceOffset(2))
	}
	if i.PieceHash(1) != [20]byte([]byte(strings.Repeat("h", 20))) {
		t.Fatal("piece hash")
	}
	if tor.Announce != "http://tracker.example/announce" || len(tor.AnnounceList) != 1 || tor.AnnounceList[0][0] != tor.Announce {
		t.Fatalf("announce %q %v", tor.Announce, tor.AnnounceList)
	}
}

func TestPieceIndexOutOfRangePanics(t *testing.T) {
	i := mustParse(t, torrentWith(singleInfo())).Info
	for _, idx := range []int{-1, 3} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("PieceHash(%d) did not panic", idx)
				}
			}()
			i.PieceHash(idx)
		}()
	}
}

func TestParseErrors(t *testing.T) {
	single := func(kv ...string) []byte { return torrentWith(bd(kv...)) }
	okSingle := []string{"length", bi(40000), "name", bs("f"), "piece length", bi(16384), "pieces", hashes(3)}
	with := func(key, val string) []byte { // okSingle with key replaced, or removed if val == ""
		var kv []string
		for i := 0; i < len(okSingle); i += 2 {
			if okSingle[i] == key {
				if val != "" {
					kv = append(kv, key, val)
				}
				continue
			}
			kv = append(kv, okSingle[i], okSingle[i+1])
		}
		return single(kv...)
	}
	multi := func(files ...string) []byte { return torrentWith(multiInfo(10, files...)) }
	deepPath := make([]string, 65)
	for i := range deepPath {
		deepPath[i] = "d"
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"not bencode", []byte("hello"), `metainfo: not a torrent file: it begins with "hello", a torrent with 'd'`},
		{"12-byte 2 GB string", []byte("2000000000:x"), "metainfo: truncated after 12 bytes (string length 2000000000 exceeds 1 remaining bytes; is the download complete?)"},
		{"truncated", torrentWith(singleInfo())[:60], "metainfo: truncated after 60 bytes (unexpected end of input in dictionary opened at offset 51; is the download complete?)"},
		{"truncated in an integer", torrentWith(singleInfo())[:len(torrentWith(singleInfo()))-4], "metainfo: truncated after "},
		{"empty", nil, "metainfo: empty (0 bytes; is the download complete?)"},
		{"nesting", []byte(strings.Repeat("l", 1000)), "metainfo: at byte 64: nesting deeper than"},
		{"top level list", []byte("le"), "metainfo: top level: want dictionary, got list"},
		{"no info", []byte(bd("announce", bs("x"))), "metainfo: info: missing"},
		{"info is a string", []byte(bd("info", bs("x"))), "metainfo: info: want dictionary, got string"},
		{"piece length missing", with("piece length", ""), "metainfo: info.piece length: missing"},
		{"piece length string", with("piece length", bs("16384")), "metainfo: info.piece length: want integer, got string"},
		{"piece length 0", with("piece length", bi(0)), "metainfo: info.piece length: 0 is not in 16 KiB..64 MiB"},
		{"piece length negative", with("piece length", bi(-16384)), "metainfo: info.piece length: -16384 is not in 16 KiB..64 MiB"},
		{"piece length too big", with("piece length", bi(128<<20)), "metainfo: info.piece length: 134217728 is not in 16 KiB..64 MiB"},
		{"pieces missing", with("pieces", ""), "metainfo: info.pieces: missing"},
		{"pieces int", with("pieces", bi(5)), "metainfo: info.pieces: want string, got integer"},
		{"pieces not multiple of 20", with("pieces", bs(strings.Repeat("h", 59))), "metainfo: info.pieces: length 59 is not a multiple of 20"},
		{"too few pieces", with("pieces", hashes(2)), "metainfo: info.pieces: 2 hashes for 3 pieces (total length 40000, piece length 16384)"},
		{"too many pieces", with("pieces", hashes(4)), "metainfo: info.pieces: 4 hashes for 3 pieces"},
		{"name missing", with("name", ""), "metainfo: info.name: missing"},
		{"name list", with("name", bl()), "metainfo: info.name: want string, got list"},
		{"neither length nor files", with("length", ""), "metainfo: info: has neither length nor files"},
		{"both length and files", torrentWith(bd("files", bl(fileEntry(1, "a")), "length", bi(1), "name", bs("n"), "piece length", bi(16384), "pieces", hashes(1))), "metainfo: info: has both length and files"},
		{"length string", with("length", bs("40000")), "metainfo: info.length: want integer, got string"},
		{"length negative", with("length", bi(-1)), "metainfo: info.length: -1 is negative"},
		{"length absurd", with("length", bi(1<<62)), "metainfo: info.length: 4611686018427387904 is over the 128 TiB limit"},
		{"total length 0", single("length", bi(0), "name", bs("f"), "piece length", bi(16384), "pieces", bs("")), "metainfo: info: total length is 0"},
		{"private string", single(append(okSingle, "private", bs("1"))...), "metainfo: info.private: want integer, got string"},
		{"v2 empty file tree", single("file tree", bd(), "meta version", bi(2), "name", bs("n"), "piece length", bi(16384)), "metainfo: info.file tree: holds no file"},
		{"files not a list", torrentWith(bd("files", bd(), "name", bs("n"), "piece length", bi(16384), "pieces", hashes(1))), "metainfo: info.files: want list, got dictionary"},
		{"files empty", multi(), "metainfo: info.files: empty"},
		{"file not a dict", multi(bs("a")), "metainfo: info.files[0]: want dictionary, got string"},
		{"file length missing", multi(fileEntry(10, "a"), bd("path", bl(bs("b")))), "metainfo: info.files[1].length: missing"},
		{"file length string", multi(bd("length", bs("10"), "path", bl(bs("b")))), "metainfo: info.files[0].length: want integer, got string"},
		{"file length negative", multi(fileEntry(-5, "a"), fileEntry(15, "b")), "metainfo: info.files[0].length: -5 is negative"},
		{"file lengths overflow", multi(fileEntry(MaxTotalLength, "a"), fileEntry(MaxTotalLength, "b")), "metainfo: info.files[1].length: total length passes the 128 TiB limit"},
		{"file path missing", multi(bd("length", bi(10))), "metainfo: info.files[0].path: missing"},
		{"file path string", multi(bd("length", bi(10), "path", bs("a/b"))), "metainfo: info.files[0].path: want list, got string"},
		{"file path empty", multi(fileEntry(10)), "metainfo: info.files[0].path: empty"},
		{"file path component int", multi(bd("length", bi(10), "path", bl(bs("a"), bi(1)))), "metainfo: info.files[0].path[1]: want string, got integer"},
		{"file path too deep", multi(fileEntry(10, deepPath...)), "metainfo: info.files[0].path: more than 64 components"},
		{"duplicate key", torrentWith("d4:name1:a4:name1:be"), `metainfo: at byte 61: duplicate dictionary key "name"`},
		{"non-canonical int", torrentWith(strings.Replace(singleInfo(), "i40000e", "i040000e", 1)), "leading zero"},
		{"trailing bytes", append(torrentWith(singleInfo()), 'x'), "1 trailing bytes"},
		{"nested too deep", []byte(bd("info", singleInfo(), "x", strings.Repeat("l", 70)+strings.Repeat("e", 70))), "nesting deeper than 64"},
	} {
		_, err := Parse(tc.in)
		if err == nil || !strings.HasPrefix(err.Error(), "metainfo: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestCountLimits checks the piece and file limits, which a .torrent cannot reach within
// the size limits (2^21 hashes are 40 MiB; 1M file entries are at least 23 MB), so the
// info dictionary is parsed with larger benc limits than ParseInfo uses.
func TestCountLimits(t *testing.T) {
	for _, tc := range []struct {
		name, info, want string
	}{
		{"pieces", bd("length", bi(1), "name", bs("n"), "piece length", bi(16384), "pieces", hashes(MaxPieces+1)),
			"info.pieces: 2097153 pieces, over the limit of 2097152"},
		{"files", bd("files", "l"+strings.Repeat(fileEntry(0, "a"), MaxFiles+1)+"e", "name", bs("n"), "piece length", bi(16384), "pieces", hashes(1)),
			"info.files: 1000001 files, over the limit of 1000000"},
	} {
		v, err := benc.Parse([]byte(tc.info), benc.Limits{MaxSize: 1 << 30, MaxTokens: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseInfo(v, [20]byte{}); err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
}

func TestParseTooLarge(t *testing.T) {
	big := make([]byte, MaxTorrentSize+1)
	if _, err := Parse(big); err == nil || !strings.Contains(err.Error(), "over the 10 MiB limit") {
		t.Fatalf("got %v", err)
	}
	if _, err := ParseInfo(make([]byte, MaxInfoSize+1)); err == nil || !strings.Contains(err.Error(), "over the 16 MiB limit") {
		t.Fatalf("got %v", err)
	}
}

// TestInfoHashIsOverRawBytes uses an info dictionary with unsorted and unknown keys:
// re-encoding it would sort the keys and drop the unknown ones, changing the hash.
func TestInfoHashIsOverRawBytes(t *testing.T) {
	info := bd("pieces", hashes(3), "name", bs("file.bin"), "x-unknown", bl(bi(1), bd("z", bs("y"))), "piece length", bi(16384), "length", bi(40000))
	tor := mustParse(t, torrentWith(info))
	if tor.InfoHash != sha1.Sum([]byte(info)) {
		t.Fatal("InfoHash is not the SHA-1 of the raw info bytes")
	}
	if string(tor.RawInfo) != info {
		t.Fatalf("RawInfo = %q", tor.RawInfo)
	}
	var decoded map[string]any
	if err := benc.Unmarshal([]byte(info), &decoded); err != nil {
		t.Fatal(err)
	}
	reencoded, err := benc.Marshal(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if sha1.Sum(reencoded) == tor.InfoHash {
		t.Fatal("test is vacuous: re-encoding kept the hash")
	}
	// ParseInfo agrees with Parse.
	i2, err := ParseInfo(tor.RawInfo)
	if err != nil || i2.Name != tor.Info.Name || i2.TotalLength != tor.Info.TotalLength {
		t.Fatalf("ParseInfo: %v %+v", err, i2)
	}
}

func TestParseDoesNotAliasInput(t *testing.T) {
	data := torrentWith(singleInfo())
	tor := mustParse(t, data)
	hash := tor.Info.PieceHash(0)
	for i := range data {
		data[i] = 'X'
	}
	if tor.Info.PieceHash(0) != hash || tor.RawInfo[0] != 'd' || tor.Info.Name != "file.bin" {
		t.Fatal("Torrent changed when the input buffer was overwritten")
	}
}

func TestParseMultiFileOffsets(t *testing.T) {
	tor := mustParse(t, torrentWith(multiInfo(30000, fileEntry(10000, "a", "x.bin"), fileEntry(0, "empty"), fileEntry(20000, "b.bin"))))
	i := tor.Info
	if !i.MultiFile || i.Name != "root" || i.TotalLength != 30000 || i.NumPieces != 2 {
		t.Fatalf("got %+v", i)
	}
	wantOff := []int64{0, 10000, 10000}
	for k, f := range i.Files {
		if f.Offset != wantOff[k] {
			t.Errorf("file %d offset %d, want %d", k, f.Offset, wantOff[k])
		}
	}
}

func TestPadding(t *testing.T) {
	files := []string{
		fileEntry(100, "a"),
		bd("attr", bs("p"), "length", bi(16284), "path", bl(bs(".pad"), bs("16284"))),
		fileEntry(100, "b"),
		bd("attr", bs("xp"), "length", bi(100), "path", bl(bs("pad"))),
		fileEntry(100, "_____padding_file_0_"),
		fileEntry(100, ".pad", "100"),
		fileEntry(100, ".pad", "99"), // not its length: a real file
		bd("attr", bs("x"), "length", bi(100), "path", bl(bs("c"))),
	}
	tor := mustParse(t, torrentWith(multiInfo(16284+700, files...)))
	var visible []string
	for _, f := range tor.Info.VisibleFiles() {
		visible = append(visible, strings.Join(f.Path, "/"))
	}
	if got := strings.Join(visible, ","); got != "a,b,.pad/99,c" {
		t.Fatalf("visible files %q", got)
	}
	if len(tor.Info.Files) != 8 || tor.Info.Files[2].Offset != 16384 {
		t.Fatalf("padding must keep its place: %+v", tor.Info.Files[:3])
	}
}

func TestPaddingDoesNotRenameVisibleFiles(t *testing.T) {
	pad := func(n int64) string {
		return bd("attr", bs("p"), "length", bi(n), "path", bl(bs(".pad"), bs("10")))
	}
	// Two padding files with the same path, and a visible file with that path too.
	tor := mustParse(t, torrentWith(multiInfo(40, fileEntry(10, "a"), pad(10), fileEntry(10, ".pad", "10x"), pad(10))))
	vis := tor.Info.VisibleFiles()
	if len(vis) != 2 || vis[1].Path[1] != "10x" {
		t.Fatalf("visible %+v", vis)
	}
}

func TestUTF8Keys(t *testing.T) {
	info := bd("files", bl(
		bd("length", bi(5), "path", bl(bs("\xc4\xe3\xba\xc3.txt")), "path.utf-8", bl(bs("你好.txt"))),
		bd("length", bi(5), "path", bl(bs("plain.txt")), "path.utf-8", bl(bs("\xff"))),
		bd("length", bi(5), "path", bl(bs("gbk\xc4.txt"))),
	), "name", bs("\xb2\xe2"), "name.utf-8", bs("测"), "piece length", bi(16384), "pieces", hashes(1))
	i := mustParse(t, torrentWith(info)).Info
	got := []string{i.Name, i.Files[0].Path[0], i.Files[1].Path[0], i.Files[2].Path[0]}
	want := []string{"测", "你好.txt", "plain.txt", "gbk\uFFFD.txt"}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("name %d: got %q, want %q", k, got[k], want[k])
		}
	}
}

func TestTrackers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		announce string
		list     string
		want     string
	}{
		{"announce only", bs(" udp://t:80 "), "", "udp://t:80"},
		{"list wins", bs("http://a/"), bl(bl(bs("http://b/"), bs("udp://c:1")), bl(bs("https://d/"))), "http://b/,udp://c:1|https://d/"},
		{"cleaned", bs("http://a/"), bl(bl(bs(""), bs(" http://b/ "), bs("wss://x/"), bs("http://b/")), bl(), bl(bs("http://b/")), bl(bs("udp://c:1"))), "http://b/|udp://c:1"},
		{"all bad falls back to announce", bs("http://a/"), bl(bl(bs("ftp://x/"))), "http://a/"},
		{"wrong types dropped", bi(5), bl(bs("http://x/"), bl(bi(3), bs("http://y/"))), "http://y/"},
		{"bad announce", bs("magnet:?xt=x"), "", ""},
		{"none", "", "", ""},
	} {
		kv := []string{}
		if tc.announce != "" {
			kv = append(kv, "announce", tc.announce)
		}
		if tc.list != "" {
			kv = append(kv, "announce-list", tc.list)
		}
		kv = append(kv, "info", singleInfo())
		tor := mustParse(t, []byte(bd(kv...)))
		var tiers []string
		for _, tier := range tor.AnnounceList {
			tiers = append(tiers, strings.Join(tier, ","))
		}
		if got := strings.Join(tiers, "|"); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMetadataFields(t *testing.T) {
	data := []byte(bd("comment", bs("hi\xff"), "created by", bs("me"), "creation date", bi(1700000000),
		"info", singleInfo(), "url-list", bl(bs("http://seed/"), bs("ftp://no/"), bs("http://seed/"), bi(1))))
	tor := mustParse(t, data)
	if tor.Comment != "hi\uFFFD" || tor.CreatedBy != "me" || tor.CreationDate != 1700000000 {
		t.Fatalf("got %+v", tor)
	}
	if strings.Join(tor.URLList, ",") != "http://seed/" {
		t.Fatalf("url-list %v", tor.URLList)
	}
	tor = mustParse(t, []byte(bd("info", singleInfo(), "url-list", bs("https://one/"))))
	if strings.Join(tor.URLList, ",") != "https://one/" {
		t.Fatalf("url-list string %v", tor.URLList)
	}
	tor = mustParse(t, []byte(bd("comment", bi(1), "creation date", bs("x"), "info", singleInfo())))
	if tor.Comment != "" || tor.CreationDate != 0 {
		t.Fatal("mistyped metadata should be dropped")
	}
}

func TestPrivate(t *testing.T) {
	info := strings.TrimSuffix(singleInfo(), "e") + bs("private") + bi(1) + "e"
	if !mustParse(t, torrentWith(info)).Info.Private {
		t.Fatal("private not set")
	}
	if mustParse(t, torrentWith(singleInfo())).Info.Private {
		t.Fatal("private set")
	}
}

func TestErrorsAreFieldErrors(t *testing.T) {
	_, err := Parse(torrentWith(bd("name", bs("x"))))
	var fe *fieldError
	if !errors.As(err, &fe) || fe.field != "info.piece length" {
		t.Fatalf("got %v", err)
	}
	_, err = Parse([]byte("i1"))
	if !errors.Is(err, benc.ErrSyntax) {
		t.Fatalf("benc errors should stay visible: %v", err)
	}
}
