package metainfo

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCreateProgress: the progress callback sees the bytes hashed grow
// monotonically, piece by piece, and its last call reports the total; Create
// (from disk) and CreateFromFiles both call it.
func TestCreateProgress(t *testing.T) {
	const pl = 16 << 10
	a, b := randomBytes(1, 5*pl+123), randomBytes(2, 3*pl-7) // pieces span both files
	total := int64(len(a) + len(b))
	check := func(t *testing.T, calls [][2]int64) {
		t.Helper()
		if len(calls) == 0 {
			t.Fatal("progress was never called")
		}
		var last int64
		for k, c := range calls {
			if c[1] != total {
				t.Fatalf("call %d: total %d, want %d", k, c[1], total)
			}
			if c[0] < last || c[0] > total {
				t.Fatalf("call %d: done %d after %d (total %d): not monotonic or past the total", k, c[0], last, total)
			}
			last = c[0]
		}
		if last != total {
			t.Fatalf("last call: done %d, want %d", last, total)
		}
		if want := int((total + pl - 1) / pl); len(calls) != want {
			t.Errorf("%d calls, want one per piece (%d)", len(calls), want)
		}
	}

	t.Run("CreateFromFiles", func(t *testing.T) {
		var calls [][2]int64
		opts := CreateOptions{PieceLength: pl, Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) }}
		if _, err := CreateFromFiles("t", []InputFile{FileBytes(a, "a"), FileBytes(b, "b")}, opts); err != nil {
			t.Fatal(err)
		}
		check(t, calls)
	})
	t.Run("Create", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "t")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{"a": a, "b": b} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var calls [][2]int64
		opts := CreateOptions{PieceLength: pl, Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) }}
		if _, err := Create(dir, opts); err != nil {
			t.Fatal(err)
		}
		check(t, calls)
	})
}
