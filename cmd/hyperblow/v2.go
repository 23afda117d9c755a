package main

import (
	"encoding/hex"
	"fmt"
	"io"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// createFormat reads create's --v2 and --hybrid.
func createFormat(v2, hybrid bool, pieceLength int64) (metainfo.Format, error) {
	switch {
	case v2 && hybrid:
		return 0, usagef("create: --v2 and --hybrid exclude each other (--hybrid is v1 and v2 at once)")
	case !v2 && !hybrid:
		return metainfo.FormatV1, nil
	case pieceLength != 0 && pieceLength&(pieceLength-1) != 0:
		return 0, usagef("create: --piece-length %s is not a power of two, as BitTorrent v2 requires", formatSize(pieceLength))
	case v2:
		return metainfo.FormatV2, nil
	}
	return metainfo.FormatHybrid, nil
}

// formatJSON returns info's "format" and "info_hash_v2".
func formatJSON(t *metainfo.Torrent) (string, string) {
	switch {
	case !t.Info.HasV2():
		return "v1", ""
	case t.Info.HasV1():
		return "hybrid", hex.EncodeToString(t.InfoHashV2[:])
	}
	return "v2", hex.EncodeToString(t.InfoHashV2[:])
}

// printV2Hash prints the v2 info-hash of a v2 or hybrid torrent for create.
func printV2Hash(w io.Writer, mt *metainfo.Torrent) {
	if f, h := formatJSON(mt); h != "" {
		fmt.Fprintf(w, "info-hash v2: %s (%s)\n", h, f)
	}
}

// magnetXT is the xt part of a magnet link: btih for v1, btmh (BEP 52) for v2, both for
// a hybrid.
func magnetXT(mt *metainfo.Torrent) string {
	switch f, h := formatJSON(mt); f {
	case "v2":
		return "magnet:?xt=urn:btmh:1220" + h
	case "hybrid":
		return "magnet:?xt=urn:btih:" + mt.InfoHash.String() + "&xt=urn:btmh:1220" + h
	}
	return "magnet:?xt=urn:btih:" + mt.InfoHash.String()
}
