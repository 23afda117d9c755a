// Package mounthelper is what Hyperblow needs to be a mount helper for
// mount(8), /etc/fstab and systemd mount units: parsing mount options (-o), a
// helper's own argument list (mount.fuse.hyperblow SOURCE MOUNTPOINT -o ...),
// and starting the mount in the background (--daemon) so that the call
// returns once the mount is live.
//
// It knows nothing of torrents. The command's flags are given as a
// *flag.FlagSet, so an option such as cache-size=1GiB sets the flag of the
// same name; the command prints and chooses exit codes (see docs/mounting.md).
package mounthelper
