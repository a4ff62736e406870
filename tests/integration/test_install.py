"""A plain `pip install .` into a fresh virtual environment installs the
compiled launcher as the `ocirt` command (setup.py builds it), not the slower
script launcher: nothing of scripts/setup.sh is needed for the fast path.

About a minute (a venv, pip's build environment, the cffi shim, the
launcher); in tests/integration, so that CI (tests/run.sh, as root, with the
packages of scripts/debian-packages.txt) runs it.
"""
import os
import shutil
import subprocess
import sys

from tests.conftest import ROOT

# what pip needs of the tree (a copy: setuptools builds in ./build)
TREE = ("ocirt", "csrc", "schemas", "setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in",
        "README.md")


def test_pip_install_gives_the_compiled_launcher(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in TREE:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, src / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.o"))
        else:
            shutil.copy(path, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    p = subprocess.run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check",
                        str(src)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    ocirt = str(venv / "bin" / "ocirt")
    with open(ocirt, "rb") as f:
        assert f.read(4) == b"\x7fELF", "not the compiled launcher"
    p = subprocess.run([ocirt, "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "launcher: compiled, with its image of ocirt's modules" in p.stdout, p.stdout
    # runc's error for a container that does not exist, and its status
    root = tmp_path / "root"
    p = subprocess.run([ocirt, "--root", str(root), "state", "missing"], capture_output=True,
                       timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (1, b"", b"container does not exist: missing\n")
    # and the click path (click from site-packages, ocirt from the image)
    p = subprocess.run([ocirt, "state", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("Usage: ocirt state [OPTIONS] ID"), \
        p.stdout + p.stderr
