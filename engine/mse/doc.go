// Package mse implements Message Stream Encryption (MSE, also called Protocol
// Encryption or PE): the obfuscation handshake that Vuze, uTorrent, libtorrent and
// aria2 run before the BitTorrent handshake, so that the stream looks random to a
// middlebox and peers that require encryption will talk to us.
//
// # The exchange
//
// A is the initiator (it knows the info-hash, SKEY), B the receiver:
//
//	1 A->B: Ya, PadA
//	2 B->A: Yb, PadB
//	3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//	        ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//	4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
//	5 A->B: ENCRYPT2(payload)
//
// Ya and Yb are 768-bit Diffie-Hellman public keys (the spec's prime P, generator
// 2), S the shared secret, HASH SHA-1, VC eight zero bytes, ENCRYPT RC4 keyed with
// HASH('keyA', S, SKEY) from A to B and HASH('keyB', S, SKEY) from B to A, its first
// 1024 bytes discarded. ENCRYPT2 is the method B selected from those A provided:
// [RC4] (the stream stays encrypted) or [Plaintext] (only the handshake was). The
// initial payload IA lets A send the BitTorrent handshake with step 3.
//
// # Bounds
//
// Nothing is read unboundedly: every padding is at most [MaxPad] bytes, so B finds
// HASH('req1', S) within 512+20 bytes after Ya and A finds ENCRYPT(VC) within 512+8
// bytes after Yb, or the handshake fails; IA is at most [MaxIA] bytes. The package
// sets no timer: the caller's connection deadlines bound every read and write, and
// a ctx that ends interrupts blocked I/O by moving the deadline into the past.
package mse
