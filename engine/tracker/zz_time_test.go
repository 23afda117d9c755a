package tracker

import (
	"testing"
	"time"
)

func TestZZTime(t *testing.T) {
	t0 := time.Now()
	r := hostileReplies()
	t.Logf("build %v", time.Since(t0))
	for name, body := range r {
		t0 := time.Now()
		parseHTTPAnnounce(body)
		t1 := time.Now()
		parseHTTPScrape(body, nil)
		t.Logf("%s: %v %v", name, t1.Sub(t0), time.Since(t1))
	}
}
