#!/usr/bin/env python3
"""Side-by-side benchmark of two OCI runtimes with runc's CLI (default: ocirt vs runc).

Every operation is measured for both runtimes in the same run, interleaved pair by
pair (the runtime that goes first alternates from pair to pair, so neither one
always runs on a cache the other just warmed).  Each runtime has its own --root
under a temporary directory and its own container ids (prefix ``bench-``).

Sections (--only / --skip): ops, exec, memory, scale, podman, floor, rootless, trace.

Stdlib only.  matplotlib is optional (ratio chart as PNG; --setup-chart puts it in
a venv of its own under bench/).  gcc builds the floor (bench/floor.c).  Must run
as root.  See bench/README.md.  The code is in bench/ocibench/ (its __init__
says which module holds what); this file only starts it.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ocibench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
