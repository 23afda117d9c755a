package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const lockChildEnv = "HYPERBLOW_STORAGE_LOCK_CHILD"

// TestLayoutLockChild is the child of TestLayoutLockAcrossProcesses: it
// opens the Layout under the folder it is given, says "ready" and holds it
// until killed. It does nothing in a normal run.
func TestLayoutLockChild(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("the child of TestLayoutLockAcrossProcesses")
	}
	tt := makeTorrent(t, 31, 16<<10, 40<<10, 30<<10)
	if _, _, err := OpenLayout(context.Background(), tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{}); err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println("ready")
	select {} // killed by the parent
}

// TestLayoutLockAcrossProcesses: while another process has DIR/NAME open for
// writing, OpenLayout of the same folder fails with ErrInUse, writes nothing
// and says what to do; a read-only open (seed) still works; once that
// process is gone (kill -9: the kernel drops its flock) the folder opens.
func TestLayoutLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	tt := makeTorrent(t, 31, 16<<10, 40<<10, 30<<10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLayoutLockChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	ready := false
	for !ready && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "error") {
			t.Fatalf("child: %s", sc.Text())
		}
		ready = sc.Text() == "ready"
	}
	if !ready {
		t.Fatal("the child ended before it opened the Layout")
	}
	_, _, err = OpenLayout(ctx, tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), filepath.Join(dir, "t")) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("open while another process writes: %v; want ErrInUse naming the folder", err)
	}
	ro, _, err := OpenLayout(ctx, tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{ReadOnly: true})
	if err != nil {
		t.Fatalf("a read-only open while another process writes: %v", err)
	}
	ro.Close()
	cmd.Process.Kill()
	cmd.Wait()
	l, _, err := OpenLayout(ctx, tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{})
	if err != nil {
		t.Fatalf("open after the other process was killed: %v", err)
	}
	l.Close()
}

// TestLayoutLockInProcess: two writable opens of one folder in one process
// conflict too (each open has its own file description), for a single-file
// torrent (the lock is on the file) as for a multi-file one (on its folder);
// Close releases the lock.
func TestLayoutLockInProcess(t *testing.T) {
	for _, sizes := range [][]int{{50 << 10}, {40 << 10, 30 << 10}} {
		dir := t.TempDir()
		tt := makeTorrent(t, 32, 16<<10, sizes...)
		l, _ := openLayout(t, tt, dir, LayoutConfig{})
		if _, _, err := OpenLayout(context.Background(), tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{}); !errors.Is(err, ErrInUse) {
			t.Fatalf("%d files: a second open: %v, want ErrInUse", len(sizes), err)
		}
		if !l.Put(0, tt.piece(0)) { // the first one still writes
			t.Fatalf("%d files: the first Layout refuses a Put after a refused second open", len(sizes))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, _, err := OpenLayout(context.Background(), tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{})
		if err != nil {
			t.Fatalf("%d files: open after Close: %v", len(sizes), err)
		}
		if !l2.Has(0) {
			t.Fatalf("%d files: piece 0 written by the first Layout is not found", len(sizes))
		}
		l2.Close()
	}
}
