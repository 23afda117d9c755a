package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// ReaderTier is an OpenTier that seeds a torrent's complete data, laid end to
// end in r (BEP 47 padding as zeros), from a read-only storage.ReaderTier:
// every piece is hashed when the tier opens, as a Layout's are, and again
// each time it is read. Data that does not match the torrent is refused,
// naming the first piece that differs. Use it with UploadOnly (an in-process
// seeder: the demo's data, the tests' seeders); a seed is just a torrent
// whose tier holds every piece.
func ReaderTier(r io.ReaderAt) func(*metainfo.Torrent, storage.Events) (storage.Tier, error) {
	return func(mt *metainfo.Torrent, ev storage.Events) (storage.Tier, error) {
		st, _, err := storage.OpenReader(context.Background(), mt.Info, r, storage.ReaderConfig{Events: ev})
		if err != nil {
			return nil, err
		}
		if i := st.FirstBad(); i >= 0 {
			return nil, fmt.Errorf("torrent %s: piece %d does not match its hash: the data is not this torrent's", mt.Info.Name, i)
		}
		return st, nil
	}
}
