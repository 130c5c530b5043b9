"""Helpers for tests in more than one folder: a migrated database of its own for work that must
commit, the app shared by a worker's tests, a real webhook receiver, and photos made with Pillow
that carry what must be removed."""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import json
import shutil
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pillow_heif
import psycopg2
from flask import Flask
from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo
from sqlalchemy.engine import make_url

from open311.config import Settings
from open311.db.cluster import prepare_database
from open311.db.migrate import upgrade

# --- the app shared by a worker's tests ---------------------------------------------------------


class PristineApp:
    """An app built once and lent to test after test, put back as built after each.

    Tests change the app's config (a setting under test), its extensions (the test's sessions)
    or wrap its WSGI callable; `restore` undoes all three. Routes and hooks cannot be undone,
    and Flask refuses new ones once the app has served a request anyway: `restore` fails the
    test that added one, which should build an app of its own with create_app. A test that
    set OPEN311_* variables before asking for the app wants one built from them
    (`built_from_this_environment` says whether this one was)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._environment = Settings().flask_config()
        self._config = copy.deepcopy(dict(app.config))
        self._extensions = dict(app.extensions)
        self._wsgi_app = app.wsgi_app
        self._session_interface = app.session_interface
        self._setup = _setup_of(app)

    def built_from_this_environment(self) -> bool:
        """Whether the environment says what it said when the app was built."""
        return Settings().flask_config() == self._environment

    def restore(self) -> None:
        app = self.app
        config = app.config
        for key in config.keys() - self._config.keys():
            del config[key]
        for key, value in self._config.items():
            if key not in config or config[key] != value:
                config[key] = copy.deepcopy(value)  # a copy: the test may have changed it inside
        app.extensions.clear()
        app.extensions.update(self._extensions)
        app.wsgi_app = self._wsgi_app  # type: ignore[method-assign]
        app.session_interface = self._session_interface
        assert _setup_of(app) == self._setup, (
            "the test added routes, hooks or error handlers to the shared app: "
            "build an app of its own with create_app(...) instead"
        )


def _setup_of(app: Flask) -> tuple[int, ...]:
    """How many routes, blueprints, hooks and error handlers the app has."""
    hooks = (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
        app.url_value_preprocessors,
        app.url_default_functions,
        app.template_context_processors,
    )
    handlers = sum(
        len(by_code) for spec in app.error_handler_spec.values() for by_code in spec.values()
    )
    return (
        len(list(app.url_map.iter_rules())),
        len(app.blueprints),
        *(sum(map(len, hook.values())) for hook in hooks),
        len(app.teardown_appcontext_funcs),
        handlers,
    )


# --- a database of its own ----------------------------------------------------------------------


# The superuser URL of each throwaway cluster this process started (tests/conftest.py tells
# it), by (host, port): the app's role there may not create databases, nor PostGIS.
_SUPERUSERS: dict[tuple[str | None, int | None], str] = {}


def register_superuser(server_url: str, superuser_url: str) -> None:
    """Let empty_database make databases on `server_url`'s server as `superuser_url`."""
    parsed = make_url(server_url)
    _SUPERUSERS[(parsed.host, parsed.port)] = superuser_url


def _connect(url: str, database: str):
    params = make_url(url).translate_connect_args(username="user", database="dbname")
    return psycopg2.connect(**(params | {"dbname": database}))


@contextmanager
def empty_database(server_url: str) -> Iterator[str]:
    """A database of its own on the test server, empty but for PostGIS on a throwaway cluster
    (its superuser creates the extension, as an operator would: the app's role cannot), for
    `server_url`'s role to migrate; dropped at the end, whatever is connected to it then.
    On a DATABASE_URL server that role creates it, with nothing in it."""
    parsed = make_url(server_url)
    superuser = _SUPERUSERS.get((parsed.host, parsed.port))
    admin = _connect(superuser or server_url, "postgres")
    admin.autocommit = True
    name = f"open311_scratch_{uuid.uuid4().hex[:8]}"
    if superuser:
        prepare_database(admin, name, parsed.username)
    else:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A migrated database of its own on the test server: what a server, a worker or a command
    commits there stays out of the rolled-back tests' database, and goes with it at the end."""
    with empty_database(server_url) as url:
        upgrade(url)
        yield url


@contextmanager
def server_directory(prefix: str) -> Iterator[Path]:
    """A temporary directory for a server's files (a cluster's data), removed afterwards. Not
    under pytest's tmp_path: each pytest session that starts makes /tmp/pytest-of-<user>
    private again, which shuts out the `postgres` user that a cluster runs as under root."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- a webhook receiver -------------------------------------------------------------------------
# http.server in a thread on a free port. It records every POST (headers and exact body bytes)
# and answers with the statuses queued in `answers` (then 200). `hold` makes it keep each request
# open until `release` is set or its own timeout passes, for timeouts and for killing a worker
# mid-delivery.


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def delivery_id(self) -> str:
        return self.headers["X-Open311-Delivery"]

    def verifies(self, secret: str) -> bool:
        """What a receiver does: HMAC the exact body, compare in constant time."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers["X-Open311-Signature"])


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: deque[int] = field(default_factory=deque)
    hold: bool = False
    hold_timeout_s: float = 10.0
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[Received]:
        """Block until `count` requests have arrived (AssertionError after the timeout)."""
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.received) >= count, timeout_s)
        assert ok, f"receiver got {len(self.received)} of {count} requests"
        return list(self.received)

    def delivery_ids(self) -> list[str]:
        return [item.delivery_id for item in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            with receiver.arrived:
                receiver.received.append(Received(self.path, dict(self.headers), body))
                status = receiver.answers.popleft() if receiver.answers else 200
                receiver.arrived.notify_all()
            if receiver.hold:
                receiver.release.wait(receiver.hold_timeout_s)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the worker gave up (timeout) or died

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


# --- photos with metadata that must go ----------------------------------------------------------

RED = (200, 30, 30)
GPS_LATITUDE = (34.0, 3.0, 8.5)
SECRET = "Secret garden, 12 Elm Street"


def camera_exif(orientation: int | None = None) -> Image.Exif:
    """What a phone writes: make, model, when, and where (a GPS IFD)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "EOS 5D"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:06 07:08:09"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = GPS_LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (118.0, 14.0, 37.25)
    return exif


def solid(size: tuple[int, int] = (640, 480), colour=RED, mode: str = "RGB") -> Image.Image:
    return Image.new(mode, size, colour if mode == "RGB" else (*colour, 255))


def jpeg_with_gps(size: tuple[int, int] = (640, 480), orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    solid(size).save(
        out, "JPEG", quality=95, exif=camera_exif(orientation), xmp=b"<x:xmpmeta>SECRET</x:xmpmeta>"
    )
    return out.getvalue()


def png_with_text(size: tuple[int, int] = (300, 200)) -> bytes:
    info = PngInfo()
    info.add_text("Comment", SECRET)
    out = io.BytesIO()
    solid(size, mode="RGBA").save(out, "PNG", pnginfo=info, exif=camera_exif())
    return out.getvalue()


def webp_with_exif(size: tuple[int, int] = (400, 300)) -> bytes:
    out = io.BytesIO()
    solid(size).save(out, "WEBP", quality=90, exif=camera_exif())
    return out.getvalue()


def heic_with_exif(size: tuple[int, int] = (400, 300)) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(solid(size)).save(out, quality=90, exif=camera_exif().tobytes())
    return out.getvalue()


def assert_no_metadata(data: bytes) -> Image.Image:
    """Open the stored bytes and check that nothing but pixels is left."""
    opened = Image.open(io.BytesIO(data))
    opened.load()
    assert len(opened.getexif()) == 0
    assert not opened.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "Comment", "comment"):
        assert key not in opened.info, key
    for marker in (b"Exif", b"Canon", b"EOS 5D", b"SECRET", SECRET.encode(), b"2024:05:06"):
        assert marker not in data, marker
    return opened


def close_to(colour, expected, tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=False))
