"""What the app logs carries no requester's personal data and no key: a database error during an
INSERT logs no parameters, and the suite-wide scan (tests/logscan.py) catches a leak."""

from __future__ import annotations

import logging
import sys
import textwrap

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from open311.config import PROJECT_ROOT
from open311.db.session import failure_text
from tests import logscan
from tests.api.helpers import FORMATS, PERSONAL, errors, url
from tests.factories import make_api_key, make_jurisdiction, make_service

pytest_plugins = ["pytester"]


@pytest.fixture
def city(db):
    make_service(db, make_jurisdiction(db), "POT-01")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_insert_logs_no_parameters(client, db, city, caplog, fmt):
    # Any requester row is refused from now on (rolled back with the test): the INSERT fails
    # in the database, with the e-mail and phone among its parameters.
    db.execute(text("ALTER TABLE requester ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"))
    data = {"api_key": make_api_key(db), "service_code": "POT-01", "lat": "34.1", "long": "-118.3"}

    answered = client.post(url("requests", fmt), data=data | PERSONAL)

    assert errors(answered, fmt, 500) == ["internal server error"]
    logged = caplog.text
    # The error itself is logged, with where it happened, but neither the statement's parameters
    # nor the server's DETAIL ("Failing row contains (...)").
    assert "SQLSTATE 23514" in logged and "constraint refuse_all; table requester" in logged
    assert "intake.py" in logged
    assert "Failing row" not in logged
    assert [name for name, value in PERSONAL.items() if value in logged] == []


def test_the_engine_hides_parameters_and_a_failure_is_described_without_values(engine):
    email = PERSONAL["email"]
    with engine.connect() as connection, pytest.raises(DBAPIError) as raised:
        connection.execute(text("SELECT CAST(:email AS integer)"), {"email": email})

    assert "[SQL parameters hidden due to hide_parameters=True]" in str(raised.value)
    described = failure_text(raised.value)
    assert "SQLSTATE 22P02" in described and "CAST(%(email)s AS integer)" in described
    assert email not in described  # the server's own message quotes it: left out


def test_the_scan_catches_a_sent_value_in_the_log(client, db, city):
    data = {"api_key": make_api_key(db), "service_code": "POT-01", "lat": "34.1", "long": "-118.3"}
    client.post(url("requests", "json"), json=data | PERSONAL)
    logging.getLogger("open311.test").warning("filed by %s", PERSONAL["email"])

    with pytest.raises(logscan.LeakFound, match="pat.private-7731@example.org"):
        logscan.current().check()


def test_the_scan_reads_keys_tokens_nested_bodies_and_exception_text():
    scan = logscan.Scan()
    body = b'{"requester": {"email": "nested@example.org", "phone": "555"}, "note": "public"}'
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_LENGTH": str(len(body)),
        "QUERY_STRING": "api_key=query-key-1",
        "CONTENT_TYPE": "application/json",
        "HTTP_X_API_KEY": "header-key-2",
        "HTTP_AUTHORIZATION": "Bearer bearer-token-3",
    }
    scan.record_sent(environ, body)
    assert scan.values == {
        "query-key-1",
        "header-key-2",
        "bearer-token-3",
        "nested@example.org",
    }  # "555" is too short to look for, "public" is no personal field

    try:
        raise ValueError("bad address nested%40example.org")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_text = logging.Formatter().formatException(sys.exc_info())
    scan.records.append(record)
    scan.records.append(logging.LogRecord("x", logging.DEBUG, __file__, 1, "k=%s", ("x",), None))
    assert [leak.split(" in ")[0] for leak in scan.leaks()] == ["'nested@example.org'"]


def test_a_test_whose_app_logs_a_sent_e_mail_fails(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    pytester.makeconftest('pytest_plugins = ["tests.logscan"]\n')
    pytester.makepyfile(
        textwrap.dedent(
            """
            import logging

            from flask import Flask, request


            def make_app():
                app = Flask(__name__)

                @app.post("/file")
                def file():
                    logging.getLogger("app").info("filed for %s", request.form["email"])
                    return "ok"

                return app


            def test_leaks():
                app = make_app()
                app.test_client().post("/file", data={"email": "leak-me@example.org"})


            def test_keeps_quiet():
                app = make_app()
                app.test_client().post("/file", data={"email": "x@y"})
            """
        )
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*LeakFound: values the test sent*", "*'leak-me@example.org' in app: 'filed for *"]
    )
