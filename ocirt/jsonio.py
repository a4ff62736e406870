"""JSON through the C accelerator module _json, without importing json.

The json package imports re (and with it enum), which costs more than
several whole runc commands; create, start and the protocol only need plain
loads/dumps of documents, which _json does by itself. Invalid
documents are handed to json.loads, so errors are json's own.
"""
import _json

_WS = " \t\n\r"


class _Context:
    """The attributes _json.make_scanner reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = {}

    @staticmethod
    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": float("inf"),
                "-Infinity": float("-inf")}[name]


_scan = _json.make_scanner(_Context())


def loads(text):
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    end = len(text.rstrip(_WS))
    start = len(text) - len(text.lstrip(_WS))
    if start >= end:
        return _slow_loads(text)
    try:
        value, stop = _scan(text, start)
    except (StopIteration, SystemError):
        # _json reports most syntax errors through json.decoder, which it only
        # finds once imported: let the json package produce the message.
        return _slow_loads(text)
    finally:
        _Context.memo.clear()
    if stop != end:
        return _slow_loads(text)
    return value


def _slow_loads(text):
    import json
    return json.loads(text)


def _unserializable(o):
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


_encode = _json.make_encoder(None, _unserializable, _json.encode_basestring_ascii, None,
                             ": ", ", ", False, False, True)


def dumps(obj):
    return "".join(_encode(obj, 0))


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029", "\b": "\\u0008", "\f": "\\u000c"}


def go_string(s):
    """A string as Go's encoding/json writes it (runc's output): UTF-8 kept,
    <, >, &, U+2028 and U+2029 escaped, and \\b and \\f as \\u0008 and \\u000c
    (Go 1.19, Debian 12's runc)."""
    for c in s:
        if c in _GO_ESCAPES:
            return _go_slow(s)
    return _json.encode_basestring(s)


def _go_slow(s):
    out = ['"']
    for c in s:
        if c in _GO_ESCAPES:
            out.append(_GO_ESCAPES[c])
        else:
            out.append(_json.encode_basestring(c)[1:-1])
    out.append('"')
    return "".join(out)


_encode_go = _json.make_encoder(None, _unserializable, go_string, None, ":", ",", False,
                                False, False)


def dumps_go(obj):
    """Compact JSON in Go's encoding/json style (no spaces, UTF-8 kept),
    keys in the dicts' own order: runc's `list --format json` and `events`."""
    return "".join(_encode_go(obj, 0))
