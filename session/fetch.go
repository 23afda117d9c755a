package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// FetchSnapshot GETs the status JSON at u (the status command's addr, as
// the user gave it), within timeout, and returns it decoded and as it came. Whatever answers, its bytes never reach the terminal raw: something
// that is not Hyperblow's status server (a BitTorrent port answers an HTTP
// request with encryption handshake bytes) gets an error that says so.
func FetchSnapshot(u, addr string, timeout time.Duration) (Snapshot, []byte, error) {
	body, err := fetchStatus(u, addr, timeout)
	if err != nil {
		return Snapshot{}, nil, err
	}
	var st Snapshot
	if err := json.Unmarshal(body, &st); err != nil || st.Time == "" || st.Torrents == nil {
		return Snapshot{}, nil, fmt.Errorf("status: %s is not a Hyperblow status server: it answered HTTP, but not with Hyperblow's status JSON", addr)
	}
	return st, body, nil
}

func fetchStatus(u, addr string, timeout time.Duration) ([]byte, error) {
	var connected atomic.Bool
	dialer := &net.Dialer{Timeout: timeout}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, a)
				if err == nil {
					connected.Store(true)
				}
				return c, err
			},
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
		},
	}
	defer client.CloseIdleConnections()
	notOurs := func(why string) error {
		return fmt.Errorf("status: %s is not a Hyperblow status server: %s (is it the --status address of a running mount?)", addr, why)
	}
	resp, err := client.Get(u)
	if err != nil {
		var ne net.Error
		timedOut := errors.As(err, &ne) && ne.Timeout()
		switch {
		case !connected.Load() && timedOut:
			return nil, fmt.Errorf("status: nothing answers at %s within %v (is a mount running with --status %s?)", u, timeout, addr)
		case !connected.Load():
			return nil, fmt.Errorf("status: nothing answers at %s: %v (is a mount running with --status %s?)", u, unwrapURLError(err), addr)
		case timedOut:
			return nil, notOurs(fmt.Sprintf("it accepted the connection but sent no HTTP answer within %v", timeout))
		case strings.Contains(err.Error(), "malformed HTTP"):
			// The error quotes what came back: never print it.
			return nil, notOurs("its answer is not HTTP")
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
			errors.Is(err, syscall.EPIPE), strings.Contains(err.Error(), "server closed idle connection"):
			return nil, notOurs("it closed the connection without an HTTP answer")
		}
		return nil, notOurs("no HTTP answer: " + Safe(unwrapURLError(err).Error()))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("status: reading the answer of %s: %v", u, unwrapURLError(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, notOurs(fmt.Sprintf("%s answered %s", u, resp.Status))
	}
	return body, nil
}

// unwrapURLError drops net/http's "Get URL:" prefix, already in our message.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
