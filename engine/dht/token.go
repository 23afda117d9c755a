package dht

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net/netip"
	"time"
)

// Announce tokens (BEP 5): a get_peers reply carries a token that the querier must
// present in a later announce_peer from the same IP. Ours is a keyed hash of the
// querier's IP under a secret that changes every tokenRotation; tokens made under the
// current or the previous secret are accepted, so a token lives 5 to 10 minutes
// ("tokens up to ten minutes old are accepted").
const (
	tokenRotation = 5 * time.Minute
	tokenLen      = 8
)

// tokens makes and checks announce tokens. It is a plain struct with time passed in;
// the Node guards it with its mutex.
type tokens struct {
	cur, prev [16]byte
	rotated   time.Time
}

func newTokens(now time.Time) *tokens {
	t := &tokens{rotated: now}
	rand.Read(t.cur[:])
	rand.Read(t.prev[:])
	return t
}

// rotate replaces the secret when tokenRotation has passed, keeping the previous one.
// After twice that without rotating, both secrets are replaced.
func (t *tokens) rotate(now time.Time) {
	switch d := now.Sub(t.rotated); {
	case d >= 2*tokenRotation:
		rand.Read(t.cur[:])
		rand.Read(t.prev[:])
		t.rotated = now
	case d >= tokenRotation:
		t.prev = t.cur
		rand.Read(t.cur[:])
		t.rotated = now
	}
}

// make returns the token for a querier at ip.
func (t *tokens) make(ip netip.Addr, now time.Time) []byte {
	t.rotate(now)
	return tokenFor(t.cur, ip)
}

// valid reports whether tok is a token we gave to ip within the last two rotations.
func (t *tokens) valid(tok []byte, ip netip.Addr, now time.Time) bool {
	t.rotate(now)
	return hmac.Equal(tok, tokenFor(t.cur, ip)) || hmac.Equal(tok, tokenFor(t.prev, ip))
}

// tokenFor is the keyed hash of ip under secret, truncated to tokenLen bytes.
func tokenFor(secret [16]byte, ip netip.Addr) []byte {
	m := hmac.New(sha256.New, secret[:])
	b := ip.Unmap().AsSlice()
	m.Write(b)
	return m.Sum(nil)[:tokenLen]
}
