"""The Austin demo seed: 27 real services in four languages, council districts, routing, KB."""

from __future__ import annotations

import time
import unicodedata

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from open311.db import district_queries
from open311.db.models import (
    Crew,
    RoutingRule,
    Service,
    Translation,
)
from open311.demo.austin import (
    AGENCY_CODE,
    GROUPS,
    ROUTING_LAYER,
    city_dir,
    read_services,
    seed_austin,
)

SERVICES_FILE = "311_services_multilingual.yaml"


def raw_services() -> list[dict[str, str]]:
    """The City's file, read here independently of the seed's own reader."""
    with (city_dir() / SERVICES_FILE).open(encoding="utf-8") as file:
        return yaml.safe_load(file)["311"]


def count(db: Session, model: type, *where: object) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_the_jurisdiction_speaks_four_languages_and_keeps_texas_holidays(db: Session) -> None:
    jurisdiction = seed_austin(db)
    assert jurisdiction.jurisdiction_id == "austintexas.gov"
    assert jurisdiction.name == "Austin, Texas"
    assert jurisdiction.time_zone == "America/Chicago"
    assert jurisdiction.locales == ["en", "es", "vi", "ar"]
    assert jurisdiction.default_locale == "en"
    assert (jurisdiction.holiday_country, jurisdiction.holiday_subdivision) == ("US", "TX")


def test_the_27_services_are_the_citys_with_readable_codes(db: Session) -> None:
    jurisdiction = seed_austin(db)
    services = db.scalars(select(Service).where(Service.jurisdiction_id == jurisdiction.id)).all()
    rows = raw_services()
    assert len(rows) == 27
    assert sorted(service.service_name for service in services) == sorted(
        row["title_en"].strip() for row in rows
    )
    by_code = {service.service_code: service for service in services}
    assert by_code["POTHOLE-REPAIR"].service_name == "Request pothole repair"
    assert by_code["LOOSE-DOG"].service_name == "Report a loose dog"
    assert "53606226844eedb146000267" in by_code["POTHOLE-REPAIR"].description
    assert set(by_code) == set(GROUPS)
    assert all(service.group == GROUPS[service.service_code] for service in services)
    assert all(service.type.value == "realtime" for service in services)


def test_every_name_is_translated_as_the_city_wrote_it(db: Session) -> None:
    jurisdiction = seed_austin(db)
    rows = db.scalars(select(Translation).where(Translation.jurisdiction_id == jurisdiction.id))
    names = {(row.locale, row.source): row.text for row in rows if row.context == ""}
    for raw in raw_services():
        for locale in ("es", "vi", "ar"):
            expected = unicodedata.normalize("NFC", raw[f"title_{locale}"].strip())
            assert names[(locale, raw["title_en"].strip())] == expected
    pothole = "Request pothole repair"
    assert names[("es", pothole)] == "Solicite la reparación de un hueco en la carretera"
    assert names[("vi", pothole)] == "Thỉnh cầu sửa chữa ổ gà trên đường"
    assert names[("ar", pothole)] == "طلب إصلاح حفرة"
    for text in names.values():
        assert unicodedata.is_normalized("NFC", text)


def test_requests_route_by_council_district(db: Session) -> None:
    jurisdiction = seed_austin(db)
    layer = district_queries.get_layer(db, jurisdiction, ROUTING_LAYER)
    assert layer is not None
    assert sorted(int(d.name) for d in layer.districts) == list(range(1, 11))
    assert count(db, RoutingRule, RoutingRule.layer_id == layer.id) == 27
    crews = db.scalars(select(Crew).where(Crew.code.like(f"{AGENCY_CODE}-%"))).all()
    assert len(crews) == 12
    # The Texas State Capitol lies in council district 9; City Hall too.
    assert district_queries.covers_point(db, jurisdiction, 30.2747, -97.7404)
    assert not district_queries.covers_point(db, jurisdiction, 29.4241, -98.4936)  # San Antonio


def test_a_second_run_writes_nothing(db: Session) -> None:
    seed_austin(db)
    before = (count(db, Service), count(db, Translation), count(db, Crew))
    report: list[str] = []
    seed_austin(db, report)
    assert (count(db, Service), count(db, Translation), count(db, Crew)) == before
    assert "services: 27 (0 new, 0 updated)" in report
    assert "service name translations (es, vi, ar): 0 new" in report


def test_seeding_is_fast(db: Session) -> None:
    started = time.monotonic()
    seed_austin(db)
    assert time.monotonic() - started < 10


def test_service_codes_are_unique_slugs() -> None:
    codes = [service.service_code for service in read_services(city_dir() / SERVICES_FILE)]
    assert len(set(codes)) == 27
    assert "ENVIRONMENTAL-SERVICES-FOR-TRAVIS-COUNTY" in codes
    assert all(code == code.upper() and " " not in code for code in codes)
