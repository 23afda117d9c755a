// Package metainfo turns .torrent files and raw info dictionaries (BEP 3, BitTorrent v1)
// into a validated, immutable Info, and builds new torrents (Create).
//
// Everything here treats its input as hostile. Bytes are scanned by
// engine/internal/benc before anything is decoded, every count and length has a limit
// (see the Max constants), and a problem is an error that names the field, such as
// "metainfo: info.piece length: 0 is not in 16 KiB..64 MiB".
//
// Policy, briefly:
//   - The info-hash is the SHA-1 of the info dictionary's raw bytes exactly as they
//     appear in the input. Real torrents have unsorted or unknown keys; re-encoding would
//     change the hash. Duplicate keys are rejected by benc.
//   - What makes data unreadable or unsafe is an error: a missing or mistyped info field,
//     a piece count that does not match the length, a total length of 0 (nothing to
//     mount). Trackers, web seeds, comments and dates of the wrong type are dropped
//     instead, as libtorrent does, since a torrent is usable without them.
//   - Names never escape the mount: see sanitize.go for the rules applied to every path
//     component and to the torrent's name, and unique.go for how colliding paths are made
//     distinct. BEP 47 padding files stay in Files (they take part in offsets) and are
//     left out of VisibleFiles.
//   - Magnet URIs (ParseMagnet, magnet.go) are capped at MaxMagnetLen bytes and
//     MaxMagnetParams parameters; only the v1 info-hash is required, the rest are hints.
//   - Memory: parsing never decodes what it does not keep (benc.Value navigation), so it
//     allocates a bounded multiple of its input; the worst case measured and tested is
//     about 30 bytes per input byte, for thousands of unique 64-deep directories.
//     Building the directory tree costs about one map entry per path component, and a
//     100k-file torrent parses in well under 100 ms.
package metainfo
