// Package download fetches the pieces of a torrent that a folder lacks and
// hands each one, whole and verified, to a Sink (storage.Layout.Write, for
// `hyperblow get`). It keeps several engine Readers busy at once, each on its
// own run of missing pieces, so that every peer has work and no worker is
// left with most of it at the end.
package download

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// Workers is how many readers fetch different missing runs at once: each has
// its own readahead window, so together they keep every peer busy.
const Workers = 4

// Sink takes verified pieces, whole: storage.Layout.Write.
type Sink interface {
	Write(piece int, data []byte) error
}

// Missing fetches from t every piece of info not in have and writes it to
// sink as it comes, Workers readers at a time, counting bytes in written. The
// first error (or ctx's end) stops them all.
func Missing(ctx context.Context, t *engine.Torrent, info *metainfo.Info, have []bool, sink Sink, written *atomic.Int64) error {
	segs := missingSegments(info, have, Workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan segment, len(segs))
	for _, s := range segs {
		queue <- s
	}
	close(queue)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	block := readBlock(info.PieceLength)
	for range min(Workers, len(segs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, block)
			for s := range queue {
				if err := fetchSegment(ctx, t, info, s, buf, sink, written); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// fetchSegment reads one run of missing pieces through its own Reader,
// sequentially, so its readahead window grows, and writes it piece by piece.
// The Reader is opened on the segment itself, given as a File of the torrent
// (NewReader needs only its Offset and Length): its window never reaches past
// the segment, so with --fetch lazy the engine fetches no piece the folder
// holds, and a piece that spans files comes whole.
func fetchSegment(ctx context.Context, t *engine.Torrent, info *metainfo.Info, s segment, buf []byte, sink Sink, written *atomic.Int64) error {
	r := t.NewReader(metainfo.File{Offset: s.off, Length: s.length})
	defer r.Close()
	for off := int64(0); off < s.length; {
		n := int(min(int64(len(buf)), s.length-off))
		got, err := r.ReadAt(ctx, buf[:n], off)
		if got < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading torrent bytes %d..%d: %w", s.off+off, s.off+off+int64(n), err)
		}
		// The block is whole pieces: segments start at a piece and buf holds
		// whole pieces (readBlock); only the torrent's last piece is short.
		for b := buf[:n]; len(b) > 0; {
			i := int((s.off + off + int64(n-len(b))) / info.PieceLength)
			pl := info.PieceLen(i)
			if err := sink.Write(i, b[:pl]); err != nil {
				return err
			}
			b = b[pl:]
		}
		written.Add(int64(n))
		off += int64(n)
	}
	return nil
}

// readBlock is how much one ReadAt asks for: whole pieces, about 4 MiB, or
// one piece when pieces are larger (the Sink takes whole pieces).
func readBlock(pieceLength int64) int {
	const target = 4 << 20
	return int(max(1, target/pieceLength) * pieceLength)
}

// segment is a run of missing pieces, as torrent bytes [off, off+length).
type segment struct{ off, length int64 }

// missingSegments groups the pieces not held into runs, split so that workers
// readers have several each to share (between 16 MiB and 256 MiB, in whole
// pieces): long enough for a reader's readahead to grow, short enough that no
// worker is left with most of the work at the end.
func missingSegments(info *metainfo.Info, have []bool, workers int) []segment {
	var missing int64
	for i, ok := range have {
		if !ok {
			missing += info.PieceLen(i)
		}
	}
	size := min(max(missing/int64(2*workers), 16<<20), 256<<20)
	per := max(1, size/info.PieceLength) // pieces per segment
	var segs []segment
	for i := 0; i < len(have); {
		if have[i] {
			i++
			continue
		}
		j := i
		for j < len(have) && !have[j] && int64(j-i) < per {
			j++
		}
		off := info.PieceOffset(i)
		end := info.PieceOffset(j-1) + info.PieceLen(j-1)
		segs = append(segs, segment{off, end - off})
		i = j
	}
	return segs
}
