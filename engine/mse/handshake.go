package mse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rc4"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"
)

// Method is a crypto_provide / crypto_select bit set.
type Method uint32

// The methods of the spec.
const (
	Plaintext Method = 0x01 // only the handshake is encrypted
	RC4       Method = 0x02 // the whole stream is RC4-encrypted
)

func (m Method) String() string {
	switch m {
	case Plaintext:
		return "plaintext"
	case RC4:
		return "rc4"
	case Plaintext | RC4:
		return "plaintext|rc4"
	}
	return fmt.Sprintf("0x%x", uint32(m))
}

// Bounds from the spec, and ours.
const (
	// MaxPad is the longest PadA, PadB, PadC or PadD the spec allows.
	MaxPad = 512
	// MaxIA is the longest initial payload we accept: a 68-byte BitTorrent
	// handshake and room for a small first message or two.
	MaxIA  = 68 + 956
	keyLen = 96 // bytes of a 768-bit DH value
)

// Errors of a failed handshake; the returned errors wrap them with detail.
var (
	// ErrUnknownSKEY: the initiator asked for an info-hash the receiver does not know
	// (or derived another secret).
	ErrUnknownSKEY = errors.New("mse: unknown info-hash (SKEY)")
	// ErrNoSync: the expected marker (HASH('req1', S) or ENCRYPT(VC)) was not found
	// within the padding bound; the peer is not speaking MSE, or with other keys.
	ErrNoSync = errors.New("mse: handshake marker not found within the padding bound")
	// ErrBadVC: the verification constant did not decrypt to zeros.
	ErrBadVC = errors.New("mse: bad verification constant")
	// ErrNoMethod: no crypto method both sides allow.
	ErrNoMethod = errors.New("mse: no common crypto method")
	// ErrTooLong: a padding or IA length beyond its bound.
	ErrTooLong = errors.New("mse: length out of bounds")
	// ErrBadKey: the peer's DH public key is degenerate.
	ErrBadKey = errors.New("mse: bad Diffie-Hellman public key")
)

// The spec's 768-bit prime; the generator is 2.
var (
	prime = func() *big.Int {
		p, ok := new(big.Int).SetString("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563", 16)
		if !ok {
			panic("mse: bad prime")
		}
		return p
	}()
	generator = big.NewInt(2)
	vc        [8]byte
)

// InitiateConfig is the initiator's side of the negotiation.
type InitiateConfig struct {
	// SKEY is the info-hash of the torrent we ask for.
	SKEY [20]byte
	// Provide is the set of methods we accept; 0 means Plaintext|RC4.
	Provide Method
	// IA is the initial payload, usually our BitTorrent handshake; at most
	// MaxIA bytes.
	IA []byte

	random io.Reader // keys and padding; nil: crypto/rand (tests fix it)
}

// ReceiveConfig is the receiver's side of the negotiation.
type ReceiveConfig struct {
	// SKEYs returns the info-hashes we serve; the initiator's is found among
	// them. It may be called from many goroutines at once.
	SKEYs func() [][20]byte
	// Allow is the set of methods we accept; 0 means Plaintext|RC4.
	Allow Method
	// Prefer is selected when the initiator provides it; 0 means RC4. Otherwise
	// RC4 is preferred to Plaintext.
	Prefer Method

	random io.Reader // keys and padding; nil: crypto/rand (tests fix it)
}

// Req2 returns HASH('req2', skey), which identifies a torrent in step 3.
func Req2(skey [20]byte) [20]byte { return hash([]byte("req2"), skey[:]) }

// Initiate runs the initiator's side of the handshake on nc, asking for cfg.SKEY.
// The returned Conn reads and writes the payload stream through the method the
// receiver selected; cfg.IA has been sent already. On error nc is not closed.
func Initiate(ctx context.Context, nc net.Conn, cfg InitiateConfig) (*Conn, error) {
	if len(cfg.IA) > MaxIA {
		return nil, fmt.Errorf("%w: IA of %d bytes, at most %d", ErrTooLong, len(cfg.IA), MaxIA)
	}
	provide := cfg.Provide
	if provide == 0 {
		provide = Plaintext | RC4
	}
	var c *Conn
	err := withContext(ctx, nc, func() error {
		var err error
		c, err = initiate(nc, cfg.SKEY, provide, cfg.IA, orRand(cfg.random))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mse: initiating with %v: %w", nc.RemoteAddr(), err)
	}
	return c, nil
}

// Receive runs the receiver's side of the handshake on nc. The returned Conn's
// first bytes are the initiator's IA (usually its BitTorrent handshake); SKEY
// reports which info-hash it asked for. On error nc is not closed.
func Receive(ctx context.Context, nc net.Conn, cfg ReceiveConfig) (*Conn, error) {
	if cfg.SKEYs == nil {
		return nil, errors.New("mse: Receive needs ReceiveConfig.SKEYs")
	}
	if cfg.Allow == 0 {
		cfg.Allow = Plaintext | RC4
	}
	if cfg.Prefer == 0 {
		cfg.Prefer = RC4
	}
	var c *Conn
	err := withContext(ctx, nc, func() error {
		var err error
		c, err = receive(nc, cfg, orRand(cfg.random))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mse: receiving from %v: %w", nc.RemoteAddr(), err)
	}
	return c, nil
}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

func withContext(ctx context.Context, nc net.Conn, f func() error) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	err := f()
	if !stop() {
		return context.Cause(ctx)
	}
	return err
}

func initiate(nc net.Conn, skey [20]byte, provide Method, ia []byte, random io.Reader) (*Conn, error) {
	br := bufio.NewReaderSize(nc, 2048)
	x, y, err := newKey(random)
	if err != nil {
		return nil, err
	}
	// 1: Ya, PadA.
	if _, err := nc.Write(append(y, randomPad(random)...)); err != nil {
		return nil, fmt.Errorf("sending the public key: %w", err)
	}
	// 2: Yb; PadB is skipped by the VC sync below.
	s, err := readSecret(br, x)
	if err != nil {
		return nil, err
	}
	enc, dec := ciphers(s, skey, "keyA", "keyB")
	// 3: req1, req2^req3, ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA).
	req1 := hash([]byte("req1"), s)
	req2, req3 := Req2(skey), hash([]byte("req3"), s)
	msg := append([]byte{}, req1[:]...)
	for i := range req2 {
		msg = append(msg, req2[i]^req3[i])
	}
	start := len(msg)
	msg = append(msg, vc[:]...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(provide))
	padC := randomPad(random)
	clear(padC) // the spec leaves PadC's content open; zeros, as others send
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(padC)))
	msg = append(msg, padC...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(ia)))
	msg = append(msg, ia...)
	enc.XORKeyStream(msg[start:], msg[start:])
	if _, err := nc.Write(msg); err != nil {
		return nil, fmt.Errorf("sending step 3: %w", err)
	}
	// 4: find ENCRYPT(VC) within PadB's bound, then crypto_select, PadD.
	var want [8]byte
	dec.XORKeyStream(want[:], vc[:])
	if err := syncOn(br, want[:], MaxPad+len(want)); err != nil {
		return nil, fmt.Errorf("finding ENCRYPT(VC) after Yb: %w", err)
	}
	var hdr [6]byte
	if err := readDecrypt(br, dec, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading crypto_select: %w", err)
	}
	sel := Method(binary.BigEndian.Uint32(hdr[:4]))
	if sel != Plaintext && sel != RC4 || sel&provide == 0 {
		return nil, fmt.Errorf("%w: peer selected %v, we provided %v", ErrNoMethod, sel, provide)
	}
	if err := skipPad(br, dec, binary.BigEndian.Uint16(hdr[4:]), "PadD"); err != nil {
		return nil, err
	}
	return newConn(nc, br, sel, enc, dec, skey, nil), nil
}

func receive(nc net.Conn, cfg ReceiveConfig, random io.Reader) (*Conn, error) {
	br := bufio.NewReaderSize(nc, 2048)
	x, y, err := newKey(random)
	if err != nil {
		return nil, err
	}
	// 1: Ya.
	s, err := readSecret(br, x)
	if err != nil {
		return nil, err
	}
	// 2: Yb, PadB.
	if _, err := nc.Write(append(y, randomPad(random)...)); err != nil {
		return nil, fmt.Errorf("sending the public key: %w", err)
	}
	// 3: find req1 within PadA's bound, then find SKEY from req2^req3.
	req1 := hash([]byte("req1"), s)
	if err := syncOn(br, req1[:], MaxPad+len(req1)); err != nil {
		return nil, fmt.Errorf("finding HASH('req1', S) after Ya: %w", err)
	}
	var obf [20]byte
	if _, err := io.ReadFull(br, obf[:]); err != nil {
		return nil, fmt.Errorf("reading the obfuscated info-hash: %w", err)
	}
	req3 := hash([]byte("req3"), s)
	for i := range obf {
		obf[i] ^= req3[i]
	}
	skey, ok := findSKEY(cfg.SKEYs(), obf)
	if !ok {
		return nil, ErrUnknownSKEY
	}
	enc, dec := ciphers(s, skey, "keyB", "keyA")
	var hdr [14]byte // VC, crypto_provide, len(PadC)
	if err := readDecrypt(br, dec, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading crypto_provide: %w", err)
	}
	if !bytes.Equal(hdr[:8], vc[:]) {
		return nil, ErrBadVC
	}
	provide := Method(binary.BigEndian.Uint32(hdr[8:12]))
	if err := skipPad(br, dec, binary.BigEndian.Uint16(hdr[12:]), "PadC"); err != nil {
		return nil, err
	}
	var l [2]byte
	if err := readDecrypt(br, dec, l[:]); err != nil {
		return nil, fmt.Errorf("reading len(IA): %w", err)
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n > MaxIA {
		return nil, fmt.Errorf("%w: IA of %d bytes, at most %d", ErrTooLong, n, MaxIA)
	}
	ia := make([]byte, n)
	if err := readDecrypt(br, dec, ia); err != nil {
		return nil, fmt.Errorf("reading IA: %w", err)
	}
	sel := choose(provide, cfg.Allow, cfg.Prefer)
	if sel == 0 {
		return nil, fmt.Errorf("%w: peer provides %v, we allow %v", ErrNoMethod, provide, cfg.Allow)
	}
	// 4: ENCRYPT(VC, crypto_select, len(PadD), PadD).
	padD := randomPad(random)
	clear(padD)
	msg := append([]byte{}, vc[:]...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(sel))
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(padD)))
	msg = append(msg, padD...)
	enc.XORKeyStream(msg, msg)
	if _, err := nc.Write(msg); err != nil {
		return nil, fmt.Errorf("sending step 4: %w", err)
	}
	return newConn(nc, br, sel, enc, dec, skey, ia), nil
}

// choose picks the method for the provided set: prefer if both sides allow it,
// else RC4, else Plaintext, else 0.
func choose(provide, allow, prefer Method) Method {
	both := provide & allow
	switch {
	case both&prefer == prefer && (prefer == RC4 || prefer == Plaintext):
		return prefer
	case both&RC4 != 0:
		return RC4
	case both&Plaintext != 0:
		return Plaintext
	}
	return 0
}

func findSKEY(skeys [][20]byte, req2 [20]byte) ([20]byte, bool) {
	for _, k := range skeys {
		if Req2(k) == req2 {
			return k, true
		}
	}
	return [20]byte{}, false
}

// newKey returns a 160-bit private key (the spec's recommendation) and the
// 96-byte public key.
func newKey(random io.Reader) (*big.Int, []byte, error) {
	var b [20]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return nil, nil, fmt.Errorf("mse: random key: %w", err)
	}
	x := new(big.Int).SetBytes(b[:])
	y := new(big.Int).Exp(generator, x, prime)
	return x, y.FillBytes(make([]byte, keyLen)), nil
}

// readSecret reads the peer's public key and returns the shared secret S.
func readSecret(br *bufio.Reader, x *big.Int) ([]byte, error) {
	var b [keyLen]byte
	if _, err := io.ReadFull(br, b[:]); err != nil {
		return nil, fmt.Errorf("reading the public key: %w", err)
	}
	y := new(big.Int).SetBytes(b[:])
	pm1 := new(big.Int).Sub(prime, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
		return nil, ErrBadKey
	}
	return new(big.Int).Exp(y, x, prime).FillBytes(make([]byte, keyLen)), nil
}

// ciphers returns the RC4 streams for sending (keyed with HASH(out, S, SKEY)) and
// receiving, both past their first 1024 bytes.
func ciphers(s []byte, skey [20]byte, out, in string) (enc, dec *rc4.Cipher) {
	mk := func(name string) *rc4.Cipher {
		k := hash([]byte(name), s, skey[:])
		c, err := rc4.NewCipher(k[:])
		if err != nil {
			panic(err) // a 20-byte key is always valid
		}
		var discard [1024]byte
		c.XORKeyStream(discard[:], discard[:])
		return c
	}
	return mk(out), mk(in)
}

func hash(parts ...[]byte) [20]byte {
	h := sha1.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [20]byte
	h.Sum(out[:0])
	return out
}

// randomPad returns 0 to MaxPad random bytes. A failing random source yields
// shorter or predictable padding, which only weakens the obfuscation; the key's
// randomness is checked in newKey.
func randomPad(random io.Reader) []byte {
	var n [2]byte
	io.ReadFull(random, n[:])
	p := make([]byte, int(binary.BigEndian.Uint16(n[:]))%(MaxPad+1))
	io.ReadFull(random, p)
	return p
}

func orRand(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// syncOn reads until the last bytes read equal marker, having read at most limit
// bytes, or fails with ErrNoSync.
func syncOn(br *bufio.Reader, marker []byte, limit int) error {
	win := make([]byte, 0, limit)
	for len(win) < limit {
		b, err := br.ReadByte()
		if err != nil {
			return err
		}
		win = append(win, b)
		if bytes.HasSuffix(win, marker) {
			return nil
		}
	}
	return fmt.Errorf("%w (%d bytes)", ErrNoSync, limit)
}

func readDecrypt(br *bufio.Reader, dec *rc4.Cipher, p []byte) error {
	if _, err := io.ReadFull(br, p); err != nil {
		return err
	}
	dec.XORKeyStream(p, p)
	return nil
}

func skipPad(br *bufio.Reader, dec *rc4.Cipher, n uint16, name string) error {
	if n > MaxPad {
		return fmt.Errorf("%w: %s of %d bytes, at most %d", ErrTooLong, name, n, MaxPad)
	}
	pad := make([]byte, n)
	if err := readDecrypt(br, dec, pad); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}
