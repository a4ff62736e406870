"""ocirt.posixos behaves as os for what the hot commands use."""
import os
import posixpath

from hypothesis import given
from hypothesis import strategies as st

from ocirt import posixos

parts = st.lists(st.sampled_from(["", "/", "a", "b", ".", "..", "a/", "/b", "c//d", "..."]),
                 min_size=1, max_size=5)


@given(parts)
def test_join(ps):
    assert posixos.path.join(*ps) == posixpath.join(*ps)


@given(st.text(alphabet="/a.", max_size=12))
def test_dirname_basename_normpath_abspath(p):
    assert posixos.path.dirname(p) == posixpath.dirname(p)
    assert posixos.path.basename(p) == posixpath.basename(p)
    assert posixos.path.normpath(p) == posixpath.normpath(p)
    if p:
        assert posixos.path.abspath(p) == posixpath.abspath(p)


def test_exists_isdir_and_fallthrough(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    assert posixos.path.isdir(str(tmp_path)) and not posixos.path.isdir(str(f))
    assert posixos.path.exists(str(f)) and not posixos.path.exists(str(tmp_path / "nope"))
    assert posixos.open is os.open and posixos.kill is os.kill
    # not from posix: the real os answers (and environ has str keys, as in os)
    assert posixos.environ is os.environ
    assert posixos.path.relpath("/a/b/c", "/a") == "b/c"
