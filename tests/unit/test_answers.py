"""validate_answers: each datatype's rules, required and informational attributes, unknown codes."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from open311.db.models import Service
from open311.domain import answers as answers_module
from open311.errors import InvalidInput
from tests.factories import make_attribute


def service(*attributes) -> Service:
    """A service in memory only: validate_answers needs no database."""
    return Service(service_code="SVC", service_name="Service", attributes=list(attributes))


LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def validate_answers(svc: Service, raw: dict[str, list[str]], local=UTC) -> dict:
    """The kept answers (what the tests below compare); unknown codes are tested apart."""
    return answers_module.validate_answers(svc, raw, local).values


def problems(svc: Service, raw: dict[str, list[str]]) -> tuple[str, ...]:
    with pytest.raises(InvalidInput) as caught:
        validate_answers(svc, raw)
    return caught.value.problems


LANES = [("N", "Northbound"), ("S", "Southbound"), ("B", "Bike lane")]


# --- string and text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["opposite no. 12"], "opposite no. 12"),
        (["  padded  "], "padded"),
        (["x" * 255], "x" * 255),
        (["<b>&'\";--</b>"], "<b>&'\";--</b>"),
    ],
)
def test_string_accepts_one_line(raw, expected):
    assert validate_answers(service(make_attribute("S", "string")), {"S": raw}) == {"S": expected}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (["x" * 256], "255"),
        (["two\nlines"], "single line"),
        (["a", "b"], "single value"),
    ],
)
def test_string_refuses(raw, fragment):
    (problem,) = problems(service(make_attribute("S", "string")), {"S": raw})

    assert "S" in problem and fragment in problem


def test_text_takes_lines_up_to_4000_characters():
    text = ("line\n" * 800)[:3999] + "!"
    svc = service(make_attribute("T", "text"))

    assert validate_answers(svc, {"T": [text]}) == {"T": text}
    (problem,) = problems(svc, {"T": ["y" * 4001]})
    assert "4000" in problem


# --- number ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "12", "-3.5", "1e3", "  7 ", "0.000001"])
def test_number_accepts_finite_numbers(value):
    assert validate_answers(service(make_attribute("N", "number")), {"N": [value]}) == {
        "N": value.strip()
    }


@pytest.mark.parametrize("value", ["wide", "12cm", "1,5", "nan", "NaN", "inf", "-Infinity", "0x10"])
def test_number_refuses_non_numbers(value):
    (problem,) = problems(service(make_attribute("N", "number")), {"N": [value]})

    assert "N" in problem and value in problem


# --- datetime --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2024-05-01T08:00:00Z", "2024-05-01T08:00:00Z"),
        ("2024-05-01T08:00:00-04:00", "2024-05-01T12:00:00Z"),
        ("2024-05-01T08:00:00.75+02:00", "2024-05-01T06:00:00Z"),
    ],
)
def test_datetime_is_normalised_to_utc(value, stored):
    assert validate_answers(service(make_attribute("D", "datetime")), {"D": [value]}) == {
        "D": stored
    }


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        # A browser's datetime-local field: no zone, no seconds (FixMyStreet sends it so).
        ("2026-12-05T07:23", "2026-12-05T15:23:00Z"),
        ("2026-07-05T07:23:10", "2026-07-05T14:23:10Z"),  # summer time: UTC-7
        ("2026-12-03T15:20:11.609737", "2026-12-03T23:20:11Z"),
    ],
)
def test_a_datetime_without_zone_is_the_jurisdictions_local_time(value, stored):
    svc = service(make_attribute("D", "datetime"))

    assert validate_answers(svc, {"D": [value]}, LOS_ANGELES) == {"D": stored}


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01",
        "tomorrow",
        "2024-02-30T00:00:00Z",
        "2024-02-30T00:00",
        "2024-05-01T08",
        "08:00",
    ],
)
def test_datetime_refuses_partial_and_garbage(value):
    (problem,) = problems(service(make_attribute("D", "datetime")), {"D": [value]})

    assert problem.startswith("attribute D")


# --- lists -----------------------------------------------------------------------------------


def test_singlevaluelist_takes_one_key():
    svc = service(make_attribute("L", "singlevaluelist", values=LANES))

    assert validate_answers(svc, {"L": ["S"]}) == {"L": "S"}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (["Southbound"], "Southbound"),  # the label, not the key
        (["s"], "s is not"),
        (["X"], "X"),
        (["N", "S"], "single value"),
    ],
)
def test_singlevaluelist_refuses(raw, fragment):
    svc = service(make_attribute("L", "singlevaluelist", values=LANES))

    (problem,) = problems(svc, {"L": raw})

    assert "L" in problem and fragment in problem


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (["N"], ["N"]),
        (["B", "N"], ["B", "N"]),
        (["N", "S", "B"], ["N", "S", "B"]),
        (["N", "N", "S"], ["N", "S"]),
        (["N", " ", ""], ["N"]),
    ],
)
def test_multivaluelist_takes_keys_in_order_without_duplicates(raw, stored):
    svc = service(make_attribute("M", "multivaluelist", values=LANES))

    assert validate_answers(svc, {"M": raw}) == {"M": stored}


def test_multivaluelist_names_every_unknown_value():
    svc = service(make_attribute("M", "multivaluelist", values=LANES))

    (problem,) = problems(svc, {"M": ["N", "Q", "Z"]})

    assert "Q" in problem and "Z" in problem and "N," not in problem


# --- required, informational, unknown --------------------------------------------------------


@pytest.mark.parametrize("raw", [{}, {"R": []}, {"R": [""]}, {"R": ["  ", ""]}])
def test_required_attribute_needs_a_value(raw):
    svc = service(make_attribute("R", "string", required=True))

    (problem,) = problems(svc, raw)

    assert problem == "attribute R is required"


@pytest.mark.parametrize(
    "datatype", ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
)
def test_optional_attribute_may_be_left_out(datatype):
    svc = service(make_attribute("O", datatype, values=LANES))

    assert validate_answers(svc, {}) == {}
    assert validate_answers(svc, {"O": ["", "  "]}) == {}


def test_informational_attribute_takes_no_value():
    svc = service(make_attribute("INFO", "text", variable=False))

    assert validate_answers(svc, {}) == {}
    assert validate_answers(svc, {"INFO": [""]}) == {}
    (problem,) = problems(svc, {"INFO": ["read it"]})
    assert "INFO" in problem and "informational" in problem


def test_informational_attribute_marked_required_does_not_block():
    svc = service(make_attribute("INFO", "text", variable=False, required=True))

    assert validate_answers(svc, {}) == {}


def test_unknown_codes_are_ignored_and_named():
    svc = service(make_attribute("A", "string"))

    kept = answers_module.validate_answers(svc, {"A": ["x"], "uprn": ["1"], "old": ["2"]}, UTC)

    assert kept.values == {"A": "x"}
    assert kept.ignored == ["uprn", "old"]
    assert answers_module.ignored_notice(kept.ignored) == "Ignored unknown attributes: uprn, old."


def test_the_notice_of_ignored_codes_is_bounded():
    codes = ["x" * 100] + [f"c{i}" for i in range(30)]

    notice = answers_module.ignored_notice(codes)

    assert "x" * 64 + "," in notice and "x" * 65 not in notice
    assert notice.endswith(" and 11 more.")


def test_a_bad_value_of_a_known_code_is_still_refused_next_to_unknown_ones():
    svc = service(make_attribute("N", "number"))

    (problem,) = problems(svc, {"N": ["many"], "uprn": ["1"]})

    assert problem.startswith("attribute N")


def test_every_problem_is_reported_at_once():
    svc = service(
        make_attribute("R", "string", required=True),
        make_attribute("N", "number"),
        make_attribute("L", "singlevaluelist", values=LANES),
    )

    found = problems(svc, {"N": ["x"], "L": ["Q"], "EXTRA": ["1"]})

    assert len(found) == 3
    for code in ("R", "N", "L"):
        assert any(f"attribute {code}" in p for p in found)


def test_a_service_without_attributes_keeps_no_answers():
    assert validate_answers(service(), {}) == {}
    assert validate_answers(service(), {"A": ["1"]}) == {}


def test_several_attributes_are_all_returned():
    svc = service(
        make_attribute("S", "string"),
        make_attribute("N", "number"),
        make_attribute("M", "multivaluelist", values=LANES),
    )

    answers = validate_answers(svc, {"S": ["a"], "N": ["2"], "M": ["B"]})

    assert answers == {"S": "a", "N": "2", "M": ["B"]}
