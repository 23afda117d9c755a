package utp

import (
	"os"
	"time"
)

// deadline is a Conn's read or write deadline. Its timer is armed only while
// a call waits, and is not moved when the deadline moves later: peerconn
// pushes the read deadline ahead before every Read, and a timer made per wait
// (plus a wake-up per SetReadDeadline) was a cost per received packet. A timer
// that fires before the deadline then set re-arms itself for it, so a
// deadline pushed ahead on every Read costs one timer per deadline period.
// All fields are guarded by the Conn's mutex.
type deadline struct {
	t       time.Time     // zero: none
	ch      chan struct{} // the waiter's channel (c.readable or c.writable)
	timer   *time.Timer   // calls c.fired(d); nil until first armed
	armedAt time.Time     // when timer fires; zero: not armed (or firing)
	waiting bool          // a call waits on ch
}

// wait releases the lock until d.ch is poked, d's deadline passes or the
// connection dies. c.mu is held on entry and on return.
func (c *Conn) wait(d *deadline) error {
	if !d.t.IsZero() && !time.Now().Before(d.t) {
		return os.ErrDeadlineExceeded
	}
	d.waiting = true
	c.check(d)
	c.unlock()
	select {
	case <-d.ch:
	case <-c.dead:
	}
	c.lock()
	d.waiting = false
	// A passed deadline is for the caller's next wait to report: callers
	// loop, and a wake-up may have brought what they wait for.
	return nil
}

// setDeadline moves d. c.mu is held.
func (c *Conn) setDeadline(d *deadline, t time.Time) {
	d.t = t
	c.check(d)
}

// check wakes d's waiter if its deadline passed, or arms the timer for it.
// c.mu is held.
func (c *Conn) check(d *deadline) {
	if !d.waiting || d.t.IsZero() {
		return // an armed timer finds nothing to do when it fires
	}
	left := time.Until(d.t)
	if left <= 0 {
		poke(d.ch)
		return
	}
	if !d.armedAt.IsZero() && !d.t.Before(d.armedAt) {
		return // it fires before the deadline, and re-arms then
	}
	d.armedAt = d.t
	if d.timer == nil {
		d.timer = time.AfterFunc(left, func() { c.fired(d) })
		return
	}
	d.timer.Reset(left)
}

// fired runs when d's timer expires.
func (c *Conn) fired(d *deadline) {
	c.lock()
	d.armedAt = time.Time{}
	c.check(d)
	c.unlock()
}

// stopTimers stops the deadline timers of a dead connection. c.mu is held.
func (c *Conn) stopTimers() {
	for _, d := range []*deadline{&c.rdl, &c.wdl} {
		if d.timer != nil {
			d.timer.Stop()
			d.armedAt = time.Time{}
		}
	}
}
