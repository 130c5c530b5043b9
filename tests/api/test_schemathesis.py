"""Schemathesis drives the app through the community Swagger (spec/conformance/derived/).

The issue's bar: "schemathesis run in CI against the Swagger in conformance/derived finds nothing
in positive mode and no 5xx in any mode". Both the JSON and the XML variant are run, in process
over WSGI, with the swagger's paths mounted under /open311/v2 (the file has no basePath). In
positive mode every default check runs; in negative mode only not_a_server_error is asserted.

Seeded data (tests/api/helpers.py, `seed`) gives GET requests and services real rows, and in
positive mode the generated service_code, service_request_id, token and jurisdiction_id values
are, part of the time, swapped for ones that exist, so 200 paths are checked as well as 404s.
schemathesis has no XML reader and would skip the XML variant's body schemas, so a deserializer
registered here reads text/xml the Spark way (digest §1.2: root dropped, containers as arrays,
booleans and numbers typed) and response_schema_conformance applies to XML as well.

Exceptions, where a default check contradicts the digest. None is dropped outright; each is
narrowed to the circumstance, and the digest's rule is asserted there instead:

- positive_data_acceptance, every operation, only for cases whose query or form values hold a
  character XML 1.0 forbids: the swagger's `type: string` allows any character, §11 says such
  input is rejected with 400 so it can never reach an XML answer. There we assert a refusal
  (400, or the 403/404 another fault of the same request earns first).
- positive_data_acceptance, GET /requests only, for cases whose start_date/end_date break the
  §11 window (span over 90 days, end before start) or are not W3C datetimes (RFC 3339 also
  allows a lowercase `t`/`z` or a leap second; the W3C profile does not, and §11 makes anything
  else a 400). The swagger states the 90-day limit only in prose. There we assert a refusal too.
- ignored_auth, POST only, in `test_positive_posts_with_a_valid_key` only: the swagger's
  security scheme puts api_key in the query string, but the spec sends it as a form field
  (digest §1.6, §5; §11 "required on every POST"), which is where our server reads it. That
  test therefore runs against a copy of the swagger whose POST declares the form field instead
  of the query credential (see `declare_form_key`), so there is no query credential to probe.
  In the main positive run POST keeps the swagger's security and ignored_auth runs on it.

Hypothesis: derandomized, no example database, no deadline; the function-scoped `app` and
seeded rows are shared by a test's examples on purpose (health check suppressed), and in
negative mode filter_too_much is suppressed too (see NEGATIVE_SETTINGS).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
import schemathesis
from flask import Flask, Response, jsonify
from hypothesis import HealthCheck, given, settings
from hypothesis import errors as hypothesis_errors
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.helpers import (
    BASE,
    CONTAINERS,
    DERIVED,
    JURISDICTION_ID,
    REQUEST_IDS,
    SERVICE_CODES,
    TOKEN,
    Seeded,
    make_staff,
    seed,
)

EXAMPLES = 100
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # The app and the seeded rows are per test, shared by its examples on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Negative values for a free-form string are rare, so schemathesis discards many draws for
# operations whose only parameters are such strings; that is expected, not a slow test.
NEGATIVE_SETTINGS = settings(
    SETTINGS,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The zone may be left out: clients send the city's local time so (README: Dates and times), and
# the server reads it in the jurisdiction's time zone (the seeded city's is UTC).
W3C_INPUT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
# Generated values swapped, part of the time, for ones the seeded database holds.
REAL_VALUES: dict[str, tuple[str, ...]] = {
    "service_code": SERVICE_CODES,
    "service_request_id": REQUEST_IDS,
    "token_id": (TOKEN,),
    "jurisdiction_id": (JURISDICTION_ID,),
}


def load(variant: str, mode: GenerationMode, *, keyed: bool = False) -> schemathesis.BaseSchema:
    raw = json.loads((DERIVED / f"georeport-v2.swagger.testable-{variant}.json").read_text())
    raw["basePath"] = BASE
    if keyed:
        declare_form_key(raw["paths"]["/requests.{response_format}"]["post"])
    schema = schemathesis.openapi.from_dict(raw, config=schemathesis.Config())
    schema.config.generation.update(modes=[mode], max_examples=EXAMPLES, deterministic=True)
    if mode == GenerationMode.POSITIVE:
        schema.hook("before_generate_path_parameters")(with_real_values)
        schema.hook("before_generate_query")(with_real_values)
    return schema


def declare_form_key(post: dict[str, Any]) -> None:
    """POST as the spec sends it (digest §1.6, §5): api_key is a form field, not a query credential.

    The swagger can express neither that nor `attribute[CODE]`; this copy declares the api_key
    field and the one required attribute of the seeded POT-01 service, so that a case with a
    real key and answer is still a valid (positive) case and every default check applies to it.
    """
    post.pop("security")
    post["parameters"] += [
        {"name": "api_key", "in": "formData", "required": True, "type": "string"},
        {"name": "attribute[DEPTH]", "in": "formData", "type": "string", "enum": ["S", "L"]},
    ]


def with_real_values(_context, strategy: st.SearchStrategy) -> st.SearchStrategy:
    def swap(generated: dict[str, Any] | None) -> st.SearchStrategy:
        names = [name for name in (generated or {}) if name in REAL_VALUES]
        if not names:
            return st.just(generated)
        real = st.fixed_dictionaries({name: st.sampled_from(REAL_VALUES[name]) for name in names})
        return real.map(lambda values: {**generated, **values})

    return st.one_of(strategy, strategy.flatmap(swap))


# --- XML read the Spark way (digest §1.2), so response_schema_conformance covers it too ----------

SPARK_BOOLEANS = {"metadata", "variable", "required"}
SPARK_NUMBERS = {"lat": float, "long": float, "order": int}


def spark(element: ElementTree.Element, parent: str = "") -> Any:
    """Containers become arrays, other parents objects, leaves scalars typed as §1.2 says."""
    if element.tag in CONTAINERS:
        return [spark(child, element.tag) for child in element]
    if len(element):
        return {child.tag: spark(child, element.tag) for child in element}
    text = element.text or ""
    if element.tag in SPARK_BOOLEANS and text in ("true", "false"):
        return text == "true"
    if (parent, element.tag) == ("error", "code"):
        return int(text)  # an error's code is its HTTP status
    if element.tag in SPARK_NUMBERS:
        with contextlib.suppress(ValueError):
            return SPARK_NUMBERS[element.tag](text)
    return text


@schemathesis.deserializer("text/xml")
def read_spark_xml(_context, response) -> Any:
    """Without this, schemathesis has no XML reader and skips the XML variant's body schemas."""
    return spark(ElementTree.fromstring(response.content))


POSITIVE = {variant: load(variant, GenerationMode.POSITIVE) for variant in ("json", "xml")}
NEGATIVE = {variant: load(variant, GenerationMode.NEGATIVE) for variant in ("json", "xml")}
KEYED = {variant: load(variant, GenerationMode.POSITIVE, keyed=True) for variant in ("json", "xml")}


@pytest.fixture
def seeded(db) -> Seeded:
    return seed(db)


# --- §11 in place of positive_data_acceptance where the two disagree ---------------------------


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, member in value.items() for s in strings_in(key) + strings_in(member)]
    if isinstance(value, list | tuple):
        return [s for member in value for s in strings_in(member)]
    return []


def instant(value: Any) -> datetime | None:
    if not (isinstance(value, str) and value.strip()):
        return None
    moment = datetime.fromisoformat(value.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the seeded city's zone


def section_11_refusal(case) -> str | None:
    """Why §11 requires this schema-valid case to be answered 400, or None."""
    # schemathesis keeps path parameters percent-encoded; the server sees them decoded.
    path = {key: unquote(str(value)) for key, value in (case.path_parameters or {}).items()}
    sent = [path, case.query, case.body if isinstance(case.body, dict) else None]
    if any(XML_FORBIDDEN.search(text) for text in strings_in(sent)):
        return "a character XML 1.0 forbids"
    if case.method != "GET" or case.operation.path != "/requests.{response_format}":
        return None
    query = case.query or {}
    if str(query.get("service_request_id") or "").strip():
        return None  # ids override every filter, dates included (spec §7.1)
    bounds = [query.get(name) for name in ("start_date", "end_date")]
    if any(isinstance(b, str) and b.strip() and not W3C_INPUT.match(b.strip()) for b in bounds):
        return "not a W3C datetime"
    try:
        start, end = (instant(bound) for bound in bounds)
    except ValueError:
        return "not a valid date and time"
    if start is not None and end is not None and (end < start or end - start > timedelta(90)):
        return "outside the 90-day window"
    return None


def positive_data_acceptance_under_section_11(ctx, response, case) -> bool | None:
    reason = section_11_refusal(case)
    if reason is None:
        return positive_data_acceptance(ctx, response, case)
    # 400 is §11's answer; a 403 or 404 for another fault of the same request refuses it too.
    assert response.status_code in (400, 403, 404), f"§11: {reason} must be refused (400)"
    return None


def call_and_validate_positive(case, app):
    return case.call_and_validate(
        app=app,
        excluded_checks=[positive_data_acceptance],
        additional_checks=[positive_data_acceptance_under_section_11],
    )


# --- the runs ------------------------------------------------------------------------------------


@schemathesis.pytest.parametrize(**POSITIVE)
@SETTINGS
def test_positive_mode_passes_every_check(case, app, seeded):
    call_and_validate_positive(case, app)


@schemathesis.pytest.parametrize(**NEGATIVE)
@NEGATIVE_SETTINGS
def test_negative_mode_never_answers_5xx(case, app, seeded):
    case.call_and_validate(app=app, checks=[not_a_server_error])


@pytest.mark.parametrize("variant", ["json", "xml"])
def test_positive_posts_with_a_valid_key(app, seeded, variant):
    """Generated POST bodies plus a real api_key (and, mostly, a seeded service_code)."""
    operation = KEYED[variant]["/requests.{response_format}"]["POST"]
    statuses: Counter[int] = Counter()

    @given(
        case=operation.as_strategy(GenerationMode.POSITIVE),
        code=st.sampled_from((*SERVICE_CODES, None)),
    )
    @SETTINGS
    def run(case, code):
        case.body["api_key"] = seeded.api_key
        if code is not None:
            case.body["service_code"] = code
        # DEPTH is POT-01's required question and no other service's.
        if case.body["service_code"] == "POT-01":
            case.body["attribute[DEPTH]"] = "L"
        else:
            case.body.pop("attribute[DEPTH]", None)
        response = call_and_validate_positive(case, app)
        statuses[response.status_code] += 1

    run()
    assert statuses[200] + statuses[201] > 0, statuses
    assert not [status for status in statuses if status >= 500], statuses


# --- the checks can fail ------------------------------------------------------------------------


def test_checks_catch_a_broken_server():
    """A stand-in server with integer codes, a 500 and a non-boolean metadata fails the checks."""
    broken = Flask("broken")
    broken.add_url_rule(
        f"{BASE}/services.json", "json", lambda: jsonify([{"service_code": 1, "type": "x"}])
    )
    broken.add_url_rule(f"{BASE}/services/<code>.json", "definition", lambda code: ("boom", 500))
    broken.add_url_rule(
        f"{BASE}/services.xml",
        "xml",
        lambda: Response(
            '<?xml version="1.0" encoding="utf-8"?><services><service><service_code>A'
            "</service_code><service_name>A</service_name><type>batch</type>"
            "<metadata>yes</metadata></service></services>",
            content_type="text/xml; charset=utf-8",
        ),
    )
    services = {v: POSITIVE[v]["/services.{response_format}"]["GET"] for v in ("json", "xml")}
    definition = POSITIVE["json"]["/services/{service_code}.{response_format}"]["GET"]
    for variant, operation in services.items():
        case = operation.Case(path_parameters={"response_format": variant})
        with pytest.raises(FailureGroup, match="Response violates schema"):
            case.call_and_validate(app=broken)
    case = definition.Case(path_parameters={"response_format": "json", "service_code": "X"})
    with pytest.raises(FailureGroup, match="Server error"):
        case.call_and_validate(app=broken)


@pytest.mark.parametrize("variant", ["json", "xml"])
def test_real_resources_pass_every_check(app, seeded, variant):
    """The seeded rows themselves, fetched through each operation, pass every default check."""
    schema = POSITIVE[variant]
    cases = [
        ("/services.{response_format}", {}, {}),
        ("/services/{service_code}.{response_format}", {"service_code": "POT-01"}, {}),
        ("/services/{service_code}.{response_format}", {"service_code": "3.1"}, {}),
        ("/requests.{response_format}", {}, {"status": "open", "jurisdiction_id": JURISDICTION_ID}),
        ("/requests/{service_request_id}.{response_format}", {"service_request_id": "SR-9001"}, {}),
        ("/tokens/{token_id}.{response_format}", {"token_id": TOKEN}, {}),
    ]
    for path, path_parameters, query in cases:
        case = schema[path]["GET"].Case(
            path_parameters={"response_format": variant, **path_parameters}, query=query
        )
        response = call_and_validate_positive(case, app)
        assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize(
    "query",
    [
        {"start_date": "9999-12-30T00:00:00Z"},
        {"end_date": "0001-01-01T00:00:00Z"},
        {"start_date": "0001-01-01T00:00:00+23:59"},
        {"end_date": "9999-12-31T23:00:00-23:59"},
        {"start_date": "2024-01-01T00:00:00+20:00", "end_date": "2024-02-01T00:00:00-18:30"},
    ],
    ids=["start-at-the-end", "end-at-the-start", "before-year-1", "after-9999", "wide-offsets"],
)
def test_calendar_edges_pass_every_check(app, seeded, query):
    """Valid W3C dates at the ends of the calendar and offsets PostgreSQL rejects (once 500s)."""
    case = POSITIVE["json"]["/requests.{response_format}"]["GET"].Case(
        path_parameters={"response_format": "json"}, query=query
    )
    assert call_and_validate_positive(case, app).status_code == 200


def test_attribute_datetime_beyond_the_calendar_is_a_400(client, seeded):
    form = {
        "api_key": seeded.api_key,
        "service_code": "POT-01",
        "address_string": "1 Main St",
        "attribute[DEPTH]": "S",
        "attribute[SEEN]": "9999-12-31T23:00:00-23:59",
    }
    response = client.post(f"{BASE}/requests.json", data=form)
    assert response.status_code == 400
    assert "SEEN" in response.get_json()[0]["description"]


# --- our own contract: /openapi.json, GeoReport and staff API, every check ------------------------
#
# schemathesis 4 against the document the app serves, in process, with a bearer token of each
# staff role and every check on (CHECKS.get_all()), in positive and negative mode. The number of
# examples per operation and mode is OPEN311_CONTRACT_EXAMPLES (1 in CI: a few hundred calls;
# bench/contract.py asks for enough to make 10,000 and more).
#
# Left out: POST /api/v1/logout (it revokes the very token the run uses). Narrowed:
# positive_data_acceptance, where the server refuses a schema-valid value for a reason the
# document cannot state (CONTRACT_REFUSALS: rules across arguments, ids and codes that do not
# exist): those 400s are asserted to carry that reason.

CONTRACT_EXAMPLES = int(os.environ.get("OPEN311_CONTRACT_EXAMPLES", "1"))
CONTRACT_REPORT = os.environ.get("OPEN311_CONTRACT_REPORT")
CONTRACT_SKIP = {("POST", "/api/v1/logout")}
CONTRACT_REFUSALS = re.compile(
    "|".join(
        [
            # rules across arguments or fields
            r"bbox: must be",
            r"radius .* is required|required with radius",
            r"give district too",
            r"JSONP is only offered for .json",
            r"a location is required",
            r"a crew member belongs to at least one crew",
            r"is only for crew_role|crew_role fixed needs a crew_id",
            r"not a step of the workflow",
            r"needs at least one value|only list datatypes have values|is repeated",
            r"cannot be required",
            r"belongs to agency",
            r"only field crews cover districts",
            r"give either email, phone or service_request_id",  # a privacy erasure's person
            # ids and codes that do not exist
            r": no (agency|crew|district|workflow|boundary layer) ",
            r"is not a district|is not an agency|is not a crew of this jurisdiction",
            r"not a valid cursor",
            r"may reach row",  # page x page_size, capped (the cursor goes on)
            # a W3C datetime's calendar (the pattern cannot say which days a month has)
            r"not a W3C datetime",
            # an api_key sent twice (the X-API-Key header and the argument) that differs
            r"the X-API-Key header and the api_key differ",
            # marshmallow's URL rule (scheme, host, TLD), which no pattern states exactly
            r"Not a valid URL",
            # text XML cannot carry, inside values the document types loosely
            r"contains control characters|must be a string or a number",
            # the knowledge base: the languages Babel knows, the city's topics and services, the
            # rules of publishing and of themes and topics
            r"is not a known language tag",
            r": no (topic|theme) ",
            r"not services of this jurisdiction",
            r"publishing needs a variant|published needs a variant",
            r"only themes hold topics|a theme stays a theme",
            # documented as propertyNames' lengths, which schemathesis does not generate keys by
            r"an outcome's name is 1 to 64 characters",
            # a city's languages (which tags it lists, which is its default) and the translation
            # files' contents (domain/translations, translation_files): no schema can say
            r"is not a BCP 47 language tag|is not a language of|is the default language of",
            r"is not among the locales",
            r"entry \d+: .*(is blank|is given twice)",
            r"\b(PO|XLIFF) file: ",
            # the staff statistics' range: start before end, a bounded number of periods and rows
            r"start must be before end|more than \d+ periods|rows: choose a longer period",
            # a contact's times, abandonment and transfer checked together; the city's requests
            # and articles it names (domain/contacts)
            r"in the future|before (queued|answered)_at|an abandoned contact has no",
            r"when the outcome is transfer|only for the outcome transfer",
            r"(service_request_ids|article_ids): no (request|article) |answers no calls",
            r"end_date: must be after start_date",
            # the hotspots' window and the requests a clustering may read
            r"may span at most|is earlier than start_date|requests match; narrow",
            # the request statistics' window and size (domain/request_stats), and a layer asked
            # for with another group_by
            r"end_date must not be before start_date|period=day covers at most \d+ days",
            r"a series covers at most|periods is more than \d+ figures|layer is only for",
            r"not a date \(YYYY-MM-DD\)",
        ]
    )
)


def acceptance_but_for_known_refusals(ctx, response, case) -> bool | None:
    if response.status_code == 400 and CONTRACT_REFUSALS.search(response.text):
        return None
    return positive_data_acceptance(ctx, response, case)


def run_contract(app, token: str, examples: int) -> tuple[int, list[str]]:
    """(calls made, failures as 'METHOD path [mode]: title') over every operation."""
    from schemathesis.checks import CHECKS

    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    checks = [c for c in CHECKS.get_all() if c is not positive_data_acceptance]
    checks.append(acceptance_but_for_known_refusals)
    calls, failures = 0, []
    # Explicit headers, not the case's: ignored_auth then probes with none and with a wrong one.
    auth = {"Authorization": f"Bearer {token}"}

    def fuzz(operation, mode) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            nonlocal calls
            calls += 1
            response = case.call(app=app, headers=auth)
            try:
                case.validate_response(
                    response, checks=checks, headers=auth, transport_kwargs={"app": app}
                )
            except FailureGroup as group:
                sent = f"query={case.query!r} body={case.body!r}"[:300]
                failures.extend(
                    f"{operation.label} [{mode.value}]: {failure.title}: {response.text[:200]}"
                    f" <- {sent}"
                    for failure in group.exceptions
                )

        run()

    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in CONTRACT_SKIP:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with contextlib.suppress(hypothesis_errors.Unsatisfiable):
                fuzz(operation, mode)
    return calls, failures


@pytest.mark.parametrize("role", ["administrator", "supervisor", "call_taker", "crew_member"])
def test_own_contract_passes_every_check(app, db, seeded, role):
    from tests.factories import make_agency, make_crew

    crews = (
        [make_crew(db, make_agency(db, seeded.realtime.jurisdiction))]
        if role == "crew_member"
        else []
    )
    _user, token = make_staff(db, role, crews=crews)
    # The run's POST /jurisdictions makes the administrator work for a second city; calls that
    # name none then mean the default (without one they are a 400 asking for jurisdiction_id).
    seeded.realtime.jurisdiction.is_default = True
    db.flush()
    calls, failures = run_contract(app, token, CONTRACT_EXAMPLES)
    if CONTRACT_REPORT:  # bench/contract.py reads these
        report = {"role": role, "calls": calls, "failures": failures}
        (Path(CONTRACT_REPORT) / f"{role}.json").write_text(json.dumps(report))
    assert calls > 0
    assert not failures, "\n".join(failures[:40])
