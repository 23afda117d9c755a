package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestWebSeedFlag(t *testing.T) {
	var w webSeedsFlag
	for _, ok := range []string{"http://m.example/files/", "https://m.example/a.iso"} {
		if err := w.Set(ok); err != nil {
			t.Errorf("Set(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"ftp://m.example/", "m.example/files", "http://"} {
		if err := w.Set(bad); err == nil {
			t.Errorf("Set(%q): no error", bad)
		}
	}
	if len(w) != 2 {
		t.Fatalf("%q", w)
	}
}

// The status text lists each web seed with its state, rate and last error.
func TestStatusTextWebSeeds(t *testing.T) {
	st := fakeStatus()
	st.Torrents[0].WebSeeds = append(st.Torrents[0].WebSeeds, webSeedStatusJSON{URL: "http://down.example/", State: "backing off", Error: "web seed http://down.example/x: mirror unavailable (503 Service Unavailable)"})
	var b bytes.Buffer
	printStatus(&b, st, false)
	out := b.String()
	for _, want := range []string{"web seed https://mirror.example/files/  fetching  3.0 MiB/s  120.0 MiB", "web seed http://down.example/  backing off", "503 Service Unavailable"} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
}
