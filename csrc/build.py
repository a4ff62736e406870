"""cffi build script (API mode) for the ocirt C shim.

setup.py names ``csrc/build.py:ffibuilder`` in ``cffi_modules``; the
compiled module is ``ocirt._shim``.
"""
import os
import shlex
import subprocess
import tempfile

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

# The exec stub (execstub.c): static, no libc, a couple of kilobytes.
STUB_CFLAGS = ["-Os", "-static", "-nostdlib", "-ffreestanding", "-fno-builtin",
               "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fno-pie",
               "-no-pie", "-Wall", "-Wextra", "-Werror", "-s", "-Wl,--build-id=none",
               "-Wl,-z,noexecstack", "-Wl,-z,norelro", "-Wl,-z,noseparate-code",
               "-Wl,--gc-sections"]


def exec_stub_image():
    """The exec stub, compiled: its bytes, as a C initialiser."""
    cc = shlex.split(os.environ.get("CC") or "cc")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ocirt-exec")
        subprocess.run(cc + STUB_CFLAGS + ["-o", out, os.path.join(HERE, "execstub.c")],
                       check=True)
        with open(out, "rb") as f:
            data = f.read()
    rows = [", ".join(str(b) for b in data[i:i + 24]) for i in range(0, len(data), 24)]
    return ("const unsigned char ocirt_exec_stub_image[] = {\n" + ",\n".join(rows)
            + "\n};\nconst unsigned int ocirt_exec_stub_size = %d;\n" % len(data))


ffibuilder = FFI()

with open(os.path.join(HERE, "ocirt.h")) as f:
    # cffi's cdef does not take preprocessor lines.
    ffibuilder.cdef("".join(
        line for line in f if not line.lstrip().startswith("#")
    ).split("*/", 1)[1])

ffibuilder.set_source(
    "ocirt._shim",
    '#include "ocirt.h"\n' + exec_stub_image(),
    sources=[os.path.relpath(os.path.join(HERE, name))
             for name in ("ocirt.c", "fork.c", "bpf.c")],
    include_dirs=[os.path.relpath(HERE)],
    libraries=["seccomp"],
    extra_compile_args=["-O2", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
