package metainfo

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// Torrent is a parsed .torrent file. It is immutable.
type Torrent struct {
	Info *Info
	// InfoHash is the SHA-1 of the exact raw info bytes, never re-encoded; for a v2-only
	// torrent (BEP 52) it is the SHA-256 truncated to 20 bytes, as in the handshake.
	InfoHash bt.InfoHash
	// InfoHashV2 is the SHA-256 of the raw info bytes for a v2 or hybrid torrent, else zero.
	InfoHashV2 [32]byte
	RawInfo    []byte // the info dictionary as it appeared in the file (a copy)
	Announce   string // trimmed; may be a URL Hyperblow cannot use
	// AnnounceList holds BEP 12 tiers of usable tracker URLs (http, https, udp); when the
	// file has no usable announce-list it is [][]string{{Announce}}, or nil.
	AnnounceList [][]string
	URLList      []string // BEP 19 web seeds (http, https), kept for later
	Comment      string   // as given (invalid UTF-8 replaced); escape before printing
	CreatedBy    string   // as given (invalid UTF-8 replaced); escape before printing
	CreationDate int64    // Unix seconds, 0 if absent
}

// Parse validates a whole .torrent file. It copies what it keeps, so data may be
// reused afterwards. Errors are *ParseError.
func Parse(data []byte) (*Torrent, error) {
	return ParseNamed(data, "")
}

// ParseNamed is Parse for data that came from name (a path, a URL): its
// errors name it once, as Load's do.
func ParseNamed(data []byte, name string) (*Torrent, error) {
	t, err := parse(data)
	if err != nil {
		return nil, &ParseError{Name: name, Data: data[:min(len(data), 16)], Size: len(data), Err: err}
	}
	return t, nil
}

// Load reads and parses the .torrent file at path. It reads at most MaxTorrentSize+1
// bytes, so a huge or endless file (a FIFO, /dev/zero) is refused without being read
// whole. Errors name the path once.
func Load(path string) (*Torrent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError: it names the path
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTorrentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxTorrentSize {
		return nil, fmt.Errorf("%s: larger than the %s limit of a .torrent file", path, size(MaxTorrentSize))
	}
	return ParseNamed(data, path)
}

// ParseError is why torrent data did not parse. Its message names the data
// once and says what is wrong in words: a file that ends early is called
// truncated, a file that is not bencoded at all is not called a torrent.
type ParseError struct {
	Name string // where the data came from (a path, a URL); "" if not known
	Data []byte // its first bytes, to show what it is instead
	Size int    // its length in bytes
	Err  error  // the problem: a *benc.Error, or a field's error
}

func (e *ParseError) Error() string {
	name, invalid := e.Name, e.Name+": not a valid torrent: "
	if name == "" {
		name, invalid = "metainfo", "metainfo: "
	}
	var be *benc.Error
	isBenc := errors.As(e.Err, &be)
	switch {
	case e.Size == 0:
		return name + ": empty (0 bytes; is the download complete?)"
	case errors.Is(e.Err, benc.ErrTruncated):
		return fmt.Sprintf("%s: truncated after %d bytes (%s; is the download complete?)", name, e.Size, be.Msg)
	case isBenc && be.Offset == 0 && len(e.Data) > 0 && e.Data[0] != 'd' && errors.Is(e.Err, benc.ErrSyntax):
		return fmt.Sprintf("%s: not a torrent file: it begins with %q, a torrent with 'd' (a bencoded dictionary)", name, e.Data)
	case isBenc:
		return fmt.Sprintf("%sat byte %d: %s", invalid, be.Offset, be.Msg)
	}
	return invalid + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

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
	var info, announce, tiers, urlList, comment, createdBy, creationDate, layers benc.Value
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
		case "piece layers":
			layers = v
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
	if t.Info.HasV2() {
		if err := attachPieceLayers(t.Info, layers); err != nil {
			return nil, err
		}
		t.InfoHashV2, t.InfoHash = v2Hashes(t.RawInfo, t.Info, t.InfoHash)
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
