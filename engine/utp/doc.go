// Package utp is the Micro Transport Protocol (BEP 29): reliable, ordered
// byte streams over UDP whose LEDBAT congestion control yields to TCP, so a
// BitTorrent peer can saturate a home uplink without hurting its owner's
// other traffic. Peers that accept only uTP (libtorrent with TCP off, many
// home clients behind NAT) are reachable only this way.
//
// A [Socket] runs over one net.PacketConn: it dials ([Socket.Dial]) and
// accepts ([Socket.Accept]) connections, each a [Conn] that is a net.Conn
// with deadlines and a half-close ([Conn.CloseWrite]). Datagrams that are not
// uTP go to Config.Unhandled, so the DHT can share the port.
//
// # Protocol
//
// Header version 1 (20 bytes), packet types DATA, FIN, STATE, RESET, SYN;
// connection ids: the initiator picks r, receives on r and sends on r+1;
// 16-bit sequence and ack numbers compared modulo 2^16; the selective ACK
// extension is sent (in STATE packets, up to 256 packets past the
// cumulative ack) and honoured (a packet with three later ones selectively
// acked is sent again). Three duplicate acks also trigger a fast
// retransmission; the retransmission timeout follows RFC 6298 (SRTT,
// RTTVAR, Karn's rule, doubling back-off, Config.MinRTO floor) and fails the
// connection after Config.MaxRetransmits expiries in a row (a SYN: two). The
// window is LEDBAT's: slow start until the delay our packets see (the
// peer's timestamp difference, less the minimum over the last ten minutes)
// nears the 100 ms target, then at most 3000 bytes more per round trip,
// scaled by how far below the target the delay is, and less above it;
// halved on loss, one packet after a timeout. Packets are at most 1400
// bytes. Packets received in order are acked together once the socket has
// read all that is queued and at least two are owed, at once for a packet
// under 1000 bytes (the end of the sender's burst), every 32 KiB, or within
// 10 ms; out-of-order packets at once, with the selective ack. The reader is
// woken once 16 KiB + 13 bytes (a PIECE message) are queued, at the end of a
// burst, or within 10 ms: at WAN rates each datagram arrives alone, and a
// wake-up and an ack per packet were most of uTP's CPU cost. On Linux the
// socket is read with recvmmsg(2) and uTP's datagrams sent with sendto(2),
// both as raw non-blocking system calls.
//
// As a receiver, the window we advertise is the room in the receive buffer
// until a gap in the sequence numbers shows a loss; from then on it is
// capped a little below what the sender had in flight at the loss (what
// came in over the last round trip, measured with the timestamps), rising
// slowly, then faster, while it holds the sender back (rwnd.go): a
// libtorrent sender behind a queue shorter than LEDBAT's 100 ms target
// otherwise overflows it again and again, halving its window each time.
//
// # Limits
//
// Everything from the network is bounded: a connection holds at most
// Config.SendBuffer bytes written and not acked, and Config.RecvBuffer bytes
// received and not read (out-of-order packets included, at most 1024
// packets ahead); the socket holds Config.MaxConns connections, of which
// Config.MaxHalfOpen accepted ones whose initiator has not yet sent a packet
// acking our SYN-ACK (so a flood of spoofed SYNs fills only that table and
// times out of it). Packets whose ack names a sequence number we never sent
// are dropped; an unknown connection gets a RESET.
//
// # Concurrency
//
// One goroutine reads the PacketConn and one runs the timers (every 10 ms).
// A Conn's mutex guards its state; the Socket's mutex guards the table of
// connections. The lock order is Conn, then Socket: the reader looks a
// connection up under the Socket's lock and releases it before locking the
// Conn.
package utp
