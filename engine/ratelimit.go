package engine

import (
	"sync"
	"time"
)

// tokenBucket is a byte-rate limiter shared by all connections of a client
// (--max-upload-rate). It allows bursts of one second's worth.
type tokenBucket struct {
	mu     sync.Mutex // guards tokens, last
	rate   float64    // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(bytesPerSecond int64) *tokenBucket {
	r := float64(bytesPerSecond)
	return &tokenBucket{rate: r, burst: max(r, 64<<10), tokens: max(r, 64<<10), last: time.Now()}
}

// Take blocks until n bytes may be sent, or returns false when done closes.
func (b *tokenBucket) Take(n int, done <-chan struct{}) bool {
	for {
		b.mu.Lock()
		now := time.Now()
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
		if b.tokens >= float64(n) || b.tokens >= b.burst {
			b.tokens -= float64(n)
			b.mu.Unlock()
			return true
		}
		wait := time.Duration((float64(n) - b.tokens) / b.rate * float64(time.Second))
		b.mu.Unlock()
		timer := time.NewTimer(min(wait, time.Second))
		select {
		case <-done:
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}
