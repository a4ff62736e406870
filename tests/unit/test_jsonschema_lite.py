"""ocirt.jsonschema_lite refuses a schema it cannot apply as written.

A keyword it does not implement would otherwise be skipped in silence: a
schema edited to say `maxLength` or `patternProperties` would still let
through what it means to refuse. The Validator checks the schema's keywords
when it is made; every schema ocirt ships passes that check.
"""
import copy
import filecmp
import json
import os

import pytest

from ocirt import config
from ocirt.jsonschema_lite import SUPPORTED, SchemaError, Validator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMAS = sorted(f for f in os.listdir(os.path.join(ROOT, "schemas")) if f.endswith(".json"))


def load(name, where=None):
    with open(os.path.join(where or os.path.join(ROOT, "schemas"), name)) as f:
        return json.load(f)


def test_there_are_schemas():
    assert {"config-schema.json", "state-schema.json", "features-schema.json"} <= set(SCHEMAS)


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_shipped_schema_is_accepted(name):
    Validator(load(name))


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_package_reads_the_same_schemas(name):
    """ocirt/schemas (a link to schemas/ in the tree; a copy once installed) is
    what the runtime reads: the same files as schemas/."""
    assert filecmp.cmp(os.path.join(ROOT, "schemas", name),
                       os.path.join(config.SCHEMA_DIR, name), shallow=False)
    Validator(load(name, config.SCHEMA_DIR))


def _with(edit):
    schema = load("config-schema.json")
    edit(schema)
    return schema


def _mount(schema):
    return schema["definitions"]["Mount"]


@pytest.mark.parametrize("edit,where,what", [
    (lambda s: s.update(maxProperties=3), "#:", "'maxProperties'"),
    (lambda s: _mount(s)["properties"]["destination"].update(maxLength=10),
     "#/definitions/Mount/properties/destination:", "'maxLength'"),
    (lambda s: _mount(s).update(patternProperties={"^x": {}}), "#/definitions/Mount:",
     "'patternProperties'"),
    (lambda s: s["properties"]["hostname"].update(format="hostname"),
     "#/properties/hostname:", "'format'"),
    (lambda s: s.update({"if": {}, "then": {}}), "#:", "'if'"),
    (lambda s: s["properties"]["process"].update(dependencies={"a": ["b"]}),
     "#/properties/process:", "'dependencies'"),
    (lambda s: s["properties"].update(x={"anyOf": [{"type": "string"}, {"exclusiveMinimum": 0}]}),
     "#/properties/x/anyOf/1:", "'exclusiveMinimum'"),
    (lambda s: s["properties"].update(x={"items": [{"type": "string"}]}),
     "#/properties/x/items:", "must be an object"),
    (lambda s: s["properties"].update(x={"type": "str"}), "#/properties/x:", "type 'str'"),
    (lambda s: s["properties"].update(x={"$ref": "other.json#/definitions/A"}),
     "#/properties/x:", "$ref"),
    (lambda s: s["properties"].update(x={"$ref": "#/definitions/NoSuchThing"}),
     "#/properties/x:", "$ref"),
    (lambda s: s["properties"].update(x={"additionalProperties": {"contains": {}}}),
     "#/properties/x/additionalProperties:", "'contains'"),
])
def test_an_unimplemented_keyword_is_refused(edit, where, what):
    with pytest.raises(SchemaError) as exc:
        Validator(_with(edit))
    assert str(exc.value).startswith(where + " ") and what in str(exc.value), str(exc.value)


def test_every_supported_keyword_is_accepted():
    """SUPPORTED is what the walk lets through, and no more."""
    for keyword in SUPPORTED:
        schema = {"definitions": {"A": {}}, "properties": {"x": {}}}
        value = {"$ref": "#/definitions/A", "type": "string", "definitions": {},
                 "properties": {}, "additionalProperties": False, "items": {},
                 "oneOf": [], "anyOf": [], "allOf": []}.get(keyword, 1)
        schema["properties"]["x"][keyword] = value
        Validator(copy.deepcopy(schema))
