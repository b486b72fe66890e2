"""How much writing freshly allocated memory costs on this host.

Allocates and writes ``--gib`` GiB ``--times`` times in one process (numpy:
``np.empty`` then ``a[:] = 1.0``), freeing it in between, and prints each
time. On most machines every round costs about the same (the kernel zeroing
pages); on a virtual machine whose host reclaims the guest's free memory the
first round can cost several times the others, and then so does the first
use of memory in every process, which weighs on any benchmark whose peak
memory is gigabytes.

    python benchmarks/fresh_memory.py --gib 1 --times 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0, help="GiB written per round")
    parser.add_argument("--times", type=int, default=3, help="rounds in this process")
    args = parser.parse_args()
    n = int(args.gib * 2**27)  # float64 values per GiB: 2**30 / 8
    for i in range(args.times):
        t0 = time.perf_counter()
        a = np.empty(n)
        a[:] = 1.0
        print(f"round {i + 1}: {args.gib:g} GiB written in {time.perf_counter() - t0:.3f} s")
        del a


if __name__ == "__main__":
    main()
