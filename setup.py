# The metadata is in setup.cfg. This file names the cffi module, and adds the
# build step of the `ocirt` command: the compiled launcher (csrc/launcher.c,
# built by ocirt/launcher.py for the interpreter that runs the build and the
# site-packages it installs into), or, where it cannot be built, a script;
# and the built-in init of `--init` (csrc/init.c, as ocirt/ocirt-init).
import importlib.util
import os
import shlex
import subprocess
import sys
import sysconfig

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

# (setuptools has no build_scripts of its own: distutils', as it runs it)
build_scripts = Distribution().get_command_class("build_scripts")

HERE = os.path.dirname(os.path.abspath(__file__))


def _launcher_module():
    """ocirt/launcher.py, loaded from the tree (ocirt is not installed yet)."""
    spec = importlib.util.spec_from_file_location(
        "_ocirt_launcher_build", os.path.join(HERE, "ocirt", "launcher.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildLauncher(build_scripts):
    """Builds the `ocirt` command into the scripts directory of the build,
    from the package as build_py laid it out (it runs after build_py)."""

    def run(self):
        build_lib = self.get_finalized_command("build_py").build_lib
        self.mkpath(self.build_dir)
        dest = os.path.join(self.build_dir, "ocirt")
        # where pip installs the package: the build runs on the target
        # interpreter (pip's isolated build environment only adds to its path)
        site = sysconfig.get_paths()["purelib"]
        launcher = _launcher_module()
        if getattr(self.get_finalized_command("build_py"), "editable_mode", False):
            # pip install -e: the modules stay in the tree, found through a
            # .pth file, which only the site module reads
            with open(dest, "w") as f:
                f.write(launcher.WHEEL_SCRIPT.format(reason="an editable install"))
            os.chmod(dest, 0o755)
            kind = "script"
        else:
            kind = launcher.build_for_wheel(os.path.join(HERE, "csrc", "launcher.c"), dest,
                                            os.path.join(build_lib, "ocirt"), site)
        self.announce(f"ocirt: the {kind} launcher, for {site}", level=2)

    def get_source_files(self):
        return ["csrc/launcher.c", "csrc/launcher.h", "csrc/frozen_encodings.py",
                "ocirt/launcher.py"]

    def get_outputs(self):
        return [os.path.join(self.build_dir, "ocirt")]


# The built-in init: static, without libc, as the exec stub (csrc/build.py's
# STUB_CFLAGS; not imported from there: importing it builds the shim).
INIT_CFLAGS = ["-Os", "-static", "-nostdlib", "-ffreestanding", "-fno-builtin",
               "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fno-pie",
               "-no-pie", "-Wall", "-Wextra", "-Werror", "-s", "-Wl,--build-id=none",
               "-Wl,-z,noexecstack", "-Wl,-z,norelro", "-Wl,-z,noseparate-code",
               "-Wl,--gc-sections"]


class BuildPyWithInit(build_py):
    """build_py, then the built-in init (csrc/init.c) into the package as
    ocirt/ocirt-init, which `create --init` copies into a sealed memfd
    (ocirt/linux/pid1.py). Where it cannot be built, the build goes on
    without it and says why; `--init` then says it is missing."""

    def run(self):
        super().run()
        editable = getattr(self, "editable_mode", False)  # pip install -e: the tree's
        dest = os.path.join(HERE if editable else self.build_lib, "ocirt", "ocirt-init")
        if os.path.lexists(dest):  # an older build's: never install a stale init
            os.unlink(dest)
        cc = shlex.split(os.environ.get("CC") or "cc")
        try:
            subprocess.run(cc + INIT_CFLAGS + ["-o", dest, os.path.join(HERE, "csrc", "init.c")],
                           check=True, capture_output=True, text=True)
        except OSError as e:
            why = e.strerror
        except subprocess.CalledProcessError as e:
            why = (e.stderr.strip().splitlines() or [f"exit status {e.returncode}"])[-1]
        else:
            self.announce(f"ocirt: the built-in init, {dest}", level=2)
            return
        sys.stderr.write(f"ocirt: the built-in init (--init) was not built: "
                         f"{' '.join(cc)}: {why}\n")


# `scripts` names the source of the one script, the `ocirt` command, which
# BuildLauncher builds (setuptools installs the scripts only if there are some)
setup(cffi_modules=["csrc/build.py:ffibuilder"], scripts=["csrc/launcher.c"],
      cmdclass={"build_scripts": BuildLauncher, "build_py": BuildPyWithInit})
