"""What the compiled launcher (csrc/launcher.c) runs first, as __main__.

The launcher carries ocirt's modules precompiled (the builtin module
_ocirt_image); ImageFinder serves them to the import system, so a command
imports its modules without looking for them in site-packages and reading
their .pyc files. Each module still gets its real __file__, and a package
its real directory as __path__, so whatever is not in the image (the
compiled ocirt._shim, say) is found where it is installed.

The image is of the package as it was installed. If that package has been
installed again since (ocirt/__init__.py is not the file the image was made
from), the image is left alone and modules come from site-packages as with
`python -m`: slower, never out of date. `ocirt --version` says which.

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


def image_is_current(image, stat):
    """Whether site-packages still holds the ocirt the image was made from."""
    try:
        st = stat(image.site + "/ocirt/__init__.py")
    except OSError:
        return False
    return (st.st_mtime_ns, st.st_size) == tuple(image.stamp)


def place_encodings(stdlib):
    """The frozen encodings package has no directory: give it its own, where
    the codecs that are not frozen (latin_1, cp437, ...) are found."""
    enc = sys.modules.get("encodings")
    if enc is not None and not getattr(enc, "__file__", None):
        enc.__path__ = [stdlib + "/encodings"]
        enc.__file__ = stdlib + "/encodings/__init__.py"


def main():
    import _ocirt_image
    import posix
    place_encodings(_ocirt_image.stdlib)
    if image_is_current(_ocirt_image, posix.stat):
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
