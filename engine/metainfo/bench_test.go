package metainfo

import (
	"strconv"
	"testing"
)

// torrent100k builds a torrent of 100,000 small files in 100 folders.
func torrent100k(tb testing.TB) []byte {
	tb.Helper()
	files := make([]InputFile, 100_000)
	data := []byte("0123456789")
	for i := range files {
		files[i] = FileBytes(data[:i%10+1], "folder "+strconv.Itoa(i/1000), "file-"+strconv.Itoa(i)+".dat")
	}
	out, err := CreateFromFiles("big", files, CreateOptions{Trackers: [][]string{{"http://t/announce"}}})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func BenchmarkParse100kFiles(b *testing.B) {
	data := torrent100k(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		t, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if len(t.Info.Files) != 100_000 {
			b.Fatal("files")
		}
	}
}
