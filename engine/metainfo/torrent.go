package metainfo

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// Torrent is a parsed .torrent file. It is immutable.
type Torrent struct {
	Info     *Info
	InfoHash bt.InfoHash // SHA-1 of the exact raw info bytes, never re-encoded
	RawInfo  []byte      // the info dictionary as it appeared in the file (a copy)
	Announce string      // trimmed; may be a URL Hyperblow cannot use
	// AnnounceList holds BEP 12 tiers of usable tracker URLs (http, https, udp); when the
	// file has no usable announce-list it is [][]string{{Announce}}, or nil.
	AnnounceList [][]string
	URLList      []string // BEP 19 web seeds (http, https), kept for later
	Comment      string   // as given (invalid UTF-8 replaced); escape before printing
	CreatedBy    string   // as given (invalid UTF-8 replaced); escape before printing
	CreationDate int64    // Unix seconds, 0 if absent
}

// Parse validates a whole .torrent file. It copies what it keeps, so data may be
// reused afterwards.
func Parse(data []byte) (*Torrent, error) {
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("metainfo: %w", err)
	}
	return t, nil
}

// Load reads and parses the .torrent file at path. It reads at most MaxTorrentSize+1
// bytes, so a huge or endless file (a FIFO, /dev/zero) is refused without being read
// whole. Errors name the path.
func Load(path string) (*Torrent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metainfo: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTorrentSize+1))
	if err != nil {
		return nil, fmt.Errorf("metainfo: %s: %w", path, err)
	}
	if len(data) > MaxTorrentSize {
		return nil, fmt.Errorf("metainfo: %s: larger than the %s limit", path, size(MaxTorrentSize))
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("metainfo: %s: %w", path, err)
	}
	return t, nil
}

func parse(data []byte) (*Torrent, error) {
	if len(data) > MaxTorrentSize {
		return nil, fmt.Errorf("torrent is %d bytes, over the %s limit", len(data), size(MaxTorrentSize))
	}
	top, err := benc.Parse(data, benc.Limits{MaxSize: MaxTorrentSize})
	if err != nil {
		return nil, err
	}
	if top.Kind() != benc.Dict {
		return nil, errorf("top level", "want dictionary, got %s", top.Kind())
	}
	var info, announce, tiers, urlList, comment, createdBy, creationDate benc.Value
	for k, v := range top.Entries() {
		switch string(k) {
		case "info":
			info = v
		case "announce":
			announce = v
		case "announce-list":
			tiers = v
		case "url-list":
			urlList = v
		case "comment":
			comment = v
		case "created by":
			createdBy = v
		case "creation date":
			creationDate = v
		}
	}
	if err := wantKind(info, benc.Dict, "info"); err != nil {
		return nil, err
	}
	t := &Torrent{RawInfo: bytes.Clone(info.Raw())}
	t.InfoHash = sha1.Sum(t.RawInfo)
	if t.Info, err = parseInfo(info, t.InfoHash); err != nil {
		return nil, err
	}
	t.Announce = strings.TrimSpace(text(announce))
	t.AnnounceList = announceList(t.Announce, tiers)
	t.URLList = webSeeds(urlList)
	t.Comment = text(comment)
	t.CreatedBy = text(createdBy)
	t.CreationDate, _ = creationDate.Int()
	return t, nil
}

// text returns a string value as valid UTF-8, or "" for a missing or mistyped one.
func text(v benc.Value) string {
	b, _ := v.Bytes()
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
