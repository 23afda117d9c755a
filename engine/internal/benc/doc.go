// Package benc is Hyperblow's only door to bencode (BEP 3). Every decode first runs a
// bounded, non-recursive pre-scan over the whole input, because the decoder underneath
// (github.com/zeebo/bencode v1.0.0) is unsafe on untrusted bytes: the 12-byte input
// "2000000000:x" makes it allocate about 1.9 GiB, deep nesting overflows the goroutine
// stack (a fatal error, not a panic), and it silently accepts non-canonical integers,
// duplicate keys and trailing bytes.
//
// The pre-scan (Scan, ScanPrefix) enforces, before anything is allocated for the value:
//   - a total size limit, a nesting depth limit and a token limit (see Limits);
//   - every string length fits in the bytes that remain, checked while parsing the
//     length digits so that no length can overflow;
//   - canonical integers: digits only, no leading zeros, no "-0", no "+", fits int64;
//     string lengths are canonical too (no sign, no leading zeros);
//   - dictionary keys are strings and never repeat within one dictionary;
//   - nothing follows the value (ScanPrefix instead reports how many bytes it used,
//     for BEP 9 ut_metadata messages where raw piece data follows a dictionary).
//
// Key order: BEP 3 says dictionary keys are sorted, but real .torrent files and peers
// break that rule, so unsorted keys are accepted by default (Limits.SortedKeys makes
// them an error). Duplicate keys are always an error: with duplicates, two readers can
// disagree on what a torrent says. Because decoding and re-encoding would sort the keys,
// anything that hashes bencode (the info-hash) must hash the raw input bytes, which
// Value.Raw and RawValue return.
//
// Two ways to read a value:
//   - Unmarshal/UnmarshalLimits/DecodePrefix fill Go values with zeebo's rules (struct
//     tags `bencode:"name,omitempty"`, RawMessage, Unmarshaler). Decoding into `any`, or
//     skipping a dictionary key that the target struct does not name, builds Go maps and
//     slices: measured worst case about 70 bytes allocated per input byte (`de` repeated).
//   - Parse returns a Value, a validated view of the input that allocates nothing while
//     navigating, so ignored keys cost nothing. Large untrusted inputs (.torrent files,
//     tracker replies) are best read this way.
//
// Marshal encodes with zeebo (sorted keys) and checks that the result scans.
package benc
