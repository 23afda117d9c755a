package main

import (
	"bytes"
	stdlog "log"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestViewOutput: --view decides whether log lines go through a termOut.
func TestViewOutput(t *testing.T) {
	std := stdlog.Writer()
	t.Cleanup(func() { stdlog.SetOutput(std) })
	for _, c := range []struct {
		view  viewFlag
		quiet bool
		want  bool
	}{{"auto", false, false}, {"on", false, true}, {"on", true, true}, {"off", false, false}, {"", false, false}} {
		mf := mountFlags{view: c.view}
		mf.quiet = c.quiet
		var buf bytes.Buffer
		mf.logger(&buf).Warn("hello")
		if (mf.term != nil) != c.want || !strings.Contains(buf.String(), "msg=hello") {
			t.Errorf("--view %s quiet=%v: view on = %v, want %v; log %q", c.view, c.quiet, mf.term != nil, c.want, buf.String())
		}
	}
	var v viewFlag
	if err := v.Set("sometimes"); err == nil {
		t.Error("--view sometimes: want an error")
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"mount", "--view", "sometimes", "x.torrent", t.TempDir()}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "want auto, on or off") {
		t.Errorf("mount --view sometimes: exit %d, %q", code, errOut.String())
	}
}

// TestMountSignals: SIGHUP ends a mount, unless it was started under nohup.
func TestMountSignals(t *testing.T) {
	if signal.Ignored(syscall.SIGHUP) {
		t.Skip("the test runs with SIGHUP ignored")
	}
	if !slices.Contains(mountSignals(), os.Signal(syscall.SIGHUP)) {
		t.Errorf("mountSignals() = %v, want SIGHUP in it", mountSignals())
	}
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	if sigs := mountSignals(); slices.Contains(sigs, os.Signal(syscall.SIGHUP)) || len(sigs) != 2 {
		t.Errorf("with SIGHUP ignored: mountSignals() = %v, want SIGINT and SIGTERM only", sigs)
	}
}
