package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// proc is a child process in its own process group, with its output captured.
// It is killed (the whole group) when the test ends, if it is still running.
type proc struct {
	name   string
	cmd    *exec.Cmd
	Stdout syncBuffer
	Stderr syncBuffer
	done   chan struct{}
	err    error // valid once done is closed
}

// procOpts adjusts a child before it starts.
type procOpts struct {
	dir       string
	env       []string       // appended to os.Environ()
	pdeathsig syscall.Signal // sent to the child if the test process dies; default SIGKILL
	cred      *syscall.Credential
}

// startProc starts argv as a child process named name (for messages) and
// registers its cleanup: SIGKILL to its process group and a bounded wait. On a
// failed test, its output is logged.
func startProc(t testing.TB, name string, opts procOpts, argv ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = opts.dir
	if opts.env != nil {
		p.cmd.Env = append(os.Environ(), opts.env...)
	}
	p.cmd.Stdout = &p.Stdout
	p.cmd.Stderr = &p.Stderr
	sig := opts.pdeathsig
	if sig == 0 {
		sig = syscall.SIGKILL
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig, Credential: opts.cred}
	p.cmd.WaitDelay = 2 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if !p.waitFor(10 * time.Second) {
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, p.pid())
		}
		if t.Failed() {
			t.Logf("%s %q\n--- stdout:\n%s\n--- stderr:\n%s", name, argv, tail(p.Stdout.String(), 4000), tail(p.Stderr.String(), 8000))
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor waits up to d for the process to end and reports whether it did.
func (p *proc) waitFor(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// maxRSS is the peak resident memory of an exited process, in bytes, as its
// rusage says: that counts the test process's own peak too (Go starts
// children with vfork), so a check of a child's memory uses measured.
func maxRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // Linux reports KiB
	}
	return 0
}

// exitCode is the exit status once exited: -1 if killed by a signal.
func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// signal sends sig to the process itself (not its group).
func (p *proc) signal(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	return syscall.Kill(p.pid(), sig)
}

// kill sends SIGKILL to the whole process group.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	syscall.Kill(-p.pid(), syscall.SIGKILL)
}

// describe is the process's name, state and output, for failure messages.
func (p *proc) describe() string {
	state := "running"
	if p.exited() {
		state = fmt.Sprintf("exited: %v", p.err)
	}
	return fmt.Sprintf("%s (pid %d, %s)\n--- stdout:\n%s\n--- stderr:\n%s", p.name, p.pid(), state,
		tail(p.Stdout.String(), 4000), tail(p.Stderr.String(), 8000))
}

// exitTimeout bounds how long a test waits for a process it told to stop. It
// bounds a hang, not a speed: on a loaded 2-core machine a clean exit of the
// race-built binary has taken over 10 s.
const exitTimeout = 60 * time.Second

// hung is the failure text for a process that did not exit in time: what it and
// its process group are doing in the kernel (state, wchan, the kernel stacks of
// threads in uninterruptible sleep, as root), then, for a Go program, every
// goroutine's stack: SIGQUIT makes the Go runtime print them and exit (status 2).
// It waits up to 10 s for that dump. A recurrence of a hang is then debuggable
// from the test log alone.
func (p *proc) hung() string {
	if p.exited() {
		return p.describe()
	}
	var b strings.Builder
	b.WriteString(processGroupState(p.pid()))
	before := len(p.Stderr.String())
	if err := syscall.Kill(p.pid(), syscall.SIGQUIT); err != nil {
		fmt.Fprintf(&b, "SIGQUIT to %d: %v\n", p.pid(), err)
	} else if !p.waitFor(10 * time.Second) {
		fmt.Fprintf(&b, "%s (pid %d) did not exit within 10 s of SIGQUIT either: no goroutine dump\n", p.name, p.pid())
	}
	all := p.Stderr.String()
	dump := all[min(before, len(all)):]
	fmt.Fprintf(&b, "%s (pid %d)\n--- stdout:\n%s\n--- stderr before SIGQUIT:\n%s\n--- after SIGQUIT (goroutine dump):\n%s",
		p.name, p.pid(), tail(p.Stdout.String(), 4000), tail(all[:min(before, len(all))], 8000), head(dump, 200000))
	return b.String()
}

// head returns at most the first n bytes of s.
func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// processGroupState lists the processes of process group pgid (a proc's children
// too, such as a fusermount3 it runs) with their state and wait channel, and the
// kernel stack of every thread in uninterruptible sleep (D), from /proc.
func processGroupState(pgid int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- process group %d:\n", pgid)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		state, ppid, pgrp, ok := procStat(filepath.Join(dir, "stat"))
		if !ok || pgrp != pgid {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		fmt.Fprintf(&b, "pid %d ppid %d state %s: %s\n", pid, ppid, state, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
		tasks, _ := filepath.Glob(filepath.Join(dir, "task", "[0-9]*"))
		for _, task := range tasks {
			st, _, _, ok := procStat(filepath.Join(task, "stat"))
			if !ok || st != "D" {
				continue
			}
			wchan, _ := os.ReadFile(filepath.Join(task, "wchan"))
			stack, _ := os.ReadFile(filepath.Join(task, "stack"))
			fmt.Fprintf(&b, "  thread %s in D, wchan %s:\n%s", filepath.Base(task), wchan, stack)
		}
	}
	return b.String()
}

// procStat reads the state, parent and process group from a /proc stat file.
func procStat(path string) (state string, ppid, pgrp int, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", 0, 0, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return "", 0, 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 3 {
		return "", 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	return f[0], ppid, pgrp, err1 == nil && err2 == nil
}

// waitStdout waits until the process has printed want on stdout; it fails the test
// if the process exits first or the timeout passes.
func (p *proc) waitStdout(t testing.TB, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := p.Stdout.String()
		if i := strings.Index(out, want); i >= 0 {
			line, _, _ := strings.Cut(out[i:], "\n")
			return line
		}
		if p.exited() {
			t.Fatalf("%s exited before printing %q: %s", p.name, want, p.describe())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v: %s", p.name, want, timeout, p.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// result is a finished command.
type result struct {
	code    int // -1: killed by a signal or by the timeout
	stdout  string
	stderr  string
	elapsed time.Duration
	timeout bool
	maxRSS  int64 // peak resident memory in bytes (getrusage of the child)
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v (timed out: %v)\n--- stdout:\n%s\n--- stderr:\n%s",
		r.code, r.elapsed.Round(time.Millisecond), r.timeout, tail(r.stdout, 4000), tail(r.stderr, 8000))
}

// run runs argv to completion, bounded by timeout (then its process group is
// killed), and returns what happened. It fails the test only if argv cannot start.
func run(t testing.TB, timeout time.Duration, opts procOpts, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = opts.dir
	if opts.env != nil {
		cmd.Env = append(os.Environ(), opts.env...)
	}
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: opts.cred}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start), timeout: ctx.Err() != nil}
	r.maxRSS = maxRSS(cmd.ProcessState)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case cmd.ProcessState != nil:
		r.code = cmd.ProcessState.ExitCode()
	default:
		t.Fatalf("run %q: %v", argv, err)
	}
	return r
}

// mustRun runs argv and fails the test unless it exits 0 within timeout.
func mustRun(t testing.TB, timeout time.Duration, argv ...string) result {
	t.Helper()
	r := run(t, timeout, procOpts{}, argv...)
	if r.code != 0 {
		t.Fatalf("%q: %v", argv, r)
	}
	return r
}
