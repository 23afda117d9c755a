package mounthelper

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// scratch is a flag set like a command's, for options that name flags.
func scratch() (*flag.FlagSet, *bool, *string, *time.Duration) {
	fs := flag.NewFlagSet("mount", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	allowOther := fs.Bool("allow-other", false, "")
	peer := fs.String("peer", "", "")
	timeout := fs.Duration("read-timeout", 0, "")
	return fs, allowOther, peer, timeout
}

func TestApplyList(t *testing.T) {
	fs, allowOther, peer, timeout := scratch()
	var fo FUSE
	for _, l := range []string{"ro,allow_other,uid=1000,gid=100,umask=027,noexec,nosuid,nodev,x-systemd.automount,comment=x",
		`peer="127.0.0.2:7001",read_timeout=5s,fsname=movies`} {
		if err := ApplyList(fs, &fo, l); err != nil {
			t.Fatal(err)
		}
	}
	if !*allowOther || *peer != "127.0.0.2:7001" || *timeout != 5*time.Second {
		t.Errorf("flags: allowOther %v peer %q readTimeout %v", *allowOther, *peer, *timeout)
	}
	want := FUSE{UID: 1000, GID: 100, HasUID: true, HasGID: true, Umask: 0o027, NoExec: true, FsName: "movies"}
	if fo != want {
		t.Errorf("FUSE %+v, want %+v", fo, want)
	}
	if err := ApplyList(fs, &fo, "exec"); err != nil || fo.NoExec {
		t.Errorf("exec after noexec: NoExec %v, %v", fo.NoExec, err)
	}
}

func TestApplyErrors(t *testing.T) {
	cases := []struct{ opts, say string }{
		{"rw", "read-only"},
		{"ro,bogus", `unknown option "bogus"`},
		{"peer", "needs a value"},
		{"read-timeout=lots", "read-timeout=lots"},
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
	}
	for _, c := range cases {
		fs, _, _, _ := scratch()
		var fo FUSE
		if err := ApplyList(fs, &fo, c.opts); err == nil || !strings.Contains(err.Error(), c.say) {
			t.Errorf("-o %s: error %v, want one saying %q", c.opts, err, c.say)
		}
	}
}

func TestSplit(t *testing.T) {
	got, err := Split(`a,b=1,c="x,y",,d`)
	if want := []string{"a", "b=1", "c=x,y", "", "d"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Split = %q, %v; want %q", got, err, want)
	}
}

func TestFsName(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.torrent"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cases := map[string]string{
		"/srv/t/movie.torrent": "/srv/t/movie.torrent",
		"x.torrent":            filepath.Join(dir, "x.torrent"), // relative: made absolute
		".":                    dir,                             // a watched folder
		"./missing.torrent":    "./missing.torrent",             // not a file: as given
		"0123456789abcdef0123456789abcdef01234567":                                       "0123456789abcdef0123456789abcdef01234567",
		"magnet:?dn=x&xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=udp://t:1": "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
		"magnet:?dn=nohash": "magnet:?dn=nohash",
	}
	for in, want := range cases {
		if got := FsName(in); got != want {
			t.Errorf("FsName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFuseConfAllowsOther(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]bool{
		"#user_allow_other\nmount_max = 1000\n": false,
		"# comment\n  user_allow_other  \n":     true,
		"":                                      false,
	}
	for content, want := range cases {
		p := filepath.Join(dir, "fuse.conf")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := FuseConfAllowsOther(p); err != nil || got != want {
			t.Errorf("fuse.conf %q: %v, %v; want %v", content, got, err, want)
		}
	}
	if got, err := FuseConfAllowsOther(filepath.Join(dir, "none")); err != nil || got {
		t.Errorf("missing fuse.conf: %v, %v; want false, nil", got, err)
	}
}

func TestHelperOptions(t *testing.T) {
	check := func(item string) error {
		if strings.HasPrefix(item, "bogus") {
			return errors.New("unknown option " + item)
		}
		return nil
	}
	kept, warnings, err := HelperOptions([]string{`rw,nosuid,nodev,allow_other,fsname="a,b"`, "dev,suid,nonempty"}, false, check)
	if err != nil {
		t.Fatal(err)
	}
	if want := `nosuid,nodev,allow_other,fsname="a,b",dev,suid,nonempty`; kept != want {
		t.Errorf("kept %q, want %q", kept, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "read-only") {
		t.Errorf("warnings %q, want one about rw", warnings)
	}
	if _, _, err := HelperOptions([]string{"ro,bogus"}, false, check); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown option, not sloppy: %v", err)
	}
	kept, warnings, err = HelperOptions([]string{"ro,bogus,no-dht"}, true, check)
	if err != nil || kept != "ro,no-dht" || len(warnings) != 1 || !strings.Contains(warnings[0], "bogus") {
		t.Errorf("sloppy: %q, %q, %v", kept, warnings, err)
	}
	if _, _, err := HelperOptions([]string{`a="b`}, false, check); err == nil {
		t.Error("unbalanced quote: no error")
	}
}
