package metainfo

// Limits on what a torrent may describe, from LIMITS.md. They bound the memory a hostile
// torrent can make Hyperblow use and keep every offset inside int64.
const (
	// MaxTorrentSize is the largest .torrent file accepted (libtorrent and rain: ~10 MiB).
	MaxTorrentSize = 10 << 20
	// MaxInfoSize is the largest raw info dictionary accepted, the BEP 9 metadata cap.
	MaxInfoSize = 16 << 20
	// MinPieceLength and MaxPieceLength bound the piece length. BitTorrent v1 does not
	// require a power of two.
	MinPieceLength = 16 << 10
	MaxPieceLength = 64 << 20
	// MaxPieces is libtorrent's cap on the number of pieces.
	MaxPieces = 1 << 21
	// MaxTotalLength follows from the two limits above (128 TiB).
	MaxTotalLength = MaxPieces * MaxPieceLength
	// MaxFiles bounds the file list (100k files must still parse fast).
	MaxFiles = 1_000_000
	// MaxPathDepth bounds the components of one file path.
	MaxPathDepth = 64
	// MaxNameLen is the longest path component, in bytes (NAME_MAX on Linux).
	MaxNameLen = 255
	// MaxTrackers and MaxWebSeeds bound the URLs kept from a torrent; more are dropped.
	// Public tracker lists run to a few hundred.
	MaxTrackers = 1000
	MaxWebSeeds = 1000
)
