"""cffi build script (API mode) for the ocirt C shim.

setup.py names ``csrc/build.py:ffibuilder`` in ``cffi_modules``; the
compiled module is ``ocirt._shim``.
"""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

ffibuilder = FFI()

with open(os.path.join(HERE, "ocirt.h")) as f:
    # cffi's cdef does not take preprocessor lines.
    ffibuilder.cdef("".join(
        line for line in f if not line.lstrip().startswith("#")
    ).split("*/", 1)[1])

ffibuilder.set_source(
    "ocirt._shim",
    '#include "ocirt.h"',
    sources=[os.path.relpath(os.path.join(HERE, name))
             for name in ("ocirt.c", "fork.c", "bpf.c")],
    include_dirs=[os.path.relpath(HERE)],
    libraries=["seccomp"],
    extra_compile_args=["-O2", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
