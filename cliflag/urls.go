package cliflag

import (
	"fmt"
	"net/url"
	"strings"
)

// Tiers collects --tracker: one tier per use, commas separate trackers of a tier.
type Tiers [][]string

func (f *Tiers) String() string { return fmt.Sprint([][]string(*f)) }

// Set adds one tier.
func (f *Tiers) Set(v string) error {
	var tier []string
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if err := CheckURL(u, "tracker", "http", "https", "udp"); err != nil {
			return err
		}
		tier = append(tier, u)
	}
	if len(tier) == 0 {
		return fmt.Errorf("empty tracker %q", v)
	}
	*f = append(*f, tier)
	return nil
}

// URLList collects repeated URLs (create --web-seed), printed comma-separated.
type URLList []string

func (f *URLList) String() string { return strings.Join(*f, ",") }

// Set adds one URL.
func (f *URLList) Set(v string) error {
	if err := CheckURL(v, "web seed", "http", "https"); err != nil {
		return err
	}
	*f = append(*f, v)
	return nil
}

// CheckURL accepts an absolute URL with a host and one of the schemes.
func CheckURL(v, what string, schemes ...string) error {
	u, err := url.Parse(v)
	if err == nil && u.Host != "" && strings.TrimSpace(v) == v {
		for _, s := range schemes {
			if strings.EqualFold(u.Scheme, s) {
				return nil
			}
		}
	}
	return fmt.Errorf("invalid %s %q: want a URL with a host and the scheme %s", what, v, strings.Join(schemes, ", "))
}
