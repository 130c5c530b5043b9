"""The Austin demo seed: 27 real services in four languages, council districts, routing, KB."""

from __future__ import annotations

import time
import unicodedata
from datetime import UTC, datetime

import pytest
import yaml
from click.testing import CliRunner, Result
from defusedxml import ElementTree
from flask.cli import ScriptInfo
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from open311.cli import main
from open311.db import district_queries
from open311.db.models import (
    Article,
    ArticleRevision,
    ArticleTopic,
    Crew,
    Jurisdiction,
    RoutingRule,
    Service,
    ServiceRequest,
    Translation,
    WorkOrder,
)
from open311.demo import austin_kb
from open311.demo.austin import (
    AGENCY_CODE,
    GROUPS,
    ROUTING_LAYER,
    city_dir,
    read_services,
    seed_austin,
)
from open311.domain import kb_exchange
from tests.factories import make_api_key

SERVICES_FILE = "311_services_multilingual.yaml"
# The ids other tests (search hit rate) and the README rely on: the City's page names.
ARTICLE_IDS = {
    "bulk-item-pickup",
    "compost-pickup",
    "hazardous-waste-dropoff",
    "hazardous-waste-dropoff-prototype",
    "pickup-free-paint",
    "trash-recycling-pickup",
    "bat-safety",
    "birth-and-death-certificates",
    "find-free-condoms",
    "get-immunization-record",
    "get-immunized",
    "public-health-emergency-prep",
    "foster-pets",
    "permitting-residential",
}
FULLY_TRANSLATED = {
    "bulk-item-pickup",
    "compost-pickup",
    "hazardous-waste-dropoff",
    "hazardous-waste-dropoff-prototype",
    "pickup-free-paint",
    "trash-recycling-pickup",
}


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
    tables = (Service, Translation, Crew, Article, ArticleTopic, ArticleRevision)
    before = [count(db, table) for table in tables]
    report: list[str] = []
    seed_austin(db, report)
    assert [count(db, table) for table in tables] == before
    assert "services: 27 (0 new, 0 updated)" in report
    assert "service name translations (es, vi, ar): 0 new" in report
    assert "layer council_districts: present" in report
    assert "routing rules: 27 services (0 new)" in report
    assert "knowledge base: 42 themes and topics (0 new), 14 articles (0 new, 0 updated)" in report


# --- the knowledge base -----------------------------------------------------------------------


def articles(db: Session) -> dict[str, Article]:
    jurisdiction = seed_austin(db)
    found = db.scalars(select(Article).where(Article.jurisdiction_id == jurisdiction.id)).all()
    return {article.article_id: article for article in found}


def test_the_14_pages_are_articles_under_their_page_names(db: Session) -> None:
    found = articles(db)
    assert set(found) == ARTICLE_IDS
    drafts = {key for key, article in found.items() if article.state.value != "published"}
    assert drafts == {"hazardous-waste-dropoff-prototype"}
    assert found["bulk-item-pickup"].topic is not None
    assert found["bulk-item-pickup"].topic.code == "recycling-trash-compost"
    assert found["foster-pets"].topic.code == "foster-animal"
    assert found["bat-safety"].service_codes == ["FOUND-ANIMAL-PICKUP", "DEAD-ANIMAL-COLLECTION"]
    assert found["bulk-item-pickup"].contact == "Austin 3-1-1: call 3-1-1"


def test_variants_only_in_the_languages_the_city_wrote(db: Session) -> None:
    for article_id, article in articles(db).items():
        locales = {variant.locale for variant in article.variants}
        expected = {"en", "es", "vi", "ar"} if article_id in FULLY_TRANSLATED else {"en"}
        assert locales == expected, article_id


def test_the_citys_texts_arrive_intact_in_every_script(db: Session) -> None:
    bulk = {variant.locale: variant for variant in articles(db)["bulk-item-pickup"].variants}
    assert bulk["en"].title == "Get ready for curbside bulk item pickup"
    assert bulk["es"].title == (
        "Prepárese para la recolección de artículos grandes al borde de la acera"
    )
    assert bulk["vi"].title == "Chuẩn bị cho việc bốc rác khối để lề đường"
    assert bulk["ar"].title.startswith("كُن على استعداد لجمع العناصر كبيرة الحجم")
    assert len(bulk["ar"].steps) == len(bulk["en"].steps) == 7
    assert "6:30" in bulk["vi"].steps[4]
    assert "<li>" in bulk["es"].body and "Buzón" in bulk["es"].body
    assert bulk["ar"].summary.startswith("يمكن لعملاء أوستن")
    assert bulk["en"].summary is None  # the City wrote no English meta description
    for variant in bulk.values():
        for text in (variant.title, variant.body, *variant.steps):
            assert unicodedata.is_normalized("NFC", text)


def test_health_and_process_pages_keep_their_english_steps_and_bodies(db: Session) -> None:
    found = articles(db)
    (certificates,) = found["birth-and-death-certificates"].variants
    assert certificates.summary.startswith("Find out how to order a birth or death certificate")
    assert len(certificates.steps) == 3
    assert "<li>The cost for each birth certificate is $23.</li>" in certificates.steps[1]
    assert "Vital Records" in certificates.body
    (condoms,) = found["find-free-condoms"].variants
    assert condoms.keywords.startswith("HIV, condoms")
    (foster,) = found["foster-pets"].variants
    assert len(foster.steps) == 5
    assert foster.steps[0].startswith("<p><strong>Before you apply</strong></p>")
    # The repeated description is said once, the placeholder body not at all.
    assert sum("Thank you for thinking" in step for step in foster.steps) == 1
    (remodel,) = found["permitting-residential"].variants
    assert "Some detailed content here" not in remodel.body
    assert remodel.title == "Interior Remodel"


def test_themes_and_topics_with_their_translations(db: Session) -> None:
    jurisdiction = seed_austin(db)
    topics = db.scalars(
        select(ArticleTopic).where(ArticleTopic.jurisdiction_id == jurisdiction.id)
    ).all()
    themes = [topic for topic in topics if topic.parent_id is None]
    assert len(themes) == 7
    assert len(topics) - len(themes) == 35  # 37 less the two "[Job type N]" placeholders
    rows = db.scalars(
        select(Translation).where(
            Translation.jurisdiction_id == jurisdiction.id, Translation.context == "topic"
        )
    ).all()
    names = {(row.locale, row.source): row.text for row in rows}
    assert names[("es", "Permits & Tickets")] == "Permisos y multas"
    assert names[("ar", "Jobs")] == "الوظائف"
    assert names[("vi", "Recycling, trash, and compost")] == "Tái chế, rác, và phân ủ"
    assert len(rows) == 3 * 8  # 7 themes and 1 topic in es, vi and ar


# --- the converter, on its own ----------------------------------------------------------------


def test_the_converted_document_passes_the_exchange_check(db: Session) -> None:
    jurisdiction = seed_austin(db)
    document = austin_kb.build_document(city_dir())
    assert document["format"] == "open311-kb/1"
    checked = kb_exchange.check(db, jurisdiction, document)
    assert {entry["article_id"] for entry in checked["articles"]} == ARTICLE_IDS
    # The document survives the YAML round trip an administrator would make.
    text = kb_exchange.render(document, "yaml")
    assert kb_exchange.parse(text, "yaml") == document


def test_placeholder_titles_are_not_translations() -> None:
    page = {
        "title_en": "Become a foster",
        "title_es": "ES Become a foster",
        "title_vi": "Become a foster",
        "title_ar": "كن",
        "description_en": "Why.",
        "process_steps": [],
    }
    converted = austin_kb.process_article("x", page)
    assert set(converted["variants"]) == {"en", "ar"}


def test_steps_with_sub_items_become_one_step_with_a_list() -> None:
    page = {"title_en": "T", "steps_en": ["Pick one&#58;", ["a,", "b"], "Done."]}
    variant = austin_kb.service_article("t", page)["variants"]["en"]
    assert variant["steps"] == ["Pick one&#58;<ul><li>a,</li><li>b</li></ul>", "Done."]
    assert variant["body"] is None and variant["keywords"] is None


def test_a_markdown_escaped_title_is_plain_text() -> None:
    page = {"title_en": "\\[Prototype\\] Drop off", "service_steps": []}
    assert austin_kb.service_article("p", page)["variants"]["en"]["title"] == "[Prototype] Drop off"


def test_the_seed_takes_the_callers_now(db: Session) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    jurisdiction = seed_austin(db, now=now)
    published = db.scalars(
        select(Article.published_at).where(
            Article.jurisdiction_id == jurisdiction.id, Article.article_id == "bat-safety"
        )
    ).one()
    assert published == now


def test_seeding_is_fast(db: Session) -> None:
    started = time.monotonic()
    seed_austin(db)
    assert time.monotonic() - started < 10


def test_service_codes_are_unique_slugs() -> None:
    codes = [service.service_code for service in read_services(city_dir() / SERVICES_FILE)]
    assert len(set(codes)) == 27
    assert "ENVIRONMENTAL-SERVICES-FOR-TRAVIS-COUNTY" in codes
    assert all(code == code.upper() and " " not in code for code in codes)


# --- open311 seed -------------------------------------------------------------------------------


def invoke(app, *args: str) -> Result:
    """Run `open311 ...` with the app whose sessions join the test's transaction."""
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_open311_seed_loads_austin_unless_told_not_to(app, db: Session) -> None:
    left_out = invoke(app, "seed", "--skip-history", "--no-nyc", "--no-austin")
    assert left_out.exit_code == 0, left_out.output
    assert "austintexas.gov" not in left_out.output
    assert count(db, Jurisdiction, Jurisdiction.jurisdiction_id == "austintexas.gov") == 0

    seeded = invoke(app, "seed", "--skip-history", "--no-nyc")
    assert seeded.exit_code == 0, seeded.output
    assert "austintexas.gov services: 27 (27 new, 0 updated)" in seeded.output
    assert "austintexas.gov layer council_districts: 10 districts imported" in seeded.output
    # Los Angeles stays the city calls without jurisdiction_id mean.
    default = db.scalars(select(Jurisdiction).where(Jurisdiction.is_default)).one()
    assert default.jurisdiction_id == "lacity.org"


def test_a_downtown_pothole_goes_to_the_district_9_crew(client, db: Session) -> None:
    seed_austin(db)
    key = make_api_key(db, "austin test")
    response = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": key,
            "jurisdiction_id": "austintexas.gov",
            "service_code": "POTHOLE-REPAIR",
            "lat": "30.2672",
            "long": "-97.7431",
            "description": "Pothole on Congress Ave",
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    request_id = response.get_json()[0]["service_request_id"]
    crew_codes = db.scalars(
        select(Crew.code)
        .join(WorkOrder, WorkOrder.crew_id == Crew.id)
        .join(ServiceRequest, ServiceRequest.id == WorkOrder.service_request_pk)
        .where(ServiceRequest.service_request_id == request_id)
    ).all()
    assert crew_codes == ["A311-D9"]
    # Outside the City's districts (plus 150 m): refused as outside the service area.
    outside = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": key,
            "jurisdiction_id": "austintexas.gov",
            "service_code": "POTHOLE-REPAIR",
            "lat": "29.4241",
            "long": "-98.4936",
        },
    )
    assert outside.status_code == 400


@pytest.mark.parametrize("locale", ["en", "es", "vi", "ar"])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_services_list_speaks_each_of_austins_languages(client, db, locale, fmt) -> None:
    seed_austin(db)
    response = client.get(
        f"/open311/v2/services.{fmt}",
        query_string={"jurisdiction_id": "austintexas.gov", "locale": locale},
    )
    assert response.status_code == 200
    assert response.headers["Content-Language"] == locale
    if fmt == "json":
        names = {item["service_code"]: item["service_name"] for item in response.get_json()}
    else:
        root = ElementTree.fromstring(response.data)  # well-formed in every script
        names = {
            item.findtext("service_code"): item.findtext("service_name")
            for item in root.iter("service")
        }
    rows = {row["title_en"].strip(): row[f"title_{locale}"].strip() for row in raw_services()}
    assert len(names) == 27
    assert names["POTHOLE-REPAIR"] == unicodedata.normalize("NFC", rows["Request pothole repair"])
