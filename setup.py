# The metadata is in setup.cfg. This file names the cffi module, and adds the
# build step of the `ocirt` command: the compiled launcher (csrc/launcher.c,
# built by ocirt/launcher.py for the interpreter that runs the build and the
# site-packages it installs into), or, where it cannot be built, a script.
import importlib.util
import os
import sysconfig

from setuptools import Distribution, setup

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
        return ["csrc/launcher.c", "csrc/launcher.h", "ocirt/launcher.py"]

    def get_outputs(self):
        return [os.path.join(self.build_dir, "ocirt")]


# `scripts` names the source of the one script, the `ocirt` command, which
# BuildLauncher builds (setuptools installs the scripts only if there are some)
setup(cffi_modules=["csrc/build.py:ffibuilder"], scripts=["csrc/launcher.c"],
      cmdclass={"build_scripts": BuildLauncher})
