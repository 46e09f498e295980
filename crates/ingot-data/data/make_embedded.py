"""Builds the MNIST subset embedded in ingot-data (Mnist::embedded).

Run from the repository root: python3 crates/ingot-data/data/make_embedded.py
(plain Python 3, no packages). Reads ../shared/datasets/mnist and writes, beside
this script, standard gzipped IDX files: 20 000 training images drawn at
random from the 60 000 and 1 000 test images drawn at random from the
10 000 (fixed seed), so accuracy on the subset tracks accuracy on the full
test set.
"""

import gzip
import pathlib
import random
import struct

SRC = pathlib.Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets" / "mnist"
OUT = pathlib.Path(__file__).parent
SIZES = {"train": 20_000, "t10k": 1_000}


def read_idx(path):
    data = gzip.decompress(path.read_bytes())
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def write_idx(path, magic, shape, body):
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(shape), *shape)
    path.write_bytes(gzip.compress(header + body, compresslevel=9, mtime=0))


def main():
    rng = random.Random(20261126)
    for split, n in SIZES.items():
        (count, rows, cols), images = read_idx(SRC / f"{split}-images-idx3-ubyte.gz")
        (_,), labels = read_idx(SRC / f"{split}-labels-idx1-ubyte.gz")
        pick = sorted(rng.sample(range(count), n))
        size = rows * cols
        write_idx(OUT / f"{split}-images-idx3-ubyte.gz", 0x803, (n, rows, cols), b"".join(images[i * size:(i + 1) * size] for i in pick))
        write_idx(OUT / f"{split}-labels-idx1-ubyte.gz", 0x801, (n,), bytes(labels[i] for i in pick))
        print(f"{split}: {n} of {count} images")


if __name__ == "__main__":
    main()
