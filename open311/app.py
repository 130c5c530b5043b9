"""The app factory's body: configuration, database, blueprints and error rendering."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from open311 import web
from open311.api import (
    contract,
    database,
    errors,
    health,
    limits,
    locales,
    metrics,
    ratelimits,
    requestlog,
    security,
)
from open311.api.smorest import Api
from open311.config import Settings
from open311.errors import Open311Error


def build_app(overrides: dict | None = None) -> Flask:
    """The app, configured from the environment's settings (the one time the app reads them)
    with `overrides` on top; views read app.config, which tests may change afterwards."""
    app = Flask(__name__)
    app.config.update(Settings().flask_config())
    app.config.update(overrides or {})
    if app.config["OPEN311_BEHIND_PROXY"]:
        # One proxy (open311 serve's nginx, or production's) sets these headers itself, so the
        # client's address and scheme are its last entries; without it they are anyone's to forge.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    requestlog.init_app(app)  # first: every request, a refused one too, has an id and a line
    security.init_app(app)  # then a Host not trusted is refused before any other work
    limits.init_app(app)  # then a body too large, before any other work
    database.init_app(app)
    ratelimits.init_app(app)
    health.init_app(app)  # /healthz, /readyz: no key, no rate limit, any Host
    metrics.init_app(app)  # /metrics: OPEN311_METRICS_TOKEN
    locales.init_app(app)  # Content-Language and Vary: Accept-Language of what views chose
    api = Api(app, spec_kwargs={"extra_plugins": [contract.ContractPlugin()]})

    from open311.api.articles import blp as articles
    from open311.api.exports import blp as exports
    from open311.api.georeport import blp as georeport
    from open311.api.hotspots import blp as hotspots
    from open311.api.media import blp as media
    from open311.api.staff import (
        accounts,
        article_search,
        audit,
        catalogue,
        contacts,
        deliveries,
        intake,
        jurisdictions,
        moderation,
        privacy,
        stats,
        translations,
        work,
    )
    from open311.api.staff import articles as staff_articles
    from open311.api.stats import blp as request_stats
    from open311.api.updates import blp as updates
    from open311.api.webhooks import blp as webhooks

    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "POST /api/v1/login"}
    )
    staff = (
        accounts,
        jurisdictions,
        catalogue,
        work,
        intake,
        moderation,
        deliveries,
        audit,
        privacy,
        translations,
        article_search,
        staff_articles,
        contacts,
        stats,
    )
    public = (georeport, updates, webhooks, exports, media, articles, hotspots, request_stats)
    for blueprint in (*public, *(m.blp for m in staff)):
        api.register_blueprint(blueprint)
    contract.finish(api.spec)
    web.init_app(app)  # the pages: /, /requests/..., /staff, /docs, /tiles, /assets
    app.register_error_handler(Open311Error, errors.handle_domain_error)
    app.register_error_handler(HTTPException, errors.handle_http_exception)
    for failure in database.FAILURES:  # SQLAlchemy's errors, and the driver's own
        app.register_error_handler(failure, errors.handle_database_error)
    app.register_error_handler(Exception, errors.handle_unexpected)
    return app
