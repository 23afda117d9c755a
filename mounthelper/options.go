package mounthelper

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mount options, -o OPTIONS, as mount(8), /etc/fstab and systemd give them:
// a comma-separated list of NAME or NAME=VALUE (a value may be "quoted" to
// hold commas). Some are FUSE's and the kernel's (allow_other, uid=, gid=,
// umask=, noexec, fsname=); the command's own flags may be given the same way
// (cache-size=1GiB, no-dht, peer=HOST:PORT, ...; '_' for '-' works too), so
// that an fstab line can say everything; the generic ones mount(8) and systemd
// pass along are accepted (see ignoredOptions). Anything else is an error
// naming the option.

// OptionsHelp is the -o flag's help text.
const OptionsHelp = `mount options, comma-separated, as in /etc/fstab (repeatable): ` +
	`allow_other, uid=N, gid=N, umask=OCTAL (applied to modes 0555/0444), noexec, fsname=NAME, nonempty, ` +
	`any of this command's flags as NAME=VALUE or NAME (e.g. cache-size=1GiB,no-dht,peer=HOST:PORT); ` +
	`ro, defaults, nosuid, nodev, noatime, relatime, auto, noauto, user, nofail, _netdev, x-systemd.* ` +
	`and the like are accepted; rw is refused (read-only)`

// FUSE holds the mount options that are not flags of the command.
type FUSE struct {
	UID, GID       uint32
	HasUID, HasGID bool
	Umask          uint32 // permission bits to clear
	NoExec         bool
	FsName         string // -o fsname=: the source column of df and /proc/mounts
}

// ignoredOptions are accepted and change nothing: they are for mount(8) and
// systemd (auto, user, nofail, _netdev, comment=, x-*), or they are what the
// mount is anyway (ro; nosuid and nodev: always), or they concern writes and
// access times of a filesystem that has neither (atime, sync, ...), or the
// kernel checks permissions anyway (default_permissions). mount.fuse3 adds
// dev and suid unless nodev and nosuid were given.
var ignoredOptions = map[string]bool{
	"ro": true, "defaults": true, "auto": true, "noauto": true,
	"user": true, "users": true, "nouser": true, "owner": true, "group": true,
	"nofail": true, "_netdev": true,
	"suid": true, "nosuid": true, "dev": true, "nodev": true,
	"atime": true, "noatime": true, "relatime": true, "norelatime": true,
	"strictatime": true, "nostrictatime": true, "diratime": true, "nodiratime": true,
	"lazytime": true, "nolazytime": true, "iversion": true, "noiversion": true,
	"sync": true, "async": true, "dirsync": true, "silent": true, "loud": true,
	"default_permissions": true,
}

// refusedOptions are known but cannot be honoured; the error says why.
var refusedOptions = map[string]string{
	"rw":              "Hyperblow mounts are read-only; use ro (or leave it out)",
	"allow_root":      "not supported; use allow_other (and umask/uid/gid to limit who reads)",
	"setuid":          "not supported; mount as root with allow_other and uid=/gid=, or as the user",
	"drop_privileges": "not supported",
	"auto_unmount":    "not needed: Hyperblow unmounts itself when it stops",
}

// OptionsFlag is -o as a flag.Value: each value is applied at once, setting
// FUSE and the other flags of Flags, so flags and options given later win.
type OptionsFlag struct {
	Flags *flag.FlagSet
	FUSE  *FUSE
	raw   []string
}

// Kind is what --help says it takes.
func (*OptionsFlag) Kind() string { return "OPTIONS" }

func (o *OptionsFlag) String() string {
	if o == nil {
		return ""
	}
	return strings.Join(o.raw, ",")
}

func (o *OptionsFlag) Set(v string) error {
	o.raw = append(o.raw, v)
	return ApplyList(o.Flags, o.FUSE, v)
}

// ApplyList applies one -o value: FUSE's options to fo, the others as flags of fs.
func ApplyList(fs *flag.FlagSet, fo *FUSE, list string) error {
	items, err := Split(list)
	if err != nil {
		return err
	}
	for _, item := range items {
		if err := Apply(fs, fo, item); err != nil {
			return err
		}
	}
	return nil
}

// Split splits a mount option list at commas outside double quotes and
// removes the quotes, as libmount does: peer="a,b" is one item.
func Split(list string) ([]string, error) {
	var items []string
	var b strings.Builder
	quoted := false
	for _, r := range list {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			items = append(items, b.String())
			b.Reset()
		default:
			b.WriteRune(r)
		}
	}
	if quoted {
		return nil, fmt.Errorf("unbalanced quote in %q", list)
	}
	items = append(items, b.String())
	return items, nil
}

// Apply applies one option, NAME or NAME=VALUE: FUSE's to fo, the others as
// the flag of fs with that name.
func Apply(fs *flag.FlagSet, fo *FUSE, item string) error {
	name, value, hasValue := strings.Cut(item, "=")
	switch {
	case item == "":
		return nil
	case ignoredOptions[item], strings.HasPrefix(item, "x-"), name == "comment":
		return nil
	case refusedOptions[name] != "":
		return fmt.Errorf("option %s: %s", name, refusedOptions[name])
	case item == "noexec":
		fo.NoExec = true
		return nil
	case item == "exec":
		fo.NoExec = false
		return nil
	case item == "allow_other":
		return fs.Set("allow-other", "true")
	case name == "uid" || name == "gid":
		id, err := strconv.ParseUint(value, 10, 32)
		if !hasValue || err != nil || id == 1<<32-1 {
			return fmt.Errorf("option %s: want a numeric %s such as %s=1000, got %q (see id -u NAME)", name, map[string]string{"uid": "user ID", "gid": "group ID"}[name], name, value)
		}
		if name == "uid" {
			fo.UID, fo.HasUID = uint32(id), true
		} else {
			fo.GID, fo.HasGID = uint32(id), true
		}
		return nil
	case name == "umask":
		m, err := strconv.ParseUint(strings.TrimPrefix(value, "0o"), 8, 32)
		if !hasValue || err != nil || m > 0o777 {
			return fmt.Errorf("option umask: want octal permission bits to clear, such as umask=022 or umask=0077, got %q", value)
		}
		fo.Umask = uint32(m)
		return nil
	case name == "fsname":
		if value == "" {
			return fmt.Errorf("option fsname: want a name, e.g. fsname=movies")
		}
		fo.FsName = value
		return nil
	}
	return applyFlagOption(fs, name, value, hasValue)
}

// applyFlagOption sets the flag that option NAME[=VALUE] names ('_' for '-').
func applyFlagOption(fs *flag.FlagSet, name, value string, hasValue bool) error {
	flagName := strings.ReplaceAll(name, "_", "-")
	f := fs.Lookup(flagName)
	if f == nil || flagName == "o" || flagName == "help" || flagName == "h" {
		return fmt.Errorf("unknown option %q: not a mount option nor a flag of hyperblow %s", name, fs.Name())
	}
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() && !hasValue {
		value = "true"
	} else if !hasValue {
		return fmt.Errorf("option %s needs a value: %s=VALUE (like --%s VALUE)", name, name, flagName)
	}
	if err := fs.Set(flagName, value); err != nil {
		return fmt.Errorf("option %s=%s: %v", name, value, err)
	}
	return nil
}

// FsName is the source column of df and /proc/mounts for SOURCE: a file or
// folder as an absolute path (so mounts can be told apart, and mount(8) finds
// an fstab line's source); a magnet link (long, full of trackers) shortened to
// its info-hash; anything else (a URL, an info-hash) as given.
func FsName(source string) string {
	if strings.HasPrefix(strings.ToLower(source), "magnet:") {
		if i := strings.Index(strings.ToLower(source), "xt=urn:btih:"); i >= 0 {
			xt := source[i:]
			if j := strings.IndexByte(xt, '&'); j >= 0 {
				xt = xt[:j]
			}
			return "magnet:?" + xt
		}
		return source
	}
	if _, err := os.Stat(source); err == nil {
		if abs, err := filepath.Abs(source); err == nil {
			return abs
		}
	}
	return source
}

// FuseConf is where fusermount3 reads user_allow_other.
const FuseConf = "/etc/fuse.conf"

// CheckAllowOther: allow_other as a normal user goes through fusermount3,
// which refuses it unless /etc/fuse.conf has user_allow_other; it says so
// before anything starts, and how to fix it.
func CheckAllowOther() error {
	if os.Geteuid() == 0 {
		return nil
	}
	ok, err := FuseConfAllowsOther(FuseConf)
	if err != nil || ok {
		return nil // fusermount3 has the last word; its own message is clear enough
	}
	return errors.New("allow_other (--allow-other) as a normal user needs the line user_allow_other in " + FuseConf +
		" (as root: echo user_allow_other >> " + FuseConf + "); or mount as root, or without allow_other")
}

// FuseConfAllowsOther reports whether fuse.conf at path has a user_allow_other line.
func FuseConfAllowsOther(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "user_allow_other" {
			return true, nil
		}
	}
	return false, sc.Err()
}
