import json

import pytest
from hypothesis import given, settings, strategies as st

from ocirt import jsonio

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip_matches_json(v):
    assert jsonio.dumps(v) == json.dumps(v)
    assert jsonio.loads(jsonio.dumps(v)) == json.loads(json.dumps(v))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789.eE+-tfrunal \n\\x', max_size=20))
def test_any_text_parses_like_json(text):
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            jsonio.loads(text)
        return
    assert jsonio.loads(text) == expected or expected != expected  # NaN


def test_bytes_and_whitespace():
    assert jsonio.loads(b' \n{"a": [1]}\t') == {"a": [1]}


def test_not_serializable():
    with pytest.raises(TypeError):
        jsonio.dumps({"a": object()})
