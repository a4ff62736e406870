"""The launcher's own `encodings` package (csrc/frozen_encodings.py): for
every codec name it finds what the standard library's package finds, and it
answers UTF-8 without loading the standard one.

It is loaded here as a package of another name, with the standard library's
encodings directory as its own (as ocirt.boot.place_encodings gives it in
the launcher), and its search functions taken out of the codec registry
again after each test."""
import codecs
import encodings
import encodings.aliases
import importlib.util
import os
import sys

import pytest
from hypothesis import given, settings, strategies as st

SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "csrc", "frozen_encodings.py")
NAME = "_ocirt_test_encodings"


@pytest.fixture(scope="module")
def frozen():
    spec = importlib.util.spec_from_file_location(
        NAME, SOURCE, submodule_search_locations=[os.path.dirname(encodings.__file__)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        codecs.unregister(module.search_function)
        if module._standard is not None:
            codecs.unregister(module._standard["search_function"])
        for name in [n for n in sys.modules if n == NAME or n.startswith(NAME + ".")]:
            del sys.modules[name]


def describe(info):
    """What a codec lookup found, comparable across two loads of the codec
    modules: its name, and what it makes of a sample text."""
    if info is None:
        return None
    try:
        sample = info.encode("ocirt \u00e9", "replace")
    except Exception as e:  # a bytes-to-bytes codec (base64, zlib...)
        sample = type(e).__name__
    return info.name, info._is_text_encoding, sample


def test_utf8_is_the_standard_codec_without_the_alias_table(frozen):
    for spelling in ("utf-8", "utf_8", "utf8"):
        info = frozen.search_function(spelling)
        assert info.encode is codecs.utf_8_encode and info.name == "utf-8"
    assert frozen._standard is None  # nothing else was loaded for it
    assert f"{NAME}.aliases" not in sys.modules


NAMES = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values()))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from(NAMES + ["UTF-8", "U8", "utf-16", "latin-1", "cp65001",
                                          "idna", "mbcs", "no-such-codec", ""]),
                 st.text(max_size=12)))
def test_every_name_finds_what_the_standard_package_finds(frozen, name):
    assert describe(frozen.search_function(name)) == describe(encodings.search_function(name))


def test_the_standard_package_attributes(frozen):
    assert frozen.normalize_encoding("Latin  1") == encodings.normalize_encoding("Latin  1")
    assert issubclass(frozen.CodecRegistryError, LookupError)
    assert frozen.aliases.aliases == encodings.aliases.aliases
    with pytest.raises(AttributeError):
        frozen.no_such_attribute
    with pytest.raises(AttributeError):
        frozen.__no_such_dunder__


def test_loading_the_standard_package_is_an_import_event():
    """What OCIRT_CHECK_IMPORTS watches: the first name the frozen package
    does not answer reads the standard package from the filesystem, and says
    so as an "import" audit event (here, in a fresh interpreter, loaded as in
    the fixture above)."""
    import subprocess
    script = f"""
import codecs, encodings, importlib.util, os, sys
seen = []
sys.addaudithook(lambda e, a: seen.append(a[1]) if e == "import" and a[0] == "encodings" else None)
spec = importlib.util.spec_from_file_location(
    {NAME!r}, {SOURCE!r}, submodule_search_locations=[os.path.dirname(encodings.__file__)])
m = importlib.util.module_from_spec(spec)
sys.modules[{NAME!r}] = m
spec.loader.exec_module(m)
m.search_function("utf-8")
assert not seen, seen
m.search_function("latin-1")
assert seen == [os.path.dirname(encodings.__file__) + "/__init__.py"], seen
"""
    p = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
