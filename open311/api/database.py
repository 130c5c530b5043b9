"""One SQLAlchemy session per HTTP request, opened on first use and closed at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from open311.config import Settings
from open311.db.session import SETTINGS, make_engine, make_session_factory


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"], pool_size=5, max_overflow=5)
    app.extensions["open311.engine"] = engine
    app.extensions["open311.sessions"] = make_session_factory(engine)
    app.teardown_appcontext(_close)


def settings() -> Settings:
    """The app's settings, read from its config at this moment (a test may change the config
    after the app is built)."""
    return Settings.from_config(current_app.config)


def session() -> Session:
    """This request's session; it carries the settings, for the work done when it commits."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["open311.sessions"]()
        g.db_session.info[SETTINGS] = settings()
    return g.db_session


def _close(_exc: BaseException | None) -> None:
    # An uncommitted session rolls back here: an error never leaves a partial write behind.
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
