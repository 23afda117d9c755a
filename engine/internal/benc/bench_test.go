package benc

import (
	"strings"
	"testing"
)

// torrentLike is about 5 MB shaped like a 100k-file .torrent.
func torrentLike() []byte {
	var b strings.Builder
	b.WriteString("d4:infod5:filesl")
	for i := range 100_000 {
		name := "file-" + itoa(i) + ".dat"
		b.WriteString("d6:lengthi" + itoa(i*1000+1) + "e4:pathl3:dir" + itoa(len(name)) + ":" + name + "ee")
	}
	b.WriteString("e4:name4:test12:piece lengthi262144e6:pieces20:01234567890123456789ee")
	return []byte(b.String())
}

func BenchmarkScan(b *testing.B) {
	data := torrentLike()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Scan(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseWalk(b *testing.B) {
	data := torrentLike()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := Parse(data, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		info, _ := v.Get("info")
		files, _ := info.Get("files")
		n := 0
		for f := range files.Items() {
			l, _ := f.Get("length")
			x, _ := l.Int()
			n += int(x)
		}
	}
}
