package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// loadSource turns a SOURCE argument into a parsed torrent; a magnet link is an
// error here (see parseSource). Errors name the source.
func loadSource(ctx context.Context, src string) (*metainfo.Torrent, error) {
	mt, m, err := parseSource(ctx, src)
	if err == nil && m != nil {
		return nil, fmt.Errorf("%s: a magnet link has no data description yet; use a .torrent file", src)
	}
	return mt, err
}

// parseSource turns a SOURCE argument into a parsed torrent, or a magnet link
// whose metadata must still be fetched (a magnet URI, or a bare info-hash in
// hex or base32).
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

func loadFile(src string) (*metainfo.Torrent, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a folder; a folder of .torrent files is not supported yet", src)
	}
	t, err := metainfo.Load(src)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid torrent: %w", src, err)
	}
	return t, nil
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
	t, err := metainfo.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid torrent: %w", url, err)
	}
	return t, nil
}
