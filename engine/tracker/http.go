package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// MaxHTTPReply bounds an HTTP tracker reply body after decompression (LIMITS.md).
const MaxHTTPReply = 2 << 20

// announceHTTP performs a BEP 3 announce over HTTP(S).
func (c *Client) announceHTTP(ctx context.Context, u *url.URL, req AnnounceRequest) (*AnnounceResponse, error) {
	body, err := c.httpGet(ctx, withQuery(u, announceQuery(req)))
	if err != nil {
		return nil, err
	}
	return parseHTTPAnnounce(body)
}

// scrapeHTTP performs a BEP 48 scrape over HTTP(S).
func (c *Client) scrapeHTTP(ctx context.Context, u *url.URL, hashes []bt.InfoHash) ([]ScrapeResult, error) {
	su, err := scrapeURL(u)
	if err != nil {
		return nil, err
	}
	var q strings.Builder
	for i, h := range hashes {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString("info_hash=")
		q.WriteString(escapeBytes(h[:]))
	}
	body, err := c.httpGet(ctx, withQuery(su, q.String()))
	if err != nil {
		return nil, err
	}
	return parseHTTPScrape(body, hashes)
}

// announceQuery builds the BEP 3 query parameters. info_hash and peer_id are raw bytes,
// percent-encoded; compact=1 asks for BEP 23 peers.
func announceQuery(req AnnounceRequest) string {
	var b strings.Builder
	b.WriteString("info_hash=" + escapeBytes(req.InfoHash[:]))
	b.WriteString("&peer_id=" + escapeBytes(req.PeerID[:]))
	b.WriteString("&port=" + strconv.FormatUint(uint64(req.Port), 10))
	b.WriteString("&uploaded=" + strconv.FormatInt(req.Uploaded, 10))
	b.WriteString("&downloaded=" + strconv.FormatInt(req.Downloaded, 10))
	b.WriteString("&left=" + strconv.FormatInt(req.Left, 10))
	b.WriteString("&compact=1")
	if ev := req.Event.String(); ev != "" {
		b.WriteString("&event=" + ev)
	}
	if req.NumWant > 0 {
		b.WriteString("&numwant=" + strconv.Itoa(req.NumWant))
	}
	b.WriteString("&key=" + fmt.Sprintf("%08x", req.Key))
	if req.IPv6.Is6() && !req.IPv6.Is4In6() && !req.IPv6.IsUnspecified() {
		b.WriteString("&ipv6=" + url.QueryEscape(req.IPv6.WithZone("").String()))
	}
	return b.String()
}

// escapeBytes percent-encodes every byte except RFC 3986 unreserved characters. Unlike
// url.QueryEscape it never turns a byte into '+', which some trackers would read as a
// literal plus and others as a space.
func escapeBytes(p []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(3 * len(p))
	for _, c := range p {
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// withQuery returns u with q appended to its query (a tracker URL may carry its own
// parameters, such as a passkey) and no fragment.
func withQuery(u *url.URL, q string) string {
	v := *u
	v.Fragment, v.RawFragment = "", ""
	if v.RawQuery != "" {
		v.RawQuery += "&" + q
	} else {
		v.RawQuery = q
	}
	return v.String()
}

// scrapeURL derives the scrape URL (BEP 48): the last path component must start with
// "announce", which is replaced by "scrape".
func scrapeURL(u *url.URL) (*url.URL, error) {
	i := strings.LastIndexByte(u.Path, '/')
	last := u.Path[i+1:]
	if !strings.HasPrefix(last, "announce") {
		return nil, ErrScrapeUnsupported
	}
	v := *u
	v.Path = u.Path[:i+1] + "scrape" + strings.TrimPrefix(last, "announce")
	v.RawPath = ""
	return &v, nil
}

// httpGet fetches rawURL and returns at most MaxHTTPReply bytes of body. A non-200
// status is an error, unless the body carries a "failure reason", which is returned.
func (c *Client) httpGet(ctx context.Context, rawURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, redactURLError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxHTTPReply+1))
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if len(body) > MaxHTTPReply {
		return nil, fmt.Errorf("%w: over %d bytes", ErrReplyTooLarge, MaxHTTPReply)
	}
	if resp.StatusCode != http.StatusOK {
		var fe *FailureError
		if _, perr := parseHTTPAnnounce(body); errors.As(perr, &fe) {
			return nil, fe
		}
		return nil, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	return body, nil
}

// redactURLError drops the URL from a *url.Error: the caller already names the tracker,
// and the query would repeat the info-hash, peer id and any passkey.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
