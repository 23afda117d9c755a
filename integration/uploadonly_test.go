package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestPartialSeedLibtorrent: a mount that fetches only what is read is a BEP 21
// partial seed. A libtorrent leecher that connects to it sees it as
// upload-only, stays connected, and gets the pieces the mount holds; the mount's
// own seeder, a libtorrent seed, keeps serving it (it is not told upload_only,
// which would make a seed drop the connection).
func TestPartialSeedLibtorrent(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	seeder := seedLibtorrent(t, tor)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	m := mount(t, "--listen", listen, "--peer", seeder, tor.Path)
	file := filepath.Join(m.Dir, filepath.Base(tor.Data))
	// Read the first 4 MiB: those pieces are now held (in the cache).
	if r := run(t, 60*time.Second, procOpts{}, "dd", "if="+file, "of=/dev/null", "bs=1M", "count=4", "status=none"); r.code != 0 {
		t.Fatalf("dd: %v", r)
	}
	r := run(t, 90*time.Second, procOpts{}, python(), ltHelper(t), "probe", "--peer", listen,
		"--seconds", "30", "--want-bytes", fmt.Sprint(256<<10), tor.Path, t.TempDir())
	if r.code != 0 {
		t.Fatalf("libtorrent probe: %v", r)
	}
	var got struct {
		Connected  bool  `json:"connected"`
		UploadOnly bool  `json:"upload_only"`
		Seed       bool  `json:"seed"`
		Pieces     int   `json:"pieces"`
		Downloaded int64 `json:"downloaded"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("probe output %q: %v", r.stdout, err)
	}
	t.Logf("libtorrent sees the mount as %+v", got)
	if !got.Connected || !got.UploadOnly || got.Seed {
		t.Errorf("libtorrent sees the mount as %+v; want a connected, upload-only peer that is not a seed\nprobe: %v", got, r)
	}
	if got.Pieces < 16 || got.Downloaded < 256<<10 {
		t.Errorf("the mount offered %d pieces and served %d bytes; want the 16+ pieces it read, and at least one served", got.Pieces, got.Downloaded)
	}
	// The mount still reads from its seed: a read far from the first 4 MiB.
	if r := run(t, 60*time.Second, procOpts{}, "dd", "if="+file, "of=/dev/null", "bs=1M", "skip=40", "count=2", "status=none"); r.code != 0 {
		t.Fatalf("dd after the probe: %v\n%s", r, m.Stderr())
	}
	m.Unmount(t)
}
