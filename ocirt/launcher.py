"""Build the compiled `ocirt` command: `pip install .` does it (setup.py), and

    python -I -m ocirt.launcher --source csrc/launcher.c DEST

does it again for the installed package (a launcher elsewhere, say).

The launcher is csrc/launcher.c (see there) linked with this interpreter's
static libpython, plus a generated image.c (its layout: csrc/launcher.h):
the encodings modules of this interpreter's standard library, and every
module of the ocirt package, compiled to code objects and marshalled. The
result starts several milliseconds sooner than `python -m` would, on every
call.

The image carries a stamp, a hash of every module's source (stamp()), and
the package gets the same stamp in a file (STAMP_FILE) installed with it:
ocirt/boot.py uses the image only while the installed package has that
stamp, and imports from site-packages otherwise (`ocirt --version` says
which).

Where it cannot be built (no C compiler, no static libpython, no source, a
CPython whose Python.h is another version than itself), DEST becomes a small
Python script instead, with the same behaviour and slower start; the reason
is printed.

This module imports nothing of ocirt: setup.py loads it from the source tree
before the package is installed.
"""
import hashlib
import marshal
import os
import subprocess
import sys
import sysconfig
import tempfile

STAMP_FILE = "image-stamp"  # in the package directory: the stamp of its sources

# The script launcher of `python -m ocirt.launcher`, for the interpreter that
# runs it: without the site module, with sys.path set here.
SCRIPT = """#!{python} -IS
# Written by ocirt.launcher: {python} without the site module (see there).
import gc
gc.disable()  # no ocirt command lives long enough to need it (events turns it on)
import sys
sys.path[:0] = {paths!r}
from ocirt.cli import launch
launch()
"""

# The script launcher of a wheel: pip writes the interpreter into "#!python"
# (and drops any flag), so the site module finds ocirt.
WHEEL_SCRIPT = """#!python
# Written by ocirt's setup.py: the compiled launcher could not be built
# ({reason}).
import gc
gc.disable()  # no ocirt command lives long enough to need it (events turns it on)
from ocirt.cli import launch
launch()
"""

# The modules frozen in: (name, source, is a package). The encodings package
# is ocirt's own (csrc/frozen_encodings.py, beside the launcher's source: see
# there); its UTF-8 codec is the standard library's.
ENCODINGS = (("encodings", "csrc", "frozen_encodings.py", True),
             ("encodings.utf_8", "stdlib", "encodings/utf_8.py", False))


class BuildError(Exception):
    pass


def package_dir():
    """The installed ocirt package."""
    import ocirt  # optional: setup.py loads this module before ocirt is installed
    return os.path.dirname(os.path.abspath(ocirt.__file__))


def site_dir():
    return os.path.dirname(package_dir())


def script_paths():
    """What the script launcher puts first on sys.path: site-packages (and
    _cffi_backend's directory, should it be elsewhere)."""
    paths = [site_dir()]
    import _cffi_backend  # optional: cffi's, absent until the dependencies are installed
    cffi_dir = os.path.dirname(os.path.abspath(_cffi_backend.__file__))
    if cffi_dir not in paths:
        paths.append(cffi_dir)
    return paths


def render_script():
    return SCRIPT.format(python=os.path.abspath(sys.executable), paths=script_paths())


def image_modules(top=None):
    """(module name, path relative to the package's parent, is_package) of
    every module of the package in directory top (default: the installed one)."""
    top = top or package_dir()
    parent = os.path.dirname(os.path.abspath(top))
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(filenames):
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), parent)
            parts = rel[:-3].split(os.sep)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            out.append((".".join(parts), rel, is_package))
    names = [name for name, _, _ in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # a module and a package of one name: the package wins, the module is stale
        raise BuildError(f"modules installed twice (as a module and a package): {twice}")
    return sorted(out)


def stamp(top, modules):
    """The hash of the image's sources: every module's name and bytes."""
    h = hashlib.sha256()
    for name, rel, _ in modules:
        with open(os.path.join(os.path.dirname(os.path.abspath(top)), rel), "rb") as f:
            data = f.read()
        h.update(b"%s\0%d\0" % (name.encode(), len(data)))
        h.update(data)
    return h.hexdigest()


def write_stamp(top, value):
    tmp = os.path.join(top, STAMP_FILE + ".tmp")
    with open(tmp, "w") as f:
        f.write(value + "\n")
    os.rename(tmp, os.path.join(top, STAMP_FILE))


def _c_string(s):
    out = []
    for b in s.encode():
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\?' else "\\%03o" % b)
    return '"' + "".join(out) + '"'


def _c_bytes(name, data):
    rows = [",".join(str(b) for b in data[i:i + 40]) for i in range(0, len(data), 40)]
    return f"static const unsigned char {name}[] = {{\n" + ",\n".join(rows) + "\n};\n"


def _compiled(path, filename=None):
    with open(path, "rb") as f:
        source = f.read()
    return marshal.dumps(compile(source, filename or path, "exec", dont_inherit=True))


def render_image(top, site, modules, image_stamp, csrc):
    """The C text of image.c (csrc/launcher.h declares what it defines): the
    modules of the package in directory top, as they will be installed in
    site, and the frozen modules (from the standard library and directory
    csrc, the launcher's sources)."""
    stdlib = sysconfig.get_paths()["stdlib"]
    parent = os.path.dirname(os.path.abspath(top))
    parts = ["/* Generated by ocirt.launcher for this interpreter and package. */",
             f"#define OCIRT_IMAGE_PY_VERSION {sys.hexversion:#x}UL",
             '#include "launcher.h"', ""]
    frozen = []
    for i, (name, where, rel, is_package) in enumerate(ENCODINGS):
        data = _compiled(os.path.join(csrc if where == "csrc" else stdlib, rel))
        parts.append(_c_bytes(f"F{i}", data))
        frozen.append(f"    {{{_c_string(name)}, F{i}, {len(data)}, {int(is_package)}, NULL}},")
    parts.append("const struct _frozen ocirt_frozen[] = {\n" + "\n".join(frozen)
                 + "\n    {NULL, NULL, 0, 0, NULL},\n};\n")
    entries = []
    for i, (name, rel, is_package) in enumerate(modules):
        path = os.path.join(site, rel)  # __file__: where it is installed
        data = _compiled(os.path.join(parent, rel), path)
        parts.append(_c_bytes(f"M{i}", data))
        entries.append(f"    {{{_c_string(name)}, {_c_string(path)}, {int(is_package)}, M{i}, "
                       f"{len(data)}}},")
    parts.append("const struct ocirt_module ocirt_modules[] = {\n" + "\n".join(entries)
                 + "\n};\n"
                 f"const int ocirt_module_count = {len(entries)};\n")
    dynload = sysconfig.get_config_var("DESTSHARED") or os.path.join(stdlib, "lib-dynload")
    search = [site, stdlib, dynload]
    parts.append("const char *const ocirt_search_path[] = {"
                 + ", ".join(_c_string(p) for p in search) + ", NULL};")
    for var, value in (("ocirt_executable", os.path.abspath(sys.executable)),
                       ("ocirt_prefix", sys.prefix), ("ocirt_base_prefix", sys.base_prefix),
                       ("ocirt_stdlib", stdlib), ("ocirt_site", site),
                       ("ocirt_stamp", image_stamp)):
        parts.append(f"const char {var}[] = {_c_string(value)};")
    parts.append("const unsigned long ocirt_python_version = OCIRT_IMAGE_PY_VERSION;")
    return "\n".join(parts) + "\n"


def check_python_headers():
    """The CPython gate: Python.h and the static libpython are this
    interpreter's version, or BuildError saying which is which."""
    include = sysconfig.get_config_var("INCLUDEPY") or ""
    try:
        with open(os.path.join(include, "patchlevel.h")) as f:
            text = f.read()
    except OSError as e:
        raise BuildError(f"no Python.h for this interpreter ({include}: {e.strerror})")
    major = minor = None
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "#define":
            if words[1] == "PY_MAJOR_VERSION":
                major = int(words[2])
            elif words[1] == "PY_MINOR_VERSION":
                minor = int(words[2])
    if (major, minor) != sys.version_info[:2]:
        raise BuildError(f"CPython mismatch: this interpreter is "
                         f"{sys.version_info[0]}.{sys.version_info[1]}, "
                         f"the Python.h in {include} is {major}.{minor}")
    library = sysconfig.get_config_var("LIBRARY") or ""
    want = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if want not in library:
        raise BuildError(f"CPython mismatch: this interpreter is {want}, "
                         f"its static library is {library}")


def link_flags():
    """How to link this interpreter in: its static libpython, or BuildError."""
    cfg = sysconfig.get_config_var
    static = os.path.join(cfg("LIBPL") or "", cfg("LIBRARY") or "")
    if not static.endswith(".a") or not os.path.isfile(static):
        raise BuildError(f"no static libpython ({static})")
    flags = ["-no-pie", static]
    for var in ("LINKFORSHARED", "LIBS", "MODLIBS", "SYSLIBS"):
        flags += (cfg(var) or "").split()
    return flags


def build(source, dest, top=None, site=None):
    """Compile the launcher to dest for the package in directory top, to be
    installed in site (default: the installed package, where it is); its
    stamp, or BuildError if it cannot be built."""
    if not os.path.isfile(source):
        raise BuildError(f"no launcher source at {source}")
    top = top or package_dir()
    site = site or os.path.dirname(os.path.abspath(top))
    check_python_headers()
    modules = image_modules(top)
    image_stamp = stamp(top, modules)
    cc = os.environ.get("CC", "cc")
    include = sysconfig.get_config_var("INCLUDEPY")
    with tempfile.TemporaryDirectory(prefix="ocirt-launcher-") as tmp:
        image = os.path.join(tmp, "image.c")
        with open(image, "w") as f:
            f.write(render_image(top, site, modules, image_stamp,
                                 os.path.dirname(os.path.abspath(source))))
        cmd = [cc, "-O2", "-s", f"-I{os.path.dirname(os.path.abspath(source))}",
               f"-I{include}", "-o", dest, source, image] + link_flags()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise BuildError(f"cannot run {cc}: {e.strerror}")
        if p.returncode != 0:
            raise BuildError(f"{cc} failed:\n{p.stderr.strip()}")
    # a launcher that cannot start is worse than none: try it, on its image
    # alone (the package may not be installed yet)
    p = subprocess.run([dest, "--check-image"], capture_output=True, text=True)
    if p.returncode != 0 or f"image {image_stamp}" not in p.stdout:
        raise BuildError(f"the built launcher does not work: {p.stdout.strip()} "
                         f"{p.stderr.strip()}")
    return image_stamp


def install(dest, source=None):
    """Build dest (atomically) for the installed package, whose stamp file
    it writes. Returns the kind of launcher written."""
    tmp = dest + ".tmp"
    kind = "compiled"
    try:
        if source is None:
            raise BuildError("no --source given")
        write_stamp(package_dir(), build(source, tmp))
    except BuildError as e:
        sys.stderr.write(f"ocirt.launcher: writing the script launcher instead: {e}\n")
        with open(tmp, "w") as f:
            f.write(render_script())
        kind = "script"
    os.chmod(tmp, 0o755)
    os.rename(tmp, dest)
    return kind


def build_for_wheel(source, dest, top, site):
    """setup.py's build step: the launcher (or the script launcher) at dest for
    the package being built in directory top, to be installed in site; the
    stamp file goes into top, and so into the wheel."""
    try:
        write_stamp(top, build(source, dest, top, site))
        return "compiled"
    except BuildError as e:
        sys.stderr.write(f"ocirt: writing the script launcher instead of the compiled one: "
                         f"{e}\n")
        with open(dest, "w") as f:
            f.write(WHEEL_SCRIPT.format(reason=str(e).splitlines()[0]))
        os.chmod(dest, 0o755)
        return "script"


def main(argv):
    source = None
    if len(argv) == 3 and argv[0] == "--source":
        source = argv[1]
        argv = argv[2:]
    if len(argv) != 1:
        sys.stderr.write("usage: python -m ocirt.launcher [--source launcher.c] DEST\n")
        return 2
    install(argv[0], source)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
