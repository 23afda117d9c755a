package main

import (
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

func TestV2FormatAndMagnet(t *testing.T) {
	for _, tc := range []struct {
		format       metainfo.Format
		name, prefix string
	}{
		{metainfo.FormatV1, "v1", "magnet:?xt=urn:btih:"},
		{metainfo.FormatV2, "v2", "magnet:?xt=urn:btmh:1220"},
		{metainfo.FormatHybrid, "hybrid", "magnet:?xt=urn:btih:"},
	} {
		raw, err := metainfo.CreateFromFiles("x", []metainfo.InputFile{metainfo.FileBytes(make([]byte, 100000), "a"), metainfo.FileBytes([]byte("b"), "b")}, metainfo.CreateOptions{Format: tc.format})
		if err != nil {
			t.Fatal(err)
		}
		mt, err := metainfo.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		f, h := formatJSON(mt)
		if f != tc.name || (h == "") != (tc.format == metainfo.FormatV1) {
			t.Errorf("format %d: formatJSON = %q, %q", tc.format, f, h)
		}
		link := magnetLink(mt)
		if !strings.HasPrefix(link, tc.prefix) {
			t.Errorf("format %d: magnet %s", tc.format, link)
		}
		m, err := metainfo.ParseMagnet(link)
		if err != nil || m.InfoHash != mt.InfoHash || m.InfoHashV2 != mt.InfoHashV2 {
			t.Errorf("format %d: magnet %s parses to %+v, %v", tc.format, link, m, err)
		}
	}
	if _, err := createFormat(true, true, 0); err == nil {
		t.Error("--v2 --hybrid accepted")
	}
	if _, err := createFormat(true, false, 3<<14); err == nil {
		t.Error("--v2 with a piece length not a power of two accepted")
	}
}
