package metainfo

import (
	"crypto/sha1"
	"strconv"
	"strings"
	"testing"
)

// Hand-written bencode, so tests can build what an encoder never would: unsorted keys,
// wrong types, hostile names.

func bs(s string) string { return strconv.Itoa(len(s)) + ":" + s }
func bi(n int64) string  { return "i" + strconv.FormatInt(n, 10) + "e" }
func bl(items ...string) string {
	return "l" + strings.Join(items, "") + "e"
}

// bd builds a dictionary with keys in the order given.
func bd(kv ...string) string {
	var b strings.Builder
	b.WriteString("d")
	for i := 0; i < len(kv); i += 2 {
		b.WriteString(bs(kv[i]))
		b.WriteString(kv[i+1])
	}
	b.WriteString("e")
	return b.String()
}

// hashes returns n fake piece hashes.
func hashes(n int) string { return bs(strings.Repeat("h", 20*n)) }

// singleInfo is a valid single-file info dictionary: 40000 bytes in 3 pieces of 16 KiB.
func singleInfo() string {
	return bd("length", bi(40000), "name", bs("file.bin"), "piece length", bi(16384), "pieces", hashes(3))
}

// fileEntry is one element of a files list.
func fileEntry(length int64, path ...string) string {
	items := make([]string, len(path))
	for i, p := range path {
		items[i] = bs(p)
	}
	return bd("length", bi(length), "path", bl(items...))
}

// multiInfo is a multi-file info dictionary over files totalling total bytes, with the
// right number of 16 KiB pieces.
func multiInfo(total int64, files ...string) string {
	return bd("files", bl(files...), "name", bs("root"), "piece length", bi(16384), "pieces", hashes(int((total+16383)/16384)))
}

func torrentWith(info string) []byte {
	return []byte(bd("announce", bs("http://tracker.example/announce"), "info", info))
}

func mustParse(t *testing.T, data []byte) *Torrent {
	t.Helper()
	tor, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tor
}

func sha(b []byte) [20]byte { return sha1.Sum(b) }
