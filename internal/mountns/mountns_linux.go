package mountns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
)

// rerun runs the test binary again in a new mount namespace and reports its
// exit code; ok is false when the namespace could not be made (then the tests
// run here, as before). The copy is killed if this process dies (a timeout's
// SIGKILL), which takes its mounts with it; SIGINT, SIGTERM and SIGQUIT (go
// test's timeout, for its goroutine dump) are passed on to it.
func rerun() (code int, ok bool) {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envInside+"=1")
	// With CLONE_NEWNS, Go makes every mount in the child's namespace private
	// (MS_REC|MS_PRIVATE on /), so nothing mounted there shows outside.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the thread that started the child ends, not the
	// process: keep this goroutine on its thread until the child is done.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "mountns: running the tests in a private mount namespace: %v; running them here\n", err)
		return 0, false
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			cmd.Process.Signal(s)
		case err := <-done:
			var exit *exec.ExitError
			switch {
			case err == nil:
				return 0, true
			case errors.As(err, &exit):
				if ws, isWS := exit.Sys().(syscall.WaitStatus); isWS && ws.Signaled() {
					return 128 + int(ws.Signal()), true
				}
				return exit.ExitCode(), true
			default:
				fmt.Fprintf(os.Stderr, "mountns: %v\n", err)
				return 1, true
			}
		}
	}
}
