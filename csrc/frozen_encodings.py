"""The `encodings` package of the compiled launcher (csrc/launcher.c): frozen
in by ocirt/launcher.py in place of the standard library's __init__.

CPython imports `encodings` while it starts, and looks up the codec of its
file names and stdio through it: UTF-8, always, as the launcher starts the
interpreter in UTF-8 mode. The standard package builds its table of some
350 aliases for that first lookup, on every ocirt call. This one answers
UTF-8's own spellings with the standard UTF-8 codec (encodings.utf_8, also
frozen in), and hands every other name to the standard package, which it
loads the first time one comes (ocirt's commands never ask for one; a hook
or a library might). The package's directory is the standard library's
(ocirt.boot.place_encodings), so its codec modules import as usual, and any
other attribute of the standard package (normalize_encoding, aliases,
CodecRegistryError...) is the standard package's own (__getattr__).

It imports nothing but codecs and sys, and nothing of ocirt. The standard package,
once loaded, registers its own search function too, after this one: it
then only sees the names this one already passed to it and found nothing
for, and finds nothing again.
"""
import codecs
import sys

# The names the interpreter itself asks for (config's "utf-8", its
# normalised forms): the ones the standard package maps to utf_8 without
# its alias table, nothing more.
_UTF8 = frozenset(("utf-8", "utf_8", "utf8"))

_standard = None  # the standard package's namespace, once loaded


def _load_standard():
    """Run the standard library's encodings/__init__.py as this package
    (same name, same directory), in a namespace of its own."""
    global _standard
    if _standard is None:
        init = __path__[0] + "/__init__.py"
        # an import from the filesystem, as any other: announced as one, so
        # that OCIRT_CHECK_IMPORTS (ocirt.cli.check_imports) refuses it in a
        # process whose root has become the container's
        sys.audit("import", "encodings", init, sys.path, sys.meta_path, sys.path_hooks)
        with open(init, "rb") as f:
            code = compile(f.read(), init, "exec")
        namespace = {"__name__": __name__, "__package__": __name__, "__path__": __path__,
                     "__file__": init, "__builtins__": __builtins__}
        # While it runs, what it has defined so far is all there is: its own
        # `from . import aliases` asks __getattr__ first, which must say no.
        _standard = namespace
        try:
            exec(code, namespace)
        except BaseException:
            _standard = None
            raise
    return _standard


def search_function(encoding):
    if encoding in _UTF8:
        import encodings.utf_8  # not `from encodings import`: that asks __getattr__ first
        return encodings.utf_8.getregentry()
    return _load_standard()["search_function"](encoding)


def __getattr__(name):
    if name.startswith("__"):  # the import system probing (__file__...): not the package's
        raise AttributeError(name)
    try:
        return _load_standard()[name]
    except KeyError:
        raise AttributeError(f"module 'encodings' has no attribute {name!r}") from None


codecs.register(search_function)
