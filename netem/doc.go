// Package netem emulates a wide-area link in user space, for tests and the
// benchmark: it relays TCP connections and UDP datagrams between loopback
// addresses through a link with a one-way delay, jitter and a rate limit per
// direction. (The kernels we run on have no tc netem.) It imports only the
// standard library.
//
// # Use
//
//	r, err := netem.ListenTCP(ctx, "127.0.0.1:0", seederAddr,
//		netem.Shape{Delay: 40 * time.Millisecond, Jitter: 10 * time.Millisecond, Rate: 2 << 20})
//	// dial r.Addr() instead of seederAddr
//	r.SetShapeDir(netem.Down, netem.Shape{Stall: true}) // the seeder stalls ...
//	r.SetShapeDir(netem.Down, s)                        // ... and resumes
//	st := r.Stats()                                     // st.Down.Out: bytes downloaded
//	r.Close()
//
// netem/hblink runs relays as a process, for the benchmark; docs/wanlab.md says
// how to use both.
//
// # The model
//
// Each direction of a relay is a link: a bottleneck (Rate, with a burst of
// about 20 ms, or Stall) followed by propagation (Delay ± Jitter). A chunk of
// a stream (at most ChunkSize bytes, as read from the socket) or a datagram
// departs the bottleneck when the link's token bucket allows and arrives one
// latency draw later, but never before the chunk in front of it: jitter
// spreads arrival times without reordering a stream. The bucket belongs to
// the link, so the connections of one relay share its Rate, as the flows of
// one path share its bottleneck.
//
// Buffering is bounded as on a real path: a direction holds at most
// Shape.Window bytes (Rate × (Delay+Jitter) plus Shape.Queue) per TCP
// connection, and stops reading from the sender while full, so TCP
// backpressure reaches the sender and its queues tell the truth; the relay's
// own sockets get small kernel buffers (Config.SocketBuffer) so that the
// queue is where the Shape puts it. A UDP link drops the datagrams that do
// not fit, and loses others at random with Shape.Loss.
//
// A Shape can change at any time; waiting connections follow at once. A
// stalled link forwards nothing more (what had already left the bottleneck,
// at most Rate × Delay, still arrives), keeps its connections open, and fills
// up to its Window; clearing Stall resumes.
//
// # The IP-level link
//
// ListenTUN (Linux, root) carries IP packets instead of streams or
// datagrams: two TUN devices (MTU TUNMTU), the near one in the caller's
// network namespace and the far one in another, joined by a link with UDP
// semantics (loss, drop-tail at the Window, in order). The kernels at both
// ends run TCP end to end across it, so slow start, losses at the queue and
// retransmits happen as on a real path, and TCP and uTP meet the same
// queue. It refuses the machine's initial network namespace. The Relay it
// returns has Network "tun"; its Stats count packets too.
//
// A TCP source's EOF is delivered, after the data before it, as a half-close
// (CloseWrite) of the other side; a failure on either side closes both, as a
// reset would. Connection setup is not delayed: the client's connect returns
// at once, and the target is dialled when the relay accepts.
//
// # Concurrency
//
// A TCP connection runs six goroutines: per direction a reader, a shaper and
// a propagator, connected by bounded channels. A UDP relay runs one reader
// for its clients, one per client for the target's replies, and one shaper
// and propagator per direction for all clients. A TUN link runs a reader
// per device and a shaper and propagator per direction. Each link's mutex guards its
// Shape and token bucket and is never held while blocking. Close (or the
// context passed to Listen) closes every socket and returns once every
// goroutine has returned.
package netem
