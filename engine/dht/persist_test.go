package dht

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPersist: Close saves the id and table; a new node with the same state file
// takes the id and bootstraps from the saved nodes alone.
func TestPersist(t *testing.T) {
	a := startNode(t, Config{})
	b := startNode(t, Config{Bootstrap: []string{a.Addr().String()}})
	if err := b.Bootstrap(testCtx(t, 3*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to verify b", func() bool { return a.Stats().Nodes == 1 })
	file := filepath.Join(t.TempDir(), "dht.state")
	c := startNode(t, Config{StateFile: file, Bootstrap: []string{a.Addr().String()}})
	if err := c.Bootstrap(testCtx(t, 3*time.Second)); err != nil {
		t.Fatal(err)
	}
	id := c.ID()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != id || len(st.Nodes) != 2 {
		t.Fatalf("saved id %v and %d nodes, want %v and 2", st.ID, len(st.Nodes), id)
	}
	d := startNode(t, Config{StateFile: file})
	if d.ID() != id {
		t.Fatalf("id %v, want the saved %v", d.ID(), id)
	}
	if err := d.Bootstrap(testCtx(t, 3*time.Second)); err != nil {
		t.Fatalf("bootstrap from saved nodes: %v", err)
	}
	if s := d.Stats(); s.Nodes != 2 {
		t.Fatalf("%d nodes after bootstrap from state", s.Nodes)
	}
	// A configured id wins over the saved one.
	e := startNode(t, Config{StateFile: file, ID: testID("explicit")})
	if e.ID() != testID("explicit") {
		t.Fatal("configured id ignored")
	}
}

// TestPersistDamaged: a damaged or oversized state file is ignored, not fatal.
func TestPersistDamaged(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"junk":      []byte("not bencode"),
		"short id":  []byte("d2:id3:abc5:nodes0:e"),
		"bad nodes": []byte("d2:id20:abcdefghij01234567895:nodes3:abce"),
		"huge":      make([]byte, maxStateFile+1),
	} {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadState(file); err == nil {
			t.Errorf("%s: loaded", name)
		}
		n := startNode(t, Config{StateFile: file})
		if n.ID().IsZero() {
			t.Errorf("%s: zero id", name)
		}
	}
}
