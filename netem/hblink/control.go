package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/hyperblow/hyperblow/netem"
)

// link is one --link: a TCP relay, a UDP relay, or both on one port, with
// the same Shapes.
type link struct {
	n             int
	spec          linkSpec
	tcp, udp, tun *netem.Relay
}

func (l *link) relays() []*netem.Relay {
	var rs []*netem.Relay
	for _, r := range []*netem.Relay{l.tcp, l.udp, l.tun} {
		if r != nil {
			rs = append(rs, r)
		}
	}
	return rs
}

func (l *link) addr() string {
	if rs := l.relays(); len(rs) > 0 {
		return rs[0].Addr().String()
	}
	return l.spec.listen
}

func (l *link) proto() string {
	switch {
	case l.spec.isTUN():
		return "tun"
	case l.tcp != nil && l.udp != nil:
		return "both"
	case l.udp != nil:
		return "udp"
	}
	return "tcp"
}

// linkSet is every link of the process. mu serializes shape changes, each
// a read-modify-write of a link's two Shapes.
type linkSet struct {
	links []*link
	mu    sync.Mutex
	once  sync.Once
}

func (s *linkSet) close() {
	s.once.Do(func() {
		for _, l := range s.links {
			for _, r := range l.relays() {
				r.Close()
			}
		}
	})
}

// shapeJSON is a Shape for people and scripts: durations as text, rate in
// bytes per second (0: no limit).
type shapeJSON struct {
	Delay  string  `json:"delay"`
	Jitter string  `json:"jitter"`
	Rate   int64   `json:"rate"`
	Stall  bool    `json:"stall"`
	Queue  int     `json:"queue"`
	Loss   float64 `json:"loss"`
	Window int     `json:"window"`
}

func toJSON(s netem.Shape) shapeJSON {
	q := s.Queue
	if q == 0 {
		q = netem.DefaultQueue
	}
	return shapeJSON{Delay: s.Delay.String(), Jitter: s.Jitter.String(), Rate: s.Rate, Stall: s.Stall,
		Queue: q, Loss: s.Loss, Window: s.Window()}
}

// linkJSON is one link in the reports. UpBytes and DownBytes are the bytes
// delivered each way, over TCP and UDP together.
type linkJSON struct {
	N         int          `json:"n"`
	Listen    string       `json:"listen"`
	Target    string       `json:"target"`
	Proto     string       `json:"proto"`
	Up        shapeJSON    `json:"up"`
	Down      shapeJSON    `json:"down"`
	UpBytes   int64        `json:"up_bytes"`
	DownBytes int64        `json:"down_bytes"`
	TCP       *netem.Stats `json:"tcp,omitempty"`
	UDP       *netem.Stats `json:"udp,omitempty"`
	TUN       *netem.Stats `json:"tun,omitempty"`
	// A --tun link's devices and far namespace.
	Dev      string `json:"dev,omitempty"`
	FarDev   string `json:"far_dev,omitempty"`
	FarNetns int    `json:"far_netns,omitempty"`
}

func (l *link) json() linkJSON {
	j := linkJSON{N: l.n, Listen: l.addr(), Target: l.spec.target, Proto: l.proto()}
	if l.spec.isTUN() {
		j.Dev, j.FarDev, j.FarNetns = l.spec.tun.Name, l.spec.tun.FarName(), l.spec.tun.FarNetns
	}
	if rs := l.relays(); len(rs) > 0 {
		j.Up, j.Down = toJSON(rs[0].Shape(netem.Up)), toJSON(rs[0].Shape(netem.Down))
	}
	for _, r := range l.relays() {
		st := r.Stats()
		j.UpBytes += st.Up.Out
		j.DownBytes += st.Down.Out
		switch r {
		case l.tcp:
			j.TCP = &st
		case l.udp:
			j.UDP = &st
		default:
			j.TUN = &st
		}
	}
	return j
}

// report is one line of output: an event and every link.
func (s *linkSet) report(event, control string) []byte {
	doc := struct {
		Event   string     `json:"event"`
		Control string     `json:"control,omitempty"`
		Links   []linkJSON `json:"links"`
	}{Event: event, Control: control}
	for _, l := range s.links {
		doc.Links = append(doc.Links, l.json())
	}
	b, err := json.Marshal(doc)
	if err != nil { // plain structs of numbers and strings
		panic(err)
	}
	return b
}

// setShape applies KEY=VALUE pairs (the --link keys, proto aside) to a
// link's current Shapes.
func (s *linkSet) setShape(l *link, kvs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := l.relays()
	up, down := rs[0].Shape(netem.Up), rs[0].Shape(netem.Down)
	if err := applyKeys(&up, &down, kvs); err != nil {
		return err
	}
	for _, r := range rs {
		if err := r.SetShapeDir(netem.Up, up); err != nil {
			return err
		}
		if err := r.SetShapeDir(netem.Down, down); err != nil {
			return err
		}
	}
	return nil
}

// queryKeys keeps the query's pairs in their order: a later down.rate
// overrides an earlier rate.
func queryKeys(raw string) ([]string, error) {
	var kvs []string
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		kv, err := url.QueryUnescape(p)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", p, err)
		}
		if strings.HasPrefix(kv, "proto") || strings.HasPrefix(kv, "from") {
			return nil, fmt.Errorf("%q: a link's protocols and source are fixed at start", kv)
		}
		kvs = append(kvs, kv)
	}
	if len(kvs) == 0 {
		return nil, fmt.Errorf("no change given (e.g. ?down.stall=1, ?rate=2MB/s)")
	}
	return kvs, nil
}

func (s *linkSet) handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	lookup := func(w http.ResponseWriter, r *http.Request) *link {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 0 || n >= len(s.links) {
			http.Error(w, fmt.Sprintf("no link %q: links are 0..%d", r.PathValue("n"), len(s.links)-1), http.StatusNotFound)
			return nil
		}
		return s.links[n]
	}
	change := func(w http.ResponseWriter, r *http.Request, ls []*link) bool {
		kvs, err := queryKeys(r.URL.RawQuery)
		if err == nil {
			for _, l := range ls {
				if err = s.setShape(l, kvs); err != nil {
					break
				}
				log.Info("shape", "n", l.n, "change", strings.Join(kvs, ","))
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return false
		}
		return true
	}
	all := func() []linkJSON {
		var js []linkJSON
		for _, l := range s.links {
			js = append(js, l.json())
		}
		return js
	}
	mux.HandleFunc("GET /links", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"links": all()})
	})
	mux.HandleFunc("POST /links", func(w http.ResponseWriter, r *http.Request) {
		if change(w, r, s.links) {
			writeJSON(w, map[string]any{"links": all()})
		}
	})
	mux.HandleFunc("GET /link/{n}", func(w http.ResponseWriter, r *http.Request) {
		if l := lookup(w, r); l != nil {
			writeJSON(w, l.json())
		}
	})
	mux.HandleFunc("POST /link/{n}", func(w http.ResponseWriter, r *http.Request) {
		if l := lookup(w, r); l != nil && change(w, r, []*link{l}) {
			writeJSON(w, l.json())
		}
	})
	return mux
}
