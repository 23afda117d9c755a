package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	hfs "github.com/hyperblow/hyperblow/fs"
	"github.com/hyperblow/hyperblow/mounthelper"
)

// parseMountArgs parses args as runMount does, without mounting.
func parseMountArgs(args ...string) (*mountFlags, *daemonFlags, []string, error) {
	fs := newFlagSet("mount", mountUsage, io.Discard)
	var mf mountFlags
	mf.register(fs, ":6881")
	mf.registerOptions(fs)
	var dm daemonFlags
	dm.register(fs)
	pos, err := parseFlags(fs, args)
	return &mf, &dm, pos, err
}

func TestMountOptionsParse(t *testing.T) {
	mf, dm, pos, err := parseMountArgs("-o", "ro,allow_other,cache-size=1GiB,no-dht,peer=127.0.0.1:7000,uid=1000,gid=100,umask=027,noexec,"+
		"nosuid,nodev,noatime,relatime,defaults,auto,noauto,user,users,nofail,_netdev,x-systemd.automount,x-systemd.idle-timeout=60,comment=x",
		"-o", `peer="127.0.0.2:7001",read_timeout=5s,log-file=/tmp/x.log,daemon,fsname=movies`,
		"src.torrent", "/mnt/x")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pos, []string{"src.torrent", "/mnt/x"}) {
		t.Errorf("positional %q", pos)
	}
	if !mf.allowOther || !mf.noDHT || mf.cacheSize != 1<<30 || len(mf.peers) != 2 || mf.peers[1].String() != "127.0.0.2:7001" || mf.readTimeout.Seconds() != 5 {
		t.Errorf("flags from -o: allowOther %v noDHT %v cache %d peers %v readTimeout %v", mf.allowOther, mf.noDHT, mf.cacheSize, mf.peers, mf.readTimeout)
	}
	if !dm.daemon || dm.logFile != "/tmp/x.log" {
		t.Errorf("daemon flags from -o: %+v", dm)
	}
	fo := mf.fuse
	if !fo.HasUID || fo.UID != 1000 || !fo.HasGID || fo.GID != 100 || fo.Umask != 0o027 || !fo.NoExec || fo.FsName != "movies" {
		t.Errorf("fuse options: %+v", fo)
	}
	var o hfs.Options
	fo.apply(&o)
	if o.UID != 1000 || o.GID != 100 || o.Umask != 0o027 {
		t.Errorf("fs options: %+v", o)
	}
	if mo := mf.mountOptions(nil); !mo.AllowOther || !mo.NoExec || mo.FsName != "movies" {
		t.Errorf("mount options: %+v", mo)
	}
}

// TestMountOptionsOrder: flags and options apply in the order given, so the
// last one wins; exec undoes noexec; -o may come after the positionals, as
// mount.fuse3 puts it.
func TestMountOptionsOrder(t *testing.T) {
	mf, _, pos, err := parseMountArgs("--cache-size", "1GiB", "src", "mnt", "-o", "cache_size=2GiB,noexec,exec", "--listen", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mf.cacheSize != 2<<30 || mf.fuse.NoExec || mf.listen != "127.0.0.1:0" || len(pos) != 2 {
		t.Errorf("cache %d noexec %v listen %q pos %q", mf.cacheSize, mf.fuse.NoExec, mf.listen, pos)
	}
	mf, _, _, err = parseMountArgs("-o", "cache-size=2GiB", "--cache-size", "3GiB", "src", "mnt")
	if err != nil || mf.cacheSize != 3<<30 {
		t.Errorf("flag after -o: cache %d, %v", mf.cacheSize, err)
	}
	mf, _, _, err = parseMountArgs("-o", "no-dht=false,allow-other", "src", "mnt")
	if err != nil || mf.noDHT || !mf.allowOther {
		t.Errorf("no-dht=false,allow-other: noDHT %v allowOther %v, %v", mf.noDHT, mf.allowOther, err)
	}
	for _, args := range [][]string{{"-o", "ro,nonempty"}, {"--nonempty"}} {
		mf, _, _, err = parseMountArgs(append(args, "src", "mnt")...)
		if err != nil || !mf.fuse.nonempty {
			t.Errorf("%q: nonempty %v, %v", args, mf.fuse.nonempty, err)
		}
	}
}

func TestMountOptionsErrors(t *testing.T) {
	cases := []struct{ opts, say string }{
		{"rw", "read-only"},
		{"ro,bogus", `unknown option "bogus"`},
		{"cache-size", "needs a value"},
		{"cache-size=lots", "invalid size"},
		{"uid=abc", "numeric user ID"},
		{"uid=", "numeric user ID"},
		{"uid=4294967295", "numeric user ID"},
		{"gid=-1", "numeric group ID"},
		{"umask=999", "octal"},
		{"umask=01000", "octal"},
		{"umask", "octal"},
		{"fsname=", "fsname"},
		{"allow_root", "allow_other"},
		{"setuid=bob", "not supported"},
		{"o=x", "unknown option"},
		{"help", "unknown option"},
		{`peer="127.0.0.1:1`, "unbalanced quote"},
		{"peer=nonsense", "invalid peer"},
	}
	for _, c := range cases {
		_, _, _, err := parseMountArgs("-o", c.opts, "src", "mnt")
		if err == nil || !strings.Contains(err.Error(), c.say) {
			t.Errorf("-o %s: error %v, want one saying %q", c.opts, err, c.say)
			continue
		}
		if _, ok := err.(usageError); !ok {
			t.Errorf("-o %s: %T, want a usage error (exit 2)", c.opts, err)
		}
	}
}

// TestCheckAllowOther: as a normal user without user_allow_other, the error
// says what to add where; as root there is nothing to check.
func TestCheckAllowOther(t *testing.T) {
	mf := &mountFlags{allowOther: true}
	err := mf.checkAllowOther()
	if os.Geteuid() == 0 {
		if err != nil {
			t.Errorf("as root: %v", err)
		}
		return
	}
	if ok, _ := mounthelper.FuseConfAllowsOther(mounthelper.FuseConf); !ok && (err == nil || !strings.Contains(err.Error(), "user_allow_other")) {
		t.Errorf("as a user without user_allow_other: %v", err)
	}
}

func TestHelperOptions(t *testing.T) {
	kept, warnings, err := helperOptions([]string{`rw,nosuid,nodev,allow_other,fsname="a,b"`, "dev,suid,nonempty"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := `nosuid,nodev,allow_other,fsname="a,b",dev,suid,nonempty`; kept != want {
		t.Errorf("kept %q, want %q", kept, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "read-only") {
		t.Errorf("warnings %q, want one about rw", warnings)
	}
	if _, _, err := helperOptions([]string{"ro,bogus"}, false); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown option, not sloppy: %v", err)
	}
	kept, warnings, err = helperOptions([]string{"ro,bogus,no-dht"}, true)
	if err != nil || kept != "ro,no-dht" || len(warnings) != 1 || !strings.Contains(warnings[0], "bogus") {
		t.Errorf("sloppy: %q, %q, %v", kept, warnings, err)
	}
}

// --data and --cache-dir reach the background process of --daemon, which runs
// in /, as absolute paths; other flags and the positional arguments are left.
func TestPinFolders(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// As parsed from: --peer x:1 -o data=d,ro --cache-dir=c -- src mnt
	f := tierFlags{data: "d", cacheDir: "c"}
	args := []string{"--peer", "x:1", "-o", "data=d,ro", "--cache-dir=c", "--", "src", "mnt"}
	got := f.pinFolders(args, []string{"src", "mnt"})
	want := []string{"--peer", "x:1", "-o", "data=d,ro", "--cache-dir=c",
		"--data=" + filepath.Join(wd, "d"), "--cache-dir=" + filepath.Join(wd, "c"), "--", "src", "mnt"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Nothing given: nothing added.
	var none tierFlags
	if got := none.pinFolders([]string{"--no-dht", "src", "mnt"}, []string{"src", "mnt"}); !slices.Equal(got, []string{"--no-dht", "src", "mnt"}) {
		t.Fatalf("no folders: got %q", got)
	}
}
