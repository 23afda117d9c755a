package main

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hyperblow/hyperblow/session"
	"github.com/hyperblow/hyperblow/termview"
)

// The live status view of mount and demo (--view): package termview draws
// the session's snapshot below the log lines; here is only the wiring.

// viewInspectWait is the longest a frame waits for the torrents' owners.
const viewInspectWait = 150 * time.Millisecond

// viewFlag is --view: auto (a terminal and not --quiet), on or off.
type viewFlag string

func (v *viewFlag) String() string { return string(*v) }

// Kind is what --help says it takes.
func (*viewFlag) Kind() string { return "auto|on|off" }

func (v *viewFlag) Set(s string) error {
	switch s {
	case "auto", "on", "off":
		*v = viewFlag(s)
		return nil
	}
	return fmt.Errorf("want auto, on or off, got %q", s)
}

// viewOutput returns where mount's log lines go: stderr itself, or, when the
// view is on, a termview.Out on stderr that the view draws on too (kept in
// m.term for startView). Go's standard logger (go-fuse's --fuse-debug lines)
// is sent there as well, so nothing tears the frame.
func (m *mountFlags) viewOutput(stderr io.Writer) io.Writer {
	on := m.view == "on" || (m.view == "auto" && !m.quiet && isTerminalWriter(stderr))
	if !on {
		return stderr
	}
	if m.term == nil { // one Out per mount, however many loggers write to it
		m.term = termview.NewOut(stderr)
		stdlog.SetOutput(m.term)
	}
	return m.term
}

// startView starts the status view of a mount at mnt when it is on (see
// viewOutput): it draws s's snapshots. stop draws a final frame and leaves it
// on screen; log lines after it print plainly below.
func (m *mountFlags) startView(mnt string, s *session.Session) (stop func()) {
	if m.term == nil {
		return func() {}
	}
	return termview.Start(m.term, func(ctx context.Context) session.Snapshot {
		return s.Snapshot(ctx, session.SnapshotOptions{Wait: viewInspectWait, Light: true})
	}, mnt)
}

// mountSignals are the signals that end a mount cleanly: Ctrl-C, SIGTERM, and
// SIGHUP (the terminal closed), unless the mount was started with SIGHUP
// ignored (nohup), which stays so.
func mountSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}
