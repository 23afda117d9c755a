// Command hyperblow mounts BitTorrent torrents as read-only folders.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

const usageText = `hyperblow mounts a BitTorrent torrent as a read-only folder.

Usage:
  hyperblow mount [flags] SOURCE... MOUNTPOINT
                                              mount torrents (foreground until unmounted;
                                              --daemon: in the background, as mount(8) wants)
  hyperblow info [--json] SOURCE              show what a torrent holds
  hyperblow demo [flags] MOUNTPOINT           offline demo: sample files seeded on loopback, mounted
  hyperblow create [flags] PATH               make a .torrent from a file or folder
  hyperblow seed [flags] TORRENT DATA         serve a torrent's complete data to the swarm
  hyperblow get [flags] SOURCE DIR            download a torrent into a folder, with a progress bar
  hyperblow status [--json] ADDR              what a mount started with --status ADDR is doing
  hyperblow unmount MOUNTPOINT                stop a mount, even with reads waiting on it
  hyperblow help COMMAND                      help on a command

SOURCE is a .torrent file, an http(s) URL of one, a magnet link, or an info-hash;
for mount also a folder of .torrent and .magnet files, which is watched.
Run "hyperblow COMMAND --help" for a command's flags and examples.
`

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

var commands = map[string]func(args []string, stdout, stderr io.Writer) error{
	"mount":   runMount,
	"info":    runInfo,
	"demo":    runDemo,
	"create":  runCreate,
	"seed":    runSeed,
	"get":     runGet,
	"status":  runStatus,
	"unmount": runUnmount,
}

func main() {
	if isHelperName(os.Args[0]) { // run by mount(8) as /sbin/mount.fuse.hyperblow (daemon.go)
		os.Exit(runMountHelper(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		if len(args) > 1 {
			if cmd, ok := commands[args[1]]; ok {
				return exitCode(cmd([]string{"--help"}, stdout, stderr), stderr)
			}
		}
		fmt.Fprint(stdout, usageText)
		return 0
	}
	if isFuseHelperCall(args) { // run by mount.fuse3: hyperblow SOURCE MOUNTPOINT -o OPTIONS (daemon.go)
		return runMountHelper(args, stdout, stderr)
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "hyperblow: unknown command %q\n\n%s", name, usageText)
		return 2
	}
	return exitCode(cmd(args[1:], stdout, stderr), stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelp) {
		return 0
	}
	msg := strings.TrimSpace(err.Error())
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "hyperblow: %s\n", msg)
		return 2
	}
	fmt.Fprintf(stderr, "hyperblow: %s\n", msg)
	return 1
}
