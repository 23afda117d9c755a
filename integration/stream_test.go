package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Streaming: every open file reads ahead at its own pace, and a seek is answered
// first. These tests play a video and jump into it, read scattered chunks with dd,
// and copy two files at once, all through one mount each, and check every byte
// against the source.

// streamVideoSeconds is the length of the generated video and streamVideoSeek the
// second ffmpeg jumps to: the middle, far from the first and last megabytes that
// the engine fetches for every opened file.
const (
	streamVideoSeconds = 200
	streamVideoSeek    = 100
)

// videoFixture is an H.264 MP4 made once per run under workDir, with `moov` after
// `mdat` (no faststart), so a player must read the end of the file before it can
// seek, as with most recordings.
type videoFixture struct {
	Path     string // .../video/video.mp4, alone in its folder
	Size     int64
	Duration string // ffprobe's format duration of the source, e.g. "200.000000"
	MidPNG   []byte // the frame at streamVideoSeek decoded from the source
}

var streamVideoData struct {
	once sync.Once
	v    videoFixture // Path is set only once everything succeeded
}

// streamVideo returns the video, generating it on first use: 800x450, 25 fps,
// 8 Mbit/s x264 ultrafast, about 180 MB in 10-15 s on two cores.
func streamVideo(t testing.TB) videoFixture {
	t.Helper()
	requireTool(t, "ffmpeg", "ffprobe")
	streamVideoData.once.Do(func() { streamVideoData.v = makeVideo(t) })
	if streamVideoData.v.Path == "" {
		t.Fatal("generating the test video failed earlier")
	}
	return streamVideoData.v
}

func makeVideo(t testing.TB) videoFixture {
	t.Helper()
	dir := filepath.Join(workDir, "video")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "video.mp4")
	tmp := filepath.Join(workDir, "video.tmp.mp4") // outside dir: the torrent holds one file
	start := time.Now()
	mustRun(t, 3*time.Minute, "ffmpeg", "-nostdin", "-v", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=800x450:rate=25:duration=%d", streamVideoSeconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M", "-maxrate", "8M", "-bufsize", "16M",
		"-pix_fmt", "yuv420p", "-g", "50", "-y", tmp)
	took := time.Since(start)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 150e6 {
		t.Fatalf("the video is only %d bytes, want at least 150 MB", st.Size())
	}
	checkMoovAtEnd(t, path)
	probe := mustRun(t, time.Minute, "ffprobe", "-v", "error", "-show_format", "-show_streams", path)
	png := filepath.Join(workDir, "video-mid.png")
	mustRun(t, time.Minute, "ffmpeg", "-nostdin", "-v", "error", "-ss", strconv.Itoa(streamVideoSeek),
		"-i", path, "-frames:v", "1", "-y", png)
	mid, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	v := videoFixture{Path: path, Size: st.Size(), Duration: probeField(probe.stdout, "FORMAT", "duration"), MidPNG: mid}
	t.Logf("generated a %d-byte video (duration %s s) in %v", v.Size, v.Duration, took.Round(time.Millisecond))
	return v
}

// checkMoovAtEnd walks the MP4's top-level boxes and fails unless moov comes after mdat.
func checkMoovAtEnd(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for off := int64(0); off < st.Size(); {
		var h [16]byte
		if _, err := f.ReadAt(h[:], off); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		size := int64(binary.BigEndian.Uint32(h[:4]))
		if size == 1 {
			size = int64(binary.BigEndian.Uint64(h[8:]))
		}
		if size < 8 {
			t.Fatalf("%s: bad MP4 box at %d (size %d)", path, off, size)
		}
		order = append(order, string(h[4:8]))
		off += size
	}
	s := strings.Join(order, " ")
	if i, j := strings.Index(s, "mdat"), strings.Index(s, "moov"); i < 0 || j < i {
		t.Fatalf("%s: top-level boxes %q: want moov after mdat", path, s)
	}
}

// probeField is key's value in the first [SECTION] of ffprobe's default output.
func probeField(out, section, key string) string {
	_, rest, ok := strings.Cut(out, "["+section+"]\n")
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(rest, "[/"+section+"]")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

var stoppedLineRE = regexp.MustCompile(`(?m)^.*level=INFO msg=stopped downloaded=(\d+) .*$`)

// downloadedOnExit is the downloaded=N of the "stopped" line an ended mount logs.
func downloadedOnExit(t testing.TB, m *Mount) int64 {
	t.Helper()
	match := stoppedLineRE.FindStringSubmatch(m.Stderr())
	if match == nil {
		t.Fatalf("hyperblow logged no `level=INFO msg=stopped downloaded=N` line on exit:\n%s", tail(m.Stderr(), 4000))
	}
	n, err := strconv.ParseInt(match[1], 10, 64)
	if err != nil {
		t.Fatalf("bad downloaded= in %q: %v", match[0], err)
	}
	t.Logf("on exit: %s", match[0])
	return n
}

// TestStreamVideoSeek plays the part of a video player on a mount fed by one
// libtorrent seeder: ffprobe reads the container (its index, moov, is at the end
// of the file), ffmpeg jumps to the middle and decodes one frame. The frame must
// equal the one decoded from the source, and the mount must have downloaded only
// a small part of the file.
func TestStreamVideoSeek(t *testing.T) {
	buildBinary(t)
	v := streamVideo(t)
	tor := makeTorrent(t, v.Path, nil, 1<<20)
	peer := seedLibtorrent(t, tor)
	m := mount(t, "--peer", peer, tor.Path)
	file := filepath.Join(m.Dir, filepath.Base(v.Path))

	probe := run(t, time.Minute, procOpts{}, "ffprobe", "-v", "error", "-show_format", "-show_streams", file)
	if probe.code != 0 {
		t.Fatalf("ffprobe on the mount: %v\nhyperblow stderr:\n%s", probe, tail(m.Stderr(), 4000))
	}
	t.Logf("ffprobe through the mount took %v", probe.elapsed.Round(time.Millisecond))
	if got := probeField(probe.stdout, "STREAM", "codec_name"); got != "h264" {
		t.Errorf("ffprobe: codec_name %q, want h264:\n%s", got, probe.stdout)
	}
	if got := probeField(probe.stdout, "FORMAT", "duration"); got != v.Duration {
		t.Errorf("ffprobe: format duration %q, want %q (the source's)", got, v.Duration)
	}
	if d, _ := strconv.ParseFloat(v.Duration, 64); d < streamVideoSeconds-1 || d > streamVideoSeconds+1 {
		t.Errorf("the source's duration is %s s, want about %d", v.Duration, streamVideoSeconds)
	}

	png := filepath.Join(t.TempDir(), "mid.png")
	seek := run(t, time.Minute, procOpts{}, "ffmpeg", "-nostdin", "-v", "error",
		"-ss", strconv.Itoa(streamVideoSeek), "-i", file, "-frames:v", "1", "-y", png)
	if seek.code != 0 {
		t.Fatalf("ffmpeg -ss %d on the mount: %v\nhyperblow stderr:\n%s", streamVideoSeek, seek, tail(m.Stderr(), 4000))
	}
	t.Logf("ffmpeg -ss %d and one frame through the mount took %v", streamVideoSeek, seek.elapsed.Round(time.Millisecond))
	got, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("ffmpeg wrote %d bytes that are not a PNG", len(got))
	} else if !bytes.Equal(got, v.MidPNG) {
		t.Errorf("the frame at %d s decoded through the mount (%d bytes) differs from the source's (%d bytes)",
			streamVideoSeek, len(got), len(v.MidPNG))
	}

	m.Unmount(t)
	n := downloadedOnExit(t, m)
	t.Logf("downloaded %d of %d bytes (%.1f%%)", n, v.Size, 100*float64(n)/float64(v.Size))
	if n <= 0 || n > v.Size/4 {
		t.Errorf("downloaded=%d for a probe and one seek in a %d-byte file: want more than 0 and at most a quarter", n, v.Size)
	}
}

// streamFiles is a folder with two files of random bytes, made once per run: big.bin
// (256 MiB) and second.bin (96 MiB).
type streamFiles struct {
	Dir, Big, Second string
}

var streamData struct {
	once sync.Once
	d    streamFiles
}

func streamTwoFiles(t testing.TB) streamFiles {
	t.Helper()
	streamData.once.Do(func() {
		start := time.Now()
		dir := filepath.Join(workDir, "two-files")
		d := streamFiles{Dir: dir, Big: filepath.Join(dir, "big.bin"), Second: filepath.Join(dir, "second.bin")}
		writeRandomFile(t, d.Big, 256<<20, 7)
		writeRandomFile(t, d.Second, 96<<20, 8)
		t.Logf("generated 352 MiB in two files in %v", time.Since(start).Round(time.Millisecond))
		streamData.d = d
	})
	if streamData.d.Dir == "" {
		t.Fatal("generating the two files failed earlier")
	}
	return streamData.d
}

// ddChunk reads size bytes at off from path with dd in a child process; aligned
// offsets use skip in blocks, others iflag=skip_bytes.
func ddChunk(t testing.TB, path string, off, size int64) result {
	t.Helper()
	argv := []string{"dd", "if=" + path, "bs=" + strconv.FormatInt(size, 10), "count=1", "status=none"}
	if off%size == 0 {
		argv = append(argv, "skip="+strconv.FormatInt(off/size, 10), "iflag=fullblock")
	} else {
		argv = append(argv, "skip="+strconv.FormatInt(off, 10), "iflag=skip_bytes,fullblock")
	}
	return run(t, 30*time.Second, procOpts{}, argv...)
}

// checkChunk compares what dd read at off with the source file's bytes there.
func checkChunk(t testing.TB, m *Mount, src *os.File, name string, off, size int64) {
	t.Helper()
	r := ddChunk(t, filepath.Join(m.Dir, name), off, size)
	if r.code != 0 { // a hung read says enough: stop rather than wait on the rest
		t.Fatalf("dd %s at %d: %v\nhyperblow stderr:\n%s", name, off, r, tail(m.Stderr(), 4000))
	}
	want := make([]byte, size)
	n, err := src.ReadAt(want, off)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	want = want[:n]
	if got := []byte(r.stdout); !bytes.Equal(got, want) {
		t.Errorf("dd %s at %d: got %d bytes, want %d; first difference at %d", name, off, len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestRandomReadsAndConcurrentCopies reads a 256 MiB file of a two-file torrent at
// scattered offsets with dd, then copies both files at once with two cp processes,
// through a mount whose cache (128 MiB) is smaller than the data.
func TestRandomReadsAndConcurrentCopies(t *testing.T) {
	buildBinary(t)
	d := streamTwoFiles(t)
	tor := makeTorrent(t, d.Dir, nil, 256<<10)
	peer := seedLibtorrent(t, tor)
	m := mount(t, "--cache-size", "128MiB", "--peer", peer, tor.Path)

	src, err := os.Open(d.Big)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const chunk = 64 << 10
	rng := rand.New(rand.NewPCG(1, 2)) // fixed: the same offsets every run
	var offs []int64
	for range 10 {
		offs = append(offs, rng.Int64N(256<<20/chunk)*chunk)
	}
	offs = append(offs, 256<<20-chunk, 123_456_789) // the last block, and an unaligned offset
	start := time.Now()
	for _, off := range offs {
		checkChunk(t, m, src, "big.bin", off, chunk)
	}
	t.Logf("%d dd reads of 64 KiB at %v took %v", len(offs), offs, time.Since(start).Round(time.Millisecond))

	out := t.TempDir()
	start = time.Now()
	var cps []*proc
	for _, name := range []string{"big.bin", "second.bin"} {
		cps = append(cps, startProc(t, "cp "+name, procOpts{}, "cp", filepath.Join(m.Dir, name), filepath.Join(out, name)))
	}
	for _, cp := range cps {
		if !cp.waitFor(3 * time.Minute) {
			t.Fatalf("%s did not finish within 3 minutes: %s\nhyperblow stderr:\n%s", cp.name, cp.describe(), tail(m.Stderr(), 4000))
		}
		if cp.exitCode() != 0 {
			t.Fatalf("%s failed: %s\nhyperblow stderr:\n%s", cp.name, cp.describe(), tail(m.Stderr(), 4000))
		}
	}
	t.Logf("two concurrent cps of 352 MiB took %v", time.Since(start).Round(time.Millisecond))
	compareHashes(t, "two concurrent cps",
		map[string]string{"big.bin": hashFile(t, d.Big), "second.bin": hashFile(t, d.Second)},
		hashTree(t, out))

	m.Unmount(t)
	downloadedOnExit(t, m)
}

// pacedCopy copies one file to another through a single open handle, 1 MiB at a
// time with a pause between reads, like a player consuming a stream.
const pacedCopy = `import sys, time
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb", buffering=0) as f, open(dst, "wb") as o:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        o.write(b)
        o.flush()
        time.sleep(0.01)
`

// TestSeekWhileCopying: while one handle copies big.bin from the start at a steady
// pace, dd jumps far ahead in the same file; both get the right bytes, because
// every open handle keeps its own position and window.
func TestSeekWhileCopying(t *testing.T) {
	buildBinary(t)
	d := streamTwoFiles(t)
	tor := makeTorrent(t, d.Dir, nil, 256<<10)
	peer := seedLibtorrent(t, tor)
	m := mount(t, "--cache-size", "128MiB", "--peer", peer, tor.Path)

	src, err := os.Open(d.Big)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(t.TempDir(), "big.bin")
	copyStart := time.Now()
	copier := startProc(t, "paced copy", procOpts{}, python(), "-c", pacedCopy, filepath.Join(m.Dir, "big.bin"), dst)
	copied := waitCopied(t, dst, 16<<20, copier, time.Minute)

	start := time.Now()
	const chunk = 64 << 10
	for _, off := range []int64{200 << 20, 250<<20 + 4321, 128 << 20} {
		checkChunk(t, m, src, "big.bin", off, chunk)
	}
	t.Logf("3 dd reads far ahead of a copy at %d MiB took %v; the copy was still running after them: %v",
		copied>>20, time.Since(start).Round(time.Millisecond), !copier.exited())

	if !copier.waitFor(3 * time.Minute) {
		t.Fatalf("the paced copy did not finish within 3 minutes: %s\nhyperblow stderr:\n%s", copier.describe(), tail(m.Stderr(), 4000))
	}
	if copier.exitCode() != 0 {
		t.Fatalf("the paced copy failed: %s\nhyperblow stderr:\n%s", copier.describe(), tail(m.Stderr(), 4000))
	}
	t.Logf("the paced copy of 256 MiB took %v", time.Since(copyStart).Round(time.Millisecond))
	if got, want := hashFile(t, dst), hashFile(t, d.Big); got != want {
		t.Errorf("paced copy of big.bin: sha256 %s, want %s", got, want)
	}
	m.Unmount(t)
	downloadedOnExit(t, m)
}

// waitCopied waits until path holds at least n bytes and returns its size; it
// fails if writer ends first or timeout passes.
func waitCopied(t testing.TB, path string, n int64, writer *proc, timeout time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if st, err := os.Stat(path); err == nil && st.Size() >= n {
			return st.Size()
		}
		if writer.exited() {
			t.Fatalf("%s ended before writing %d bytes: %s", writer.name, n, writer.describe())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has not written %d bytes after %v: %s", writer.name, n, timeout, writer.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
