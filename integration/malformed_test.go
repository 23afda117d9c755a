package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bencode encodes strings, []byte, ints, lists ([]any) and dictionaries
// (map[string]any, keys sorted) for the test's hand-made torrents.
func bencode(v any) []byte {
	var b bytes.Buffer
	var enc func(v any)
	enc = func(v any) {
		switch v := v.(type) {
		case string:
			fmt.Fprintf(&b, "%d:%s", len(v), v)
		case []byte:
			fmt.Fprintf(&b, "%d:", len(v))
			b.Write(v)
		case int:
			fmt.Fprintf(&b, "i%de", v)
		case int64:
			fmt.Fprintf(&b, "i%de", v)
		case []any:
			b.WriteByte('l')
			for _, x := range v {
				enc(x)
			}
			b.WriteByte('e')
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteByte('d')
			for _, k := range keys {
				enc(k)
				enc(v[k])
			}
			b.WriteByte('e')
		default:
			panic(fmt.Sprintf("bencode: %T", v))
		}
	}
	enc(v)
	return b.Bytes()
}

// Well-formed starting points for the bad torrents: 20000 bytes in two 16 KiB
// pieces (single file), and 5 bytes in one piece (multi-file).
func singleInfo() map[string]any {
	return map[string]any{"name": "x.bin", "length": 20000, "piece length": 16384, "pieces": strings.Repeat("A", 40)}
}

func multiInfo(paths ...[]any) map[string]any {
	files := []any{}
	for _, p := range paths {
		files = append(files, map[string]any{"length": 5, "path": p})
	}
	return map[string]any{"name": "dir", "files": files, "piece length": 16384, "pieces": strings.Repeat("B", 20)}
}

func torrentOf(info map[string]any) []byte {
	return bencode(map[string]any{"announce": "http://127.0.0.1:9/announce", "info": info})
}

func with(info map[string]any, key string, v any) map[string]any {
	info[key] = v
	return info
}

// malformedCase is a bad .torrent, a pattern its error message must match, and
// whether sanitizing (instead of rejecting) is an acceptable answer.
type malformedCase struct {
	name     string
	data     []byte
	want     string // regexp (case-insensitive) for stderr
	sanitize bool   // unsafe names: rejecting or sanitizing both pass
}

func malformedCases() []malformedCase {
	valid := torrentOf(singleInfo())
	noInfo := bencode(map[string]any{"announce": "http://127.0.0.1:9/announce"})
	unsafe := `path|name|\.\.|travers|unsafe|invalid|escape`
	return []malformedCase{
		{"truncated", valid[:len(valid)*2/3], `: truncated after \d+ bytes \(.+; is the download complete\?\)`, false},
		{"truncated at the last byte", valid[:len(valid)-1], `: truncated after \d+ bytes \(.+; is the download complete\?\)`, false},
		{"empty file", nil, `: empty \(0 bytes; is the download complete\?\)`, false},
		{"not bencode", []byte("<!DOCTYPE html><html>"), `: not a torrent file: it begins with "<!DOCTYPE html><"`, false},
		{"not a dictionary", []byte("i42e"), `dict|expected|not a torrent|invalid|top.level`, false},
		{"no info", noInfo, `info`, false},
		{"piece length is a string", torrentOf(with(singleInfo(), "piece length", "16384")), `piece.?length`, false},
		{"piece length zero", torrentOf(with(singleInfo(), "piece length", 0)), `piece.?length`, false},
		{"length is a string", torrentOf(with(singleInfo(), "length", "20000")), `length`, false},
		{"negative length", torrentOf(with(singleInfo(), "length", -1)), `length|negative`, false},
		{"pieces not a multiple of 20", torrentOf(with(singleInfo(), "pieces", strings.Repeat("A", 39))), `pieces?`, false},
		{"piece count mismatch", torrentOf(with(singleInfo(), "pieces", strings.Repeat("A", 60))), `pieces?`, false},
		{"no files", torrentOf(with(multiInfo(), "files", []any{})), `files|empty`, false},
		{"path is a string", torrentOf(with(multiInfo(), "files", []any{map[string]any{"length": 5, "path": "a/b"}})), `path|files`, false},
		{"2000000000:x", []byte("2000000000:x"), `length|truncat|unexpected end|EOF|exceed|too (large|long|big)|string|limit`, false},
		{"100000 nested lists", bytes.Repeat([]byte("l"), 100000), `depth|nest|deep`, false},
		{"over 10 MiB", torrentOf(with(singleInfo(), "comment", strings.Repeat("c", 11<<20))), `large|size|limit|exceed|too big|MiB|bytes`, false},
		{"dot-dot path components", torrentOf(multiInfo([]any{"..", "..", "etc", "passwd"}, []any{"ok.txt"})), unsafe, true},
		{"slash inside a component", torrentOf(multiInfo([]any{"/etc", "passwd"}, []any{"ok.txt"})), unsafe, true},
		{"dot-dot name", torrentOf(with(singleInfo(), "name", "..")), unsafe, true},
		{"NUL in a name", torrentOf(multiInfo([]any{"a\x00b"}, []any{"ok.txt"})), unsafe, true},
	}
}

// memLimit bounds the address space of `hyperblow` on bad input. An idle Go
// binary reserves about 1.3 GB of address space; 2.5 GiB leaves room for normal
// work but not for the ~2 GiB that `2000000000:x` costs a naive decoder.
const memLimit = 2560 << 20

// maxRSSBad is the most resident memory a rejected torrent may cost.
const maxRSSBad = 200 << 20

// bounded wraps argv in prlimit (which execs, so the PID stays the same).
func bounded(argv ...string) []string {
	if raceBinary() { // the race detector reserves terabytes of address space
		return argv
	}
	return append([]string{"prlimit", "--as=" + strconv.Itoa(memLimit), "--"}, argv...)
}

// measured runs a bounded command under GNU time, which reports its peak
// resident memory: the rusage of a child the test starts itself counts the
// test process's own peak, because Go starts children with vfork and the
// child's memory until its exec is the test's (all 38 cases "used 489 MiB"
// in CI). peak reads what time wrote once the command has ended.
func measured(t *testing.T, argv ...string) (cmd []string, peak func() int64) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "maxrss")
	cmd = append([]string{"/usr/bin/time", "-q", "-f", "%M", "-o", out}, bounded(argv...)...)
	return cmd, func() int64 {
		b, _ := os.ReadFile(out)
		f := strings.Fields(string(b))
		var kib int64
		if len(f) > 0 {
			kib, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
		if kib <= 0 {
			t.Errorf("GNU time reported no peak memory for %v: %q", argv, b)
		}
		return kib << 10
	}
}

// checkCrashFree fails the test if output shows a Go panic or runtime fatal error,
// or if the process used too much memory.
func checkCrashFree(t *testing.T, what, stderr string, rss int64) {
	t.Helper()
	for _, bad := range []string{"panic:", "goroutine ", "fatal error:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("%s crashed (%q on stderr):\n%s", what, bad, tail(stderr, 4000))
			break
		}
	}
	if !raceBinary() && rss > maxRSSBad {
		t.Errorf("%s used %d MiB of memory, want < %d MiB", what, rss>>20, maxRSSBad>>20)
	}
}

// TestMalformedTorrents feeds bad .torrent files to `info` and `mount`: each must
// fail (exit non-zero) with a message naming the input and the problem, without a
// panic, in bounded time and memory, and mount must leave nothing mounted. Unsafe
// names may instead be sanitized, as long as nothing escapes the torrent's folder.
func TestMalformedTorrents(t *testing.T) {
	bin := buildBinary(t)
	requireTool(t, "prlimit", "fusermount3", "time")
	dir := t.TempDir()
	for i, tc := range malformedCases() {
		file := filepath.Join(dir, fmt.Sprintf("bad%02d.torrent", i))
		if err := os.WriteFile(file, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		want := regexp.MustCompile("(?i)" + tc.want)
		t.Run(tc.name, func(t *testing.T) {
			t.Run("info", func(t *testing.T) {
				cmd, peak := measured(t, bin, "info", file)
				r := run(t, 20*time.Second, procOpts{}, cmd...)
				checkCrashFree(t, "hyperblow info", r.stderr, peak())
				switch {
				case r.timeout:
					t.Fatalf("hyperblow info %s did not finish in 20 s: %v", file, r)
				case r.code == 0 && tc.sanitize:
					checkSanitizedText(t, r.stdout)
					checkSanitizedJSON(t, bin, file)
				case r.code == 0:
					t.Fatalf("hyperblow info accepted a malformed torrent: %v", r)
				default:
					checkErrorMessage(t, r.stderr, file, want)
				}
			})
			t.Run("mount", func(t *testing.T) {
				mnt := filepath.Join(t.TempDir(), "mnt")
				if err := os.Mkdir(mnt, 0o755); err != nil {
					t.Fatal(err)
				}
				// A torrent that should fail runs under GNU time, for its
				// memory; one that mounts (sanitized names) is stopped by
				// its PID, which must be hyperblow's own (time forwards no
				// signal).
				wrap, peak := bounded(), func() int64 { return 0 }
				if !tc.sanitize {
					wrap, peak = measured(t)
				}
				m := startMount(t, mountOpts{dir: mnt, noWait: true, wrap: wrap}, file)
				deadline := time.Now().Add(20 * time.Second)
				for !m.p.exited() && !isMounted(m.Dir) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				switch {
				case isMounted(m.Dir) && tc.sanitize:
					for rel := range listMount(t, m.Dir) {
						checkSafePath(t, rel)
					}
					m.Unmount(t)
				case isMounted(m.Dir):
					t.Fatalf("hyperblow mounted a malformed torrent: %s", m.p.describe())
				case !m.p.exited():
					t.Fatalf("hyperblow mount neither failed nor mounted within 20 s: %s", m.p.describe())
				default:
					m.stopped = true
					stderr := m.Stderr()
					checkCrashFree(t, "hyperblow mount", stderr, peak())
					if m.p.exitCode() == 0 {
						t.Fatalf("hyperblow mount exited 0 on a malformed torrent: %s", m.p.describe())
					}
					checkErrorMessage(t, stderr, file, want)
				}
			})
		})
	}
}

func checkErrorMessage(t *testing.T, stderr, file string, want *regexp.Regexp) {
	t.Helper()
	if !want.MatchString(stderr) {
		t.Errorf("stderr does not name the problem (want /%s/):\n%s", want, tail(stderr, 2000))
	}
	if n := strings.Count(stderr, filepath.Base(file)); n != 1 {
		t.Errorf("stderr names the input %s %d times, want once:\n%s", filepath.Base(file), n, tail(stderr, 2000))
	}
}

// checkSafePath fails for a path that is absolute or has a "..", "." or empty
// component, or a NUL.
func checkSafePath(t *testing.T, p string) {
	t.Helper()
	if strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		t.Errorf("unsafe path %q", p)
		return
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." || c == "." || c == "" {
			t.Errorf("unsafe path %q", p)
			return
		}
	}
}

var dotdotRE = regexp.MustCompile(`(^|[\s/'"])\.\.([\s/'"]|$)|(^|\s)/etc`)

// checkSanitizedText checks `info` text output for escaping paths.
func checkSanitizedText(t *testing.T, stdout string) {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if dotdotRE.MatchString(line) {
			t.Errorf("info prints an unsafe path: %q", line)
		}
	}
}

// checkSanitizedJSON checks every file path of `info --json`.
func checkSanitizedJSON(t *testing.T, bin, file string) {
	t.Helper()
	r := run(t, 20*time.Second, procOpts{}, bin, "info", "--json", file)
	if r.code != 0 {
		t.Fatalf("info accepted %s but info --json did not: %v", file, r)
	}
	var info infoJSON
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("info --json: %v\n%s", err, r.stdout)
	}
	for _, f := range info.Files {
		checkSafePath(t, f.Path)
	}
	checkSafePath(t, info.Name)
}
