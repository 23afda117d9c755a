package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// LoadTorrent turns a SOURCE argument into a parsed torrent; a magnet link is an
// error here (see ParseSource). Errors name the source.
func LoadTorrent(ctx context.Context, src string) (*metainfo.Torrent, error) {
	s, err := ParseSource(ctx, src)
	if err == nil && s.Magnet != nil {
		return nil, fmt.Errorf("%s: a magnet link has no data description yet; use a .torrent file", src)
	}
	return s.Torrent, err
}

// ParseSource turns a SOURCE argument (not a folder) into a parsed torrent, or
// a magnet link whose metadata must still be fetched (a magnet URI, or a bare
// info-hash in hex or base32): a .torrent file, or an http(s) URL of one.
func ParseSource(ctx context.Context, src string) (Source, error) {
	mt, m, err := parseSource(ctx, src)
	return Source{Torrent: mt, Magnet: m}, err
}

func parseSource(ctx context.Context, src string) (*metainfo.Torrent, *metainfo.Magnet, error) {
	if strings.HasPrefix(src, "magnet:") {
		m, err := metainfo.ParseMagnet(src)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", src, err)
		}
		return nil, m, nil
	}
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		mt, err := fetchTorrent(ctx, src)
		return mt, nil, err
	}
	if _, err := os.Stat(src); err != nil {
		if m, merr := metainfo.ParseSource(src); merr == nil {
			return nil, m, nil // a bare info-hash
		}
	}
	mt, err := loadFile(src)
	return mt, nil, err
}

// loadFile parses the .torrent file src; errors name it once and say what is
// wrong (metainfo.ParseError), or what a folder given as SOURCE holds.
func loadFile(src string) (*metainfo.Torrent, error) {
	st, err := os.Stat(src)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if st.IsDir() {
		return nil, folderSourceError(src)
	}
	return metainfo.Load(src)
}

// folderSourceError says what to give instead of a folder where one torrent
// is wanted: one of the .torrent or .magnet files the folder holds, or, for a
// folder of data, hyperblow create.
func folderSourceError(dir string) error {
	entries, _ := os.ReadDir(dir) // an unreadable folder is as good as empty here
	var torrents []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if (ext == ".torrent" || ext == ".magnet") && !e.IsDir() {
			torrents = append(torrents, e.Name())
		}
	}
	const want = "a SOURCE is a .torrent file, a magnet link or an info-hash"
	switch {
	case len(torrents) == 1:
		return fmt.Errorf("%s: is a folder (%s); it holds one torrent: give %s", dir, want, shellQuote(filepath.Join(dir, torrents[0])))
	case len(torrents) > 1:
		shown := torrents[:min(len(torrents), 3)]
		for i, n := range shown {
			shown[i] = Safe(n)
		}
		more := ""
		if len(torrents) > len(shown) {
			more = ", ..."
		}
		return fmt.Errorf("%s: is a folder (%s); it holds %d torrents (%s%s): give one of them, e.g. %s; hyperblow mount takes the whole folder",
			dir, want, len(torrents), strings.Join(shown, ", "), more, shellQuote(filepath.Join(dir, torrents[0])))
	}
	return fmt.Errorf("%s: is a folder, not a torrent (%s); to make a torrent of the files in it: hyperblow create %s", dir, want, shellQuote(dir))
}

// shellQuote quotes s for a command line when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@%,~") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(Safe(s), "'", `'\''`) + "'"
}

func fetchTorrent(ctx context.Context, url string) (*metainfo.Torrent, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, metainfo.MaxTorrentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if len(data) > metainfo.MaxTorrentSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a torrent file", url, metainfo.MaxTorrentSize)
	}
	return metainfo.ParseNamed(data, url) // its errors name url
}

// Safe prints a name that comes from a torrent, a peer or a file: quoted when
// it holds anything but printable characters, so that it cannot drive a
// terminal or forge a log line.
func Safe(s string) string {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}
