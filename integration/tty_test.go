package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmuxPane is a tmux server on a private socket with one session running one
// command in a pane of a fixed size: what a person sees on a terminal, read
// back with capture-pane. The server runs in the foreground (-D) as a child
// of the test, so it dies with the test process; its pane then gets SIGHUP.
type tmuxPane struct {
	sock string
	conf string
}

// startTmux starts the server and the command argv in a width x height pane
// that stays after the command ends (remain-on-exit), for its last screen and
// exit status. The server is killed (by its socket) when the test ends.
func startTmux(t testing.TB, width, height int, argv ...string) *tmuxPane {
	t.Helper()
	requireTool(t, "tmux")
	// Not t.TempDir(): it is named after the test, and a socket's path must
	// fit in 108 bytes (CI's TMPDIR and a long subtest name did not).
	dir, err := os.MkdirTemp("", "tmux")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after the server is killed (cleanups run last first)
	tp := &tmuxPane{sock: filepath.Join(dir, "tmux.sock"), conf: filepath.Join(dir, "tmux.conf")}
	conf := "set -g remain-on-exit on\nset -g status off\nset -g history-limit 10000\n"
	if err := os.WriteFile(tp.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	server := startProc(t, "tmux server", procOpts{}, "tmux", "-S", tp.sock, "-f", tp.conf, "-D")
	t.Cleanup(func() { // before startProc's SIGKILL
		r := run(t, 10*time.Second, procOpts{}, "tmux", "-S", tp.sock, "kill-server")
		if r.code != 0 && !server.exited() {
			t.Logf("tmux kill-server: %v", r)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(tp.sock); err == nil {
			break
		}
		if server.exited() || time.Now().After(deadline) {
			t.Fatalf("tmux server did not create %s: %s", tp.sock, server.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	tp.tmux(t, "new-session", "-d", "-x", strconv.Itoa(width), "-y", strconv.Itoa(height), "-s", "t",
		"exec "+strings.Join(quoted, " "))
	return tp
}

// tmux runs a tmux command against the server and returns its stdout.
func (tp *tmuxPane) tmux(t testing.TB, args ...string) string {
	t.Helper()
	return mustRun(t, 10*time.Second, append([]string{"tmux", "-S", tp.sock}, args...)...).stdout
}

// screen is what the pane shows now; all adds the lines scrolled off above.
func (tp *tmuxPane) screen(t testing.TB, all bool) string {
	t.Helper()
	args := []string{"capture-pane", "-p", "-t", "t"}
	if all {
		args = append(args, "-S", "-")
	}
	return strings.TrimRight(tp.tmux(t, args...), "\n")
}

// state is the pane's process, whether it has ended, and its exit status.
func (tp *tmuxPane) state(t testing.TB) (pid int, dead bool, status int) {
	t.Helper()
	f := strings.Fields(tp.tmux(t, "display-message", "-p", "-t", "t", "#{pane_pid} #{pane_dead} #{pane_dead_status}"))
	if len(f) < 2 {
		t.Fatalf("tmux display-message: %q", f)
	}
	pid, _ = strconv.Atoi(f[0])
	if len(f) > 2 {
		status, _ = strconv.Atoi(f[2])
	}
	return pid, f[1] == "1", status
}

// waitDead waits for the pane's command to end and returns its exit status.
func (tp *tmuxPane) waitDead(t testing.TB, timeout time.Duration) (status int, ok bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, dead, st := tp.state(t); dead {
			return st, true
		}
		if time.Now().After(deadline) {
			return 0, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var viewPieces = regexp.MustCompile(`(\d+\.\d)%  (\d+)/(\d+) pieces`)
var viewServed = regexp.MustCompile(`served (\d+(?:\.\d)? [KMG]?i?B)`)

// TestTTYMountView runs `hyperblow mount` on a terminal (a tmux pane) against
// a python3-libtorrent seeder: the live view shows the torrent's name and its
// progress, the figures change while a paced reader copies the file out of the
// mount, log lines stay above the view, and Ctrl-C leaves a clean final frame
// and nothing mounted. Without a terminal the log is plain, unless --view on.
func TestTTYMountView(t *testing.T) {
	requireTool(t, "tmux", "fusermount3")
	bin := buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	peer := seedLibtorrent(t, tor)
	name := tor.Info.Name

	t.Run("tmux", func(t *testing.T) {
		mnt := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		// A small readahead: pieces arrive as the reader goes, not all at once.
		tp := startTmux(t, 120, 30, bin, "mount", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", "--peer", peer,
			"--readahead", "4MiB", tor.Path, mnt)
		t.Cleanup(func() { // before the tmux server goes: end the mount cleanly, leave nothing mounted
			if pid, dead, _ := tp.state(t); !dead && pid > 0 {
				syscall.Kill(pid, syscall.SIGTERM)
				if _, ok := tp.waitDead(t, 15*time.Second); !ok {
					t.Errorf("hyperblow mount (pid %d) did not exit within 15 s of SIGTERM", pid)
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			if isMounted(mnt) {
				lazyUnmount(t, mnt)
			}
			if t.Failed() {
				t.Logf("the pane, with its history:\n%s", tp.screen(t, true))
			}
		})

		deadline := time.Now().Add(30 * time.Second)
		for !isMounted(mnt) {
			if _, dead, st := tp.state(t); dead || time.Now().After(deadline) {
				t.Fatalf("%s not mounted (hyperblow ended: %v, status %d):\n%s", mnt, dead, st, tp.screen(t, true))
			}
			time.Sleep(20 * time.Millisecond)
		}
		var scr string
		for deadline = time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			scr = tp.screen(t, false)
			if strings.Contains(scr, "hyperblow  "+mnt+"  (Ctrl-C to unmount)") && strings.Contains(scr, name+"  [") &&
				viewPieces.MatchString(scr) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no live view with the torrent's name and progress on the terminal:\n%s", scr)
			}
		}
		if m := viewPieces.FindStringSubmatch(scr); m[3] != strconv.Itoa(tor.Info.NumPieces) {
			t.Errorf("the view shows %s pieces in all, want %d:\n%s", m[3], tor.Info.NumPieces, scr)
		}

		dst := filepath.Join(t.TempDir(), "copy")
		reader := startPacedReader(t, filepath.Join(mnt, name), dst, tor.Info.TotalLength)
		haves := map[int]bool{}
		served := map[string]bool{}
		partial, reading := false, false
		for deadline = time.Now().Add(3 * time.Minute); !reader.exited(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the paced copy did not end in time: %s", reader.describe())
			}
			scr = tp.screen(t, false)
			m := viewPieces.FindStringSubmatch(scr)
			if m == nil {
				t.Fatalf("the view lost its progress figure during the copy:\n%s", scr)
			}
			have, _ := strconv.Atoi(m[2])
			haves[have] = true
			partial = partial || (have > 0 && have < tor.Info.NumPieces)
			if s := viewServed.FindStringSubmatch(scr); s != nil {
				served[s[1]] = true
			}
			reading = reading || strings.Contains(scr, "  reading: ") || strings.Contains(scr, "  waiting: ")
		}
		if !reader.waitFor(time.Second) || reader.exitCode() != 0 {
			t.Fatalf("paced copy: %s", reader.describe())
		}
		if got, want := hashFile(t, dst), hashFile(t, data.Big); got != want {
			t.Errorf("the copy's SHA-256 is %s, want %s", got, want)
		}
		t.Logf("pieces seen during the copy: %d distinct figures; served: %d", len(haves), len(served))
		if len(haves) < 2 || !partial {
			t.Errorf("the progress figure did not move during the copy (seen %v, a partial one: %v)", haves, partial)
		}
		if len(served) < 2 {
			t.Errorf("the served figure did not change during the copy (seen %v)", served)
		}
		if !reading {
			t.Errorf("the view never said a file was being read")
		}

		tp.tmux(t, "send-keys", "-t", "t", "C-c")
		st, ok := tp.waitDead(t, 20*time.Second)
		if !ok {
			t.Fatalf("hyperblow did not exit within 20 s of Ctrl-C:\n%s", tp.screen(t, true))
		}
		if st != 0 {
			t.Errorf("hyperblow mount exited %d after Ctrl-C, want 0", st)
		}
		if isMounted(mnt) {
			t.Errorf("%s is still mounted after hyperblow exited", mnt)
		}
		all := tp.screen(t, true)
		final := "hyperblow  " + mnt + "  stopped"
		iMounted, iFinal, iStopped := strings.Index(all, "msg=mounted"), strings.Index(all, final), strings.Index(all, "msg=stopped")
		if iMounted < 0 || iFinal < 0 || iStopped < 0 || !(iMounted < iFinal && iFinal < iStopped) {
			t.Errorf("want the mounted log line, then the final frame (%q), then the stopped log line; got:\n%s", final, all)
		}
		frame := all[max(iFinal, 0):]
		for _, want := range []string{name + "  [", "100.0%", "cache "} {
			if !strings.Contains(frame, want) {
				t.Errorf("the final frame lacks %q:\n%s", want, frame)
			}
		}
		// The whole file was served; the kernel may read a few pages twice.
		if !regexp.MustCompile(`served 64\.[0-2] MiB`).MatchString(frame) {
			t.Errorf("the final frame does not show the 64 MiB file served:\n%s", frame)
		}
		// Every earlier frame was redrawn in place: none is left in the scrollback.
		if n := strings.Count(all, "(Ctrl-C to unmount)"); n != 0 {
			t.Errorf("%d earlier frames left on the terminal:\n%s", n, all)
		}
	})

	t.Run("hangup", func(t *testing.T) {
		// The terminal goes away (its tmux server is killed): SIGHUP, and the
		// mount ends cleanly instead of leaving a dead FUSE mount behind.
		mnt := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		tp := startTmux(t, 100, 20, bin, "mount", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", "--peer", peer, tor.Path, mnt)
		t.Cleanup(func() {
			if isMounted(mnt) {
				lazyUnmount(t, mnt)
			}
		})
		for deadline := time.Now().Add(30 * time.Second); !isMounted(mnt); time.Sleep(20 * time.Millisecond) {
			if _, dead, st := tp.state(t); dead || time.Now().After(deadline) {
				t.Fatalf("%s not mounted (hyperblow ended: %v, status %d):\n%s", mnt, dead, st, tp.screen(t, true))
			}
		}
		pid, _, _ := tp.state(t)
		tp.tmux(t, "kill-server")
		for deadline := time.Now().Add(20 * time.Second); isMounted(mnt); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGTERM)
				t.Fatalf("%s still mounted 20 s after the terminal hung up", mnt)
			}
		}
	})

	t.Run("pipe", func(t *testing.T) {
		// No terminal: the plain log lines of before, not an escape sequence.
		m := mount(t, "--peer", peer, tor.Path)
		m.Unmount(t)
		if s := m.Stderr(); strings.Contains(s, "\x1b") || strings.Contains(s, "(Ctrl-C to unmount)") || !strings.Contains(s, "msg=mounted") {
			t.Errorf("without a terminal, want plain log lines:\n%q", tail(s, 2000))
		}
		// --view on draws anyway, and ends with the final frame.
		// 200 columns: the header's hint and "stopped" fit beside a long TMPDIR path.
		m = startMount(t, mountOpts{env: []string{"COLUMNS=200"}}, "--view", "on", "--peer", peer, tor.Path)
		waitStderr(t, m, regexp.MustCompile(`\(Ctrl-C to unmount\)`), 30*time.Second, "no view with --view on")
		m.Unmount(t)
		s := m.Stderr()
		if !strings.Contains(s, "\x1b[") || !strings.Contains(s, "  stopped\x1b[K\n") || !strings.Contains(s, name+"  [") {
			t.Errorf("--view on without a terminal: want frames and a final one:\n%q", tail(s, 2000))
		}
	})
}
