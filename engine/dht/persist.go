package dht

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// State file limits: at most maxSavedNodes nodes (26 bytes each, BEP 5 compact node
// info), so the file is under 16 KiB; a larger file is refused unread.
const (
	maxSavedNodes = 512
	maxStateFile  = 64 << 10
)

// state is what Save keeps: the node id, so the node returns to the same place in the
// DHT, and the good nodes of its routing table, to bootstrap from next time.
type state struct {
	ID    ID
	Nodes []NodeInfo
}

// wireState is the state file: a bencoded dictionary {"id": 20 bytes, "nodes":
// compact node info}, the same encoding as BEP 5's find_node replies.
type wireState struct {
	ID    []byte `bencode:"id"`
	Nodes []byte `bencode:"nodes"`
}

// Save writes the node id and up to 512 nodes of the routing table (the verified
// ones, nearest to our id first) to Config.StateFile, atomically (a temporary file
// renamed over the old one). Close calls it too.
func (n *Node) Save() error {
	if n.cfg.StateFile == "" {
		return errors.New("dht: save: no state file configured")
	}
	n.mu.Lock()
	nodes := n.table.closest(n.self, maxSavedNodes, time.Now(), true)
	n.mu.Unlock()
	if err := saveState(n.cfg.StateFile, state{ID: n.self, Nodes: nodes}); err != nil {
		return fmt.Errorf("dht: save %s: %w", n.cfg.StateFile, err)
	}
	return nil
}

// saveState writes st to path atomically.
func saveState(path string, st state) error {
	w := wireState{ID: st.ID[:], Nodes: make([]byte, 0, len(st.Nodes)*compactNodeLen)}
	for _, nd := range st.Nodes[:min(len(st.Nodes), maxSavedNodes)] {
		w.Nodes = appendCompactNode(w.Nodes, nd)
	}
	b, err := benc.Marshal(&w)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// loadState reads a state file written by saveState. A missing file is an error
// wrapping os.ErrNotExist.
func loadState(path string) (state, error) {
	var st state
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return st, fmt.Errorf("dht: read state %s: %w", path, err)
	}
	if len(b) > maxStateFile {
		return st, fmt.Errorf("dht: state %s: larger than %d bytes", path, maxStateFile)
	}
	st, err = parseState(b)
	if err != nil {
		return st, fmt.Errorf("dht: state %s: %w", path, err)
	}
	return st, nil
}

// parseState decodes the state file's bytes.
func parseState(b []byte) (state, error) {
	var st state
	v, err := benc.Parse(b, benc.Limits{MaxSize: maxStateFile, MaxDepth: 2, MaxTokens: 16})
	if err != nil {
		return st, err
	}
	idv, _ := v.Get("id")
	if !readID(idv, &st.ID) {
		return st, errors.New(`missing or invalid "id"`)
	}
	nv, _ := v.Get("nodes")
	s, ok := nv.Bytes()
	if !ok {
		return st, errors.New(`missing or invalid "nodes"`)
	}
	st.Nodes, err = parseCompactNodes(s, maxSavedNodes)
	return st, err
}
