#!/usr/bin/env python3
"""Writes a deterministic mixed data set for scripts/bench-vault.

usage: bench-data.py DIR SEED GIB

Per GiB: ~400 MiB of census-like CSV in two large files, ~250 MiB of incompressible
raster-like binary, ~160 MiB of small files (1-64 KiB, about 5,000), and duplicated
content (a copy of one large CSV and of a directory of small files).
"""
import os
import random
import shutil
import sys

out, seed, gib = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rng = random.Random(seed)
os.makedirs(out, exist_ok=True)
MIB = 1 << 20


def csv_file(path, size):
    municipalities = [f"AL{c:03d}" for c in range(11, 73)]
    with open(path, "w") as f:
        f.write("person_id,household_id,municipality,sex,age,education,activity,birthplace\n")
        written, pid = 0, 0
        while written < size:
            rows = []
            for _ in range(20000):
                pid += 1
                rows.append(
                    f"{pid},{pid // 3},{rng.choice(municipalities)},{rng.randint(1, 2)},"
                    f"{rng.randint(0, 99)},{rng.randint(0, 8)},{rng.randint(1, 5)},{rng.randint(1, 3)}\n"
                )
            block = "".join(rows)
            f.write(block)
            written += len(block)


def binary_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 8 * MIB)
            f.write(rng.randbytes(n))
            left -= n


for i in range(2):
    csv_file(os.path.join(out, f"census-persons-{i}.csv"), int(200 * MIB * gib))
binary_file(os.path.join(out, "gis-raster.bin"), int(250 * MIB * gib))
small_root = os.path.join(out, "registers")
n_small = int(5000 * gib)
for i in range(n_small):
    d = os.path.join(small_root, f"m{i % 61:02d}")
    os.makedirs(d, exist_ok=True)
    size = rng.randint(1024, 64 * 1024)
    with open(os.path.join(d, f"record-{i:06d}.dat"), "wb") as f:
        if i % 2:
            f.write(rng.randbytes(size))
        else:
            f.write((f"{i},register entry,{rng.random()}\n" * (size // 32)).encode())
# Duplicated content, as offices keep copies.
shutil.copyfile(os.path.join(out, "census-persons-0.csv"), os.path.join(out, "census-persons-0-copy.csv"))
shutil.copytree(os.path.join(small_root, "m00"), os.path.join(out, "registers-backup-m00"))
