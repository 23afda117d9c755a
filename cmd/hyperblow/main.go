// Command hyperblow mounts BitTorrent torrents as read-only folders.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hyperblow/hyperblow/cliflag"
)

const usageText = `hyperblow mounts a BitTorrent torrent as a read-only folder.

Usage:
  hyperblow mount [flags] SOURCE... MOUNTPOINT
                                              mount torrents (foreground until unmounted;
                                              --daemon: in the background, as mount(8) wants)
  hyperblow info [flags] SOURCE               show what a torrent holds
  hyperblow demo [flags] MOUNTPOINT           offline demo: sample files seeded on loopback, mounted
  hyperblow create [flags] PATH               make a .torrent from a file or folder
  hyperblow seed [flags] TORRENT DATA         serve a torrent's complete data to the swarm
  hyperblow get [flags] SOURCE DIR            download a torrent into a folder, with a progress bar
  hyperblow status [flags] ADDR               what a mount started with --status ADDR is doing
  hyperblow unmount [flags] MOUNTPOINT        stop a mount, even with reads waiting on it
  hyperblow help COMMAND                      help on a command
  hyperblow version                           the version of this build (also --version)

SOURCE is a .torrent file, an http(s) URL of one, a magnet link, or an info-hash;
for mount also a folder of .torrent and .magnet files, which is watched.
Run "hyperblow COMMAND --help" for a command's flags and examples.
`

// usageError is a mistake on the command line: exit code 2.
type usageError = cliflag.UsageError

var usagef = cliflag.Usagef

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
		switch {
		case len(args) == 1, len(args) == 2 && (args[1] == "-h" || args[1] == "--help" || args[1] == "help"):
			fmt.Fprint(stdout, usageText)
			return 0
		case len(args) > 2:
			return exitCodeFor(name, usagef("help: want one COMMAND, got %d (see hyperblow --help)", len(args)-1), stderr)
		case args[1] == "version":
			fmt.Fprint(stdout, versionUsage)
			return 0
		}
		cmd, ok := commands[args[1]]
		if !ok {
			return exitCodeFor(name, usagef("help: unknown command %q; the commands are %s (see hyperblow --help)", args[1], commandList()), stderr)
		}
		return exitCodeFor(args[1], cmd([]string{"--help"}, stdout, stderr), stderr)
	case "--version", "-version", "version":
		if len(args) > 1 {
			return exitCodeFor("version", usagef("version: takes no arguments, got %q (see hyperblow --help)", args[1]), stderr)
		}
		fmt.Fprint(stdout, versionText())
		return 0
	}
	if isFuseHelperCall(args) { // run by mount.fuse3: hyperblow SOURCE MOUNTPOINT -o OPTIONS (daemon.go)
		return runMountHelper(args, stdout, stderr)
	}
	cmd, ok := commands[name]
	if !ok {
		if strings.HasPrefix(name, "-") {
			return exitCodeFor("", usagef("unknown flag %s before a command; the commands are %s (see hyperblow --help)", name, commandList()), stderr)
		}
		return exitCodeFor("", usagef("unknown command %q; the commands are %s (see hyperblow --help)", name, commandList()), stderr)
	}
	return exitCodeFor(name, cmd(args[1:], stdout, stderr), stderr)
}

// commandList names the commands, for messages: "create, demo, get, ...".
func commandList() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// exitCode prints err, if any, as one line and returns the exit status: 2 for
// a usage error (with a hint to --help if it has none), 1 for any other error.
func exitCode(err error, stderr io.Writer) int { return exitCodeFor("", err, stderr) }

// exitCodeFor is exitCode for a command: a usage error's hint names the
// command's --help.
func exitCodeFor(command string, err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelp) {
		return 0
	}
	msg := oneLine(err.Error())
	var ue usageError
	if errors.As(err, &ue) {
		if !strings.Contains(msg, "--help") {
			hint := "hyperblow --help"
			if _, ok := commands[command]; ok {
				hint = "hyperblow " + command + " --help"
			}
			msg += " (see " + hint + ")"
		}
		fmt.Fprintf(stderr, "hyperblow: %s\n", msg)
		return 2
	}
	fmt.Fprintf(stderr, "hyperblow: %s\n", msg)
	return 1
}
