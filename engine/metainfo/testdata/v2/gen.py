#!/usr/bin/python3
"""Makes the BEP 52 fixtures of engine/metainfo's v2 tests with python3-libtorrent 2.0.

The content is made by content(n, seed) (byte k is (k*seed + k//7) % 251), which the Go
tests rebuild. expected.json holds what libtorrent reads from each torrent (info-hashes,
piece count) and each file's merkle root computed here with hashlib, independently of
both libtorrent and the Go code.

Run: cd engine/metainfo/testdata/v2 && /usr/bin/python3 gen.py
"""
import hashlib
import json
import os
import shutil
import tempfile

import libtorrent as lt

FILES = [  # path under the torrent folder, length, seed
    ("a.bin", 100000, 3),
    ("dir/b.bin", 2 * 16384 + 5, 5),
    ("dir/empty.txt", 0, 7),
    ("z.bin", 1, 11),
    ("zz.bin", 65537, 13),
]
PIECE = 32768


def content(n, seed):
    return bytes((k * seed + k // 7) % 251 for k in range(n))


def merkle_root(data):
    leaves = [hashlib.sha256(data[i:i + 16384]).digest() for i in range(0, len(data), 16384)]
    width = 1
    while width < len(leaves):
        width *= 2
    layer = leaves + [b"\0" * 32] * (width - len(leaves))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest() for i in range(0, len(layer), 2)]
    return layer[0].hex()


def make(root, flags, out):
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(root, "tree"))
    ct = lt.create_torrent(fs, PIECE, flags=flags)
    lt.set_piece_hashes(ct, root)
    with open(out, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    ti = lt.torrent_info(out)
    ih = ti.info_hashes()
    return {
        "v1": str(ih.v1) if ih.has_v1() else "",
        "v2": str(ih.v2) if ih.has_v2() else "",
        "num_pieces": ti.num_pieces(),
        "total_size": ti.total_size(),
    }


def main():
    root = tempfile.mkdtemp()
    try:
        for path, n, seed in FILES:
            p = os.path.join(root, "tree", path)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(content(n, seed))
        exp = {
            "piece_length": PIECE,
            "files": [{"path": p, "length": n, "seed": s, "root": merkle_root(content(n, s)) if n else ""} for p, n, s in FILES],
            "v2only": make(root, lt.create_torrent.v2_only, "v2only.torrent"),
            "hybrid": make(root, 0, "hybrid.torrent"),
        }
        with open("expected.json", "w") as f:
            json.dump(exp, f, indent=1)
            f.write("\n")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
