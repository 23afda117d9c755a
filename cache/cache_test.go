package cache

import (
	"bytes"
	"testing"
)

func TestPutGetHot(t *testing.T) {
	c, err := New(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := bytes.Repeat([]byte{7}, 256<<10)
	c.Put(Key{1, 3}, data)
	got, ok := c.Get(Key{1, 3})
	if !ok || !bytes.Equal(got, data) {
		t.Fatalf("Get right after Put: ok=%v len=%d", ok, len(got))
	}
	if _, ok := c.Get(Key{2, 3}); ok {
		t.Fatal("other torrent's key hit")
	}
	s := c.Stats()
	if s.Hits != 1 || s.Misses != 1 {
		t.Fatalf("stats %+v, want 1 hit 1 miss", s)
	}
}

// The hot tier must hold the most recent pieces even when ristretto refuses them,
// and the whole cache must stay within its byte budget.
func TestBoundedAndRecentSurvive(t *testing.T) {
	const max = 8 << 20
	c, err := New(max)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const piece = 256 << 10
	for i := 0; i < 200; i++ {
		c.Put(Key{1, uint32(i)}, bytes.Repeat([]byte{byte(i)}, piece))
	}
	c.rc.Wait()
	// The last hot-tier-sized run of pieces is present, exactly.
	hotPieces := int(c.hotMax / piece)
	for i := 200 - hotPieces; i < 200; i++ {
		got, ok := c.Get(Key{1, uint32(i)})
		if !ok || got[0] != byte(i) {
			t.Fatalf("recent piece %d missing (ok=%v)", i, ok)
		}
	}
	held := c.Stats().HotBytes + (c.rc.MaxCost() - c.rc.RemainingCost())
	if held > max {
		t.Fatalf("cache holds %d bytes, budget %d", held, max)
	}
}

func TestDrop(t *testing.T) {
	c, err := New(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Put(Key{1, 0}, []byte("a"))
	c.Put(Key{2, 0}, []byte("b"))
	c.Drop(1, 1)
	if c.Has(Key{1, 0}) {
		t.Fatal("dropped torrent still cached")
	}
	if !c.Has(Key{2, 0}) {
		t.Fatal("other torrent dropped")
	}
}

func TestTooSmall(t *testing.T) {
	if _, err := New(1000); err == nil {
		t.Fatal("New(1000) succeeded")
	}
}

func BenchmarkGetHot(b *testing.B) {
	c, _ := New(64 << 20)
	defer c.Close()
	data := make([]byte, 1<<20)
	for i := 0; i < 8; i++ {
		c.Put(Key{1, uint32(i)}, data)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Get(Key{1, uint32(i % 8)})
	}
}

func BenchmarkPut(b *testing.B) {
	c, _ := New(64 << 20)
	defer c.Close()
	data := make([]byte, 256<<10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Put(Key{1, uint32(i)}, data)
	}
}

// Has agrees with what the cache holds, through evictions, rejections and Drop,
// and counts no hit or miss.
func TestHasTracksRistretto(t *testing.T) {
	c, err := New(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := bytes.Repeat([]byte{1}, 256<<10)
	const n = 200 // 50 MiB through an 8 MiB cache
	for i := 0; i < n; i++ {
		c.Put(Key{1, uint32(i)}, data)
		if i%16 == 0 {
			c.rc.Wait()
		}
	}
	c.rc.Wait()
	held := 0
	for i := 0; i < n; i++ {
		k := Key{1, uint32(i)}
		has := c.Has(k)
		_, inRistretto := c.rc.Get(k.u64())
		c.mu.Lock()
		_, hot := c.hotIndex[k.u64()]
		c.mu.Unlock()
		if has != (hot || inRistretto) {
			t.Fatalf("piece %d: Has %v, hot %v, ristretto %v", i, has, hot, inRistretto)
		}
		if has {
			held++
		}
	}
	if held == 0 || held*len(data) > 8<<20 {
		t.Fatalf("%d pieces held of %d: want some, within 8 MiB", held, n)
	}
	hits, misses := c.hits.Load(), c.misses.Load()
	for i := 0; i < n; i++ {
		c.Has(Key{1, uint32(i)})
	}
	if c.hits.Load() != hits || c.misses.Load() != misses {
		t.Fatal("Has counted hits or misses")
	}
	c.Drop(1, n)
	for i := 0; i < n; i++ {
		if c.Has(Key{1, uint32(i)}) {
			t.Fatalf("piece %d still there after Drop", i)
		}
	}
}

// TestStatsHeldExact: HeldBytes counts every piece put before Stats, at once,
// though ristretto applies its Sets later; it matches the pieces Has finds, and
// goes down with Drop.
func TestStatsHeldExact(t *testing.T) {
	c, err := New(64 << 20) // a 16 MiB hot tier, 48 MiB in ristretto
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const piece, n = 256 << 10, 160 // 40 MiB: both tiers
	data := bytes.Repeat([]byte{9}, piece)
	for i := range n {
		c.Put(Key{1, uint32(i)}, data)
	}
	s := c.Stats() // straight after the Puts: no Wait by the caller
	held := int64(0)
	for i := range n {
		if c.Has(Key{1, uint32(i)}) {
			held += piece
		}
	}
	if s.HeldBytes != held || s.HeldBytes != n*piece-s.Rejections*piece || s.HotBytes != 16<<20 {
		t.Fatalf("held %d bytes (hot %d, %d rejected); Has finds %d; want all %d put", s.HeldBytes, s.HotBytes, s.Rejections, held, n*piece)
	}
	c.Drop(1, n)
	if s := c.Stats(); s.HeldBytes != 0 || s.HotBytes != 0 {
		t.Fatalf("after Drop: held %d, hot %d; want 0", s.HeldBytes, s.HotBytes)
	}
	c.Close()
	if s := c.Stats(); s.HeldBytes != 0 || s.MaxBytes != 64<<20 {
		t.Fatalf("Stats after Close: %+v", s) // and it does not hang
	}
}
