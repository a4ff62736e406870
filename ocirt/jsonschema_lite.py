"""A small JSON Schema validator for the schemas in schemas/.

Importing the jsonschema package costs far more than a whole runc call, so
the runtime validates config.json with this interpreter of the keyword
subset our schemas use (tests/unit/test_validate.py cross-checks it against
jsonschema on generated documents). It stops at the first violation and
names its JSON path, e.g. ``$.linux.namespaces[2].type``.
"""
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}

# The keywords Validator implements; a schema with any other is refused when
# the Validator is made (SchemaError), not silently half-checked.
SUPPORTED = frozenset({
    "$schema", "$id", "description", "title", "definitions", "$ref", "type",
    "properties", "required", "additionalProperties", "items", "enum", "const",
    "pattern", "minimum", "maximum", "minLength", "minItems", "maxItems",
    "uniqueItems", "oneOf", "anyOf", "allOf", "default", "$comment",
})


class SchemaError(ValueError):
    """A schema this validator cannot apply as written: an unknown keyword,
    a form of a keyword it does not implement, a $ref it cannot resolve."""


class Invalid(Exception):
    def __init__(self, path, msg):
        super().__init__(f"{path}: {msg}")
        self.path = path
        self.msg = msg


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _member(path, key):
    """$.a.b for plain keys, $.a['odd key\n'] (escaped, one line) for the rest."""
    if key and _PLAIN.issuperset(key):
        return f"{path}.{key}"
    return f"{path}[{ascii(key)}]"


def _text_problem(s):
    if "\0" in s:
        return "contains a NUL byte"
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as e:
            return (f"contains a lone surrogate ({ascii(s[e.start])[1:-1]}): "
                    "not valid Unicode")
    return None


def _find_bad_text(v):
    """(path pieces, message) of the first string in v with a NUL or a lone
    surrogate, or None. Paths are only built on the way out of a find."""
    if isinstance(v, str):
        problem = _text_problem(v)
        return ([], problem) if problem else None
    if isinstance(v, dict):
        for key, item in v.items():
            problem = _text_problem(key)
            if problem:
                return [key], "the name " + problem
            if isinstance(item, (str, dict, list)):
                found = _find_bad_text(item)
                if found:
                    found[0].insert(0, key)
                    return found
    elif isinstance(v, list):
        for i, item in enumerate(v):
            if isinstance(item, (str, dict, list)):
                found = _find_bad_text(item)
                if found:
                    found[0].insert(0, i)
                    return found
    return None


def check_text(doc, path="$"):
    """Raise Invalid naming the first string, value or member name, with a
    NUL or a lone surrogate in it.

    JSON spells both (\\u0000, \\ud800), and neither can go further:
    paths, argv and the environment are NUL-terminated UTF-8 for the
    kernel, and state.json is written back as UTF-8. Caught here, once, the
    error names the place in the document instead of a ValueError or a
    UnicodeEncodeError from whichever system call meets the string first.
    One pass over the document."""
    found = _find_bad_text(doc)
    if found:
        for piece in found[0]:
            path = f"{path}[{piece}]" if isinstance(piece, int) else _member(path, piece)
        raise Invalid(path, found[1])


def _kind(v):
    for name in ("boolean", "integer", "number", "string", "array", "object", "null"):
        if _TYPES[name](v):
            return name
    return type(v).__name__


def _one_line(s):
    # Python's "$" (which jsonschema uses too) also matches before a final newline.
    n = s.count("\n")
    return n == 0 or (n == 1 and s.endswith("\n"))


def _chop(s):
    return s[:-1] if s.endswith("\n") else s


_DIGITS = frozenset("0123456789")
_IDENT = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


def _semver_tail(rest):
    """'-pre.1+build' parts of a version: dot-separated non-empty [0-9A-Za-z-] words."""
    if rest.startswith("-"):
        pre, plus, build = rest[1:].partition("+")
        parts = pre.split(".") + (build.split(".") if plus else [])
    elif rest.startswith("+"):
        parts = rest[1:].split(".")
    else:
        return rest == ""
    return all(p and _IDENT.issuperset(p) for p in parts)


def oci_version_matches(s):
    """The schema's ociVersion pattern: 1.0.0 to 1.3.x, SemVer suffixes allowed."""
    s = _chop(s)
    if not s.startswith("1.") or len(s) < 5 or s[2] not in "0123" or s[3] != ".":
        return False
    i = 4
    while i < len(s) and s[i] in _DIGITS:
        i += 1
    num = s[4:i]
    if not num or (len(num) > 1 and num[0] == "0"):
        return False
    return _semver_tail(s[i:])


def _rlimit(s):
    s = _chop(s)
    return s.startswith("RLIMIT_") and len(s) > 7 and \
        frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_").issuperset(s[7:])


def _hugepage_size(s):
    s = _chop(s)
    return (len(s) >= 3 and s[-1] == "B" and s[-2] in "KMG" and s[0] in "123456789"
            and _DIGITS.issuperset(s[1:-2]))


# Patterns of schemas/ checked by plain Python: importing re costs more than a
# whole runc call. tests/unit/test_validate.py checks each against re.search.
# Any other pattern falls back to re.
FAST_PATTERNS = {
    "^/": lambda s: s.startswith("/"),
    "^(/|[A-Za-z]:[\\\\/])": lambda s: s.startswith("/") or (
        len(s) >= 3 and s[0].isascii() and s[0].isalpha() and s[1] == ":" and s[2] in "\\/"),
    "^1\\.[0-3]\\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?"
    "(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$": oci_version_matches,
    "^RLIMIT_[A-Z_]+$": _rlimit,
    "^[^\\n]*$": _one_line,
    "^MB:[^\\n]*$": lambda s: s.startswith("MB:") and _one_line(s),
    "^[1-9][0-9]*[KMG]B$": _hugepage_size,
    "^[rwm]*$": lambda s: frozenset("rwm").issuperset(_chop(s)),
}

_pattern_cache = dict(FAST_PATTERNS)


def _matcher(p):
    m = _pattern_cache.get(p)
    if m is None:
        import re
        m = _pattern_cache[p] = re.compile(p).search
    return m


def _short(v):
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


_SCHEMA_MAPS = frozenset({"properties", "definitions"})  # {name: schema}
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})     # [schema, ...]
_SCHEMAS = frozenset({"additionalProperties", "items"})     # schema (or a boolean)


def check_schema(schema, defs):
    """Raise SchemaError unless every keyword of schema (and of each schema
    in it) is one Validator implements, in a form it implements.

    create makes a Validator for config-schema.json on every call: one pass,
    and the error's place (#/definitions/Mount/properties/type) is spelled
    only for an error."""
    todo = [(schema, None)]
    while todo:
        s, at = todo.pop()
        if type(s) is not dict:
            if type(s) is bool and at is not None and at[1] == "additionalProperties":
                continue
            raise SchemaError(f"{_where(at)}: a schema must be an object")
        if not SUPPORTED.issuperset(s):
            unknown = sorted(k for k in s if k not in SUPPORTED)[0]
            raise SchemaError(f"{_where(at)}: keyword {unknown!r} is not implemented by "
                              "ocirt.jsonschema_lite")
        for key, value in s.items():
            if key in _SCHEMA_MAPS:
                for name, sub in value.items():
                    todo.append((sub, ((at, key), name)))
            elif key in _SCHEMA_LISTS:
                for i, sub in enumerate(value):
                    todo.append((sub, ((at, key), i)))
            elif key in _SCHEMAS:
                # (items: the list form, one schema per position, is not implemented)
                todo.append((value, (at, key)))
            elif key == "$ref":
                if not (type(value) is str and value.startswith("#/definitions/")
                        and value[14:] in defs):
                    raise SchemaError(f"{_where(at)}: $ref {value!r}: only "
                                      "#/definitions/<a definition> is implemented")
            elif key == "type":
                for name in value if type(value) is list else (value,):
                    if name not in _TYPES:
                        raise SchemaError(f"{_where(at)}: unknown type {name!r}")


def _where(at):
    """The JSON pointer of a place in a schema: (parent, key) pairs, None at the root."""
    keys = []
    while at is not None:
        at, key = at
        keys.append(str(key))
    return "/".join(["#"] + keys[::-1])


class Validator:
    def __init__(self, schema):
        self.defs = schema.get("definitions", {}) if isinstance(schema, dict) else {}
        check_schema(schema, self.defs)
        self.root = schema

    def validate(self, doc):
        """Raise Invalid for the first violation found."""
        self._check(self.root, doc, "$")

    def _check(self, schema, v, path):
        ref = schema.get("$ref")
        if ref is not None:
            name = ref.rsplit("/", 1)[-1]
            self._check(self.defs[name], v, path)
        t = schema.get("type")
        if t is not None:
            types = t if isinstance(t, list) else (t,)
            if not any(_TYPES[x](v) for x in types):
                raise Invalid(path, f"expected {' or '.join(types)}, got {_kind(v)}")
        if "enum" in schema and v not in schema["enum"]:
            raise Invalid(path, f"{_short(v)} is not one of {', '.join(map(str, schema['enum']))}")
        if "const" in schema and v != schema["const"]:
            raise Invalid(path, f"must be {schema['const']!r}")
        if isinstance(v, str):
            p = schema.get("pattern")
            if p is not None and not _matcher(p)(v):
                raise Invalid(path, f"{_short(v)} does not match {p}")
            if len(v) < schema.get("minLength", 0):
                raise Invalid(path, "string too short")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in schema and v < schema["minimum"]:
                raise Invalid(path, f"{v} is less than {schema['minimum']}")
            if "maximum" in schema and v > schema["maximum"]:
                raise Invalid(path, f"{v} is greater than {schema['maximum']}")
        elif isinstance(v, dict):
            for key in schema.get("required", ()):
                if key not in v:
                    raise Invalid(path, f"missing required property {key!r}")
            props = schema.get("properties")
            extra = schema.get("additionalProperties")
            for key, item in v.items():
                sub = props.get(key) if props else None
                if sub is not None:
                    self._check(sub, item, _member(path, key))
                elif isinstance(extra, dict):
                    self._check(extra, item, _member(path, key))
                elif extra is False:
                    raise Invalid(path, f"unexpected property {key!r}")
        elif isinstance(v, list):
            if len(v) < schema.get("minItems", 0):
                raise Invalid(path, f"needs at least {schema['minItems']} items")
            if "maxItems" in schema and len(v) > schema["maxItems"]:
                raise Invalid(path, f"has more than {schema['maxItems']} items")
            items = schema.get("items")
            if isinstance(items, dict):
                for i, item in enumerate(v):
                    self._check(items, item, f"{path}[{i}]")
            if schema.get("uniqueItems"):
                seen = []
                for item in v:
                    if item in seen:
                        raise Invalid(path, f"duplicate item {_short(item)}")
                    seen.append(item)
        for sub in schema.get("allOf", ()):
            self._check(sub, v, path)
        if "anyOf" in schema:
            errs = self._matches(schema["anyOf"], v, path)
            if len(errs) == len(schema["anyOf"]):
                raise _best(errs, path)
        if "oneOf" in schema:
            errs = self._matches(schema["oneOf"], v, path)
            n_ok = len(schema["oneOf"]) - len(errs)
            if n_ok == 0:
                raise _best(errs, path)
            if n_ok > 1:
                raise Invalid(path, "matches more than one of the allowed forms")

    def _matches(self, alternatives, v, path):
        errs = []
        for sub in alternatives:
            try:
                self._check(sub, v, path)
            except Invalid as e:
                errs.append(e)
        return errs


def _best(errs, path):
    # The deepest error is usually the one that explains the problem.
    deepest = max(errs, key=lambda e: len(e.path))
    if deepest.path != path:
        return deepest
    return Invalid(path, "; or ".join(dict.fromkeys(e.msg for e in errs)))
