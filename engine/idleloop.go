package engine

import (
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The client's side of the idle policy (idle.go): the one goroutine that
// puts idle torrents to sleep, and the process figures status shows
// (goroutines, open connections, torrents asleep).

// kickIdle tells idleLoop to look again (a torrent was added or woke).
func (c *Client) kickIdle() {
	select {
	case c.idleKick <- struct{}{}:
	default:
	}
}

// startIdle starts idleLoop when Config.Idle is set.
func (c *Client) startIdle() {
	if c.cfg.Idle <= 0 {
		return
	}
	c.wg.Add(1)
	go c.idleLoop()
}

// idleLoop asks each awake torrent to sleep once nothing has read it for
// Config.Idle; a torrent that refuses (it has work) is asked again a quarter
// of Idle later. It sleeps on a timer for the earliest due torrent, and with
// every torrent asleep on nothing but its kick channel.
func (c *Client) idleLoop() {
	defer c.wg.Done()
	idle := c.cfg.Idle
	retry := max(idle/4, time.Millisecond)
	asked := map[*Torrent]time.Time{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var ts []*Torrent
	for {
		now := time.Now()
		ts = ts[:0]
		c.mu.Lock()
		for _, t := range c.torrents {
			ts = append(ts, t)
		}
		c.mu.Unlock()
		var next time.Time
		seen := make(map[*Torrent]time.Time, len(asked))
		for _, t := range ts {
			if t.opts.NoSleep || TorrentState(t.state.Load()) != StateActive {
				continue
			}
			due := time.Unix(0, t.idle.lastRead.Load()).Add(idle)
			if at, ok := asked[t]; ok && at.After(due) {
				due = at
			}
			if !due.After(now) {
				select {
				case t.msgs <- sleepMsg{}:
				default: // busy: asked again later
				}
				due = now.Add(retry)
			}
			if due.After(now) && (next.IsZero() || due.Before(next)) {
				next = due
			}
			seen[t] = due
		}
		asked = seen
		clear(ts)
		if !next.IsZero() {
			timer.Reset(next.Sub(now))
		}
		select {
		case <-c.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-c.idleKick:
			timer.Stop()
		}
	}
}

// Goroutines returns the process's goroutines (runtime.NumGoroutine), for
// status: with idle torrents asleep it grows with the awake ones only.
func (c *Client) Goroutines() int { return runtime.NumGoroutine() }

// Sleeping returns how many of the client's torrents are asleep.
func (c *Client) Sleeping() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.torrents {
		if TorrentState(t.state.Load()) == StateSleeping {
			n++
		}
	}
	return n
}

// countConn counts nc among the client's open peer connections until it is
// closed (Client.Conns).
func (c *Client) countConn(nc net.Conn) net.Conn {
	c.liveConns.Add(1)
	return &countedConn{Conn: nc, n: &c.liveConns}
}

// dialCounted is dialPeer with the connection counted (peerconn.Config.Dial).
func (c *Client) dialCounted(ctx context.Context, addr string) (net.Conn, error) {
	nc, err := c.dialPeer(ctx, addr)
	if err != nil {
		return nil, err
	}
	return c.countConn(nc), nil
}

// countedConn is a net.Conn counted in Client.liveConns until its first Close.
type countedConn struct {
	net.Conn
	n    *atomic.Int64
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() { cc.n.Add(-1) })
	return cc.Conn.Close()
}
