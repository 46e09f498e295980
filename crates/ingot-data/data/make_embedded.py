"""Builds the MNIST subset embedded in ingot-data (Mnist::embedded).

Run from the repository root: python3 crates/ingot-data/data/make_embedded.py DIR
(plain Python 3, no packages), where DIR holds the full MNIST as the four
standard gzipped IDX files. Writes, beside
this script, standard gzipped IDX files: 20 000 training images drawn at
random from the 60 000 and 1 000 test images drawn at random from the
10 000 (fixed seed), so accuracy on the subset tracks accuracy on the full
test set.
"""

import gzip
import pathlib
import random
import struct
import sys

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
    if len(sys.argv) != 2:
        sys.exit("usage: make_embedded.py DIR (the full MNIST's gzipped IDX files)")
    src = pathlib.Path(sys.argv[1])
    rng = random.Random(20261126)
    for split, n in SIZES.items():
        (count, rows, cols), images = read_idx(src / f"{split}-images-idx3-ubyte.gz")
        (_,), labels = read_idx(src / f"{split}-labels-idx1-ubyte.gz")
        pick = sorted(rng.sample(range(count), n))
        size = rows * cols
        write_idx(OUT / f"{split}-images-idx3-ubyte.gz", 0x803, (n, rows, cols), b"".join(images[i * size:(i + 1) * size] for i in pick))
        write_idx(OUT / f"{split}-labels-idx1-ubyte.gz", 0x801, (n,), bytes(labels[i] for i in pick))
        print(f"{split}: {n} of {count} images")


if __name__ == "__main__":
    main()
