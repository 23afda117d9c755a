package engine

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestPieceBufAdvisedHuge: a piece buffer's memory lies in a mapping the
// kernel was told to back with huge pages (VmFlags "hg" in /proc/self/smaps),
// and it is zeroed and of the asked length, as make's.
func TestPieceBufAdvisedHuge(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("no transparent huge pages in this kernel")
	}
	for _, n := range []int{hugeMinPiece, 1 << 20, 4<<20 + 12345} {
		b := newPieceBuf(n)
		if len(b) != n {
			t.Fatalf("len %d, want %d", len(b), n)
		}
		for k := 0; k < n; k += 4096 {
			if b[k] != 0 {
				t.Fatalf("byte %d of a new piece buffer is %d", k, b[k])
			}
		}
		for _, p := range []uintptr{uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&b[n-1]))} {
			flags := vmFlags(t, p)
			if !strings.Contains(" "+flags+" ", " hg ") {
				t.Fatalf("piece buffer of %d bytes: its mapping's VmFlags %q lack hg (MADV_HUGEPAGE)", n, flags)
			}
		}
	}
	if small := newPieceBuf(16 << 10); len(small) != 16<<10 {
		t.Fatalf("len %d", len(small))
	}
}

// vmFlags returns the VmFlags line of the mapping that holds address p.
func vmFlags(t *testing.T, p uintptr) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			lo, hi, _ := strings.Cut(fields[0], "-")
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(p) >= a && uint64(p) < b
			continue
		}
		if in {
			if v, ok := strings.CutPrefix(line, "VmFlags:"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	t.Fatalf("no mapping holds %#x", p)
	return ""
}
