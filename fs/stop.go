package fs

import (
	"errors"
	"fmt"
	"time"
)

// Stopped says how Stop ended a mount.
type Stopped struct {
	Point  string // the mount point, as the mount table has it
	PID    int    // the process that served it and has ended; 0 when forced
	Forced bool   // unmounted without the process's help (ForceUnmount)
}

// Stop ends the Hyperblow mount at path whatever it is doing (`hyperblow
// unmount`): it asks the serving process to stop (RequestUnmount: waiting
// reads end with EIO, the process unmounts and exits) and waits up to timeout
// for the mount and the process to go. A dead mount, a process that does not
// answer, or a mount still there after timeout is unmounted by force
// (ForceUnmount). note is told, in a sentence, why force was used.
func Stop(path string, timeout time.Duration, note func(string)) (Stopped, error) {
	e, ok, err := FindMount(path)
	if err != nil {
		return Stopped{}, err
	}
	if !ok {
		return Stopped{}, fmt.Errorf("unmount %s: not mounted", path)
	}
	if !e.IsHyperblow() {
		return Stopped{}, fmt.Errorf("unmount %s: a %s mount, not Hyperblow's: use umount %s", path, e.Type, e.Point)
	}
	pid, err := RequestUnmount(e, min(timeout, 5*time.Second))
	switch {
	case err == nil:
		if !WaitUnmounted(e, timeout) {
			note(fmt.Sprintf("%s: still mounted %v after asking process %d to stop; forcing", e.Point, timeout, pid))
			return force(e)
		}
		if !WaitProcess(pid, timeout) {
			return Stopped{}, fmt.Errorf("unmount %s: unmounted, but its process %d has not ended after %v", e.Point, pid, timeout)
		}
		return Stopped{Point: e.Point, PID: pid}, nil
	case errors.Is(err, ErrNotAllowed):
		return Stopped{}, fmt.Errorf("unmount %s: %w", e.Point, err)
	case errors.Is(err, ErrServerGone):
		note(fmt.Sprintf("%s: %v (a dead mount); unmounting it", e.Point, err))
	default: // no answer, or an older Hyperblow
		note(fmt.Sprintf("%s: %v; forcing", e.Point, err))
	}
	return force(e)
}

// force unmounts e without its process's help.
func force(e MountEntry) (Stopped, error) {
	if err := ForceUnmount(e); err != nil {
		return Stopped{}, fmt.Errorf("unmount %s: %w", e.Point, err)
	}
	if !WaitUnmounted(e, 5*time.Second) {
		return Stopped{}, fmt.Errorf("unmount %s: still mounted after a forced unmount", e.Point)
	}
	return Stopped{Point: e.Point, Forced: true}, nil
}
