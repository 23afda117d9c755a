// Package datadir is a torrent's own files in a folder, laid out as
// hyperblow get writes them and mount --data and seed read them: the file of
// a single-file torrent, or the torrent's folder of a multi-file one. Fetch
// fills them from peers (get); Root finds them for seed and FirstMissing says
// which piece they lack. The command keeps the flags, the progress lines and
// the printing.
package datadir
