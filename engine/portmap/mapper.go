package portmap

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// Config configures a Mapper.
type Config struct {
	// Port is the TCP and UDP port to map (the same number outside).
	Port uint16
	// Gateway is the NAT-PMP server; zero: the default route's gateway on
	// port 5351.
	Gateway netip.AddrPort
	// SSDP is where the UPnP search goes (default SSDPGroup).
	SSDP netip.AddrPort
	// SSDPWait bounds the wait for a UPnP gateway (default 2 s).
	SSDPWait time.Duration
	// Lifetime asked for a mapping (default 2 h); renewed at half of what
	// the gateway grants.
	Lifetime time.Duration
	// RetryEvery is the wait after a failed mapping (default 1 min).
	RetryEvery time.Duration
	Logger     *slog.Logger
}

// Method names, as Status reports them.
const (
	Searching = "searching"
	None      = "none"
	NATPMP    = "nat-pmp"
	UPnP      = "upnp"
)

// Mapper keeps our port mapped until Close.
type Mapper struct {
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex // guards method, external, renewals
	method   string
	external netip.AddrPort
	renewals int
	warned   bool // a failure was logged as a warning
}

// Start begins discovery and mapping in the background.
func Start(cfg Config) *Mapper {
	if cfg.SSDP == (netip.AddrPort{}) {
		cfg.SSDP = SSDPGroup
	}
	if cfg.SSDPWait == 0 {
		cfg.SSDPWait = 2 * time.Second
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 2 * time.Hour
	}
	if cfg.RetryEvery == 0 {
		cfg.RetryEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mapper{cfg: cfg, log: cfg.Logger, cancel: cancel, done: make(chan struct{}), method: Searching}
	go m.run(ctx)
	return m
}

// Status returns how the port is mapped and the address outside.
func (m *Mapper) Status() (method string, external netip.AddrPort) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.method, m.external
}

// Renewals counts mappings made after the first.
func (m *Mapper) Renewals() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.renewals
}

// Close removes the mappings (within a few seconds) and stops.
func (m *Mapper) Close() {
	m.cancel()
	<-m.done
}

func (m *Mapper) set(method string, ext netip.AddrPort, renewed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.method, m.external = method, ext
	if method == NATPMP || method == UPnP { // mapped
		m.warned = false
	}
	if renewed {
		m.renewals++
	}
}

func (m *Mapper) run(ctx context.Context) {
	defer close(m.done)
	gw := m.cfg.Gateway
	if !gw.IsValid() {
		if ip, err := defaultGateway(); err == nil {
			gw = netip.AddrPortFrom(ip, NATPMPPort)
		} else {
			m.log.Debug("nat-pmp: no default gateway", "err", err)
		}
	}
	if gw.IsValid() {
		if ext, err := natpmpExternal(ctx, gw); err == nil {
			m.natpmpLoop(ctx, gw, ext)
			return
		} else {
			m.log.Debug("nat-pmp: no gateway", "err", err)
		}
	}
	if ctx.Err() == nil {
		if g, err := discoverIGD(ctx, m.cfg.SSDP, m.cfg.SSDPWait); err == nil {
			m.upnpLoop(ctx, g)
			return
		} else {
			m.log.Debug("upnp: no gateway", "err", err)
		}
	}
	m.set(None, netip.AddrPort{}, false)
	<-ctx.Done()
}

// failed logs a failed mapping: a warning the first time after a success
// (or ever), then at debug level on each retry while the gateway refuses.
func (m *Mapper) failed(method string, err error) {
	m.mu.Lock()
	first := !m.warned
	m.warned = true
	m.mu.Unlock()
	if first {
		m.log.Warn("port mapping failed", "method", method, "err", err)
		return
	}
	m.log.Debug("port mapping failed again", "method", method, "err", err)
}

// sleep waits d or until ctx ends; it reports whether to go on.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// removeCtx bounds the removal of mappings at exit.
func removeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 3*time.Second)
}

func (m *Mapper) natpmpLoop(ctx context.Context, gw netip.AddrPort, ext netip.Addr) {
	port := m.cfg.Port
	// tried: a mapping may exist (the gateway may have made it though its
	// reply did not reach us before Close), so it is removed at exit.
	mapped, tried := false, false
	for {
		tried = true
		tcp, err := natpmpMap(ctx, gw, "TCP", port, port, m.cfg.Lifetime)
		var udp NATPMPReply
		if err == nil {
			udp, err = natpmpMap(ctx, gw, "UDP", port, tcp.Mapped, m.cfg.Lifetime)
		}
		wait := m.cfg.RetryEvery
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			m.failed(NATPMP, err)
		} else {
			if !mapped {
				m.log.Info("port mapped", "method", NATPMP, "external", netip.AddrPortFrom(ext, tcp.Mapped).String())
			}
			m.set(NATPMP, netip.AddrPortFrom(ext, tcp.Mapped), mapped)
			mapped = true
			wait = min(tcp.Lifetime, udp.Lifetime) / 2
			wait = max(wait, time.Second)
		}
		if !sleep(ctx, wait) {
			break
		}
	}
	if tried {
		rctx, cancel := removeCtx()
		defer cancel()
		for _, proto := range []string{"TCP", "UDP"} {
			if _, err := natpmpMap(rctx, gw, proto, port, 0, 0); err != nil {
				m.log.Debug("port mapping not removed", "method", NATPMP, "protocol", proto, "err", err)
			}
		}
	}
}

func (m *Mapper) upnpLoop(ctx context.Context, g *igd) {
	port := m.cfg.Port
	client, err := localAddrToward(g.control.Hostname())
	if err != nil {
		m.log.Debug("upnp: no local address toward the gateway", "err", err)
		m.set(None, netip.AddrPort{}, false)
		<-ctx.Done()
		return
	}
	ext, err := g.externalIP(ctx)
	if err != nil {
		m.log.Debug("upnp: external address unknown", "err", err)
	}
	lease := m.cfg.Lifetime
	mapped, tried := false, false
	for {
		tried = true
		err := g.addMapping(ctx, "TCP", port, port, client, lease)
		if err != nil && lease != 0 && strings.Contains(err.Error(), "UPnP error 725") {
			lease = 0 // OnlyPermanentLeasesSupported
			err = g.addMapping(ctx, "TCP", port, port, client, lease)
		}
		if err == nil {
			err = g.addMapping(ctx, "UDP", port, port, client, lease)
		}
		wait := m.cfg.RetryEvery
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			m.failed(UPnP, err)
		} else {
			if !mapped {
				m.log.Info("port mapped", "method", UPnP, "external", netip.AddrPortFrom(ext, port).String())
			}
			m.set(UPnP, netip.AddrPortFrom(ext, port), mapped)
			mapped = true
			wait = lease / 2
			if lease == 0 {
				wait = 1<<63 - 1 // permanent: nothing to renew
			}
		}
		if !sleep(ctx, wait) {
			break
		}
	}
	if tried {
		rctx, cancel := removeCtx()
		defer cancel()
		for _, proto := range []string{"TCP", "UDP"} {
			if err := g.deleteMapping(rctx, proto, port); err != nil {
				m.log.Debug("port mapping not removed", "method", UPnP, "protocol", proto, "err", err)
			}
		}
	}
}

// defaultGateway reads the IPv4 default route's gateway from /proc/net/route.
func defaultGateway() (netip.Addr, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return netip.Addr{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[1] != "00000000" {
			continue
		}
		gw, err := hex.DecodeString(fields[2])
		if err != nil || len(gw) != 4 {
			continue
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], binary.BigEndian.Uint32(gw))
		ip := netip.AddrFrom4(b)
		if !ip.IsUnspecified() {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no default route in /proc/net/route")
}
