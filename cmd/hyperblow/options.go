package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	hfs "github.com/hyperblow/hyperblow/fs"
	"github.com/hyperblow/hyperblow/mounthelper"
)

// fuseOptions are the mount options that are not flags (-o uid=, gid=, umask=,
// noexec, fsname=: mounthelper parses them) and --nonempty.
type fuseOptions struct {
	mounthelper.FUSE
	fsname   string // the df source column when -o fsname= is not given: fsNameOf(SOURCE), set by runMount
	nonempty bool   // -o nonempty, --nonempty: mount over a folder that holds files, or a mount
}

// optionsFlag is -o (flags.go prints it as OPTIONS).
type optionsFlag = mounthelper.OptionsFlag

// registerOptions adds -o and --nonempty to fs, filling m.fuse.
func (m *mountFlags) registerOptions(fs *flag.FlagSet) {
	fs.Var(&optionsFlag{Flags: fs, FUSE: &m.fuse.FUSE}, "o", mounthelper.OptionsHelp)
	registerNonempty(fs, &m.fuse)
}

// registerNonempty adds --nonempty (also -o nonempty).
func registerNonempty(fs *flag.FlagSet, fo *fuseOptions) {
	fs.BoolVar(&fo.nonempty, "nonempty", false, "mount even over a folder that holds files or over another mount, hiding them until unmounted (as -o nonempty)")
}

// checkMount runs before anything starts: the flags' values (flags.go), then
// the mount point (fs.CheckMountpoint: it must be an empty folder and no mount
// point, unless --nonempty; a dead Hyperblow mount left there is unmounted).
func (m *mountFlags) checkMount(fs *flag.FlagSet, mnt string, stderr io.Writer) error {
	if err := m.checkFlags(fs); err != nil {
		return err
	}
	level := slog.LevelInfo
	if m.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	err := hfs.CheckMountpoint(mnt, m.fuse.nonempty, log)
	var mpe *hfs.MountpointError
	if errors.As(err, &mpe) && mpe.Overridable {
		return fmt.Errorf("%w, or give -o nonempty (--nonempty) to mount over it anyway", err)
	}
	return err
}

// apply sets uid=, gid= and umask= in the filesystem's options.
func (fo *fuseOptions) apply(o *hfs.Options) {
	if fo.HasUID {
		o.UID = fo.UID
	}
	if fo.HasGID {
		o.GID = fo.GID
	}
	o.Umask = fo.Umask
}

// mountOptions are the FUSE mount's settings from the flags and -o options.
func (m *mountFlags) mountOptions(log *slog.Logger) hfs.MountOptions {
	name := m.fuse.FsName
	if name == "" {
		name = m.fuse.fsname
	}
	return hfs.MountOptions{AllowOther: m.allowOther, Debug: m.fuseDebug, Logger: log, FsName: name, NoExec: m.fuse.NoExec}
}

// fsNameOf is the source column of df and /proc/mounts for SOURCE.
func fsNameOf(source string) string { return mounthelper.FsName(source) }

// checkAllowOther: allow_other as a normal user needs user_allow_other in
// /etc/fuse.conf; say so before anything starts.
func (m *mountFlags) checkAllowOther() error {
	if !m.allowOther {
		return nil
	}
	return mounthelper.CheckAllowOther()
}
