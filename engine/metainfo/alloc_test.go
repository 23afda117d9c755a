package metainfo

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// allocated returns the bytes f allocates. Tests that use it must not run in parallel.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Parse may allocate at most allocPerByte times its input plus allocSlack: it copies
// the info dictionary and the hashes, and builds one File, its path and one map entry
// per component for the visible tree.
const (
	allocPerByte = 32
	allocSlack   = 256 << 10
)

func adversarialTorrents() map[string][]byte {
	const n = 100_000
	many := func(n int, entry func(i int) string) []byte {
		var b strings.Builder
		for i := range n {
			b.WriteString(entry(i))
		}
		return torrentWith(multiInfo(int64(n), b.String()))
	}
	deep := make([]string, MaxPathDepth)
	for i := range deep {
		deep[i] = "d"
	}
	var tiers strings.Builder
	for i := range n {
		tiers.WriteString(bl(bs("udp://t:" + strconv.Itoa(i))))
	}
	return map[string][]byte{
		"12-byte 2 GB string": []byte("2000000000:x"),
		"nested lists":        []byte(strings.Repeat("l", 100_000)),
		"open dicts":          []byte(strings.Repeat("d1:a", 50_000)),
		"files in own dirs":   many(n, func(i int) string { return fileEntry(1, strconv.Itoa(i), "f") }),
		"deep paths":          many(n/20, func(i int) string { return fileEntry(1, append([]string{strconv.Itoa(i)}, deep[1:]...)...) }),
		"same name":           many(n, func(int) string { return fileEntry(1, "a") }),
		"minimal files":       many(n, func(int) string { return "d6:lengthi1e4:pathl0:ee" }),
		"hostile names":       many(n/5, func(int) string { return fileEntry(1, "..", "\xff\x00/"+strings.Repeat("é", 200)) }),
		"file vs dir": many(n, func(i int) string {
			return fileEntry(1, append(strings.Split(strings.Repeat("a/", i%63), "/"), "x")[1:]...)
		}),
		"many trackers":          []byte(bd("announce-list", "l"+tiers.String()+"e", "info", singleInfo())),
		"many web seeds":         []byte(bd("info", singleInfo(), "url-list", "l"+strings.Repeat(bs("http://s/"), n)+"e")),
		"piece count mismatch":   torrentWith(bd("length", bi(1<<40), "name", bs("n"), "piece length", bi(16384), "pieces", hashes(1))),
		"big unknown key":        []byte(bd("info", singleInfo(), "x", "l"+strings.Repeat("de", 2_000_000)+"e")),
		"unsorted big info dict": torrentWith(bd("pieces", hashes(3), "name", bs("n"), "length", bi(40000), "piece length", bi(16384), "z", bs(strings.Repeat("z", 1<<20)))),
	}
}

func TestParseAllocationIsBounded(t *testing.T) {
	for name, data := range adversarialTorrents() {
		var err error
		got := allocated(func() { _, err = Parse(data) })
		limit := uint64(allocPerByte*len(data) + allocSlack)
		t.Logf("%-24s %9d bytes in, %10d allocated (%.1f/byte), err=%v", name, len(data), got, float64(got)/float64(len(data)), err)
		if got > limit {
			t.Errorf("%s: %d-byte input allocated %d bytes, want <= %d", name, len(data), got, limit)
		}
	}
}
