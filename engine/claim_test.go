package engine

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// A peer that connected to us names its listening port in its extension
// handshake; while that connection lasts, its listening address counts as
// connected and is not dialled (a second connection would be closed as a
// duplicate, count as a failed dial, and be retried after each back-off),
// whether the address was known before the connection or learnt after it.
// When the connection ends, the address may be dialled again.
func TestIncomingPeerClaimsListenAddr(t *testing.T) {
	mt, data := testTorrent(t, 64<<10)
	leech, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, NoUTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer leech.Close()
	tor, err := leech.AddTorrent(mt, TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	newSeed := func() *Client {
		s, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, NoUTP: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddTorrent(mt, TorrentOptions{OpenTier: ReaderTier(bytes.NewReader(data)), UploadOnly: true,
			NoTrackers: true, Peers: []netip.AddrPort{leech.ListenAddr()}}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// waitPeer waits until the leecher has n peers, each past its extension handshake.
	waitPeer := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			ok := false
			tor.onOwner(func() {
				ok = len(tor.peers) == n
				for _, p := range tor.peers {
					ok = ok && p.incoming && p.ext.Port != 0
				}
			})
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the leecher did not get to %d incoming peers past their extension handshake", n)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}

	// Learnt after the connection.
	s1 := newSeed()
	waitPeer(1)
	a1 := s1.ListenAddr()
	tor.onOwner(func() {
		tor.addAddrs([]netip.AddrPort{a1}, false)
		st := tor.addrs[a1]
		if !st.connected || !st.claimed || tor.dialable(st, time.Now()) {
			t.Errorf("an address learnt while its peer is connected to us: %+v, want connected (claimed), not dialable", *st)
		}
	})
	s1.Close()
	// Released: the leecher may dial it again (a dial may even reach s1
	// before its listener has closed).
	waitAddr(t, tor, a1, "the address once its incoming connection ended", func(st *addrState) bool {
		return !st.claimed
	})

	// Known before the connection.
	knownSeedDialsUs(t, mt, data, leech, tor)
}

// A torrent that falls asleep lets go of the listening addresses its incoming
// peers claimed: waking, it dials them like any other known address.
func TestSleepReleasesClaimedListenAddr(t *testing.T) {
	mt, data := testTorrent(t, 64<<10)
	leech, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, NoUTP: true, Idle: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer leech.Close()
	tor, err := leech.AddTorrent(mt, TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	a := knownSeedDialsUs(t, mt, data, leech, tor)
	deadline := time.Now().Add(20 * time.Second)
	for tor.State() != StateSleeping {
		if time.Now().After(deadline) {
			t.Fatalf("the torrent did not fall asleep: %v", tor.State())
		}
		select {
		case <-tor.StateChanged():
		case <-time.After(100 * time.Millisecond):
		}
	}
	var st addrState
	tor.onOwner(func() { st = *tor.addrs[a] })
	if st.claimed || st.connected {
		t.Fatalf("asleep: the claimed address is %+v, want released (not connected)", st)
	}
}

// knownSeedDialsUs starts a seeder whose listening address tor knows (waiting
// out a back-off, so tor does not dial it) and which dials leech itself; it
// returns that address once the incoming peer has claimed it.
func knownSeedDialsUs(t *testing.T, mt *metainfo.Torrent, data []byte, leech *Client, tor *Torrent) netip.AddrPort {
	t.Helper()
	s, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, NoUTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := s.ListenAddr()
	tor.onOwner(func() {
		tor.addAddrs([]netip.AddrPort{a}, false)
		tor.addrs[a].nextTry = time.Now().Add(time.Hour)
	})
	if _, err := s.AddTorrent(mt, TorrentOptions{OpenTier: ReaderTier(bytes.NewReader(data)), UploadOnly: true,
		NoTrackers: true, Peers: []netip.AddrPort{leech.ListenAddr()}}); err != nil {
		t.Fatal(err)
	}
	waitAddr(t, tor, a, "a known address whose peer connected to us", func(st *addrState) bool {
		return st.claimed
	})
	return a
}
