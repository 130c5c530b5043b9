"""Every XML document we serve is well-formed UTF-8 in the spec's element-only shape.

No XSD for GeoReport v2 exists (the spec calls its XML schemaless), so the structure is checked
here: declaration, root and item names, no attributes or namespaces, boolean and datetime text,
empty optional elements left out (digest §11), escaping of hostile text, refusal of characters
XML 1.0 cannot carry, and our element names against the examples printed in the spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.dom import minidom
from xml.etree import ElementTree

import pytest
from flask import Response as FlaskResponse

from open311.values import Status
from tests.api.helpers import (
    BASE,
    CONTAINERS,
    FORMATS,
    NASTY_TEXT,
    SPEC_EXAMPLES,
    W3C_DATETIME,
    Seeded,
    body,
    child_names,
    parse_xml,
    seed,
)
from tests.factories import make_attribute, make_request, make_service

DECLARATION = re.compile(rb'^<\?xml version="1\.0" encoding="(?i:utf-8)"\?>')
BOOLEANS = {"metadata", "variable", "required"}
DATETIMES = {"requested_datetime", "updated_datetime", "expected_datetime", "changeset"}
# Every character XML 1.0 forbids, by kind: C0 controls (NUL included) and the two non-characters.
FORBIDDEN = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ufffe", "\uffff"]
FORBIDDEN_IDS = [f"U+{ord(c):04X}" for c in FORBIDDEN]


@pytest.fixture
def seeded(db) -> Seeded:
    return seed(db)


def check_document(response, root: str) -> ElementTree.Element:
    """The rules every XML answer follows; returns the parsed root for further checks."""
    assert response.content_type == "text/xml; charset=utf-8"
    body = response.get_data()
    body.decode("utf-8")  # strict: raises on anything that is not UTF-8
    assert DECLARATION.match(body), body[:60]
    assert b"xmlns" not in body
    minidom.parseString(body)  # a second, independent parser
    document = parse_xml(body)
    assert document.tag == root
    for element in document.iter():
        assert element.attrib == {}, f"<{element.tag}> carries XML attributes"
        assert not element.tag.startswith("{"), f"<{element.tag}> is in a namespace"
        children = list(element)
        if element.tag in CONTAINERS:
            assert {child.tag for child in children} <= {CONTAINERS[element.tag]}, element.tag
            assert not (element.text or "").strip()
        elif not children:
            # Empty optional elements are left out, not sent empty (§11).
            assert element.text, f"<{element.tag}> is empty"
        if element.tag in BOOLEANS:
            assert element.text in ("true", "false"), (element.tag, element.text)
        if element.tag in DATETIMES:
            assert W3C_DATETIME.match(element.text), (element.tag, element.text)
    return document


@dataclass
class Resource:
    name: str
    method: str
    path: str
    root: str
    status: int = 200

    def call(self, client, seeded: Seeded, **form):
        path = self.path.format(
            id=seeded.full.service_request_id, sparse=seeded.sparse.service_request_id
        )
        if self.method == "POST":
            data = {"api_key": seeded.api_key} | form
            return client.post(f"{BASE}/{path}", data=data)
        return client.open(f"{BASE}/{path}", method=self.method)


RESOURCES = [
    Resource("discovery", "GET", "discovery.xml", "discovery"),
    Resource("services", "GET", "services.xml", "services"),
    Resource("definition", "GET", "services/POT-01.xml", "service_definition"),
    Resource("empty-definition", "GET", "services/3.1.xml", "service_definition"),
    Resource("requests", "GET", "requests.xml", "service_requests"),
    Resource("no-requests", "GET", "requests.xml?service_code=NONE", "service_requests"),
    Resource("request", "GET", "requests/{id}.xml", "service_requests"),
    Resource("sparse-request", "GET", "requests/{sparse}.xml", "service_requests"),
    Resource("token", "GET", "tokens/tk-7f3a9.xml", "service_requests"),
    Resource("post", "POST", "requests.xml", "service_requests"),
    Resource("unknown-service", "GET", "services/NOPE.xml", "errors", 404),
    Resource("unknown-resource", "GET", "nothing-here.xml", "errors", 404),
    Resource("bad-status", "GET", "requests.xml?status=AAA", "errors", 400),
    Resource(
        "wide-window",
        "GET",
        "requests.xml?start_date=2024-01-01T00:00:00Z&end_date=2024-12-31T00:00:00Z",
        "errors",
        400,
    ),
    Resource("method", "PUT", "services.xml", "errors", 405),
]


@pytest.mark.parametrize("resource", RESOURCES, ids=[r.name for r in RESOURCES])
def test_document_rules(client, seeded, resource):
    response = resource.call(
        client,
        seeded,
        service_code="POT-01",
        lat="34.05",
        long="-118.25",
        **{"attribute[DEPTH]": "S"},
    )
    if resource.method == "POST":  # any 2xx (§11)
        assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    else:
        assert response.status_code == resource.status, response.get_data(as_text=True)
    document = check_document(response, resource.root)
    if resource.root in CONTAINERS and resource.name != "no-requests":
        assert len(document) >= 1


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ((SPEC_EXAMPLES / "service-request.xml").read_bytes(), "is empty"),
        (b'<?xml version="1.0" encoding="utf-8"?><services><service a="1"/></services>', "attr"),
        (b'<?xml version="1.0" encoding="utf-8"?><services xmlns="urn:x"/>', "xmlns"),
        (b"<services><service><type>batch</type></service></services>", "b'<services>"),
        (b'<?xml version="1.0" encoding="utf-8"?><services><request/></services>', "services"),
        (
            b'<?xml version="1.0" encoding="utf-8"?><services><service><metadata>1'
            b"</metadata></service></services>",
            "metadata",
        ),
    ],
    ids=["empty-element", "attribute", "namespace", "no-declaration", "item-name", "boolean"],
)
def test_document_rules_can_fail(body, complaint):
    """The checker is live: the spec's own example (empty elements) and broken shapes fail it."""
    root = parse_xml(body).tag if b"xmlns" not in body else "services"
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        check_document(FlaskResponse(body, content_type="text/xml; charset=utf-8"), root)


def test_unsupported_method_names_allowed_ones(client, seeded):
    response = client.put(f"{BASE}/services.xml")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_post_without_key_is_a_403_error_list(client, seeded):
    response = client.post(
        f"{BASE}/requests.xml", data={"service_code": "GRF", "lat": "1", "long": "2"}
    )
    assert response.status_code == 403
    document = check_document(response, "errors")
    assert [child_names(error) for error in document] == [{"code", "description"}]
    assert document.find("error/code").text == "403"


def test_booleans_and_datetimes_carry_real_values(client, seeded):
    definition = check_document(client.get(f"{BASE}/services/POT-01.xml"), "service_definition")
    required = {a.find("code").text: a.find("required").text for a in definition.iter("attribute")}
    assert required["DEPTH"] == "true" and required["SIDES"] == "false"
    assert {a.find("variable").text for a in definition.iter("attribute")} == {"true", "false"}
    services = check_document(client.get(f"{BASE}/services.xml"), "services")
    assert {s.find("metadata").text for s in services} == {"true", "false"}
    requests = check_document(client.get(f"{BASE}/requests.xml"), "service_requests")
    stamps = [r.find("requested_datetime").text for r in requests]
    assert stamps and all(stamp.endswith("Z") for stamp in stamps)


def test_empty_optional_elements_are_left_out(client, seeded):
    path = f"{BASE}/requests/{seeded.sparse.service_request_id}.xml"
    (request,) = check_document(client.get(path), "service_requests")
    absent = {"description", "lat", "long", "expected_datetime", "media_url", "zipcode"}
    assert not absent & child_names(request)
    services = check_document(client.get(f"{BASE}/services.xml"), "services")
    (tip,) = [s for s in services if s.find("service_code").text == "TIP"]
    assert child_names(tip) == {"service_code", "service_name", "metadata", "type"}


# --- hostile text --------------------------------------------------------------------------------


def test_stored_metacharacters_round_trip(client, seeded):
    path = f"{BASE}/requests/{seeded.nasty.service_request_id}.xml"
    (request,) = check_document(client.get(path), "service_requests")
    for field in ("description", "status_notes", "address"):
        assert request.find(field).text == NASTY_TEXT
    assert request.find("address_id").text == "Ñ-1"


@pytest.mark.parametrize("fmt", FORMATS)
def test_posted_metacharacters_round_trip(client, db, seeded, fmt):
    form = {
        "api_key": seeded.api_key,
        "service_code": "POT-01",
        "address_string": NASTY_TEXT,
        "description": NASTY_TEXT + "\nsecond line\twith a tab",
        "account_id": NASTY_TEXT,
        "attribute[DEPTH]": "S",
        "attribute[LANDMARK]": NASTY_TEXT,
    }
    posted = client.post(f"{BASE}/requests.{fmt}", data=form)
    assert posted.status_code in (200, 201), posted.get_data(as_text=True)
    if fmt == "xml":
        (answer,) = check_document(posted, "service_requests")
        assert answer.find("account_id").text == NASTY_TEXT
        service_request_id = answer.find("service_request_id").text
    else:
        (answer,) = posted.get_json()
        assert answer["account_id"] == NASTY_TEXT
        service_request_id = answer["service_request_id"]
    (request,) = check_document(
        client.get(f"{BASE}/requests/{service_request_id}.xml"), "service_requests"
    )
    assert request.find("description").text == form["description"]
    assert request.find("address").text == NASTY_TEXT
    (item,) = client.get(f"{BASE}/requests/{service_request_id}.json").get_json()
    assert item["description"] == form["description"]
    # The SQL in the text was data, not a statement: the table is still there and counts it.
    assert client.get(f"{BASE}/requests.xml").status_code == 200


def test_metacharacters_in_names_and_query_round_trip(client, db, seeded):
    make_service(db, seeded.realtime.jurisdiction, "M&M", service_name=NASTY_TEXT, group="<g>")
    services = check_document(client.get(f"{BASE}/services.xml"), "services")
    (service,) = [s for s in services if s.find("service_code").text == "M&M"]
    assert service.find("service_name").text == NASTY_TEXT
    assert service.find("group").text == "<g>"
    definition = check_document(client.get(f"{BASE}/services/M%26M.xml"), "service_definition")
    assert definition.find("service_code").text == "M&M"
    # Hostile values in the query and the path come back escaped inside well-formed documents.
    listed = client.get(f"{BASE}/requests.xml", query_string={"service_code": NASTY_TEXT})
    assert len(check_document(listed, "service_requests")) == 0
    missing = client.get(f"{BASE}/services/%3Cx%3E%26%27%22%5D%5D%3E.xml")
    assert missing.status_code == 404
    errors = check_document(missing, "errors")
    assert "<x>&'\"]]>" in errors.find("error/description").text


# --- characters XML 1.0 forbids ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("char", FORBIDDEN, ids=FORBIDDEN_IDS)
def test_forbidden_characters_in_post_fields_are_refused(client, seeded, fmt, char):
    form = {
        "api_key": seeded.api_key,
        "service_code": "GRF",
        "address_string": "12 Elm St",
        "description": f"before{char}after",
    }
    response = client.post(f"{BASE}/requests.{fmt}", data=form)
    assert response.status_code == 400
    assert_error_list(response, fmt, 400)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "field",
    ["service_code", "address_string", "first_name", "email", "attribute[LANDMARK]", "na\x01me"],
)
def test_forbidden_character_in_any_post_field_is_refused(client, seeded, fmt, field):
    form = {
        "api_key": seeded.api_key,
        "service_code": "POT-01",
        "lat": "34.05",
        "long": "-118.25",
        "attribute[DEPTH]": "S",
    }
    form[field] = form.get(field, "value") + "\x0b"
    response = client.post(f"{BASE}/requests.{fmt}", data=form)
    assert response.status_code == 400
    assert_error_list(response, fmt, 400)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("char", FORBIDDEN, ids=FORBIDDEN_IDS)
@pytest.mark.parametrize(
    ("resource", "parameter"),
    [
        ("requests", "service_code"),
        ("requests", "status"),
        ("requests", "service_request_id"),
        ("services", "jurisdiction_id"),
        ("discovery", "unknown_parameter"),
    ],
)
def test_forbidden_characters_in_query_are_refused(client, seeded, fmt, char, resource, parameter):
    response = client.get(f"{BASE}/{resource}.{fmt}", query_string={parameter: f"x{char}y"})
    assert response.status_code == 400
    assert_error_list(response, fmt, 400)


@pytest.mark.parametrize("fmt", FORMATS)
def test_forbidden_characters_in_the_path_cannot_break_the_answer(client, seeded, fmt):
    response = client.get(f"{BASE}/services/A%01%0BB.{fmt}")
    assert response.status_code == 400
    assert_error_list(response, fmt, 400)
    (description,) = body(response, fmt, "errors")
    assert description["description"] == "service_code: contains control characters"


def assert_error_list(response, fmt: str, status: int) -> None:
    if fmt == "xml":
        errors = check_document(response, "errors")
        assert [error.find("code").text for error in errors] == [str(status)] * len(errors)
    else:
        assert response.content_type == "application/json; charset=utf-8"
        errors = response.get_json()
        assert errors and all(error["code"] == status for error in errors)


def test_stored_forbidden_characters_cannot_break_the_xml(client, db, seeded):
    """Rows written around the API (an import, a console) still render as parseable XML: the
    characters XML 1.0 cannot carry are left out there, while JSON keeps them, escaped."""
    dirty = "bad\x01\x08\x0b\x0c\x1fdata"
    jurisdiction = seeded.realtime.jurisdiction
    service = make_service(
        db,
        jurisdiction,
        "DIRTY",
        service_name=dirty,
        attributes=[
            make_attribute(
                "PICK\x03", "singlevaluelist", description=dirty, values=[("k\x04", dirty)]
            )
        ],
    )
    make_service(db, jurisdiction, "CODE\x02", service_name="Dirty code")
    request = make_request(db, service, description=dirty, status_notes=dirty, status=Status.closed)
    request_path = f"{BASE}/requests/{request.service_request_id}"

    documents = {
        f"{BASE}/services": "services",
        f"{BASE}/services/DIRTY": "service_definition",
        f"{BASE}/requests": "service_requests",
        request_path: "service_requests",
    }
    read: dict[str, object] = {}
    for path, root in documents.items():
        response = client.get(f"{path}.xml")
        assert response.status_code == 200, path
        document = check_document(response, root)
        texts = [element.text or "" for element in document.iter()]
        assert not any(re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", text) for text in texts)
        read[path] = body(response, "xml", root)

    services = {item["service_code"]: item for item in read[f"{BASE}/services"]}
    assert services["DIRTY"]["service_name"] == "baddata"
    assert services["CODE"]["service_name"] == "Dirty code"
    (attribute,) = read[f"{BASE}/services/DIRTY"]["attributes"]
    assert (attribute["code"], attribute["description"]) == ("PICK", "baddata")
    assert attribute["values"] == [{"key": "k", "name": "baddata"}]
    (shown,) = read[request_path]
    assert (shown["description"], shown["status_notes"], shown["service_name"]) == (
        "baddata",
        "baddata",
        "baddata",
    )
    listed = {item["service_request_id"]: item for item in read[f"{BASE}/requests"]}
    assert listed[request.service_request_id]["description"] == "baddata"

    definition = client.get(f"{BASE}/services/DIRTY.json")
    assert definition.status_code == 200
    (attribute,) = definition.get_json()["attributes"]
    assert (attribute["code"], attribute["description"]) == ("PICK\x03", dirty)
    assert attribute["values"] == [{"key": "k\x04", "name": dirty}]
    (shown,) = client.get(f"{request_path}.json").get_json()
    assert (shown["description"], shown["status_notes"]) == (dirty, dirty)


# --- our element names against the spec's examples -----------------------------------------------


def spec_example(name: str) -> ElementTree.Element:
    return ElementTree.parse(SPEC_EXAMPLES / name).getroot()


def shape(document: ElementTree.Element) -> dict[str, set[str]]:
    """Element path (root/container/item) -> the union of child names found there."""
    found: dict[str, set[str]] = {}

    def walk(element: ElementTree.Element, path: str) -> None:
        if len(element):
            found.setdefault(path, set()).update(child_names(element))
        for child in element:
            walk(child, f"{path}/{child.tag}")

    walk(document, document.tag)
    return found


@pytest.mark.parametrize(
    ("example", "path", "method"),
    [
        ("discovery.xml", "discovery.xml", "GET"),
        ("service-list.xml", "services.xml", "GET"),
        ("service-definition.xml", "services/POT-01.xml", "GET"),
        ("service-requests.xml", "requests.xml", "GET"),
        ("service-request.xml", "requests/{id}.xml", "GET"),
        ("request-from-token.xml", "tokens/tk-7f3a9.xml", "GET"),
        ("service-request-post.xml", "requests.xml", "POST"),
        ("errors.xml", "requests.xml", "POST-without-key"),
    ],
)
def test_same_names_as_the_spec_examples(client, seeded, example, path, method):
    path = path.format(id=seeded.full.service_request_id)
    if method == "GET":
        response = client.get(f"{BASE}/{path}")
    else:
        form = {"service_code": "3.1", "address_string": "1 Main St", "account_id": "u-7"}
        if method == "POST":
            form["api_key"] = seeded.api_key
        response = client.post(f"{BASE}/{path}", data=form)
    theirs = spec_example(example)
    ours = check_document(response, theirs.tag)
    their_shape, our_shape = shape(theirs), shape(ours)
    for element_path, names in our_shape.items():
        assert element_path in their_shape, element_path
        assert names <= their_shape[element_path], (element_path, names - their_shape[element_path])
    # With every field filled in, the names are exactly the spec's.
    if example in ("service-list.xml", "service-definition.xml", "request-from-token.xml"):
        assert our_shape == their_shape
    if example == "service-request-post.xml":
        assert our_shape == their_shape


def test_full_request_has_exactly_the_spec_fields(client, seeded):
    """Digest §7.3: with every field filled, <request> has exactly the spec's children."""
    (theirs,) = spec_example("service-request.xml")
    path = f"{BASE}/requests/{seeded.full.service_request_id}.xml"
    (ours,) = check_document(client.get(path), "service_requests")
    assert child_names(ours) == child_names(theirs)
    assert len(child_names(ours)) == 17
