"""Run every benchmark (``make bench``): engine vs loop, activation cost, whole-course time.

    .venv/bin/python benchmarks/run_all.py            # default sizes
    .venv/bin/python benchmarks/run_all.py --quick    # about a minute: a sanity run
    .venv/bin/python benchmarks/run_all.py --full     # largest sizes; notebooks in full mode
    .venv/bin/python benchmarks/run_all.py --only engine activations

Not part of the test suite (pytest does not collect benchmarks/). See benchmarks/README.md.
"""

from __future__ import annotations

import sys
import time

import bench_activations
import bench_course
import bench_engine
from common import parser

BENCHMARKS = {"engine": bench_engine, "activations": bench_activations, "course": bench_course}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    args = p.parse_args()
    shared = [f for f, on in (("--quick", args.quick), ("--full", args.full)) if on]
    if args.device:
        shared += ["--device", args.device]
    start = time.perf_counter()
    for name in args.only:
        BENCHMARKS[name].main(shared)
        print()
        sys.stdout.flush()
    print(f"all benchmarks done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
