"""ocirt.config.findings never raises, on any JSON-ish document: what
`ocirt validate` reads may be anything, and each finding it prints names a
"$."-rooted JSON path and a runtime-spec section."""
from hypothesis import given, settings, strategies as st

from ocirt import config
from ocirt.defaults import spec

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 65), 1 << 65),
                     st.floats(allow_nan=False), st.text(max_size=8))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)
_keys = st.sampled_from(["ociVersion", "root", "mounts", "process", "hostname", "linux",
                         "hooks", "annotations", "domainname"])


def _check(doc):
    for f in config.findings(doc):
        assert f.path == "$" or f.path.startswith(("$.", "$[")), f
        assert f.section.startswith(("config.md", "config-linux.md")), f
        assert f.severity in ("error", "warning"), f


@settings(max_examples=300, deadline=None)
@given(_json)
def test_arbitrary_documents(doc):
    _check(doc)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_valid_config_with_one_member_replaced(data):
    """Deep in a valid config: one member (or one of process's, linux's) is
    anything at all, past the schema's top level."""
    doc = spec()
    key = data.draw(_keys)
    target = doc
    if key in ("process", "linux") and data.draw(st.booleans()):
        target = doc.setdefault(key, {})
        key = data.draw(st.sampled_from(sorted(target) or ["x"]))
    target[key] = data.draw(_json)
    _check(doc)
