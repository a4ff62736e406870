import os
import re
import string

import pytest
from hypothesis import example, given, strategies as st

from ocirt.errors import UsageError
from ocirt.linux.signals import parse
from ocirt.state import check_id

ID_RE = re.compile(r"[A-Za-z0-9_+.-]+\Z")


@given(st.text(min_size=0, max_size=40))
@example("0\n")
def test_check_id_accepts_exactly_the_safe_ids(s):
    ok = bool(ID_RE.match(s)) and s not in (".", "..")
    if ok:
        assert check_id(s) == s
    else:
        with pytest.raises(UsageError):
            check_id(s)


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "/abs", "a\nb", "a b", "x\0"])
def test_check_id_rejects_path_tricks(bad):
    with pytest.raises(UsageError):
        check_id(bad)


@pytest.mark.parametrize("text,num", [
    ("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("9", 9), ("TERM", 15), ("sigterm", 15),
    ("HUP", 1), ("USR1", 10), ("SIGUSR2", 12), ("WINCH", 28), ("RTMIN", 34),
    ("RTMIN+1", 35), ("SIGRTMAX-1", 63), ("RTMAX", 64), ("64", 64),
])
def test_signal_forms(text, num):
    assert parse(text) == num


@pytest.mark.parametrize("bad", ["", "0", "65", "-9", "FOO", "SIG", "SIG_DFL", "SIG_IGN",
                                 "NSIG", "RTMIN-1", "RTMAX+1", "SIGRTMIN+31", "9x", "K ILL"])
def test_bad_signals(bad):
    with pytest.raises(UsageError):
        parse(bad)


@given(st.text(alphabet=string.ascii_letters + string.digits + "+-_ ", max_size=12))
def test_signal_parse_never_crashes(s):
    try:
        n = parse(s)
    except UsageError:
        return
    assert 1 <= n <= 64


@given(st.one_of(st.text(min_size=200, max_size=1100, alphabet="ab.-_"),
                 st.text(max_size=300)))
@example("x" * 255)
@example("x" * 256)
@example("a\0b")
@example("\ud800")  # a lone surrogate
@example(os.fsdecode(b"\xff"))
def test_check_id_bounds_the_length_and_its_errors_are_one_printable_line(s):
    ok = bool(ID_RE.match(s)) and s not in (".", "..") and len(s) <= 255
    if ok:
        assert check_id(s) == s
        return
    with pytest.raises(UsageError) as exc:
        check_id(s)
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 200
    msg.encode("utf-8")  # printable: no lone surrogates in it


@pytest.mark.parametrize("cid", ["\x01" * 64, "\U0001f600" * 40, "\x7f" * 300])
def test_an_id_of_escapes_is_cut_in_its_literal(cid):
    """Each of these characters is shown as a 4 to 10 character escape: the
    message is cut in the literal, so it stays short (hypothesis found one of
    exactly 200 characters)."""
    with pytest.raises(UsageError) as exc:
        check_id(cid)
    assert len(str(exc.value)) < 200, str(exc.value)
