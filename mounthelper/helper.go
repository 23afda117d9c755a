package mounthelper

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The mount helper. For an fstab line or systemd mount unit of type
// fuse.hyperblow, mount(8) runs /sbin/mount.fuse.hyperblow (a symlink to the
// hyperblow binary; /sbin/mount.hyperblow for type hyperblow) as
//
//	mount.fuse.hyperblow SOURCE MOUNTPOINT [-sfnv] [-N NAMESPACE] [-o OPTIONS] [-t TYPE]
//
// and, when there is no such helper, /sbin/mount.fuse3 runs
// `hyperblow SOURCE MOUNTPOINT -o OPTIONS` through /bin/sh (with dev,suid
// added). Both become `hyperblow mount --daemon -o OPTIONS SOURCE MOUNTPOINT`.
// mount(8) passes rw when the line does not say ro: the mount is read-only
// anyway, with a warning, as mount(8) does for a write-protected device.

// helperNames are the names mount(8) runs a helper by.
var helperNames = map[string]bool{"mount.fuse.hyperblow": true, "mount.hyperblow": true}

// IsHelperName reports whether the program was run as a mount helper.
func IsHelperName(argv0 string) bool { return helperNames[filepath.Base(argv0)] }

// IsFuseHelperCall reports whether args are mount.fuse3's call:
// SOURCE MOUNTPOINT -o OPTIONS, SOURCE not being a command.
func IsFuseHelperCall(args []string, isCommand func(string) bool) bool {
	if len(args) != 4 || args[2] != "-o" || strings.HasPrefix(args[0], "-") {
		return false
	}
	return !isCommand(args[0])
}

// HelperUsage is the helper's usage text.
const HelperUsage = `usage: mount.fuse.hyperblow SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS] [-t fuse.hyperblow]
(run by mount(8) for fstab lines and systemd mount units of type fuse.hyperblow;
see hyperblow mount --help for the options)
`

// HelperCall is what mount(8) asked of the helper.
type HelperCall struct {
	Source, Mountpoint string
	Options            []string // each -o value
	Fake               bool     // -f: everything but the mount
	Sloppy             bool     // -s: ignore options that fail
	Verbose            bool     // -v
}

// HelperUsageError is a helper call that does not parse: exit 2, with
// HelperUsage. Msg is empty when the usage says it all.
type HelperUsageError struct{ Msg string }

func (e *HelperUsageError) Error() string { return e.Msg }

// ParseHelperArgs parses the helper's arguments (after argv[0]). A
// *HelperUsageError is a usage error; any other error is a call that cannot
// be honoured.
func ParseHelperArgs(args []string) (HelperCall, error) {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		return HelperCall{}, &HelperUsageError{}
	}
	c := HelperCall{Source: args[0], Mountpoint: args[1]}
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "-t" || a == "-N":
			if i+1 == len(args) {
				return HelperCall{}, &HelperUsageError{a + " needs a value"}
			}
			i++
			switch a {
			case "-o":
				c.Options = append(c.Options, args[i])
			case "-N":
				return HelperCall{}, fmt.Errorf("-N %s: mounting in another mount namespace is not supported", args[i])
			}
		case strings.HasPrefix(a, "-o"):
			c.Options = append(c.Options, a[2:])
		case strings.HasPrefix(a, "-t"):
		case len(a) > 1 && a[0] == '-' && strings.Trim(a[1:], "sfnv") == "":
			c.Fake = c.Fake || strings.Contains(a, "f")
			c.Sloppy = c.Sloppy || strings.Contains(a, "s")
			c.Verbose = c.Verbose || strings.Contains(a, "v")
		default:
			return HelperCall{}, &HelperUsageError{fmt.Sprintf("unexpected argument %q", a)}
		}
	}
	return c, nil
}

// HelperOptions drops rw (with a warning) and, when sloppy (mount -s), the
// options that check refuses (with a warning each); check tries one option
// on a scratch flag set, so a bad option fails here, before anything starts.
// kept is the options list to pass on.
func HelperOptions(lists []string, sloppy bool, check func(item string) error) (kept string, warnings []string, err error) {
	var items []string
	for _, l := range lists {
		its, err := Split(l)
		if err != nil {
			return "", nil, fmt.Errorf("-o %s: %v", l, err)
		}
		items = append(items, its...)
	}
	var out []string
	for _, it := range items {
		if it == "rw" {
			warnings = append(warnings, "mounting read-only: Hyperblow mounts are read-only (mount(8) passes rw when the options do not say ro)")
			continue
		}
		if err := check(it); err != nil {
			if sloppy {
				warnings = append(warnings, fmt.Sprintf("ignoring %v (mount -s)", err))
				continue
			}
			return "", warnings, err
		}
		if name, value, ok := strings.Cut(it, "="); ok && strings.Contains(value, ",") {
			it = name + `="` + value + `"`
		}
		out = append(out, it)
	}
	return strings.Join(out, ","), warnings, nil
}
