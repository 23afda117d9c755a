package main

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --data wins over the disk cache: with it no disk cache is opened (and a
// disk cache asked for explicitly is said to be unused), and the folder is
// made and given to the session as an absolute path.
func TestDataFlag(t *testing.T) {
	cache := t.TempDir()
	data := filepath.Join(t.TempDir(), "new", "data")
	var mf netFlags
	fs := flag.NewFlagSet("mount", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	mf.register(fs, "mount", "127.0.0.1:0")
	mf.tier.register(fs)
	if err := fs.Parse([]string{"--cache-dir", cache, "--disk-cache", "64MiB", "--data", data, "--no-dht"}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg, err := mf.sessionConfig(slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Engine.DiskCache != nil {
		cfg.Engine.DiskCache.Close()
		t.Error("--data with --disk-cache: a disk cache was opened")
	}
	if cfg.DataDir != data {
		t.Errorf("DataDir %q, want %q", cfg.DataDir, data)
	}
	if st, err := os.Stat(data); err != nil || !st.IsDir() {
		t.Errorf("--data folder not made: %v", err)
	}
	if !strings.Contains(logs.String(), "not used") {
		t.Errorf("no warning that the disk cache is unused: %q", logs.String())
	}
}
