"""A pytest plugin: no test may find a personal value or a secret it sent in what the app logs.

For every test, the values a test sends through a Flask test client under names that carry
personal data or secrets (email, phone, first_name, last_name, device_id, account_id, api_key,
password, token, secret, ... in a form, a multipart or JSON body, at any depth, or a query
string; an `X-API-Key` header, a bearer token) are recorded, and every log record that reaches
the root logger, at any level, with its exception text, is kept. After the test's call, and
again after its teardown, a value of 4 characters or more found in a record (as sent, or
URL-encoded, standing on its own rather than inside a longer word) fails the test. Loaded by
tests/conftest.py; `current()` gives a test the scan of its own run, to check on purpose that
a leak is caught.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request

MIN_LENGTH = 4
# Field names whose values are personal data or secrets; matched on the lowercased name.
SENSITIVE_NAME = re.compile(
    r"e_?mail|phone|first_?name|last_?name|full_?name|device_?id|account_?id|api_?key"
    r"|passw|secret|token|authorization"
)
SENSITIVE_HEADERS = ("X-API-Key",)
# Statement echo (SQLAlchemy logs every statement at INFO once its logger allows it): nothing
# the app configures in production, and costly to capture; its warnings and errors are kept.
QUIET_BELOW_WARNING = ("sqlalchemy",)
# Loggers whose lines hold only texts of the repository or of a library (Alembic's "Running
# upgrade 0015 -> 0016, Contacts: every call, chat, ..."; matplotlib's font search, "findfont:
# score(...)"): a fuzzer's api_key "chat" or "score" found there is no leak.
WRITTEN_BY_US = ("alembic", "matplotlib")
# A route's placeholders in the request log ("GET /api/v1/jurisdictions/<jurisdiction_id>"):
# the log names the route, never the path, so a fuzzer's token "jurisdiction_id" is found
# there only as the name of a placeholder.
ROUTE_PLACEHOLDER = re.compile(r"<(?:\w+:)?\w+>")


class LeakFound(AssertionError):
    """A sent personal value or secret found in the log."""


@dataclass
class Scan:
    """One test's sent values and the log records of its run."""

    values: set[str] = field(default_factory=set)
    records: list[logging.LogRecord] = field(default_factory=list)
    # Records before this index were checked already (each leak is reported once).
    checked: int = 0

    def record_sent(self, environ: dict[str, Any], body: bytes) -> None:
        copy = dict(environ, **{"wsgi.input": io.BytesIO(body)})
        request = Request(copy)
        pairs: list[tuple[str, Any]] = list(request.args.items(multi=True))
        if request.mimetype == "application/json":
            pairs.append(("", request.get_json(silent=True)))
        else:
            # A body too large or malformed on purpose has nothing to record.
            with contextlib.suppress(Exception):
                pairs += list(request.form.items(multi=True))
            request.close()  # the uploads' temporary files
        for name, value in pairs:
            self._add(name, value, sensitive=False)
        for header in SENSITIVE_HEADERS:
            self._add(header, request.headers.get(header), sensitive=True)
        authorization = request.headers.get("Authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer":
            self._add("Authorization", credentials.strip(), sensitive=True)

    def _add(self, name: Any, value: Any, *, sensitive: bool) -> None:
        sensitive = sensitive or bool(SENSITIVE_NAME.search(str(name).lower()))
        if isinstance(value, dict):
            for key, member in value.items():
                self._add(key, member, sensitive=sensitive)
        elif isinstance(value, list | tuple):
            for member in value:
                self._add(name, member, sensitive=sensitive)
        elif sensitive and isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value).strip()
            if len(text) >= MIN_LENGTH:
                self.values.add(text)

    def leaks(self) -> list[str]:
        """'<value> in <logger>: <message>' for each leak in the records not yet checked."""
        if not self.values:
            return []
        found = []
        for record in self.records[self.checked :]:
            if record.name.startswith(WRITTEN_BY_US):
                continue
            text = _text(record)
            if record.name == "open311.requests":
                text = ROUTE_PLACEHOLDER.sub("<>", text)
            for value in self.values:
                for form in {value, quote(value), quote_plus(value), quote(value, safe="@+ ")}:
                    if _whole(form).search(text):
                        found.append(f"{value!r} in {record.name}: {text[:300]!r}")
                        break
        return found

    def check(self) -> None:
        """Raise LeakFound for the records since the last check; they count as checked."""
        leaks = self.leaks()
        self.checked = len(self.records)
        if leaks:
            listed = "\n".join(leaks)
            raise LeakFound(f"values the test sent (personal data, secrets) were logged:\n{listed}")


def _whole(form: str) -> re.Pattern[str]:
    """`form` standing on its own: not a part of a longer word or number, so a short value
    that is also an everyday word (a fuzzer's api_key "attribute") is not found inside a
    route such as /attributes, while "key=attribute" or "attribute," still is."""
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(form)}(?![0-9A-Za-z])")


class _Keep(logging.Handler):
    def __init__(self, scan: Scan) -> None:
        super().__init__(logging.NOTSET)
        self.scan = scan

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and not record.exc_text:
            # Formatted now: the traceback's objects are gone once the test ends.
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        self.scan.records.append(record)


_FORMATTER = logging.Formatter()
_current: Scan | None = None


def current() -> Scan:
    """The scan of the test running now."""
    assert _current is not None, "tests.logscan is not loaded"
    return _current


def _text(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not fit: its parts as they are
        message = f"{record.msg} {record.args}"
    parts = [message, record.exc_text or "", record.stack_info or ""]
    return "\n".join(part for part in parts if part)


def _recording_run_wsgi_app(original):
    def run_wsgi_app(self: Client, environ: dict[str, Any], buffered: bool = False):
        if _current is not None:
            # The test client's own body buffer is read without moving it; a stream a test
            # made itself (to see whether the app reads it) is left alone.
            stream = environ.get("wsgi.input")
            body = stream.getvalue() if isinstance(stream, io.BytesIO) else b""
            # Deep or broken bodies sent on purpose (RecursionError included) record nothing.
            with contextlib.suppress(Exception):
                _current.record_sent(environ, body)
        return original(self, environ, buffered)

    return run_wsgi_app


def pytest_configure(config: pytest.Config) -> None:
    Client.run_wsgi_app = _recording_run_wsgi_app(Client.run_wsgi_app)  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    global _current
    scan = _current = Scan()
    root = logging.getLogger()
    handler = _Keep(scan)
    quiet = [logging.getLogger(name) for name in QUIET_BELOW_WARNING]
    item.stash[_STATE] = (handler, root.level, [(q, q.level) for q in quiet])
    for logger in quiet:
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    if _current is not None:
        _current.check()
    return result


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    global _current
    try:
        result = yield
    finally:
        scan, _current = _current, None
        state = item.stash.get(_STATE, None)
        if state is not None:
            handler, level, quiet = state
            root = logging.getLogger()
            root.removeHandler(handler)
            root.setLevel(level)
            for logger, former in quiet:
                logger.setLevel(former)
    if scan is not None:
        scan.check()
    return result


_STATE = pytest.StashKey[tuple[logging.Handler, int, list[tuple[logging.Logger, int]]]]()
