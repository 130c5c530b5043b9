"""render(): one payload as GeoReport XML (spec element names) or Spark-convention JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from open311.wire.formats import CONTENT_TYPES, error_payload, render

DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'


def xml(payload, root: str) -> ET.Element:
    data = render(payload, "xml", root)
    assert data.lower().startswith(DECLARATION)
    return ET.fromstring(data)


def test_content_types_are_the_spec_ones():
    assert CONTENT_TYPES == {
        "json": "application/json; charset=utf-8",
        "xml": "text/xml; charset=utf-8",
    }


@pytest.mark.parametrize(
    ("container", "item"),
    [
        ("services", "service"),
        ("service_requests", "request"),
        ("errors", "error"),
        ("service_request_updates", "request_update"),
    ],
)
def test_root_lists_take_the_spec_item_names(container, item):
    root = xml([{"a": "1"}, {"a": "2"}], container)

    assert root.tag == container
    assert [child.tag for child in root] == [item, item]
    assert [child.findtext("a") for child in root] == ["1", "2"]


@pytest.mark.parametrize(
    ("container", "item"),
    [
        ("attributes", "attribute"),
        ("values", "value"),
        ("endpoints", "endpoint"),
        ("formats", "format"),
    ],
)
def test_nested_lists_take_the_spec_item_names(container, item):
    root = xml({"code": "X", container: ["a", "b", "c"]}, "outer")

    (wrapper,) = root.findall(container)
    assert [child.tag for child in wrapper] == [item] * 3
    assert [child.text for child in wrapper] == ["a", "b", "c"]


def test_service_definition_nests_attributes_and_values():
    payload = {
        "service_code": "POT-01",
        "attributes": [
            {
                "code": "DEPTH",
                "values": [{"key": "S", "name": "Small"}, {"key": "L", "name": "Large"}],
            }
        ],
    }

    root = xml(payload, "service_definition")

    assert root.tag == "service_definition"
    keys = [v.findtext("key") for v in root.findall("./attributes/attribute/values/value")]
    assert keys == ["S", "L"]


@pytest.mark.parametrize("root", ["services", "service_requests", "errors"])
def test_empty_list_is_an_empty_container_or_array(root):
    assert len(xml([], root)) == 0
    assert xml([], root).tag == root
    assert json.loads(render([], "json", root)) == []


def test_json_drops_the_root_and_keeps_bare_arrays():
    payload = [{"service_code": "001", "metadata": True}]

    assert json.loads(render(payload, "json", "services")) == payload


def test_json_of_a_single_object_root_is_an_object():
    payload = {"changeset": "x", "endpoints": [{"formats": ["text/xml"]}]}

    assert json.loads(render(payload, "json", "discovery")) == payload


def test_booleans():
    payload = [{"metadata": True, "required": False}]

    (item,) = xml(payload, "services")
    assert item.findtext("metadata") == "true"
    assert item.findtext("required") == "false"
    assert json.loads(render(payload, "json", "services")) == payload
    assert b"true" in render(payload, "json", "services")


def test_none_is_omitted_in_xml_and_null_in_json():
    payload = [{"service_request_id": "1", "address": None, "lat": None}]

    (item,) = xml(payload, "service_requests")
    assert [child.tag for child in item] == ["service_request_id"]
    assert json.loads(render(payload, "json", "service_requests")) == payload


def test_numbers_stay_numbers_in_json_and_ids_stay_strings():
    payload = [{"service_request_id": "0042", "lat": 40.71234, "long": -74.0, "order": 3}]

    (item,) = json.loads(render(payload, "json", "service_requests"))
    assert item == payload[0]
    (element,) = xml(payload, "service_requests")
    assert element.findtext("lat") == "40.71234"
    assert element.findtext("order") == "3"
    assert element.findtext("service_request_id") == "0042"


def test_datetimes_render_as_w3c_utc():
    moment = datetime(2024, 4, 12, 9, 14, 3, 500000, tzinfo=timezone(timedelta(hours=-4)))
    payload = [{"requested_datetime": moment}]

    (element,) = xml(payload, "service_requests")
    assert element.findtext("requested_datetime") == "2024-04-12T13:14:03Z"
    (item,) = json.loads(render(payload, "json", "service_requests"))
    assert item["requested_datetime"] == "2024-04-12T13:14:03Z"


def test_decimals_render_as_json_numbers():
    (item,) = json.loads(render([{"lat": Decimal("34.0522")}], "json", "service_requests"))

    assert item["lat"] == 34.0522


def test_json_refuses_unknown_types():
    with pytest.raises(TypeError):
        render([{"x": object()}], "json", "services")


def test_markup_is_escaped_in_xml_and_survives_the_round_trip():
    text = "<b>&amp;</b> ]]> \"quotes\" 'single' é 中 😀"

    (item,) = xml([{"description": text}], "service_requests")

    assert item.findtext("description") == text
    (back,) = json.loads(render([{"description": text}], "json", "service_requests"))
    assert back["description"] == text


def test_output_is_utf8():
    data = render([{"description": "Straße 中"}], "xml", "service_requests")

    assert "Straße 中".encode() in data
    assert "Straße 中".encode() in render([{"description": "Straße 中"}], "json", "x")


@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\ufffe", "\uffff"]
)
def test_xml_forbidden_characters_never_reach_xml_output(char):
    data = render([{"description": f"before{char}after"}], "xml", "service_requests")

    (item,) = ET.fromstring(data)
    assert item.findtext("description") == "beforeafter"


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\r\n"])
def test_xml_allowed_whitespace_survives_a_parser(char):
    (item,) = xml([{"description": f"a{char}b"}], "service_requests")

    assert item.findtext("description") == f"a{char}b"


def test_unnamed_list_repeats_its_element():
    (item,) = xml(
        [{"media_url": ["https://a.example/1.jpg", "https://a.example/2.jpg"]}], "service_requests"
    )

    assert [e.text for e in item.findall("media_url")] == [
        "https://a.example/1.jpg",
        "https://a.example/2.jpg",
    ]


def test_nothing_in_xml_carries_attributes_or_namespaces():
    payload = {
        "service_code": "X",
        "attributes": [{"code": "A", "values": [{"key": "k", "name": "n"}]}],
    }

    root = xml(payload, "service_definition")

    for element in root.iter():
        assert element.attrib == {}
        assert not element.tag.startswith("{")


def test_error_payload_is_the_spec_list():
    problems = [(400, "service_code was not provided"), (400, "lat+long required")]

    payload = error_payload(problems)

    assert payload == [
        {"code": 400, "description": "service_code was not provided"},
        {"code": 400, "description": "lat+long required"},
    ]
    root = xml(payload, "errors")
    assert [(e.findtext("code"), e.findtext("description")) for e in root] == [
        ("400", "service_code was not provided"),
        ("400", "lat+long required"),
    ]
    assert json.loads(render(payload, "json", "errors")) == payload
