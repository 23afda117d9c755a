package benc

// Default limits, from LIMITS.md. DefaultMaxSize is the BEP 9 metadata cap (16 MiB),
// which is above the 10 MiB .torrent cap, so that a fetched info dictionary fits.
const (
	DefaultMaxSize   = 16 << 20
	DefaultMaxDepth  = 64
	DefaultMaxTokens = 3_000_000
)

// Limits bounds what a scan accepts. A zero or negative field selects its default, so
// Limits{} is the default and Limits{MaxSize: 2 << 20} changes only the size.
type Limits struct {
	// MaxSize is the largest input, in bytes, that is scanned at all.
	MaxSize int
	// MaxDepth is the deepest nesting of lists and dictionaries; a top-level list is
	// depth 1.
	MaxDepth int
	// MaxTokens bounds the number of values plus dictionary keys, which bounds what a
	// decoder can build from the input.
	MaxTokens int
	// SortedKeys makes dictionary keys out of byte order an error (BEP 3 canonical form).
	// Off by default because real torrents carry unsorted dictionaries.
	SortedKeys bool
}

func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = DefaultMaxTokens
	}
	return l
}
