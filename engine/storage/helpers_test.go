package storage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// testTorrent is a torrent made in memory: its data laid end to end, and each
// file's bytes.
type testTorrent struct {
	mt    *metainfo.Torrent
	data  []byte
	files [][]byte
}

func (tt *testTorrent) piece(i int) []byte {
	off := tt.mt.Info.PieceOffset(i)
	return tt.data[off : off+tt.mt.Info.PieceLen(i)]
}

func (tt *testTorrent) spec(ev Events) Spec { return SpecOf(tt.mt.InfoHash, tt.mt.Info, ev) }

// makeTorrent builds a torrent of files of the given sizes (one size: a
// single-file torrent) with random content.
func makeTorrent(t testing.TB, seed uint64, pieceLen int64, sizes ...int) *testTorrent {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	tt := &testTorrent{}
	var in []metainfo.InputFile
	for k, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		tt.files = append(tt.files, b)
		tt.data = append(tt.data, b...)
		if len(sizes) == 1 {
			in = append(in, metainfo.FileBytes(b))
		} else {
			in = append(in, metainfo.FileBytes(b, "dir", string(rune('a'+k))+".bin"))
		}
	}
	raw, err := metainfo.CreateFromFiles("t", in, metainfo.CreateOptions{PieceLength: pieceLen})
	if err != nil {
		t.Fatal(err)
	}
	if tt.mt, err = metainfo.Parse(raw); err != nil {
		t.Fatal(err)
	}
	return tt
}

// eventLog records Events, safe for concurrent use.
type eventLog struct {
	mu      sync.Mutex
	stored  map[int]int
	evicted map[int]int
}

func newEventLog() *eventLog { return &eventLog{stored: map[int]int{}, evicted: map[int]int{}} }

func (e *eventLog) events() Events {
	return Events{
		Stored:  func(i int) { e.mu.Lock(); e.stored[i]++; e.mu.Unlock() },
		Evicted: func(i int) { e.mu.Lock(); e.evicted[i]++; e.mu.Unlock() },
	}
}

func (e *eventLog) counts() (stored, evicted int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.stored), len(e.evicted)
}

// checkServed fails if any piece the tier claims is served with wrong bytes.
func checkServed(t *testing.T, tier Tier, tt *testTorrent) (held int) {
	t.Helper()
	for i := 0; i < tt.mt.Info.NumPieces; i++ {
		if !tier.Has(i) {
			if _, err := tier.Get(i); err == nil {
				// A queued piece may be served before it is stored; it must be right.
				continue
			}
			continue
		}
		got, err := tier.Get(i)
		if err != nil {
			if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) {
				continue
			}
			t.Fatalf("piece %d: %v", i, err)
		}
		if !bytes.Equal(got, tt.piece(i)) {
			t.Fatalf("piece %d: served wrong bytes", i)
		}
		held++
	}
	return held
}

// smallTmpfs mounts a tmpfs of size bytes (root only) and unmounts it in
// cleanup.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// makeReadOnly makes dir read-only: a read-only remount of a tmpfs for root
// (whom permission bits do not stop), mode 0555 otherwise. It returns the
// folder to use (under the tmpfs for root) and a func that turns it read-only.
func readOnlyDir(t *testing.T) (dir string, freeze func()) {
	t.Helper()
	if os.Geteuid() == 0 {
		m := smallTmpfs(t, "16m")
		return m, func() {
			if err := unix.Mount("tmpfs", m, "tmpfs", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				t.Fatalf("remount read-only: %v", err)
			}
		}
	}
	d := t.TempDir()
	return d, func() {
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				os.Chmod(p, 0o555)
			}
			return nil
		})
		t.Cleanup(func() {
			filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
				if err == nil && e.IsDir() {
					os.Chmod(p, 0o755)
				}
				return nil
			})
		})
	}
}

func (s Spec) bitfieldAll() bt.Bitfield {
	b := bt.NewBitfield(s.NumPieces)
	b.SetAll()
	return b
}

// logCapture is a slog handler that keeps the messages of warnings and errors.
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (h *logCapture) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *logCapture) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCapture) WithGroup(string) slog.Handler      { return h }

func (h *logCapture) count(substr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}
