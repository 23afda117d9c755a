package fs

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// lonelyFile opens the one file of a torrent nobody seeds, with opts: its
// reads can only wait.
func lonelyFile(t *testing.T, opts *Options) *handle {
	t.Helper()
	mt, _ := enginetest.Torrent(t, "lonely", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(1, 100_000)}})
	tor, err := testClient(t).AddTorrent(mt, engine.TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRoot(tor, *opts)
	f := &file{t: tor, f: mt.Info.VisibleFiles()[0], opts: opts, root: r}
	fh, _, errno := f.Open(context.Background(), syscall.O_RDONLY)
	if errno != 0 {
		t.Fatalf("open: %v", errno)
	}
	h := fh.(*handle)
	t.Cleanup(func() { h.Release(context.Background()) })
	return h
}

// The end of Options.Life releases a read that waits for data with EIO, and
// later reads and opens fail at once.
func TestLifeReleasesReads(t *testing.T) {
	life, stop := context.WithCancel(context.Background())
	defer stop()
	opts := &Options{Life: life}
	h := lonelyFile(t, opts)
	done := make(chan syscall.Errno, 1)
	go func() {
		_, errno := h.Read(context.Background(), make([]byte, 4096), 0)
		done <- errno
	}()
	// Stop once the read waits for its piece (the owner's view of it).
	for {
		snap, err := h.root.t.Inspect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Waiting) > 0 {
			break
		}
		select {
		case errno := <-done:
			t.Fatalf("the read ended before it waited: %v", errno)
		case <-time.After(5 * time.Millisecond):
		}
	}
	stop()
	select {
	case errno := <-done:
		if errno != syscall.EIO {
			t.Fatalf("a read waiting when the mount stopped: %v, want EIO", errno)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a read waiting when the mount stopped was not released")
	}
	if _, errno := h.Read(context.Background(), make([]byte, 10), 0); errno != syscall.EIO {
		t.Errorf("a read after the stop: %v, want EIO", errno)
	}
	f := &file{t: h.root.t, f: h.root.t.Info().VisibleFiles()[0], opts: opts, root: h.root}
	if _, _, errno := f.Open(context.Background(), syscall.O_RDONLY); errno != syscall.EIO {
		t.Errorf("open after the stop: %v, want EIO", errno)
	}
}

// A read that times out fails with EIO and is logged once, at WARN, with what
// it waited for; the kernel's retry of it (an overlapping read on the same
// handle just after) fails too and is logged at debug level only.
func TestReadTimeoutLogged(t *testing.T) {
	var logBuf bytes.Buffer
	opts := &Options{ReadTimeout: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	h := lonelyFile(t, opts)
	if _, errno := h.Read(context.Background(), make([]byte, 64<<10), 0); errno != syscall.EIO {
		t.Fatalf("a read that timed out: %v, want EIO", errno)
	}
	log := logBuf.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "offset=0") ||
		!strings.Contains(log, "waiting_for=") || !strings.Contains(log, "not verified") {
		t.Fatalf("log of a timed-out read:\n%s", log)
	}
	// The retry: its wait began with the first read's, so it has no time left.
	since, retry := h.waitingSince(4096, 4096, h.timedOut.at)
	if !retry || !since.Equal(h.timedOut.since) {
		t.Errorf("an overlapping read at once: since %v retry %v, want the first read's start", since, retry)
	}
	if _, retry := h.waitingSince(1<<20, 4096, h.timedOut.at); retry {
		t.Error("a read elsewhere in the file counted as a retry")
	}
	if _, retry := h.waitingSince(0, 4096, h.timedOut.at.Add(retryWindow)); retry {
		t.Error("a read after the retry window counted as a retry")
	}
}

// Only root, the serving user and the owner of the files may stop a mount; a
// size query stops nothing; a root without OnUnmount has no such attribute.
func TestUnmountRequest(t *testing.T) {
	calls := 0
	o := &Options{UID: 4321, OnUnmount: func() { calls++ }}
	as := func(uid uint32) context.Context {
		return &fuse.Context{Caller: fuse.Caller{Owner: fuse.Owner{Uid: uid}}, Cancel: nil}
	}
	buf := make([]byte, 32)
	if _, errno := unmountRequest(as(1234), o, buf); errno != syscall.EPERM || calls != 0 {
		t.Errorf("a stranger: %v (%d calls), want EPERM", errno, calls)
	}
	if _, errno := unmountRequest(as(4321), o, nil); errno != syscall.ERANGE || calls != 0 {
		t.Errorf("a size query: %v (%d calls), want ERANGE and no stop", errno, calls)
	}
	for _, uid := range []uint32{0, 4321, uint32(os.Geteuid())} {
		n, errno := unmountRequest(as(uid), o, buf)
		if errno != 0 || string(buf[:n]) != strconv.Itoa(os.Getpid()) {
			t.Errorf("uid %d: %q %v, want our pid", uid, buf[:n], errno)
		}
	}
	if calls != 3 {
		t.Errorf("OnUnmount called %d times, want 3", calls)
	}
	if _, errno := unmountRequest(as(0), &Options{}, buf); errno != syscall.ENODATA {
		t.Errorf("a root without OnUnmount: %v, want ENODATA", errno)
	}
}

func TestParseMountinfo(t *testing.T) {
	line := `87 29 0:52 / /tmp/a\040b rw,nosuid,nodev,relatime shared:45 - fuse.hyperblow /data/x.torrent ro,user_id=0,group_id=0`
	e, ok := parseMountinfo(line)
	if !ok || e.Point != "/tmp/a b" || e.Type != "fuse.hyperblow" || e.Source != "/data/x.torrent" || e.Dev != 52 || !e.IsHyperblow() ||
		e.ID != "87" || e.SuperOpts != "ro,user_id=0,group_id=0" {
		t.Errorf("parseMountinfo = %+v, %v", e, ok)
	}
	if _, ok := parseMountinfo("garbage"); ok {
		t.Error("parseMountinfo accepted garbage")
	}
}
