"""read_body: form-encoded, multipart and JSON bodies as (fields, attribute answers)."""

from __future__ import annotations

import json

import pytest
from flask import Flask, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from open311.api.forms import read_body
from open311.errors import InvalidInput


@pytest.fixture
def bare_app():
    """A Flask app with no database: read_body only looks at the request."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 4096
    return app


def read(app: Flask, **kwargs):
    with app.test_request_context("/", method="POST", **kwargs):
        return read_body(request)


PAIRS = [
    ("api_key", "k"),
    ("service_code", "POT-01"),
    ("attribute[A]", "1"),
    ("attribute[B][]", "x"),
    ("attribute[B][]", "y"),
    ("attribute[C]", "p"),
    ("attribute[C]", "q"),
    ("attribute[D.1-x]", "dotted"),
]
FIELDS = {"api_key": "k", "service_code": "POT-01"}
ANSWERS = {"A": ["1"], "B": ["x", "y"], "C": ["p", "q"], "D.1-x": ["dotted"]}


def test_form_encoded(bare_app):
    assert read(bare_app, data=MultiDict(PAIRS)) == (FIELDS, ANSWERS)


def test_form_encoded_with_charset(bare_app):
    body = "api_key=k&attribute%5BA%5D=%C3%A9&attribute[B][]=1&attribute[B][]=2"

    fields, answers = read(
        bare_app, data=body, content_type="application/x-www-form-urlencoded; charset=utf-8"
    )

    assert fields == {"api_key": "k"}
    assert answers == {"A": ["é"], "B": ["1", "2"]}


def test_multipart(bare_app):
    assert read(bare_app, data=MultiDict(PAIRS), content_type="multipart/form-data") == (
        FIELDS,
        ANSWERS,
    )


def test_repeated_plain_field_keeps_the_first(bare_app):
    data = MultiDict([("media_url", "https://a/1.jpg"), ("media_url", "https://a/2.jpg")])

    fields, _answers = read(bare_app, data=data)

    assert fields == {"media_url": "https://a/1.jpg"}


@pytest.mark.parametrize(
    "key",
    [
        "attribute[]",
        "attribute[A][B]",
        "attribute[A]x",
        "attribute",
        "attributes[A]",
        "attribute[A][][]",
    ],
)
def test_keys_that_are_not_attribute_answers_stay_plain(bare_app, key):
    fields, answers = read(bare_app, data={key: "v"})

    assert answers == {}
    assert fields == {key: "v"}


def test_json_attribute_object_and_form_style_keys(bare_app):
    document = {
        "api_key": "k",
        "service_code": "POT-01",
        "lat": 34.05,
        "long": -118,
        "email": None,
        "attribute": {"A": "1", "B": ["x", "y"], "N": 12},
        "attribute[C]": "p",
        "attribute[D][]": ["q", "r"],
    }

    fields, answers = read(bare_app, json=document)

    assert fields == {"api_key": "k", "service_code": "POT-01", "lat": "34.05", "long": "-118"}
    assert answers == {"A": ["1"], "B": ["x", "y"], "N": ["12"], "C": ["p"], "D": ["q", "r"]}


def test_json_with_charset_parameter(bare_app):
    fields, _answers = read(
        bare_app,
        data=json.dumps({"service_code": "X"}),
        content_type="application/json; charset=utf-8",
    )

    assert fields == {"service_code": "X"}


@pytest.mark.parametrize(
    "text",
    ["{", "not json", "[]", '["a"]', '"text"', "42", "null", ""],
    ids=["truncated", "garbage", "empty-array", "array", "string", "number", "null", "empty"],
)
def test_json_that_is_not_an_object_is_invalid_input(bare_app, text):
    with pytest.raises(InvalidInput):
        read(bare_app, data=text, content_type="application/json")


@pytest.mark.parametrize(
    "document",
    [
        {"description": {"nested": "object"}},
        {"description": True},
        {"description": ["a", "b"]},
        {"attribute": {"A": {"x": 1}}},
        {"attribute": {"A": [["x"]]}},
        {"attribute": {"A": [True]}},
        {"attribute[A]": [{"x": 1}]},
    ],
)
def test_json_values_must_be_strings_or_numbers(bare_app, document):
    with pytest.raises(InvalidInput):
        read(bare_app, json=document)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": MultiDict([("description", "a\x00b")])},
        {"data": MultiDict([("attribute[A]", "\x1b[31m")])},
        {"data": MultiDict([("bad\x01key", "v")])},
        {"json": {"description": "a\x07b"}},
        {"json": {"description": "lone \ud800 surrogate"}},
        {"json": {"attribute": {"A\x00": "v"}}},
    ],
    ids=["nul", "escape", "key", "json-bell", "json-surrogate", "json-key"],
)
def test_xml_forbidden_characters_are_refused(bare_app, kwargs):
    with pytest.raises(InvalidInput) as caught:
        read(bare_app, **kwargs)

    (problem,) = caught.value.problems
    assert "control characters" in problem
    assert not any(ch in problem for ch in "\x00\x01\x07\x1b")


@pytest.mark.parametrize("char", ["\t", "\n", "\r\n"])
def test_ordinary_whitespace_is_kept(bare_app, char):
    fields, _answers = read(bare_app, data={"description": f"a{char}b"})

    assert fields["description"] == f"a{char}b"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "text/xml", "application/octet-stream"]
)
def test_other_body_types_are_415(bare_app, content_type):
    with pytest.raises(UnsupportedMediaType):
        read(bare_app, data="api_key=k", content_type=content_type)


def test_a_body_without_a_content_type_is_415(bare_app):
    with pytest.raises(UnsupportedMediaType):
        read(bare_app, data=b"api_key=k")


def test_no_body_at_all_is_empty(bare_app):
    assert read(bare_app) == ({}, {})


@pytest.mark.parametrize("kind", ["form", "multipart", "json"])
def test_body_over_max_content_length_is_413(bare_app, kind):
    big = {"description": "z" * 5000}
    kwargs = {
        "form": {"data": big},
        "multipart": {"data": big, "content_type": "multipart/form-data"},
        "json": {"json": big},
    }[kind]

    with pytest.raises(RequestEntityTooLarge):
        read(bare_app, **kwargs)
