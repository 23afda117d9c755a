package fs

import (
	"errors"
	"runtime"
	"testing"
)

// TestReaderProcs: each go-fuse server is made with the base GOMAXPROCS (its
// readers sized from it), and the process gets as many more Ps as those
// readers can hold in read(2); a mount that fails adds none.
func TestReaderProcs(t *testing.T) {
	was := runtime.GOMAXPROCS(0)
	saved := procs.base
	savedExtra := procs.extra
	t.Cleanup(func() {
		procs.base, procs.extra = saved, savedExtra
		runtime.GOMAXPROCS(was)
	})
	procs.base, procs.extra = 0, 0
	base := runtime.GOMAXPROCS(0)
	readers := readerProcs(base)
	for k := 1; k <= 2; k++ {
		var inside int
		if _, err := withReaderProcs(func() (int, error) { inside = runtime.GOMAXPROCS(0); return 0, nil }); err != nil {
			t.Fatal(err)
		}
		if inside != base {
			t.Fatalf("mount %d: the server was made with GOMAXPROCS %d, want the base %d", k, inside, base)
		}
		if got := runtime.GOMAXPROCS(0); got != base+k*readers {
			t.Fatalf("after mount %d: GOMAXPROCS %d, want %d + %d readers' Ps per mount", k, got, base, readers)
		}
	}
	if _, err := withReaderProcs(func() (int, error) { return 0, errors.New("no") }); err == nil {
		t.Fatal("the mount's error was lost")
	}
	if got := runtime.GOMAXPROCS(0); got != base+2*readers {
		t.Fatalf("after a failed mount: GOMAXPROCS %d, want %d", got, base+2*readers)
	}
	for range maxExtraMounts + 2 {
		withReaderProcs(func() (int, error) { return 0, nil })
	}
	if got := runtime.GOMAXPROCS(0); got != base+maxExtraMounts*readers {
		t.Fatalf("after many mounts: GOMAXPROCS %d, want it bounded at %d", got, base+maxExtraMounts*readers)
	}
	if readerProcs(1) != 3 || readerProcs(4) != 5 || readerProcs(64) != 17 {
		t.Fatal("readerProcs does not follow go-fuse's clamp(GOMAXPROCS, 2, 16) + 1")
	}
}
