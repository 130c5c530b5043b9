"""A 429's description in the caller's language, its window and whose limit included."""

from __future__ import annotations

import pytest
import redis

from open311 import create_app
from tests.api.helpers import FORMATS, errors, url
from tests.factories import make_jurisdiction


@pytest.fixture
def app(database_url, session_factory, redis_url):
    """The conftest's app with two reads a minute, counted in the worker's (emptied) Redis."""
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    config = {
        "DATABASE_URL": database_url,
        "TESTING": True,
        "REDIS_URL": redis_url,
        "OPEN311_RATE_LIMITS": True,
        "OPEN311_RATE_LIMIT_READS": "2/minute",
    }
    app = create_app(config)
    app.extensions["open311.sessions"] = session_factory
    yield app
    store.close()


SAID = {
    "en": "too many requests: at most 2 calls per 1 minute for this address; try again in",
    "es": "demasiadas solicitudes: como máximo 2 llamadas cada 1 minuto(s) para esta dirección; "
    "inténtelo de nuevo en",
    "vi": "quá nhiều yêu cầu: tối đa 2 lượt gọi mỗi 1 phút cho địa chỉ này; hãy thử lại sau",
    "ar": "طلبات كثيرة جدًا: 2 استدعاءات على الأكثر كل 1 دقيقة لـهذا العنوان؛ حاول مرة أخرى بعد",
    "ko": "요청이 너무 많습니다: 이 주소에는 1분당 호출 최대 2회까지 허용됩니다.",
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("locale", sorted(SAID))
def test_a_429_is_told_in_the_callers_language(client, db, fmt, locale):
    make_jurisdiction(db)
    for _call in range(2):
        assert client.get(url("services", fmt)).status_code == 200

    refused = client.get(url("services", fmt), headers={"Accept-Language": locale})

    (description,) = errors(refused, fmt, 429)
    assert description.startswith(SAID[locale])
    assert refused.headers["Content-Language"] == locale
    assert int(refused.headers["Retry-After"]) >= 1
