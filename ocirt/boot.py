"""What the compiled launcher (csrc/launcher.c) runs first, as __main__.

The launcher carries ocirt's modules precompiled (the builtin module
_ocirt_image); ImageFinder serves them to the import system, so a command
imports its modules without looking for them in site-packages and reading
their .pyc files. Each module still gets its real __file__, and a package
its real directory as __path__, so whatever is not in the image (the
compiled ocirt._shim, say) is found where it is installed.

The image is of the package as it was installed: it carries the stamp of
its sources (ocirt/launcher.py), and the installed package the same stamp in
a file. If that package has been installed again since by other means (its
stamp is not the image's), the image is left alone and modules come from
site-packages as with `python -m`: slower, never out of date. `ocirt
--version` says which. (An installed module edited by hand keeps its stamp:
run from the source tree with `python -m ocirt` instead, README.md.)

`ocirt --check-image` (the build's own test of a launcher it made) loads
every code object of the image and imports the CLI from it, whatever is
installed, and prints the image's stamp.

This module runs before anything of ocirt is imported: it uses builtins only.
"""
import sys

from _frozen_importlib import ModuleSpec


class ImageFinder:
    """A meta path finder and loader for the modules of an image: an object
    with find(name) -> (is_package, path) or None, and code(name) -> code."""

    def __init__(self, image):
        self.image = image

    def find_spec(self, name, path=None, target=None):
        found = self.image.find(name)
        if found is None:
            return None
        is_package, origin = found
        spec = ModuleSpec(name, self, origin=origin, is_package=is_package)
        spec.has_location = True  # __file__ is the real source file
        if is_package:
            spec.submodule_search_locations = [origin.rpartition("/")[0]]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.image.code(module.__name__), module.__dict__)


STAMP = "/ocirt/image-stamp"  # ocirt.launcher.STAMP_FILE, in site-packages


def image_is_current(image, posix):
    """Whether site-packages still holds the ocirt the image was made from:
    its stamp file says the image's stamp."""
    try:
        fd = posix.open(image.site + STAMP, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return False
    try:
        return posix.read(fd, 128).strip() == image.stamp.encode()
    except OSError:
        return False
    finally:
        posix.close(fd)


def check_image(image):
    """--check-image: every module of the image loads, codecs other than
    UTF-8 are found, the CLI imports."""
    for name in image.names():
        image.code(name)
    import codecs  # the frozen encodings package finds the codecs it does not answer
    for name in ("latin-1", "ascii", "cp437"):
        codecs.lookup(name)
    sys.meta_path.insert(0, ImageFinder(image))
    import ocirt.cli.fast  # noqa: F401
    sys.stdout.write(f"image {image.stamp}: {len(image.names())} modules\n")


def place_encodings(stdlib):
    """The frozen encodings package (the launcher's own, see
    csrc/frozen_encodings.py) has no directory: give it the standard
    library's, where the codecs that are not frozen (latin_1, cp437, ...) and
    the standard package it hands the other names to are found."""
    enc = sys.modules.get("encodings")
    if enc is not None and not getattr(enc, "__file__", None):
        enc.__path__ = [stdlib + "/encodings"]
        enc.__file__ = stdlib + "/encodings/__init__.py"


def main():
    import _ocirt_image
    import posix
    place_encodings(_ocirt_image.stdlib)
    if sys.argv[1:] == ["--check-image"]:
        check_image(_ocirt_image)
        return
    if image_is_current(_ocirt_image, posix):
        sys.meta_path.insert(0, ImageFinder(_ocirt_image))
        how = "compiled, with its image of ocirt's modules"
    else:
        how = "compiled, its image out of date: modules from site-packages"
    import ocirt
    ocirt.LAUNCHER = how
    from ocirt.cli import launch
    launch()


if __name__ == "__main__":
    main()
