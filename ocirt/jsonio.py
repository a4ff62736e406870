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
