// Package integration drives the built hyperblow binary against real BitTorrent
// clients on 127.0.0.1 and uses the mount as a person would: ls, cp, sha256sum, cat.
//
// Nothing here runs a filesystem inside the test process. Each test builds (once)
// cmd/hyperblow, starts opentracker and real seeders (aria2c, python3-libtorrent)
// bound to loopback, mounts with the binary in a child process, reads the mount
// from further child processes, and unmounts. Every helper stops what it started
// by PID or process group in t.Cleanup, and a mount that outlives its test is
// lazily unmounted (fusermount3 -u -z, then umount -l), so no stale mount is left.
//
// Tools come from Debian packages (fuse3 opentracker aria2 python3-libtorrent
// util-linux); scripts/test installs them. A missing tool skips the test, unless
// HYPERBLOW_REQUIRE_TOOLS=1 (set by .ci/run), which makes it a failure.
//
// Environment:
//
//	HYPERBLOW_REQUIRE_TOOLS=1  a missing tool or binary fails instead of skipping
//	HYPERBLOW_BIN=PATH         test this binary instead of building ./cmd/hyperblow
//	HYPERBLOW_RACE=1           build the binary under test with -race
//	HYPERBLOW_PYTHON           the python3 that has libtorrent (default /usr/bin/python3)
//	HYPERBLOW_KEEP=1           keep the shared work directory (data, binary) for debugging
package integration
