package main

import (
	"fmt"
	"math"
	"net/url"

	"github.com/hyperblow/hyperblow/engine"
)

// webSeedsFlag collects repeated --web-seed URL (BEP 19 mirrors).
type webSeedsFlag []string

func (w *webSeedsFlag) String() string { return fmt.Sprint([]string(*w)) }

func (w *webSeedsFlag) Set(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid web seed %q: want an http or https URL, e.g. https://mirror.example/files/", v)
	}
	*w = append(*w, v)
	return nil
}

// webSeedStatusJSON is one web seed of a torrent (see statusHandler).
type webSeedStatusJSON struct {
	URL             string  `json:"url"`
	State           string  `json:"state"`
	Error           string  `json:"error,omitempty"`
	DownloadRate    float64 `json:"download_rate"`
	DownloadedBytes int64   `json:"downloaded_bytes"`
}

func webSeedStatuses(ms []engine.MirrorStats) []webSeedStatusJSON {
	out := make([]webSeedStatusJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, webSeedStatusJSON{URL: m.URL, State: m.State, Error: m.Error,
			DownloadRate: math.Round(m.Rate), DownloadedBytes: m.Downloaded})
	}
	return out
}

// webSeedLines is a line per web seed, for the status text and the view:
//
//	web seed https://mirror.example/files/  fetching  3.2 MiB/s  120.0 MiB
func webSeedLines(ws []webSeedStatusJSON) []string {
	var lines []string
	for _, w := range ws {
		l := fmt.Sprintf("  web seed %s  %s  %s/s  %s", safe(w.URL), w.State, humanSize(int64(w.DownloadRate)), humanSize(w.DownloadedBytes))
		if w.Error != "" {
			l += ": " + safe(w.Error)
		}
		lines = append(lines, l)
	}
	return lines
}
