"""Write a faster `ocirt` launcher than the console script pip generates.

pip's launcher starts the interpreter with the site module, which costs
several milliseconds on every call (and honours PYTHONPATH, which a root
process should not). This one runs the same interpreter with -I -S and puts
ocirt's own site-packages directory on sys.path itself. scripts/setup.sh
installs it over pip's; both behave the same.

    python -m ocirt.launcher /path/to/venv/bin/ocirt
"""
import os
import sys

TEMPLATE = """#!{python} -IS
# Written by ocirt.launcher: {python} without the site module (see there).
import sys
sys.path[:0] = {paths!r}
from ocirt.cli import launch
launch()
"""


def render():
    import ocirt
    site_dir = os.path.dirname(os.path.dirname(os.path.abspath(ocirt.__file__)))
    paths = [site_dir]
    import _cffi_backend
    cffi_dir = os.path.dirname(os.path.abspath(_cffi_backend.__file__))
    if cffi_dir not in paths:
        paths.append(cffi_dir)
    return TEMPLATE.format(python=os.path.abspath(sys.executable), paths=paths)


def main(argv):
    if len(argv) != 1:
        sys.stderr.write("usage: python -m ocirt.launcher DEST\n")
        return 2
    dest = argv[0]
    tmp = dest + ".tmp"
    with open(tmp, "w") as f:
        f.write(render())
    os.chmod(tmp, 0o755)
    os.rename(tmp, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
